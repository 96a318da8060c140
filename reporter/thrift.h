/* Apache Thrift wire format, writer side, for the two protocols Jaeger
 * speaks: compact (agent, UDP) and binary (collector, HTTP). The encoders
 * call one set of functions; the writer knows which protocol it writes. */
#ifndef AT_THRIFT_H
#define AT_THRIFT_H

#include "buf.h"

#include <stdint.h>

/* Binary-protocol type ids (TType); the compact writer maps them. */
enum {
	THR_STOP = 0,
	THR_BOOL = 2,
	THR_BYTE = 3,
	THR_DOUBLE = 4,
	THR_I16 = 6,
	THR_I32 = 8,
	THR_I64 = 10,
	THR_STRING = 11,
	THR_STRUCT = 12,
	THR_MAP = 13,
	THR_SET = 14,
	THR_LIST = 15,
};

enum { THR_CALL = 1, THR_ONEWAY = 4 };

#define THR_MAX_DEPTH 16

struct at_thrift {
	struct at_buf *b;
	int compact;
	int depth;
	int16_t last[THR_MAX_DEPTH]; /* compact: previous field id of each open struct */
	struct at_buf scratch;       /* UTF-8 repair of strings before their length is known */
};

void thr_init(struct at_thrift *t, struct at_buf *b, int compact);
void thr_free(struct at_thrift *t);

void thr_message_begin(struct at_thrift *t, const char *name, int type, int32_t seqid);
void thr_struct_begin(struct at_thrift *t);
void thr_struct_end(struct at_thrift *t); /* writes the STOP field */
void thr_field(struct at_thrift *t, int type, int16_t id);
void thr_list_begin(struct at_thrift *t, int elem_type, uint32_t n);

/* Values (after thr_field or inside a list). */
void thr_i32(struct at_thrift *t, int32_t v);
void thr_i64(struct at_thrift *t, int64_t v);
void thr_double(struct at_thrift *t, double v);
void thr_binary(struct at_thrift *t, const void *p, size_t n);
/* A string: thrift strings are UTF-8, so invalid bytes become U+FFFD. */
void thr_string(struct at_thrift *t, const char *s, size_t n);

/* Whole fields. Bools are fields only: compact packs the value in the
 * field header. */
void thr_field_bool(struct at_thrift *t, int16_t id, int v);
void thr_field_i32(struct at_thrift *t, int16_t id, int32_t v);
void thr_field_i64(struct at_thrift *t, int16_t id, int64_t v);
void thr_field_double(struct at_thrift *t, int16_t id, double v);
void thr_field_string(struct at_thrift *t, int16_t id, const char *s, size_t n);

/* Encoded size of a list header / of a varint: for size arithmetic when
 * packets are assembled from pieces. */
size_t thr_list_header_size(const struct at_thrift *t, uint32_t n);

#endif
