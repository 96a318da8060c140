/* Context propagation formats: W3C traceparent/tracestate, baggage. */
#ifndef AT_PROPAGATION_H
#define AT_PROPAGATION_H

#include "span.h"

#include <stddef.h>

#define AT_TRACEPARENT_LEN 55
#define AT_TRACESTATE_MAX 512
#define AT_BAGGAGE_MAX 8192

/* Strict W3C parsing; returns 0 and fills out (remote, valid) on success,
 * -1 for anything invalid (then the caller starts a new trace). */
int at_traceparent_parse(const char *s, size_t len, struct at_ctx *out);
/* Writes the 55 characters and a NUL. */
void at_traceparent_format(const struct at_ctx *c, char out[AT_TRACEPARENT_LEN + 1]);
/* 1 if s is a tracestate we may pass on (<= 32 members, valid keys). */
int at_tracestate_valid(const char *s, size_t len);
/* 1 if s is a W3C baggage list within the limits. */
int at_baggage_valid(const char *s, size_t len);

void at_hex_encode(const uint8_t *in, size_t n, char *out);
int at_hex_decode(const char *in, size_t n, uint8_t *out); /* lowercase only */

/* The header lines to add to an outgoing request for context c, by the
 * configured propagators: "name: value" strings, no CRLF. */
struct at_inject {
	int n;
	const char *lines[8];
	size_t lens[8];
	char buf[1200];
};
int at_inject_build(struct at_inject *inj, const struct at_ctx *c, const char *tracestate,
		    size_t tslen);

/* ---- other formats, and extraction from an incoming request ---- */

/* B3 single header "{trace}-{span}[-{1|0|d}[-{parent}]]"; 64-bit trace ids
 * are widened. Lowercase hex only; returns 0 or -1. */
int at_b3_parse(const char *s, size_t len, struct at_ctx *out);
/* B3 multi headers (any may be NULL / 0 length except trace and span). */
int at_b3multi_parse(const char *trace, size_t tl, const char *span, size_t sl,
		     const char *sampled, size_t sal, const char *flags, size_t fl,
		     struct at_ctx *out);
/* Jaeger "uber-trace-id: {trace}:{span}:{parent}:{flags}" (also with the
 * colons URL-encoded as %3A). */
int at_uber_parse(const char *s, size_t len, struct at_ctx *out);

/* The propagation headers of one incoming request, collected as the request
 * is parsed (fixed size: oversized values are marked bad, never cut). */
#define AT_CARRIER_SMALL 100
struct at_carrier {
	char traceparent[AT_CARRIER_SMALL];
	char b3[AT_CARRIER_SMALL];
	char b3_trace[AT_CARRIER_SMALL], b3_span[AT_CARRIER_SMALL];
	char b3_sampled[8], b3_flags[8];
	char uber[AT_CARRIER_SMALL];
	uint8_t tp_len, b3_len, b3t_len, b3s_len, b3smp_len, b3f_len, uber_len;
	uint8_t tp_count, bad; /* bad: AT_PROP_* bits whose headers were unusable */
	uint16_t ts_len, bg_len;
	char tracestate[AT_TRACESTATE_MAX + 1];
	char baggage[AT_BAGGAGE_MAX + 1]; /* W3C baggage, plus jaeger uberctx-* entries */
};
void at_carrier_reset(struct at_carrier *c);
/* One header (name lowercase); complete = 0 when the value was cut. */
void at_carrier_add(struct at_carrier *c, const char *name, size_t nlen, const char *v,
		    size_t vlen, int complete);
/* The remote parent by the configured propagators (tracecontext, b3, b3multi,
 * jaeger: the first valid one wins); 0 on success. *ts / *tslen: the
 * tracestate to pass on (only with a valid traceparent), else NULL / 0. */
int at_extract(const struct at_carrier *c, unsigned propagators, struct at_ctx *out,
	       const char **ts, size_t *tslen);
/* The baggage to pass on (validated), or NULL. */
const char *at_carrier_baggage(const struct at_carrier *c, unsigned propagators);

#endif
