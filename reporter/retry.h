/* The exporter's retries of one export, shared by its HTTP and gRPC
 * backends. */
#ifndef AT_RETRY_H
#define AT_RETRY_H

#include <stdint.h>

/* Calls once(ctx, deadline_ms), and again after 100, 200, 400 … 2000 ms
 * while retryable(its result) and the deadline allows; returns the last
 * result. A negative result means no answer came. While the program waits
 * for this export (its exit, a crash) every pause is its time: then only
 * the collector's own "later" is waited for, and a collector that did not
 * answer (refused, reset, not speaking the protocol) is not asked again. */
int at_retry(int (*once)(void *ctx, uint64_t deadline_ms), int (*retryable)(int result),
             void *ctx, uint64_t deadline_ms);

#endif
