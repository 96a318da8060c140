/* partial_success from an OTLP response (otlp_partial.h):
 *   ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }
 *   ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; }
 * in JSON {"partialSuccess": {"rejectedSpans": "3", "errorMessage": "…"}}. */
#include "otlp_partial.h"

#include "../preload/log.h"

#include <stdlib.h>
#include <string.h>

/* A varint at *p (< end): 0 and *p moved past it, -1 if cut or too long. */
static int varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; *p < end && shift < 64; shift += 7) {
		unsigned char b = *(*p)++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return 0;
	}
	return -1;
}

/* The next field of [*p, end): its number and wire type, and for LEN its
 * bytes (*sub, *sublen) and for VARINT its value; -1 when malformed. */
static int field(const unsigned char **p, const unsigned char *end, unsigned *num, unsigned *wire,
                 const unsigned char **sub, size_t *sublen, uint64_t *val)
{
	uint64_t key;
	if (varint(p, end, &key) || key >> 3 == 0 || key >> 3 > 0x1fffffff)
		return -1;
	*num = (unsigned)(key >> 3);
	*wire = (unsigned)(key & 7);
	switch (*wire) {
	case 0:
		return varint(p, end, val);
	case 1:
	case 5: {
		size_t k = *wire == 1 ? 8 : 4;
		if ((size_t)(end - *p) < k)
			return -1;
		*p += k;
		return 0;
	}
	case 2: {
		uint64_t n;
		if (varint(p, end, &n) || n > (uint64_t)(end - *p))
			return -1;
		*sub = *p;
		*sublen = (size_t)n;
		*p += n;
		return 0;
	}
	default:
		return -1;
	}
}

/* The printable part of s[0, n) into msg. */
static void printable(const char *s, size_t n, char *msg, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < cap; i++)
		msg[o++] = (unsigned char)s[i] >= 0x20 && s[i] != 0x7f ? s[i] : '?';
	msg[o] = 0;
}

static int from_proto(const unsigned char *p, const unsigned char *end, int64_t *rejected,
                      char *msg, size_t cap)
{
	unsigned num, wire;
	const unsigned char *sub = NULL;
	size_t sublen = 0;
	uint64_t v;
	int found = 0;
	while (p < end) {
		if (field(&p, end, &num, &wire, &sub, &sublen, &v))
			return 0;
		if (num != 1 || wire != 2)
			continue;
		const unsigned char *q = sub, *qend = sub + sublen;
		while (q < qend) {
			if (field(&q, qend, &num, &wire, &sub, &sublen, &v))
				return 0;
			if (num == 1 && wire == 0)
				*rejected = (int64_t)v;
			else if (num == 2 && wire == 2)
				printable((const char *)sub, sublen, msg, cap);
		}
		found = 1;
	}
	return found;
}

/* JSON: the value after "name": within [s, end), or NULL. Good enough for
 * a collector's answer: no nesting of the same names is expected. */
static const char *json_value(const char *s, const char *end, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = s; p + n + 2 < end; p++) {
		if (*p != '"' || memcmp(p + 1, name, n) || p[n + 1] != '"')
			continue;
		p += n + 2;
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
			p++;
		if (p >= end || *p != ':')
			continue;
		p++;
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
			p++;
		return p < end ? p : NULL;
	}
	return NULL;
}

/* A field by its proto3 JSON name, else by its proto name. */
static const char *json_field(const char *s, const char *end, const char *json_name,
                              const char *proto_name)
{
	const char *v = json_value(s, end, json_name);
	return v ? v : json_value(s, end, proto_name);
}

static int from_json(const char *s, const char *end, int64_t *rejected, char *msg, size_t cap)
{
	const char *ps = json_field(s, end, "partialSuccess", "partial_success");
	if (!ps || *ps != '{')
		return 0;
	const char *r = json_field(ps, end, "rejectedSpans", "rejected_spans");
	if (r) { /* int64: a string in proto3 JSON, a number accepted too */
		char digits[24];
		size_t k = 0;
		if (*r == '"')
			r++;
		while (r < end && k + 1 < sizeof digits && (*r == '-' || (*r >= '0' && *r <= '9')))
			digits[k++] = *r++;
		digits[k] = 0;
		*rejected = strtoll(digits, NULL, 10);
	}
	const char *m = json_field(ps, end, "errorMessage", "error_message");
	if (m && *m == '"') {
		char t[256];
		size_t o = 0;
		for (m++; m < end && *m != '"' && o < sizeof t; m++) {
			if (*m == '\\' && m + 1 < end)
				m++; /* the escaped character as it is (\n as 'n') */
			t[o++] = *m;
		}
		printable(t, o, msg, cap);
	}
	return 1;
}

int at_otlp_partial(const void *body, size_t len, int json, int64_t *rejected, char *msg,
                    size_t cap)
{
	*rejected = 0;
	if (cap)
		msg[0] = 0;
	if (!body || !len)
		return 0;
	int found = json ? from_json(body, (const char *)body + len, rejected, msg, cap)
	                 : from_proto(body, (const unsigned char *)body + len, rejected, msg, cap);
	return found && (*rejected > 0 || (cap && msg[0]));
}

size_t at_partial_success(const char *name, const char *url, int format, const void *body,
                          size_t len, size_t n, int *warned)
{
	int64_t rejected;
	char msg[256];
	if (!format || !at_otlp_partial(body, len, format == 2, &rejected, msg, sizeof msg)) {
		*warned = 0;
		return 0;
	}
	size_t r = rejected < 0 ? 0 : (uint64_t)rejected > n ? n : (size_t)rejected;
	if (!(*warned)++) {
		if (r)
			at_log(AT_LOG_WARN, "%s: the collector at %s rejected %zu of %zu spans%s%s", name,
			       url, r, n, msg[0] ? ": " : "", msg);
		else
			at_log(AT_LOG_WARN, "%s: the collector at %s took %zu spans with a warning: %s",
			       name, url, n, msg);
	}
	return r;
}
