/* The exporter's own HTTP/1.1 client: one keep-alive connection to one
 * collector, every step bounded by a deadline. Runs only on the exporter
 * thread. */
#ifndef AT_HTTP_CLIENT_H
#define AT_HTTP_CLIENT_H

#include "conn.h"

#include <stddef.h>
#include <stdint.h>

struct at_http {
	struct at_conn c; /* c.why: what failed when at_http_post got no response */
	char path[512];
	char auth[320];  /* "Authorization: Basic ...\r\n" or empty */
	int usable;
	/* the last response's body, when it has a Content-Length and fits */
	size_t body_len;
	char body[1024];
};

/* Returns 0, or -1 with a warning when the URL cannot be used. */
int at_http_init(struct at_http *h, const char *url);
void at_http_set_basic_auth(struct at_http *h, const char *user, const char *pass);
/* Connects now, unless a connection is kept: 0, or -1 (h->c.why). */
int at_http_open(struct at_http *h, uint64_t deadline_ms);
/* POST body; returns the HTTP status, or -1 when no response came (refused,
 * timed out, garbage: h->why says which). extra_headers: "k: v\r\n" lines
 * or NULL. No retry but one: a kept-alive connection the collector had
 * closed is opened again. */
int at_http_post(struct at_http *h, const char *content_type, const char *extra_headers,
		 const void *body, size_t len, uint64_t deadline_ms);
void at_http_close(struct at_http *h);

#endif
