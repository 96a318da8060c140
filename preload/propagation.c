/* W3C Trace Context and Baggage. Parsers are strict: whatever comes from the
 * network is either accepted whole or ignored, and nothing of an invalid
 * header is ever echoed into an outgoing one. */
#define _GNU_SOURCE
#include "propagation.h"

#include "autotrace.h"
#include "config.h"
#include "hex.h"

#include <stdio.h>
#include <string.h>


/* Two digits per byte from one table load: ids are encoded on every
 * outgoing request. */
static const char hexpair[256][2] = {
#define D(d) ((d) < 10 ? '0' + (d) : 'a' + (d)-10)
#define P(x) {D((x) >> 4), D((x)&15)}
#define P4(x) P(x), P(x + 1), P(x + 2), P(x + 3)
#define P16(x) P4(x), P4(x + 4), P4(x + 8), P4(x + 12)
#define P64(x) P16(x), P16(x + 16), P16(x + 32), P16(x + 48)
    P64(0), P64(64), P64(128), P64(192),
#undef D
#undef P
#undef P4
#undef P16
#undef P64
};

#ifdef __SSE2__
#include <emmintrin.h>

/* 8 bytes (the low half of v) to 16 digits: each byte's high and low
 * nibbles interleaved, then '0' + d, plus 'a' - '0' - 10 where d > 9. */
static inline __m128i hex16(__m128i v)
{
	const __m128i m = _mm_set1_epi8(0x0f);
	__m128i d = _mm_unpacklo_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
	__m128i gt9 = _mm_cmpgt_epi8(d, _mm_set1_epi8(9));
	return _mm_add_epi8(_mm_add_epi8(d, _mm_set1_epi8('0')),
	                    _mm_and_si128(gt9, _mm_set1_epi8('a' - '0' - 10)));
}
#endif

void at_hex_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i = 0;
#ifdef __SSE2__
	/* ids are 8 or 16 bytes, encoded on every outgoing request: 8 at a
	 * time in a dozen instructions instead of a table load per byte */
	for (; i + 8 <= n; i += 8)
		_mm_storeu_si128((__m128i *)(out + 2 * i),
		                 hex16(_mm_loadl_epi64((const __m128i *)(in + i))));
#endif
	for (; i < n; i++)
		memcpy(out + 2 * i, hexpair[in[i]], 2);
}

int at_hex_decode(const char *in, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = at_hexval_lower((unsigned char)in[2 * i]);
		int lo = at_hexval_lower((unsigned char)in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

int at_traceparent_parse(const char *s, size_t len, struct at_ctx *out)
{
	/* optional whitespace around the value (OWS in HTTP) */
	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len < AT_TRACEPARENT_LEN)
		return -1;
	uint8_t version;
	if (at_hex_decode(s, 1, &version) || version == 0xff || s[2] != '-' || s[35] != '-' ||
	    s[52] != '-')
		return -1;
	/* version 00 is exactly 55 characters; a future version may add fields
	 * after a '-' and we read the ones we know */
	if (version == 0 && len != AT_TRACEPARENT_LEN)
		return -1;
	if (len > AT_TRACEPARENT_LEN && s[AT_TRACEPARENT_LEN] != '-')
		return -1;
	struct at_ctx c;
	memset(&c, 0, sizeof c);
	uint8_t flags;
	if (at_hex_decode(s + 3, 16, c.trace_id) || at_hex_decode(s + 36, 8, c.span_id) ||
	    at_hex_decode(s + 53, 1, &flags))
		return -1;
	if (all_zero(c.trace_id, 16) || all_zero(c.span_id, 8))
		return -1;
	c.flags = flags & AT_FLAG_SAMPLED; /* unknown flags are not propagated */
	c.valid = 1;
	c.remote = 1;
	*out = c;
	return 0;
}

void at_traceparent_format(const struct at_ctx *c, char out[AT_TRACEPARENT_LEN + 1])
{
	memcpy(out, "00-", 3);
	at_hex_encode(c->trace_id, 16, out + 3);
	out[35] = '-';
	at_hex_encode(c->span_id, 8, out + 36);
	out[52] = '-';
	out[53] = '0';
	out[54] = (c->flags & AT_FLAG_SAMPLED) ? '1' : '0';
	out[55] = 0;
}

static int key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
	       c == '*' || c == '/';
}

