/* libFuzzer target for the HTTP/1.x parser (requests and responses, fed in
 * pieces cut where the input says) and every propagation header parser
 * (make fuzz). Beyond memory safety it checks what the hooks rely on:
 * the parser consumes every byte unless it reports an event, parsing in
 * pieces gives the same result as parsing at once, asking for only some
 * headers reports those the same and changes nothing else, and a header
 * accepted as a context never has an all-zero id. */
// SRCS: hooks/http_parse.c preload/propagation.c
#include "../../hooks/http_parse.h"
#include "../../preload/autotrace.h"
#include "../../preload/config.h"
#include "../../preload/propagation.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct at_config at_cfg;
AT_TLS struct at_tls at_tls;

static struct at_carrier carrier;

/* What the headers looked like, to compare runs: with every header
 * reported, and with only some (the others must be skipped, not changed). */
static uint64_t hsum;
static uint32_t want;

static void on_header(struct at_http_parser *p, int id, const char *n, size_t nl, const char *v,
                      size_t vl, int complete)
{
	if (nl >= AT_HTTP_NAME_MAX || (complete && vl > 64) || id != at_http_header_id(n, nl))
		abort();
	if (!(p->report & AT_HTTP_H_BIT(id)))
		abort();
	if (want & AT_HTTP_H_BIT(id)) {
		for (size_t i = 0; i < nl; i++)
			hsum = hsum * 131 + (unsigned char)n[i];
		for (size_t i = 0; i < vl; i++)
			hsum = hsum * 137 + (unsigned char)v[i];
		hsum = hsum * 3 + (uint64_t)complete;
	}
	if (p->report == AT_HTTP_REPORT_ALL)
		at_carrier_add(&carrier, n, nl, v, vl, complete);
}

/* Feed data in pieces of the given size, the first one `first` bytes long
 * when that is not 0; returns the events seen, in order, with where each
 * happened, packed (and the final state's status). A first piece that ends
 * anywhere, then all the rest at once, puts every line end both at a
 * buffer's end and inside a buffer: the line-at-once paths against the
 * state-at-a-time ones. */
static uint64_t feed(int type, unsigned flags, const uint8_t *d, size_t n, size_t piece,
                     size_t first, uint32_t report)
{
	struct at_http_parser p;
	char vbuf[64];
	hsum = 0;
	at_http_parser_init(&p, type, flags, vbuf, sizeof vbuf, on_header, report, NULL);
	uint64_t trace = 0;
	size_t i = 0;
	while (i < n) {
		size_t want = i < first ? first - i : piece;
		size_t k = n - i < want ? n - i : want, used = 0;
		int ev = at_http_parse(&p, (const char *)d + i, k, &used);
		if (used > k)
			abort();
		if (!ev && used != k)
			abort(); /* no event: everything must be consumed */
		i += used;
		if (ev) {
			trace = (trace * 31 + (uint64_t)ev) * 1000003 + i;
			if (ev & AT_HTTP_ERROR)
				break;
			if (ev & AT_HTTP_DONE)
				at_http_parser_reset(&p, flags);
		} else if (!used) {
			break;
		}
	}
	return (trace * 1000 + p.status) ^ hsum * 7;
}

static void check_ctx(const struct at_ctx *c)
{
	static const uint8_t z[16];
	if (!memcmp(c->trace_id, z, 16) || !memcmp(c->span_id, z, 8))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	if (n < 1)
		return 0;
	size_t piece = (d[0] & 15) + 1;
	int type = (d[0] & 16) ? AT_HTTP_RESPONSE : AT_HTTP_REQUEST;
	unsigned flags = (d[0] & 32) ? AT_HTTP_F_STRICT : 0;
	/* the headers the second run asks for */
	uint32_t some =
	    (d[0] & 64) ? AT_HTTP_REPORT_CARRIER | AT_HTTP_H_BIT(AT_HTTP_H_HOST)
	                : AT_HTTP_H_BIT(AT_HTTP_H_CONTENT_LENGTH) | AT_HTTP_H_BIT(AT_HTTP_H_OTHER);
	d++, n--;
	want = some;
	at_carrier_reset(&carrier);
	uint64_t whole = feed(type, flags, d, n, n ? n : 1, 0, AT_HTTP_REPORT_ALL);
	uint64_t pieces = feed(type, flags, d, n, piece, 0, some);
	if (whole != pieces)
		abort();
	/* cut once, where the input's bytes say */
	if (n > 1) {
		size_t cut = 1 + (size_t)((d[n - 1] * 131u + d[n / 2]) % (n - 1));
		if (feed(type, flags, d, n, n, cut, some) != whole)
			abort();
	}

	/* the header parsers, on the raw input */
	struct at_ctx c;
	const char *s = (const char *)d;
	if (!at_traceparent_parse(s, n, &c))
		check_ctx(&c);
	if (!at_b3_parse(s, n, &c))
		check_ctx(&c);
	if (!at_uber_parse(s, n, &c))
		check_ctx(&c);
	size_t h = n / 2;
	if (!at_b3multi_parse(s, h, s + h, n - h, s, n > 4 ? 4 : n, s, n > 1 ? 1 : n, &c))
		check_ctx(&c);
	at_tracestate_valid(s, n);
	at_baggage_valid(s, n);
	const char *ts;
	size_t tsl;
	if (!at_extract(&carrier, 0xff, &c, &ts, &tsl)) {
		check_ctx(&c);
		if (ts && !at_tracestate_valid(ts, tsl))
			abort();
	}
	at_carrier_baggage(&carrier, 0xff);
	return 0;
}
