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

#endif