int at_tracestate_valid(const char *s, size_t len)
{
	if (len > AT_TRACESTATE_MAX)
		return 0;
	int members = 0;
	size_t i = 0;
	while (i < len) {
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		size_t ks = i;
		int at = 0;
		if (i < len && !((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return 0;
		while (i < len && s[i] != '=') {
			if (s[i] == '@') {
				if (at++)
					return 0;
			} else if (!key_char(s[i])) {
				return 0;
			}
			i++;
		}
		if (i >= len || i == ks || i - ks > 256)
			return 0;
		i++; /* '=' */
		size_t vs = i;
		while (i < len && s[i] != ',') {
			unsigned char c = (unsigned char)s[i];
			if (c < 0x20 || c > 0x7e || c == '=')
				return 0;
			i++;
		}
		if (i == vs || i - vs > 256)
			return 0;
		if (++members > 32)
			return 0;
		if (i < len)
			i++; /* ',' */
	}
	return members > 0;
}

int at_baggage_valid(const char *s, size_t len)
{
	if (len == 0 || len > AT_BAGGAGE_MAX)
		return 0;
	int entries = 1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			return 0;
		if (c == ',' && ++entries > 180)
			return 0;
	}
	return 1;
}

static void add(struct at_inject *inj, size_t *used, const char *name, const char *v, size_t vlen)
{
	size_t nlen = strlen(name);
	if (inj->n >= 8 || *used + nlen + 2 + vlen + 1 > sizeof inj->buf)
		return;
	char *p = inj->buf + *used;
	memcpy(p, name, nlen);
	memcpy(p + nlen, ": ", 2);
	memcpy(p + nlen + 2, v, vlen);
	p[nlen + 2 + vlen] = 0;
	inj->lines[inj->n] = p;
	inj->lens[inj->n] = nlen + 2 + vlen;
	inj->n++;
	*used += nlen + 2 + vlen + 1;
}

int at_inject_build(struct at_inject *inj, const struct at_ctx *c, const char *tracestate,
		    size_t tslen)
{
	size_t used = 0;
	inj->n = 0;
	if (!c->valid)
		return 0;
	if (at_cfg.propagators & AT_PROP_TRACECONTEXT) {
		/* the first line, formatted in place (buf has room for it) */
		static const char name[] = "traceparent: ";
		_Static_assert(sizeof name + AT_TRACEPARENT_LEN <= sizeof inj->buf, "room");
		memcpy(inj->buf, name, sizeof name - 1);
		at_traceparent_format(c, inj->buf + sizeof name - 1);
		inj->lines[0] = inj->buf;
		inj->lens[0] = sizeof name - 1 + AT_TRACEPARENT_LEN;
		inj->n = 1;
		used = inj->lens[0] + 1;
		if (tracestate && tslen)
			add(inj, &used, "tracestate", tracestate, tslen);
	}
	if ((at_cfg.propagators & AT_PROP_BAGGAGE) && at_tls.baggage && *at_tls.baggage)
		add(inj, &used, "baggage", at_tls.baggage, strlen(at_tls.baggage));
	if (!(at_cfg.propagators & (AT_PROP_B3 | AT_PROP_B3MULTI | AT_PROP_JAEGER)))
		return inj->n;
	char t[33], s[17], v[64];
	at_hex_encode(c->trace_id, 16, t);
	at_hex_encode(c->span_id, 8, s);
	t[32] = s[16] = 0;
	int sampled = c->flags & AT_FLAG_SAMPLED;
	if (at_cfg.propagators & AT_PROP_B3) { /* never the parent (B3 spec) */
		memcpy(v, t, 32);
		v[32] = '-';
		memcpy(v + 33, s, 16);
		v[49] = '-';
		v[50] = sampled ? '1' : '0';
		add(inj, &used, "b3", v, 51);
	}
	if (at_cfg.propagators & AT_PROP_B3MULTI) {
		add(inj, &used, "x-b3-traceid", t, 32);
		add(inj, &used, "x-b3-spanid", s, 16);
		add(inj, &used, "x-b3-sampled", sampled ? "1" : "0", 1);
	}
	if (at_cfg.propagators & AT_PROP_JAEGER) {
		int n = snprintf(v, sizeof v, "%s:%s:0:%c", t, s, sampled ? '1' : '0');
		add(inj, &used, "uber-trace-id", v, (size_t)n);
	}
	return inj->n;
}

/* ---- B3, Jaeger, and extraction from an incoming request ---- */

/* n hex digits (1..2*width) right-aligned into a width-byte id. */
static int hex_id(const char *s, size_t n, uint8_t *out, size_t width)
{
	char tmp[32];
	if (n == 0 || n > 2 * width)
		return -1;
	memset(tmp, '0', 2 * width - n);
	memcpy(tmp + 2 * width - n, s, n);
	memset(out, 0, width);
	if (at_hex_decode(tmp, width, out) || all_zero(out, width))
		return -1;
	return 0;
}

/* B3 and W3C ids: exactly 16 or 32 characters for a trace, 16 for a span. */
static int b3_ids(const char *t, size_t tl, const char *s, size_t sl, struct at_ctx *c)
{
	memset(c, 0, sizeof *c);
	if ((tl != 16 && tl != 32) || sl != 16)
		return -1;
	if (hex_id(t, tl, c->trace_id, 16) || hex_id(s, sl, c->span_id, 8))
		return -1;
	c->valid = 1;
	c->remote = 1;
	return 0;
}

int at_b3_parse(const char *s, size_t len, struct at_ctx *out)
{
	const char *f[4];
	size_t fl[4];
	int n = 0;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '-') {
			if (n == 4)
				return -1;
			f[n] = s + start;
			fl[n++] = i - start;
			start = i + 1;
		}
	}
	if (n < 2) /* "0", "1", "d" alone carry no context */
		return -1;
	struct at_ctx c;
	if (b3_ids(f[0], fl[0], f[1], fl[1], &c))
		return -1;
	c.flags = AT_FLAG_SAMPLED; /* absent: deferred; we record */
	if (n >= 3) {
		if (fl[2] != 1 || (f[2][0] != '0' && f[2][0] != '1' && f[2][0] != 'd'))
			return -1;
		c.flags = f[2][0] == '0' ? 0 : AT_FLAG_SAMPLED;
	}
	if (n == 4) {
		uint8_t parent[8];
		if (fl[3] != 16 || hex_id(f[3], 16, parent, 8))
			return -1;
	}
	*out = c;
	return 0;
}

