/* A TCP connection to a collector with deadlines (conn.h). */
#define _GNU_SOURCE
#include "conn.h"

#include "../preload/clock.h"
#include "../preload/log.h"
#include "../preload/url.h"

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
	struct stat st;
	return c->fd >= 0 && fstat(c->fd, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino;
}

void at_conn_close(struct at_conn *c)
{
	if (at_conn_ours(c))
		close(c->fd);
	c->fd = -1;
}

void at_conn_failed(struct at_conn *c, const char *step, int err, uint64_t deadline_ms)
{
	char b[64];
	const char *e = !at_conn_remaining(deadline_ms) ? "timed out"
	                : err                            ? strerror_r(err, b, sizeof b)
	                                                 : "failed";
	snprintf(c->why, sizeof c->why, "%s: %s", step, e);
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
	struct stat st;
	fstat(fd, &st);
	c->fd = fd;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	return 0;
}

int at_conn_sendv(struct at_conn *c, struct iovec *iov, int n, uint64_t deadline_ms)
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

int at_conn_send_all(struct at_conn *c, const void *buf, size_t n, uint64_t deadline_ms)
{
	struct iovec v = {(void *)buf, n};
	return at_conn_sendv(c, &v, 1, deadline_ms);
}

ssize_t at_conn_recv(struct at_conn *c, void *p, size_t n, uint64_t deadline_ms)
{
	for (;;) {
		ssize_t r = recv(c->fd, p, n, 0);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if ((errno == EAGAIN || errno == EWOULDBLOCK) &&
		    !at_conn_wait(c->fd, POLLIN, deadline_ms))
			continue;
		return -1;
	}
}
