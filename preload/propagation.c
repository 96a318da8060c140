/* W3C Trace Context and Baggage. Parsers are strict: whatever comes from the
 * network is either accepted whole or ignored, and nothing of an invalid
 * header is ever echoed into an outgoing one. */
#define _GNU_SOURCE
#include "propagation.h"

#include "autotrace.h"
#include "config.h"

#include <string.h>

static const char hexdig[] = "0123456789abcdef";

void at_hex_encode(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig[in[i] >> 4];
		out[2 * i + 1] = hexdig[in[i] & 15];
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int at_hex_decode(const char *in, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
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
		char tp[AT_TRACEPARENT_LEN + 1];
		at_traceparent_format(c, tp);
		add(inj, &used, "traceparent", tp, AT_TRACEPARENT_LEN);
		if (tracestate && tslen)
			add(inj, &used, "tracestate", tracestate, tslen);
	}
	if ((at_cfg.propagators & AT_PROP_BAGGAGE) && at_tls.baggage && *at_tls.baggage)
		add(inj, &used, "baggage", at_tls.baggage, strlen(at_tls.baggage));
	return inj->n;
}