int at_b3multi_parse(const char *trace, size_t tl, const char *span, size_t sl,
		     const char *sampled, size_t sal, const char *flags, size_t fl,
		     struct at_ctx *out)
{
	struct at_ctx c;
	if (!trace || !span || b3_ids(trace, tl, span, sl, &c))
		return -1;
	c.flags = AT_FLAG_SAMPLED;
	if (sal) {
		if ((sal == 1 && sampled[0] == '1') || (sal == 4 && !memcmp(sampled, "true", 4)))
			c.flags = AT_FLAG_SAMPLED;
		else if ((sal == 1 && sampled[0] == '0') ||
			 (sal == 5 && !memcmp(sampled, "false", 5)))
			c.flags = 0;
		else
			return -1;
	}
	if (fl == 1 && flags[0] == '1')
		c.flags = AT_FLAG_SAMPLED; /* debug */
	*out = c;
	return 0;
}

int at_uber_parse(const char *s, size_t len, struct at_ctx *out)
{
	/* jaeger clients may URL-encode the value: %3A for ':' */
	char buf[AT_CARRIER_SMALL];
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (n >= sizeof buf)
			return -1;
		if (s[i] == '%' && i + 2 < len && s[i + 1] == '3' &&
		    (s[i + 2] == 'A' || s[i + 2] == 'a')) {
			buf[n++] = ':';
			i += 2;
		} else {
			buf[n++] = s[i];
		}
	}
	const char *f[4];
	size_t fl[4];
	int k = 0;
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || buf[i] == ':') {
			if (k == 4)
				return -1;
			f[k] = buf + start;
			fl[k++] = i - start;
			start = i + 1;
		}
	}
	if (k != 4)
		return -1;
	struct at_ctx c;
	memset(&c, 0, sizeof c);
	uint8_t parent[8], fb[2];
	if (hex_id(f[0], fl[0], c.trace_id, 16) || hex_id(f[1], fl[1], c.span_id, 8))
		return -1;
	/* the parent is deprecated and may be "0" */
	if (fl[2] == 0 || fl[2] > 16 || (hex_id(f[2], fl[2], parent, 8) && !(fl[2] == 1 && f[2][0] == '0')))
		return -1;
	if (fl[3] == 0 || fl[3] > 2 || hex_id(f[3], fl[3], fb, 1) < 0) {
		/* hex_id rejects "0" (all zero): flags 0 is fine */
		if (!(fl[3] >= 1 && fl[3] <= 2 && f[3][0] == '0' && (fl[3] == 1 || f[3][1] == '0')))
			return -1;
		fb[0] = 0;
	}
	c.flags = (fb[0] & 3) ? AT_FLAG_SAMPLED : 0; /* 1 sampled, 2 debug */
	c.valid = 1;
	c.remote = 1;
	*out = c;
	return 0;
}

