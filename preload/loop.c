/* Hop counting for call loops (see loop.h). Parsing is strict and bounded:
 * a malformed member is passed through untouched, never interpreted. */
#define _GNU_SOURCE
#include "loop.h"

#include "config.h"
#include "propagation.h"

#include <string.h>

#define KEYLEN (sizeof AT_LOOP_KEY - 1)
#define MAX_HOPS 1000000

static int ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Is member [p, p+n) "autotrace.hops = value[;props]"? Sets *val (or -1
 * when the value is not a plain number). */
static int is_hops(const char *p, size_t n, long *val)
{
	while (n && ows(*p))
		p++, n--;
	if (n < KEYLEN || memcmp(p, AT_LOOP_KEY, KEYLEN))
		return 0;
	p += KEYLEN, n -= KEYLEN;
	while (n && ows(*p))
		p++, n--;
	if (!n || *p != '=')
		return 0;
	p++, n--;
	while (n && ows(*p))
		p++, n--;
	long v = 0;
	size_t digits = 0;
	while (n && *p >= '0' && *p <= '9' && digits < 8) {
		v = v * 10 + (*p - '0');
		p++, n--, digits++;
	}
	while (n && ows(*p))
		p++, n--;
	*val = (digits && (!n || *p == ';') && v <= MAX_HOPS) ? v : -1;
	return 1;
}

int at_loop_hops(const char *b, size_t len)
{
	if (!b)
		return 0;
	size_t i = 0;
	while (i < len) {
		const char *c = memchr(b + i, ',', len - i);
		size_t end = c ? (size_t)(c - b) : len;
		long v;
		if (is_hops(b + i, end - i, &v))
			return v > 0 ? (int)v : 0;
		i = end + 1;
	}
	return 0;
}

size_t at_loop_baggage(const char *in, size_t len, int hops, char *out, size_t outlen)
{
	if (!in)
		len = 0;
	/* decide before writing anything: out may be in itself */
	size_t worst = len + 1 + KEYLEN + 1 + 7 + 1;
	if (worst > outlen || worst > AT_BAGGAGE_MAX)
		return 0;
	int members = 1;
	for (size_t i = 0; i < len; i++)
		members += in[i] == ',';
	if (members > 180 && !at_loop_hops(in, len))
		return 0;
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		const char *c = memchr(in + i, ',', len - i);
		size_t end = c ? (size_t)(c - in) : len;
		long v;
		const char *m = in + i;
		size_t mn = end - i;
		while (mn && ows(*m))
			m++, mn--;
		while (mn && ows(m[mn - 1]))
			mn--;
		if (mn && !is_hops(m, mn, &v)) {
			/* o <= m - in: never overwrites what is still to be read */
			memmove(out + o, m, mn);
			o += mn;
			out[o++] = ',';
		}
		i = end + 1;
	}
	char num[12];
	int k = (int)sizeof num;
	unsigned u = hops > 0 ? (unsigned)hops : 0;
	do {
		num[--k] = (char)('0' + u % 10);
		u /= 10;
	} while (u && k > 0);
	size_t nl = sizeof num - (size_t)k;
	memcpy(out + o, AT_LOOP_KEY "=", KEYLEN + 1);
	o += KEYLEN + 1;
	memcpy(out + o, num + k, nl);
	o += nl;
	out[o] = 0;
	return o;
}

const char *at_loop_server(struct at_span *s, const char *in, char *buf, size_t cap, int *hops)
{
	int h = at_loop_hops(in, in ? strlen(in) : 0);
	if (h < MAX_HOPS)
		h++;
	*hops = h;
	if (h > at_cfg.loop_depth)
		at_span_set_int(s, "autotrace.loop.depth", h);
	if (!(at_cfg.propagators & AT_PROP_BAGGAGE))
		return in;
	return at_loop_baggage(in, in ? strlen(in) : 0, h, buf, cap) ? buf : in;
}
