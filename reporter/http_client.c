/* A small HTTP/1.1 client over the exporter's connection (conn.c: the
 * socket is SOCK_CLOEXEC and checked to be ours before every use). */
#define _GNU_SOURCE
#include "http_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int at_http_init(struct at_http *h, const char *url)
{
	const char *path;
	memset(h, 0, sizeof *h);
	if (at_conn_init(&h->c, url, &path))
		return -1;
	snprintf(h->path, sizeof h->path, "%s", path);
	h->usable = 1;
	return 0;
}

void at_http_set_basic_auth(struct at_http *h, const char *user, const char *pass)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char plain[200], enc[272]; /* 4 * ceil(199 / 3) + 1 */
	int n = snprintf(plain, sizeof plain, "%s:%s", user, pass ? pass : "");
	if (n < 0 || n >= (int)sizeof plain)
		return;
	size_t o = 0;
	for (int i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)plain[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)plain[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)plain[i + 2];
		enc[o++] = b64[v >> 18 & 63];
		enc[o++] = b64[v >> 12 & 63];
		enc[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		enc[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	enc[o] = 0;
	snprintf(h->auth, sizeof h->auth, "Authorization: Basic %s\r\n", enc);
}

void at_http_close(struct at_http *h)
{
	at_conn_close(&h->c);
}

/* Reads until the whole response (headers and body) has arrived. */
struct resp {
	char buf[16384];
	size_t len;
};

/* Keeps the body's first bytes. */
static void keep_body(struct at_http *h, const char *p, size_t n)
{
	size_t room = sizeof h->body - h->body_len;
	n = n < room ? n : room;
	memcpy(h->body + h->body_len, p, n);
	h->body_len += n;
}

/* Returns the status, -1 on failure (h->why says what); *keep says
 * whether the connection can be reused. The body is read (bounded by the
 * deadline), and kept in h->body when its length is given and it fits. */
static int read_response(struct at_http *h, uint64_t deadline_ms, int *keep)
{
		struct resp r;
	r.len = 0;
	h->body_len = 0;
	char *hend = NULL;
	while (!hend) {
		if (r.len == sizeof r.buf - 1) {
			snprintf(h->c.why, sizeof h->c.why, "response header over %zu bytes",
				 sizeof r.buf - 1);
			return -1;
		}
		ssize_t n = at_conn_recv(&h->c, r.buf + r.len, sizeof r.buf - 1 - r.len, deadline_ms);
		if (n < 0) {
			at_conn_failed(&h->c, "response", errno, deadline_ms);
			return -1;
		}
		if (n == 0) {
			snprintf(h->c.why, sizeof h->c.why, "connection closed before a response");
			return -1;
		}
		r.len += (size_t)n;
		r.buf[r.len] = 0;
		hend = strstr(r.buf, "\r\n\r\n");
	}
	int major, minor, status;
	if (sscanf(r.buf, "HTTP/%d.%d %3d", &major, &minor, &status) != 3 || status < 100 ||
	    status > 599) {
		snprintf(h->c.why, sizeof h->c.why, "the response is not HTTP");
		return -1;
	}
	*keep = !(major == 1 && minor == 0);
	long clen = -1;
	int chunked = 0;
	for (char *line = strstr(r.buf, "\r\n") + 2; line < hend; line = strstr(line, "\r\n") + 2) {
		if (!strncasecmp(line, "Content-Length:", 15))
			clen = strtol(line + 15, NULL, 10);
		else if (!strncasecmp(line, "Transfer-Encoding:", 18) && strstr(line, "chunked"))
			chunked = 1;
		else if (!strncasecmp(line, "Connection:", 11) && strcasestr(line, "close") &&
			 strcasestr(line, "close") < strstr(line, "\r\n"))
			*keep = 0;
	}
	size_t have = r.len - (size_t)(hend + 4 - r.buf);
	if (chunked) {
		/* not worth a full parser: read until the terminating chunk */
		memmove(r.buf, hend + 4, have);
		r.len = have;
		r.buf[r.len] = 0;
		while (!strstr(r.buf, "0\r\n\r\n")) {
			if (r.len >= sizeof r.buf - 1) {
				memmove(r.buf, r.buf + r.len - 8, 8);
				r.len = 8;
			}
			ssize_t n = at_conn_recv(&h->c, r.buf + r.len, sizeof r.buf - 1 - r.len, deadline_ms);
			if (n <= 0)
				return status;
			r.len += (size_t)n;
			r.buf[r.len] = 0;
		}
	} else if (clen >= 0) {
		int kept = (size_t)clen <= sizeof h->body; /* a part of one is not read */
		if (kept)
			keep_body(h, hend + 4, have < (size_t)clen ? have : (size_t)clen);
		long left = clen - (long)have;
		while (left > 0) {
			ssize_t n = at_conn_recv(&h->c, r.buf, sizeof r.buf, deadline_ms);
			if (n <= 0) {
				*keep = 0;
				h->body_len = 0; /* cut: not to be read */
				return status;
			}
			if (kept)
				keep_body(h, r.buf, (size_t)n < (size_t)left ? (size_t)n : (size_t)left);
			left -= n;
		}
	} else if (status >= 200 && status != 204 && status != 304) {
		*keep = 0; /* body until close: do not wait for it */
	}
	return status;
}

/* The kept connection if it is still ours, else a new one (*fresh). */
static int connection(struct at_http *h, uint64_t deadline_ms, int *fresh)
{
	*fresh = 0;
	if (at_conn_ours(&h->c))
		return 0;
	at_conn_forget(&h->c); /* closed under us (or reused by the app) */
	*fresh = 1;
	return at_conn_connect(&h->c, deadline_ms);
}

int at_http_open(struct at_http *h, uint64_t deadline_ms)
{
	int fresh;
	return h->usable ? connection(h, deadline_ms, &fresh) : -1;
}

int at_http_post(struct at_http *h, const char *content_type, const char *extra_headers,
		 const void *body, size_t len, uint64_t deadline_ms)
{
	if (!h->usable) {
		snprintf(h->c.why, sizeof h->c.why, "the endpoint cannot be used");
		return -1;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		int fresh;
		if (connection(h, deadline_ms, &fresh))
			return -1;
		char head[2048];
		int n = snprintf(head, sizeof head,
				 "POST %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: " "autotrace/0.1"
				 "\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
				 h->path, h->c.host, h->c.port, content_type, len, h->auth,
				 extra_headers ? extra_headers : "");
		if (n <= 0 || n >= (int)sizeof head) {
			snprintf(h->c.why, sizeof h->c.why, "request header over %zu bytes",
				 sizeof head - 1);
			return -1;
		}
		int keep = 0, status = -1;
		struct iovec v[2] = {{head, (size_t)n}, {(void *)body, len}};
		if (at_conn_sendv(&h->c, v, 2, deadline_ms) == 0)
			status = read_response(h, deadline_ms, &keep);
		else
			at_conn_failed(&h->c, "send", errno, deadline_ms);
		if (status < 0 || !keep)
			at_http_close(h);
		/* a kept-alive connection the collector had closed: one more try */
		if (status < 0 && !fresh && at_conn_remaining(deadline_ms) > 0)
			continue;
		return status;
	}
	return -1;
}