void at_carrier_reset(struct at_carrier *c)
{
	/* the big buffers are written before they are read */
	memset(c, 0, offsetof(struct at_carrier, tracestate));
}

static void keep(char *dst, size_t cap, uint8_t *len, const char *v, size_t vl, int complete,
		 uint8_t *bad, unsigned bit)
{
	if (!complete || vl >= cap || *len) { /* cut, oversized, or repeated: unusable */
		*bad |= (uint8_t)bit;
		return;
	}
	memcpy(dst, v, vl);
	dst[vl] = 0;
	*len = (uint8_t)vl;
}

static int baggage_char(char ch)
{
	unsigned char c = (unsigned char)ch;
	return c > 0x20 && c < 0x7f && c != '"' && c != ',' && c != ';' && c != '\\' && c != '=';
}

/* Append one list item to a comma-separated buffer, or mark it bad. */
static void append_list(char *dst, size_t cap, uint16_t *len, const char *a, size_t al,
			const char *b, size_t bl, int complete, uint8_t *bad, unsigned bit)
{
	size_t need = (*len ? 1 : 0) + al + (b ? 1 + bl : 0);
	if (!complete || *len + need >= cap) {
		*bad |= (uint8_t)bit;
		return;
	}
	char *p = dst + *len;
	if (*len)
		*p++ = ',';
	memcpy(p, a, al);
	p += al;
	if (b) {
		*p++ = '=';
		memcpy(p, b, bl);
		p += bl;
	}
	*p = 0;
	*len = (uint16_t)(p - dst);
}

