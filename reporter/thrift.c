/* Thrift binary and compact protocols (the Apache Thrift protocol specs:
 * doc/specs/thrift-binary-protocol.md, thrift-compact-protocol.md). */
#define _GNU_SOURCE
#include "thrift.h"

#include <string.h>

enum {
	CT_BOOL_TRUE = 1,
	CT_BOOL_FALSE = 2,
	CT_BYTE = 3,
	CT_I16 = 4,
	CT_I32 = 5,
	CT_I64 = 6,
	CT_DOUBLE = 7,
	CT_BINARY = 8,
	CT_LIST = 9,
	CT_SET = 10,
	CT_MAP = 11,
	CT_STRUCT = 12,
};

static int compact_type(int t)
{
	switch (t) {
	case THR_BOOL:
		return CT_BOOL_TRUE;
	case THR_BYTE:
		return CT_BYTE;
	case THR_I16:
		return CT_I16;
	case THR_I32:
		return CT_I32;
	case THR_I64:
		return CT_I64;
	case THR_DOUBLE:
		return CT_DOUBLE;
	case THR_STRING:
		return CT_BINARY;
	case THR_LIST:
		return CT_LIST;
	case THR_SET:
		return CT_SET;
	case THR_MAP:
		return CT_MAP;
	default:
		return CT_STRUCT;
	}
}

void thr_init(struct at_thrift *t, struct at_buf *b, int compact)
{
	memset(t, 0, sizeof *t);
	t->b = b;
	t->compact = compact;
}

void thr_free(struct at_thrift *t)
{
	at_buf_free(&t->scratch);
}

static void varint(struct at_buf *b, uint64_t v)
{
	if (at_buf_reserve(b, 10))
		return;
	unsigned char *p = (unsigned char *)b->data + b->len;
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	b->len = (size_t)((char *)p - b->data);
}

static size_t varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint64_t zigzag64(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static void be32(struct at_buf *b, uint32_t v)
{
	unsigned char p[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
	                      (unsigned char)(v >> 8), (unsigned char)v};
	at_buf_add(b, p, 4);
}

static void be64(struct at_buf *b, uint64_t v)
{
	be32(b, (uint32_t)(v >> 32));
	be32(b, (uint32_t)v);
}

void thr_message_begin(struct at_thrift *t, const char *name, int type, int32_t seqid)
{
	size_t n = strlen(name);
	if (t->compact) {
		at_buf_addc(t->b, (char)0x82);            /* protocol id */
		at_buf_addc(t->b, (char)(1 | type << 5)); /* version 1, message type */
		varint(t->b, (uint32_t)seqid);
		varint(t->b, n);
		at_buf_add(t->b, name, n);
	} else {
		be32(t->b, 0x80010000u | (uint32_t)type); /* strict: version 1 */
		be32(t->b, (uint32_t)n);
		at_buf_add(t->b, name, n);
		be32(t->b, (uint32_t)seqid);
	}
}

void thr_struct_begin(struct at_thrift *t)
{
	if (t->depth < THR_MAX_DEPTH)
		t->last[t->depth] = 0;
	t->depth++;
}

void thr_struct_end(struct at_thrift *t)
{
	at_buf_addc(t->b, 0); /* STOP in both protocols */
	if (t->depth > 0)
		t->depth--;
}

static void field_header(struct at_thrift *t, int ctype, int16_t id)
{
	int16_t *last = t->depth > 0 && t->depth <= THR_MAX_DEPTH ? &t->last[t->depth - 1] : NULL;
	int16_t prev = last ? *last : 0;
	if (id > prev && id - prev <= 15) {
		at_buf_addc(t->b, (char)((id - prev) << 4 | ctype));
	} else {
		at_buf_addc(t->b, (char)ctype);
		varint(t->b, zigzag64(id));
	}
	if (last)
		*last = id;
}

void thr_field(struct at_thrift *t, int type, int16_t id)
{
	if (t->compact) {
		field_header(t, compact_type(type), id);
	} else {
		at_buf_addc(t->b, (char)type);
		unsigned char p[2] = {(unsigned char)((uint16_t)id >> 8), (unsigned char)id};
		at_buf_add(t->b, p, 2);
	}
}

void thr_list_begin(struct at_thrift *t, int elem_type, uint32_t n)
{
	if (t->compact) {
		int ct = compact_type(elem_type);
		if (n < 15) {
			at_buf_addc(t->b, (char)(n << 4 | (uint32_t)ct));
		} else {
			at_buf_addc(t->b, (char)(0xf0 | ct));
			varint(t->b, n);
		}
	} else {
		at_buf_addc(t->b, (char)elem_type);
		be32(t->b, n);
	}
}

size_t thr_list_header_size(const struct at_thrift *t, uint32_t n)
{
	if (!t->compact)
		return 5;
	return n < 15 ? 1 : 1 + varint_size(n);
}

void thr_i32(struct at_thrift *t, int32_t v)
{
	if (t->compact)
		varint(t->b, (uint32_t)(((uint32_t)v << 1) ^ (uint32_t)(v >> 31)));
	else
		be32(t->b, (uint32_t)v);
}

void thr_i64(struct at_thrift *t, int64_t v)
{
	if (t->compact)
		varint(t->b, zigzag64(v));
	else
		be64(t->b, (uint64_t)v);
}

void thr_double(struct at_thrift *t, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, 8);
	if (t->compact)
		at_buf_add(t->b, &bits, 8); /* compact: little-endian (our hosts are) */
	else
		be64(t->b, bits);
}

void thr_binary(struct at_thrift *t, const void *p, size_t n)
{
	if (t->compact)
		varint(t->b, n);
	else
		be32(t->b, (uint32_t)n);
	at_buf_add(t->b, p, n);
}

void thr_string(struct at_thrift *t, const char *s, size_t n)
{
	if (at_utf8_valid_prefix(s, n) == n) {
		thr_binary(t, s, n);
		return;
	}
	at_buf_reset(&t->scratch);
	at_buf_add_utf8(&t->scratch, s, n);
	if (t->scratch.oom) {
		t->b->oom = 1;
		return;
	}
	thr_binary(t, t->scratch.data, t->scratch.len);
}

void thr_field_bool(struct at_thrift *t, int16_t id, int v)
{
	if (t->compact) {
		field_header(t, v ? CT_BOOL_TRUE : CT_BOOL_FALSE, id);
	} else {
		thr_field(t, THR_BOOL, id);
		at_buf_addc(t->b, v ? 1 : 0);
	}
}

void thr_field_i32(struct at_thrift *t, int16_t id, int32_t v)
{
	thr_field(t, THR_I32, id);
	thr_i32(t, v);
}

void thr_field_i64(struct at_thrift *t, int16_t id, int64_t v)
{
	thr_field(t, THR_I64, id);
	thr_i64(t, v);
}

void thr_field_double(struct at_thrift *t, int16_t id, double v)
{
	thr_field(t, THR_DOUBLE, id);
	thr_double(t, v);
}

void thr_field_string(struct at_thrift *t, int16_t id, const char *s, size_t n)
{
	thr_field(t, THR_STRING, id);
	thr_string(t, s, n);
}
