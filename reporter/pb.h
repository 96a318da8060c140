/* Protocol buffers wire format, writer side: just what the encoders use. */
#ifndef AT_PB_H
#define AT_PB_H

#include "buf.h"

#include <string.h>

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

static inline void pb_varint(struct at_buf *b, uint64_t v)
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

/* Nested messages: open writes the tag and leaves one byte for the length;
 * close moves the body if the length needs more bytes. */
static inline size_t pb_open(struct at_buf *b, unsigned field)
{
	pb_tag(b, field, PB_LEN);
	at_buf_addc(b, 0);
	return b->len;
}

static inline void pb_close(struct at_buf *b, size_t start)
{
	if (b->oom)
		return;
	size_t n = b->len - start;
	unsigned char tmp[10];
	size_t k = 0;
	uint64_t v = n;
	while (v >= 0x80) {
		tmp[k++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	tmp[k++] = (unsigned char)v;
	if (k > 1) {
		if (at_buf_reserve(b, k - 1))
			return;
		memmove(b->data + start + k - 1, b->data + start, n);
		b->len += k - 1;
	}
	memcpy(b->data + start - 1, tmp, k);
}

#endif