void at_carrier_add(struct at_carrier *c, const char *n, size_t nl, const char *v, size_t vl,
		    int complete)
{
	if (nl == 11 && !memcmp(n, "traceparent", 11)) {
		c->tp_count++; /* two traceparent headers: invalid */
		keep(c->traceparent, sizeof c->traceparent, &c->tp_len, v, vl, complete, &c->bad,
		     AT_PROP_TRACECONTEXT);
	} else if (nl == 10 && !memcmp(n, "tracestate", 10)) {
		/* several tracestate headers are one list */
		append_list(c->tracestate, sizeof c->tracestate, &c->ts_len, v, vl, NULL, 0,
			    complete, &c->bad, 0x80);
	} else if (nl == 7 && !memcmp(n, "baggage", 7)) {
		append_list(c->baggage, sizeof c->baggage, &c->bg_len, v, vl, NULL, 0, complete,
			    &c->bad, AT_PROP_BAGGAGE);
	} else if (nl == 2 && !memcmp(n, "b3", 2)) {
		keep(c->b3, sizeof c->b3, &c->b3_len, v, vl, complete, &c->bad, AT_PROP_B3);
	} else if (nl == 12 && !memcmp(n, "x-b3-traceid", 12)) {
		keep(c->b3_trace, sizeof c->b3_trace, &c->b3t_len, v, vl, complete, &c->bad,
		     AT_PROP_B3MULTI);
	} else if (nl == 11 && !memcmp(n, "x-b3-spanid", 11)) {
		keep(c->b3_span, sizeof c->b3_span, &c->b3s_len, v, vl, complete, &c->bad,
		     AT_PROP_B3MULTI);
	} else if (nl == 12 && !memcmp(n, "x-b3-sampled", 12)) {
		keep(c->b3_sampled, sizeof c->b3_sampled, &c->b3smp_len, v, vl, complete, &c->bad,
		     AT_PROP_B3MULTI);
	} else if (nl == 10 && !memcmp(n, "x-b3-flags", 10)) {
		keep(c->b3_flags, sizeof c->b3_flags, &c->b3f_len, v, vl, complete, &c->bad,
		     AT_PROP_B3MULTI);
	} else if (nl == 13 && !memcmp(n, "uber-trace-id", 13)) {
		keep(c->uber, sizeof c->uber, &c->uber_len, v, vl, complete, &c->bad,
		     AT_PROP_JAEGER);
	} else if (nl > 8 && !memcmp(n, "uberctx-", 8)) {
		/* jaeger baggage: kept as W3C baggage entries when they are plain */
		for (size_t i = 0; i < vl; i++)
			if (!baggage_char(v[i]))
				return;
		for (size_t i = 8; i < nl; i++)
			if (!baggage_char(n[i]))
				return;
		uint8_t ignored = 0;
		append_list(c->baggage, sizeof c->baggage, &c->bg_len, n + 8, nl - 8, v, vl,
			    complete, &ignored, 0);
	}
}

int at_extract(const struct at_carrier *c, unsigned props, struct at_ctx *out, const char **ts,
	       size_t *tslen)
{
	*ts = NULL;
	*tslen = 0;
	if ((props & AT_PROP_TRACECONTEXT) && !(c->bad & AT_PROP_TRACECONTEXT) &&
	    c->tp_count == 1 && !at_traceparent_parse(c->traceparent, c->tp_len, out)) {
		if (c->ts_len && !(c->bad & 0x80) && at_tracestate_valid(c->tracestate, c->ts_len)) {
			*ts = c->tracestate;
			*tslen = c->ts_len;
		}
		return 0;
	}
	if ((props & AT_PROP_B3) && !(c->bad & AT_PROP_B3) && c->b3_len &&
	    !at_b3_parse(c->b3, c->b3_len, out))
		return 0;
	if ((props & (AT_PROP_B3MULTI | AT_PROP_B3)) && !(c->bad & AT_PROP_B3MULTI) &&
	    c->b3t_len && c->b3s_len &&
	    !at_b3multi_parse(c->b3_trace, c->b3t_len, c->b3_span, c->b3s_len, c->b3_sampled,
			      c->b3smp_len, c->b3_flags, c->b3f_len, out))
		return 0;
	if ((props & AT_PROP_JAEGER) && !(c->bad & AT_PROP_JAEGER) && c->uber_len &&
	    !at_uber_parse(c->uber, c->uber_len, out))
		return 0;
	memset(out, 0, sizeof *out);
	return -1;
}

const char *at_carrier_baggage(const struct at_carrier *c, unsigned props)
{
	if (!(props & (AT_PROP_BAGGAGE | AT_PROP_JAEGER)) || (c->bad & AT_PROP_BAGGAGE) ||
	    !c->bg_len || !at_baggage_valid(c->baggage, c->bg_len))
		return NULL;
	return c->baggage;
}
