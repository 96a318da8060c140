/* Protocol buffers wire format, writer side: just what the encoders use. */
#ifndef AT_PB_H
#define AT_PB_H

#include "buf.h"

#include <string.h>

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

/* Raw writers: the caller has reserved the room; they return the new end. */
static inline unsigned char *pb_put_varint(unsigned char *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	return p;
}

static inline unsigned char *pb_put_fixed64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, 8); /* little-endian host */
	return p + 8;
}

/* Bytes the varint of v takes (1 to 10). */
static inline size_t pb_varint_len(uint64_t v)
{
	return v < 0x80 ? 1 : (size_t)(70 - __builtin_clzll(v)) / 7;
}

#define PB_KEY(field, wire) ((unsigned char)((field) << 3 | (wire))) /* field < 16 */

static inline void pb_varint(struct at_buf *b, uint64_t v)
{
	if (at_buf_reserve(b, 10))
		return;
	unsigned char *p = (unsigned char *)b->data + b->len;
	b->len = (size_t)((char *)pb_put_varint(p, v) - b->data);
}

static inline void pb_tag(struct at_buf *b, unsigned field, unsigned wire)
{
	pb_varint(b, (uint64_t)field << 3 | wire);
}

static inline void pb_fixed64(struct at_buf *b, unsigned field, uint64_t v)
{
	pb_tag(b, field, PB_I64);
	at_buf_add(b, &v, 8); /* little-endian host */
}

static inline void pb_bytes(struct at_buf *b, unsigned field, const void *p, size_t n)
{
	pb_tag(b, field, PB_LEN);
	pb_varint(b, n);
	at_buf_add(b, p, n);
}

/* A string field: proto3 strings must be valid UTF-8, so invalid bytes are
 * replaced (which can change the length: measure first). */
void pb_string(struct at_buf *b, unsigned field, const char *s, size_t n);

/* Nested messages whose length is not known in advance: open writes the tag
 * and leaves k bytes (a guess) for the length; close writes the length in
 * as many bytes as it needs, moving the body when the guess was wrong, so the
 * output is the same whatever the guess. */
static inline size_t pb_open_n(struct at_buf *b, unsigned field, size_t k)
{
	pb_tag(b, field, PB_LEN);
	if (at_buf_reserve(b, k))
		return b->len;
	b->len += k;
	return b->len;
}

void pb_close_slow(struct at_buf *b, size_t start, size_t k, size_t need);

static inline void pb_close_n(struct at_buf *b, size_t start, size_t k)
{
	if (b->oom)
		return;
	size_t n = b->len - start;
	size_t need = pb_varint_len(n);
	if (__builtin_expect(need != k, 0)) {
		pb_close_slow(b, start, k, need);
		return;
	}
	unsigned char *p = (unsigned char *)b->data + start - k;
	for (size_t i = 1; i < k; i++, n >>= 7)
		*p++ = (unsigned char)(n | 0x80);
	*p = (unsigned char)n;
}

static inline size_t pb_open(struct at_buf *b, unsigned field)
{
	return pb_open_n(b, field, 1);
}

static inline void pb_close(struct at_buf *b, size_t start)
{
	pb_close_n(b, start, 1);
}

/* A string field (tag: its key byte), written directly when s is valid
 * UTF-8 (the common case), else by pb_string. */
static inline void pb_string_fast(struct at_buf *b, unsigned char tag, const char *s, size_t n)
{
	if (at_buf_reserve(b, n + 11))
		return;
	unsigned char *p = (unsigned char *)b->data + b->len;
	*p++ = tag;
	p = pb_put_varint(p, n);
	if (__builtin_expect(at_utf8_copy((char *)p, s, n), 0)) {
		pb_string(b, tag >> 3, s, n);
		return;
	}
	b->len = (size_t)((char *)p + n - b->data);
}

#endif
