/* A growable byte buffer for the exporter thread's encoders. */
#ifndef AT_BUF_H
#define AT_BUF_H

#include <stddef.h>
#include <stdint.h>

struct at_buf {
	char *data;
	size_t len, cap;
	int oom; /* an allocation failed: the content is incomplete */
};

int at_buf_reserve(struct at_buf *b, size_t extra);
void at_buf_add(struct at_buf *b, const void *p, size_t n);
void at_buf_addc(struct at_buf *b, char c);
void at_buf_adds(struct at_buf *b, const char *s);
void at_buf_printf(struct at_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void at_buf_free(struct at_buf *b);
static inline void at_buf_reset(struct at_buf *b)
{
	b->len = 0;
	b->oom = 0;
}

/* Length of the longest valid UTF-8 prefix of s (n if all of it is valid). */
size_t at_utf8_valid_prefix(const char *s, size_t n);
/* Appends s with every invalid UTF-8 byte replaced by U+FFFD. */
void at_buf_add_utf8(struct at_buf *b, const char *s, size_t n);
/* Appends s as the inside of a JSON string (escaped, valid UTF-8). */
void at_buf_add_json_str(struct at_buf *b, const char *s, size_t n);
/* The same between double quotes: a JSON string value. */
void at_buf_add_json_quoted(struct at_buf *b, const char *s, size_t n);
/* n bytes as a quoted lowercase hex string (ids in OTLP/JSON and Zipkin). */
void at_buf_add_hex_quoted(struct at_buf *b, const uint8_t *p, size_t n);

#endif
