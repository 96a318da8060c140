/* The partial_success of an OTLP export's response: how many spans the
 * collector rejected, and why, from its protobuf (OTLP/HTTP protobuf, the
 * gRPC message) or its JSON (OTLP/HTTP JSON). The specification: a
 * partially accepted request is answered with success and this, is not
 * retried, and is worth a warning. */
#ifndef AT_OTLP_PARTIAL_H
#define AT_OTLP_PARTIAL_H

#include <stddef.h>
#include <stdint.h>

/* 1 when body holds a partial_success with rejected spans or a message
 * (*rejected, msg: its printable characters, NUL-terminated, cut to cap),
 * 0 when it holds none or cannot be read. */
int at_otlp_partial(const void *body, size_t len, int json, int64_t *rejected, char *msg,
                    size_t cap);

/* How many of the n spans an answer's body (format: 0 none, 1 protobuf,
 * 2 JSON) says were rejected, with a warning (AUTOTRACE_LOG_LEVEL=warn)
 * once per run of such answers (*warned). */
size_t at_partial_success(const char *name, const char *url, int format, const void *body,
                          size_t len, size_t n, int *warned);

#endif
