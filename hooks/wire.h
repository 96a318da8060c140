/* A libcurl request's trace headers, handed by the curl hook (curl.c) to
 * the socket hooks (net.c) for the time of one curl_easy_perform.
 *
 * libcurl formats each custom header of CURLOPT_HTTPHEADER into its request
 * one byte at a time (its printf engine): a traceparent line added that way
 * cost libcurl ~8,000 instructions a request. For a plain http:// transfer
 * whose bytes go straight to a TCP socket, the curl hook instead sets
 * at_wire_cur; the TCP sockets libcurl connects while it is set are marked
 * (AT_FD_WIRE), and net.c inserts the lines itself into each HTTP/1.x
 * request head this thread writes on one of them while it is set: before
 * the empty line that ends the head, the same place and the same
 * partial-write rules as for any plain HTTP client (net.c). It follows the
 * request's body by its framing (Content-Length, chunked), so a body is
 * never touched, and does not look at the response, which is libcurl's. */
#ifndef AT_WIRE_H
#define AT_WIRE_H

#include "../preload/autotrace.h"

#include <stdint.h>

struct at_inject;

struct at_wire {
	const struct at_inject *inj; /* the lines to add; NULL: only follow */
	unsigned heads;              /* request heads net.c parsed while this was set */
};

/* Set only on the thread inside curl_easy_perform, NULL everywhere else. */
extern AT_TLS struct at_wire *at_wire_cur;

#endif
