#define _GNU_SOURCE
#include "buf.h"

#include "../preload/propagation.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int at_buf_grow(struct at_buf *b, size_t extra)
{
	if (b->oom)
		return -1;
	if (b->cap - b->len >= extra)
		return 0;
	if (extra > SIZE_MAX / 4 - b->len) { /* the doubling below would overflow */
		b->oom = 1;
		return -1;
	}
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + extra)
		cap *= 2;
	char *p = realloc(b->data, cap);
	if (!p) {
		b->oom = 1;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void at_buf_printf(struct at_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || at_buf_reserve(b, (size_t)n + 1))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void at_buf_free(struct at_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

/* Length of the valid UTF-8 sequence starting at s, 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, min = 0x10000;
	else
		return 0;
	if (n < len)
		return 0;
	unsigned cp = c & (0x3f >> (len - 1));
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

size_t at_utf8_valid_prefix(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			/* ASCII runs: 8 bytes at a time */
			uint64_t w;
			while (i + 8 <= n && (memcpy(&w, p + i, 8), !(w & AT_UTF8_HI8)))
				i += 8;
			continue;
		}
		size_t l = utf8_seq(p + i, n - i);
		if (!l)
			return i;
		i += l;
	}
	return n;
}

void at_buf_add_utf8(struct at_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		size_t ok = at_utf8_valid_prefix(s + i, n - i);
		at_buf_add(b, s + i, ok);
		i += ok;
		if (i < n) {
			at_buf_add(b, "\xef\xbf\xbd", 3);
			i++;
			(void)p;
		}
	}
}

void at_buf_add_json_str(struct at_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		unsigned c = p[i];
		if (c >= 0x80) {
			size_t l = utf8_seq(p + i, n - i);
			if (l) {
				at_buf_add(b, p + i, l);
				i += l;
			} else {
				at_buf_adds(b, "\\ufffd");
				i++;
			}
			continue;
		}
		if (c == '"' || c == '\\') {
			at_buf_addc(b, '\\');
			at_buf_addc(b, (char)c);
		} else if (c == '\n') {
			at_buf_adds(b, "\\n");
		} else if (c == '\r') {
			at_buf_adds(b, "\\r");
		} else if (c == '\t') {
			at_buf_adds(b, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			at_buf_printf(b, "\\u%04x", c);
		} else {
			at_buf_addc(b, (char)c);
		}
		i++;
	}
}

void at_buf_add_json_quoted(struct at_buf *b, const char *s, size_t n)
{
	at_buf_addc(b, '"');
	at_buf_add_json_str(b, s, n);
	at_buf_addc(b, '"');
}

void at_buf_add_hex_quoted(struct at_buf *b, const uint8_t *p, size_t n)
{
	if (at_buf_reserve(b, 2 * n + 2))
		return;
	char *o = b->data + b->len;
	o[0] = '"';
	at_hex_encode(p, n, o + 1);
	o[2 * n + 1] = '"';
	b->len += 2 * n + 2;
}
