/* A small HTTP/1.1 client over a plain TCP socket. The socket is
 * SOCK_CLOEXEC, and before every use we check that the fd is still the
 * socket we opened: daemons close every fd, and the number may since have
 * been given to the application — we must never write into its files. */
#define _GNU_SOURCE
#include "http_client.h"

#include "../preload/clock.h"
#include "../preload/log.h"
#include "../preload/url.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int at_http_init(struct at_http *h, const char *url)
{
	struct at_url u;
	memset(h, 0, sizeof *h);
	h->fd = -1;
	if (at_url_parse(url, &u)) {
		at_warn("exporter endpoint \"%.200s\" is not an http:// URL; spans will not be sent",
			url);
		return -1;
	}
	if (!strcmp(u.scheme, "https")) {
		at_warn("exporter endpoint \"%.200s\": https is not supported yet (no TLS in the "
			"shim); use a local collector or agent over http; spans will not be sent",
			url);
		return -1;
	}
	snprintf(h->host, sizeof h->host, "%s", u.host);
	snprintf(h->port, sizeof h->port, "%d", u.port);
	snprintf(h->path, sizeof h->path, "%s", u.path);
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

static int still_ours(struct at_http *h)
{
	struct stat st;
	return h->fd >= 0 && fstat(h->fd, &st) == 0 && st.st_dev == h->dev && st.st_ino == h->ino;
}

void at_http_close(struct at_http *h)
{
	if (still_ours(h))
		close(h->fd);
	h->fd = -1;
}

static int remaining(uint64_t deadline_ms)
{
	uint64_t now = at_mono_ms();
	return now >= deadline_ms ? 0 : (int)(deadline_ms - now);
}

/* h->why: the step that failed and errno's text, or "timed out" once the
 * deadline has passed */
static void failed(struct at_http *h, const char *step, int err, uint64_t deadline_ms)
{
	char b[64];
	const char *e = !remaining(deadline_ms) ? "timed out"
	                : err                   ? strerror_r(err, b, sizeof b)
	                                        : "failed";
	snprintf(h->why, sizeof h->why, "%s: %s", step, e);
}

static int wait_fd(int fd, short ev, uint64_t deadline_ms)
{
	struct pollfd p = {fd, ev, 0};
	for (;;) {
		int ms = remaining(deadline_ms);
		if (ms <= 0)
			return -1;
		int r = poll(&p, 1, ms);
		if (r > 0)
			return 0;
		if (r == 0 || errno != EINTR)
			return -1;
	}
}

static int do_connect(struct at_http *h, uint64_t deadline_ms)
{
	struct addrinfo hints = {0}, *res = NULL;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	int rc = getaddrinfo(h->host, h->port, &hints, &res);
	if (rc) {
		snprintf(h->why, sizeof h->why, "cannot resolve %.60s: %s", h->host,
			 gai_strerror(rc));
		at_debug("%s", h->why);
		return -1;
	}
	int fd = -1, err = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		err = errno;
		if (err == EINPROGRESS) {
			err = 0; /* timed out, unless SO_ERROR says otherwise */
			socklen_t l = sizeof err;
			if (wait_fd(fd, POLLOUT, deadline_ms) == 0 &&
			    (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) || !err))
				break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		failed(h, "connect", err, deadline_ms);
		at_debug("cannot connect to %s:%s (%s)", h->host, h->port, h->why);
		return -1;
	}
	struct stat st;
	fstat(fd, &st);
	h->fd = fd;
	h->dev = st.st_dev;
	h->ino = st.st_ino;
	return 0;
}

static int send_all(int fd, const char *p, size_t n, uint64_t deadline_ms)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fd, POLLOUT, deadline_ms))
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

/* Reads until the whole response (headers and body) has arrived. */
struct resp {
	char buf[16384];
	size_t len;
};

static ssize_t recv_some(int fd, char *p, size_t n, uint64_t deadline_ms)
{
	for (;;) {
		ssize_t r = recv(fd, p, n, 0);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if ((errno == EAGAIN || errno == EWOULDBLOCK) && !wait_fd(fd, POLLIN, deadline_ms))
			continue;
		return -1;
	}
}

/* Returns the status, -1 on failure (h->why says what); *keep says
 * whether the connection can be reused. The body is read and discarded
 * (bounded by the deadline). */
static int read_response(struct at_http *h, uint64_t deadline_ms, int *keep)
{
	int fd = h->fd;
	struct resp r;
	r.len = 0;
	char *hend = NULL;
	while (!hend) {
		if (r.len == sizeof r.buf - 1) {
			snprintf(h->why, sizeof h->why, "response header over %zu bytes",
				 sizeof r.buf - 1);
			return -1;
		}
		ssize_t n = recv_some(fd, r.buf + r.len, sizeof r.buf - 1 - r.len, deadline_ms);
		if (n < 0) {
			failed(h, "response", errno, deadline_ms);
			return -1;
		}
		if (n == 0) {
			snprintf(h->why, sizeof h->why, "connection closed before a response");
			return -1;
		}
		r.len += (size_t)n;
		r.buf[r.len] = 0;
		hend = strstr(r.buf, "\r\n\r\n");
	}
	int major, minor, status;
	if (sscanf(r.buf, "HTTP/%d.%d %3d", &major, &minor, &status) != 3 || status < 100 ||
	    status > 599) {
		snprintf(h->why, sizeof h->why, "the response is not HTTP");
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
			ssize_t n = recv_some(fd, r.buf + r.len, sizeof r.buf - 1 - r.len, deadline_ms);
			if (n <= 0)
				return status;
			r.len += (size_t)n;
			r.buf[r.len] = 0;
		}
	} else if (clen >= 0) {
		long left = clen - (long)have;
		while (left > 0) {
			ssize_t n = recv_some(fd, r.buf, sizeof r.buf, deadline_ms);
			if (n <= 0) {
				*keep = 0;
				return status;
			}
			left -= n;
		}
	} else if (status >= 200 && status != 204 && status != 304) {
		*keep = 0; /* body until close: do not wait for it */
	}
	return status;
}

int at_http_post(struct at_http *h, const char *content_type, const char *extra_headers,
		 const void *body, size_t len, uint64_t deadline_ms)
{
	if (!h->usable) {
		snprintf(h->why, sizeof h->why, "the endpoint cannot be used");
		return -1;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		int fresh = 0;
		if (!still_ours(h)) {
			h->fd = -1; /* closed under us (or reused by the app): not ours to close */
			if (do_connect(h, deadline_ms))
				return -1;
			fresh = 1;
		}
		char head[2048];
		int n = snprintf(head, sizeof head,
				 "POST %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: " "autotrace/0.1"
				 "\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
				 h->path, h->host, h->port, content_type, len, h->auth,
				 extra_headers ? extra_headers : "");
		if (n <= 0 || n >= (int)sizeof head) {
			snprintf(h->why, sizeof h->why, "request header over %zu bytes",
				 sizeof head - 1);
			return -1;
		}
		int keep = 0, status = -1;
		if (send_all(h->fd, head, (size_t)n, deadline_ms) == 0 &&
		    send_all(h->fd, body, len, deadline_ms) == 0)
			status = read_response(h, deadline_ms, &keep);
		else
			failed(h, "send", errno, deadline_ms);
		if (status < 0 || !keep)
			at_http_close(h);
		/* a kept-alive connection the collector had closed: one more try */
		if (status < 0 && !fresh && remaining(deadline_ms) > 0)
			continue;
		return status;
	}
	return -1;
}
