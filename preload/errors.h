/* One way for every hook to say a call failed (docs/failures.md): status
 * Error with a short description, error.type, and, when there is a message,
 * an `exception` event with exception.type and exception.message. */
#ifndef AT_ERRORS_H
#define AT_ERRORS_H

#include "span.h"

#include <stddef.h>

/* type: a literal or short code ("CURLE_COULDNT_CONNECT", "1146", "500",
 * "ERR"); msg: NULL or mlen 0 when there is no message (an HTTP status). */
void at_span_fail(struct at_span *s, const char *type, size_t tlen, const char *msg, size_t mlen);

#endif
