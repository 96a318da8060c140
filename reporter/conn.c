/* A TCP connection to a collector with deadlines (conn.h). */
#define _GNU_SOURCE
#include "conn.h"

#include "../preload/clock.h"
#include "../preload/log.h"
#include "../preload/stdfd.h"
#include "../preload/url.h"
#include "tls.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int at_conn_init(struct at_conn *c, const char *url, const char **path)
{
	struct at_url u;
	memset(c, 0, sizeof *c);
	c->fd = -1;
	if (at_url_parse(url, &u)) {
		at_warn("exporter endpoint \"%.200s\" is not an http:// or https:// URL; spans will "
		        "not be sent",
			url);
		return -1;
	}
	c->tls = !strcmp(u.scheme, "https");
	if (c->tls)
		(void)at_tls_load(); /* now: see tls.h */
	snprintf(c->host, sizeof c->host, "%s", u.host);
	snprintf(c->port, sizeof c->port, "%d", u.port);
	*path = u.path;
	return 0;
}

int at_conn_remaining(uint64_t deadline_ms)
{
	uint64_t now = at_mono_ms();
	return now >= deadline_ms ? 0 : (int)(deadline_ms - now);
}

int at_conn_ours(const struct at_conn *c)
{
	return at_fd_same(c->fd, &c->id);
}

void at_conn_drop(struct at_conn *c)
{
	if (at_conn_ours(c))
		close(c->fd);
}

void at_conn_tls_files(struct at_conn *c, const char *ca, const char *cert, const char *key)
{
	c->ca = ca;
	c->cert = cert;
	c->key = key;
}

void at_conn_close(struct at_conn *c)
{
	int ours = at_conn_ours(c);
	at_tls_conn_end(c, ours);
	if (ours)
		close(c->fd);
	c->fd = -1;
}

void at_conn_forget(struct at_conn *c)
{
	at_tls_conn_end(c, 0);
	c->fd = -1;
}

void at_conn_release(struct at_conn *c)
{
	at_conn_close(c);
	at_tls_conn_free(c);
}

void at_conn_failed(struct at_conn *c, const char *step, int err, uint64_t deadline_ms)
{
	char b[64];
	int late = !at_conn_remaining(deadline_ms), tls = !late && err == EPROTO && c->tls_err[0];
	const char *e = late  ? "timed out"
	                : tls ? c->tls_err
	                : err ? strerror_r(err, b, sizeof b)
	                      : "failed";
	snprintf(c->why, sizeof c->why, "%s: %s%s", step, tls ? "TLS: " : "", e);
}

int at_conn_wait(int fd, short ev, uint64_t deadline_ms)
{
	struct pollfd p = {fd, ev, 0};
	for (;;) {
		int ms = at_conn_remaining(deadline_ms);
		if (ms <= 0)
			return -1;
		int r = poll(&p, 1, ms);
		if (r > 0)
			return 0;
		if (r == 0 || errno != EINTR)
			return -1;
	}
}

int at_conn_connect(struct at_conn *c, uint64_t deadline_ms)
{
	struct addrinfo hints = {0}, *res = NULL;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	int rc = getaddrinfo(c->host, c->port, &hints, &res);
	if (rc) {
		snprintf(c->why, sizeof c->why, "cannot resolve %.60s: %s", c->host,
			 gai_strerror(rc));
		at_debug("%s", c->why);
		return -1;
	}
	int fd = -1, err = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = at_fd_not_std(
		    socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
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
			if (at_conn_wait(fd, POLLOUT, deadline_ms) == 0 &&
			    (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) || !err))
				break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		at_conn_failed(c, "connect", err, deadline_ms);
		at_debug("cannot connect to %s:%s (%s)", c->host, c->port, c->why);
		return -1;
	}
	c->fd = fd;
	(void)at_fd_note(fd, &c->id);
	if (c->tls && at_tls_conn_start(c, deadline_ms)) {
		at_debug("TLS with %s:%s failed (%s)", c->host, c->port, c->why);
		close(fd);
		c->fd = -1;
		if (c->ca_widened) { /* once: the trust is whole now */
			c->ca_widened = 0;
			return at_conn_connect(c, deadline_ms);
		}
		return -1;
	}
	return 0;
}

static int raw_sendv(struct at_conn *c, struct iovec *iov, int n, uint64_t deadline_ms)
{
	while (n) {
		struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (at_conn_wait(c->fd, POLLOUT, deadline_ms))
				return -1;
			continue;
		}
		if (w < 0)
			return -1;
		size_t left = (size_t)w;
		while (n && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n) { /* a part of this one went */
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

int at_conn_sendv(struct at_conn *c, struct iovec *iov, int n, uint64_t deadline_ms)
{
	return c->sess ? at_tls_sendv(c, iov, n, deadline_ms) : raw_sendv(c, iov, n, deadline_ms);
}

int at_conn_raw_send(struct at_conn *c, const void *buf, size_t n, uint64_t deadline_ms)
{
	struct iovec v = {(void *)buf, n};
	return raw_sendv(c, &v, 1, deadline_ms);
}

int at_conn_send_all(struct at_conn *c, const void *buf, size_t n, uint64_t deadline_ms)
{
	struct iovec v = {(void *)buf, n};
	return at_conn_sendv(c, &v, 1, deadline_ms);
}

ssize_t at_conn_recv(struct at_conn *c, void *p, size_t n, uint64_t deadline_ms)
{
	return c->sess ? at_tls_recv(c, p, n, deadline_ms) : at_conn_raw_recv(c, p, n, deadline_ms);
}

ssize_t at_conn_raw_recv(struct at_conn *c, void *p, size_t n, uint64_t deadline_ms)
{
	for (;;) {
		ssize_t r = recv(c->fd, p, n, 0);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			/* What came is acknowledged at once, not up to 40 ms later: a
			 * server that writes its answer in pieces, with Nagle on, holds
			 * the next piece until then. TLS makes it common: the server's
			 * session tickets go out before the answer (measured with
			 * Python's ssl server: the exit flush took 45 ms, 0.6 ms in the
			 * clear). The kernel turns quick ACKs back off by itself. */
			int one = 1;
			setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
			if (!at_conn_wait(c->fd, POLLIN, deadline_ms))
				continue;
		}
		return -1;
	}
}
