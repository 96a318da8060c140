/* A growable byte buffer for the exporter thread's encoders. */
#ifndef AT_BUF_H
#define AT_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct at_buf {
	char *data;
	size_t len, cap;
	int oom; /* an allocation failed: the content is incomplete */
};

/* Grows the buffer for extra more bytes (the slow path of at_buf_reserve). */
int at_buf_grow(struct at_buf *b, size_t extra);

/* 0 when extra more bytes fit at data + len; -1 when out of memory (also
 * after an earlier failure). Inline: the encoders call it per field. */
static inline int at_buf_reserve(struct at_buf *b, size_t extra)
{
	if (__builtin_expect(b->cap - b->len >= extra && !b->oom, 1))
		return 0;
	return at_buf_grow(b, extra);
}

static inline void at_buf_add(struct at_buf *b, const void *p, size_t n)
{
	if (at_buf_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static inline void at_buf_addc(struct at_buf *b, char c)
{
	if (at_buf_reserve(b, 1))
		return;
	b->data[b->len++] = c;
}

static inline void at_buf_adds(struct at_buf *b, const char *s)
{
	at_buf_add(b, s, strlen(s));
}

void at_buf_printf(struct at_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void at_buf_free(struct at_buf *b);
static inline void at_buf_reset(struct at_buf *b)
{
	b->len = 0;
	b->oom = 0;
}

/* Length of the longest valid UTF-8 prefix of s (n if all of it is valid). */
size_t at_utf8_valid_prefix(const char *s, size_t n);

#define AT_UTF8_HI8 0x8080808080808080ull

/* Copies s[0..n) to d if it is valid UTF-8 and returns 0; otherwise returns
 * -1 with d partly written. Plain ASCII goes 8 bytes at a time (loads and
 * stores stay within s[0..n) and d[0..n)); the first word with a byte >= 0x80
 * hands the rest to at_utf8_valid_prefix. */
static inline int at_utf8_copy(char *d, const char *s, size_t n)
{
	size_t i = 0;
	if (n >= 8) {
		uint64_t w;
		for (; i + 8 <= n; i += 8) {
			memcpy(&w, s + i, 8);
			if (w & AT_UTF8_HI8)
				goto multibyte;
			memcpy(d + i, &w, 8);
		}
		if (i < n) {
			memcpy(&w, s + n - 8, 8); /* the tail, overlapping checked bytes */
			if (w & AT_UTF8_HI8)
				goto multibyte;
			memcpy(d + n - 8, &w, 8);
		}
		return 0;
	}
	if (n >= 4) {
		uint32_t a, z;
		memcpy(&a, s, 4);
		memcpy(&z, s + n - 4, 4);
		if ((a | z) & 0x80808080u)
			goto multibyte;
		memcpy(d, &a, 4);
		memcpy(d + n - 4, &z, 4);
		return 0;
	}
	if (n) {
		unsigned char a = (unsigned char)s[0], m = (unsigned char)s[n / 2];
		unsigned char z = (unsigned char)s[n - 1];
		if ((a | m | z) & 0x80)
			goto multibyte;
		d[0] = (char)a;
		d[n / 2] = (char)m;
		d[n - 1] = (char)z;
	}
	return 0;
multibyte: /* s[0..i) is ASCII: i is a character boundary */
	if (at_utf8_valid_prefix(s + i, n - i) != n - i)
		return -1;
	memcpy(d + i, s + i, n - i);
	return 0;
}

/* Appends s with every invalid UTF-8 byte replaced by U+FFFD. */
void at_buf_add_utf8(struct at_buf *b, const char *s, size_t n);
/* Appends s as the inside of a JSON string (escaped, valid UTF-8). */
void at_buf_add_json_str(struct at_buf *b, const char *s, size_t n);
/* The same between double quotes: a JSON string value. */
void at_buf_add_json_quoted(struct at_buf *b, const char *s, size_t n);
/* n bytes as a quoted lowercase hex string (ids in OTLP/JSON and Zipkin). */
void at_buf_add_hex_quoted(struct at_buf *b, const uint8_t *p, size_t n);

#endif
