/* Call loops: services calling each other in a cycle. Each server span
 * taken from an incoming request counts one hop more than its caller; the
 * count travels in W3C baggage as autotrace.hops=N, and spans past
 * AUTOTRACE_LOOP_DEPTH get autotrace.loop.depth so the loop stands out in
 * the trace view. Nothing here changes what the application does. */
#ifndef AT_LOOP_H
#define AT_LOOP_H

#include "span.h"

#include <stddef.h>

#define AT_LOOP_KEY "autotrace.hops"

/* The hop count in a baggage header value; 0 when absent or not a number. */
int at_loop_hops(const char *baggage, size_t len);

/* The baggage to send on: the members of in (may be NULL) without any
 * autotrace.hops, then autotrace.hops=hops. Returns the length written
 * (NUL-terminated), 0 when it might not fit in out or would exceed the W3C
 * limits (then nothing was written: send the incoming baggage unchanged).
 * out may be in itself (rewritten in place). */
size_t at_loop_baggage(const char *in, size_t len, int hops, char *out, size_t outlen);

/* For a server span made from an incoming request whose validated baggage
 * is in (NUL-terminated; NULL when none): its hop count (*hops) is the
 * caller's plus one; s is marked past AUTOTRACE_LOOP_DEPTH. Writes the
 * baggage for outgoing calls into buf (cap bytes; may be the very memory
 * of in) and returns buf; returns in unchanged when the baggage propagator
 * is off or there is no room. */
const char *at_loop_server(struct at_span *s, const char *in, char *buf, size_t cap, int *hops);

#endif
