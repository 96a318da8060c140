/* HTTP/1.x over plain sockets.
 *
 * connect() marks a TCP client socket and accept() a server connection
 * (fdstate.h); every other fd passes through the read and write hooks after
 * one table load. On a marked socket:
 *
 * - client: the first bytes of each request are parsed as they are written.
 *   Nothing is held back: the application's bytes go out as they come, and
 *   when the empty line that ends the header section is about to be written
 *   our header lines are sent in front of it. Inserting there, rather than
 *   right after the request line, means every header of the application has
 *   been seen first: one that already carries a trace context (traceparent,
 *   b3, uber-trace-id) gets nothing added, even when the request comes one
 *   byte per write. Our lines go out in the same sendmsg as the application's
 *   bytes around them, so the peer gets the request in the pieces the
 *   application wrote (a server that reads once still sees the whole head).
 *   Write calls return the count of the application's own
 *   bytes; injected bytes that could not be sent yet (short write, EAGAIN)
 *   stay in the connection's state and go out before any further byte of the
 *   application. The response is parsed as it is read: status, and the end
 *   of the span when the message is complete (length, chunked, or close).
 *
 * - server: the request is parsed as it is read; when its header section is
 *   complete a SERVER span starts, child of the extracted context (or a new
 *   root), and becomes the current span of the reading thread, so calls made
 *   while handling the request are its children. The response the
 *   application writes sets the status and ends the span when complete.
 *
 * Anything that is not HTTP/1.x (TLS, Redis, MySQL, binary) fails the strict
 * parse at its first bytes and is never looked at again; no byte of it is
 * ever changed. A call made inside another hook (curl, hiredis: at_enter
 * depth) or on the exporter thread is passed through, and a connection with
 * bytes that went by unparsed stops being traced; except under a
 * curl_easy_perform that handed us its trace headers (wire.h): the sockets
 * libcurl connects then are marked AT_FD_WIRE, and their requests get those
 * headers as above, with no span of ours; their responses are not read. */
#define _GNU_SOURCE
#include "../preload/autotrace.h"
#include "../preload/clock.h"
#include "../preload/config.h"
#include "../preload/errors.h"
#include "../preload/log.h"
#include "../preload/loop.h"
#include "../preload/propagation.h"
#include "../preload/real.h"
#include "../preload/stdfd.h"
#include "../preload/url.h"
#include "cgi.h"
#include "fdstate.h"
#include "stdio_buf.h"
#include "http_parse.h"
#include "io_direct.h"
#include "unseen.h"
#include "wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

AT_REAL(int, connect, (int, const struct sockaddr *, socklen_t));
AT_REAL(int, accept, (int, struct sockaddr *, socklen_t *));
AT_REAL(int, accept4, (int, struct sockaddr *, socklen_t *, int));
AT_REAL(ssize_t, write, (int, const void *, size_t));
AT_REAL(ssize_t, writev, (int, const struct iovec *, int));
AT_REAL(ssize_t, send, (int, const void *, size_t, int));
AT_REAL(ssize_t, sendto, (int, const void *, size_t, int, const struct sockaddr *, socklen_t));
AT_REAL(ssize_t, sendmsg, (int, const struct msghdr *, int));
AT_REAL(ssize_t, read, (int, void *, size_t));
AT_REAL(ssize_t, readv, (int, const struct iovec *, int));
AT_REAL(ssize_t, recv, (int, void *, size_t, int));
AT_REAL(ssize_t, recvfrom, (int, void *, size_t, int, struct sockaddr *, socklen_t *));
AT_REAL(ssize_t, recvmsg, (int, struct msghdr *, int));
AT_REAL(int, sendmmsg, (int, struct mmsghdr *, unsigned, int));
AT_REAL(int, recvmmsg, (int, struct mmsghdr *, unsigned, int, struct timespec *));
AT_REAL(ssize_t, __read_chk, (int, void *, size_t, size_t));
AT_REAL(ssize_t, __recv_chk, (int, void *, size_t, size_t, int));
AT_REAL(ssize_t, __recvfrom_chk,
        (int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *));
AT_REAL(int, close, (int));
AT_REAL(int, dup, (int));
AT_REAL(int, fcntl, (int, int, ...));
AT_REAL(int, dup2, (int, int));
AT_REAL(int, dup3, (int, int, int));
AT_REAL(int, close_range, (unsigned, unsigned, int));
AT_REAL(int, socket, (int, int, int));
AT_REAL(int, socketpair, (int, int, int, int[2]));
AT_REAL(int, poll, (struct pollfd *, nfds_t, int));
AT_REAL(int, __poll_chk, (struct pollfd *, nfds_t, int, size_t));

/* All at once, the first time any of these hooks runs. glibc's dlsym may
 * allocate, and an allocator may write: a hook reached from inside this
 * resolution falls back to the raw system call. */
AT_TLS struct at_wire *at_wire_cur;
_Static_assert(AT_PEND_MAX >= sizeof(((struct at_inject *)0)->buf) + 2 * 8,
               "every injected line fits the pending buffer");

static AT_TLS int resolving;

/* The server connection whose request this thread made its current span
 * last (server_start), and the numbering of requests. */
static AT_TLS struct at_conn *cur_srv;
static AT_TLS uint32_t cur_srv_seq;
static _Atomic uint32_t req_seq;

/* An event loop: this thread started a request while another of its
 * requests was going on. From then on it keeps its requests in a ring, each
 * with its path hashed, and a request it makes for a path other than its
 * current request's goes to the one request under way that has that path
 * (a proxy keeps the path; by_path). */
static AT_TLS uint8_t multiplexed;
#define LOOP_RING 32
static AT_TLS struct loop_req {
	struct at_conn *c;
	uint32_t seq;
} loop_ring[LOOP_RING];
static AT_TLS uint8_t loop_next;

/* A request target's path and query (*tl) and its path alone (returned):
 * an absolute form's scheme and authority and a fragment left out. */
static AT_ALWAYS_INLINE size_t target_path(const char **tp, size_t len, size_t *tl)
{
	const char *t = *tp;
	if ((len >= 7 && !memcmp(t, "http://", 7)) || (len >= 8 && !memcmp(t, "https://", 8))) {
		const char *p = memchr(t, ':', len) + 3;
		p = memchr(p, '/', len - (size_t)(p - t));
		if (p) {
			len -= (size_t)(p - t);
			t = p;
		} else {
			t = "/";
			len = 1;
		}
	}
	*tp = t;
	const char *hash = memchr(t, '#', len);
	*tl = hash ? (size_t)(hash - t) : len;
	const char *q = memchr(t, '?', *tl);
	return q ? (size_t)(q - t) : *tl;
}

static uint32_t path_hash(const char *t, size_t len)
{
	size_t tl, pl = target_path(&t, len, &tl);
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < pl; i++)
		h = (h ^ (unsigned char)t[i]) * 16777619u;
	return h;
}

static int resolve(void)
{
	if (resolving)
		return 0;
	resolving = 1;
#define R(name)                                                                                    \
	do {                                                                                       \
		if (!real_##name)                                                                  \
			real_##name = (__typeof__(real_##name))at_real(#name);                     \
	} while (0)
	R(write);
	R(read);
	R(close);
	R(socket);
	R(socketpair);
	R(send);
	R(recv);
	R(writev);
	R(readv);
	R(sendto);
	R(sendmsg);
	R(recvfrom);
	R(recvmsg);
	R(sendmmsg);
	R(recvmmsg);
	R(connect);
	R(accept);
	R(accept4);
	R(__read_chk);
	R(__recv_chk);
	R(__recvfrom_chk);
	R(dup);
	R(fcntl);
	R(dup2);
	R(dup3);
	R(close_range);
	R(poll);
#undef R
	resolving = 0;
	return 1;
}
#define NEED(name) (AT_LIKELY(real_##name != NULL) || (resolve() && real_##name != NULL))

int at_net_io_next(void *next[AT_IO_NEXT_N])
{
	if (!real_read && !resolve())
		return -1;
#define NEXT_FN(idx, name, bit) [AT_IO_FN_##idx] = (void *)real_##name,
	void *p[AT_IO_NEXT_N] = {AT_IO_FNS(NEXT_FN)};
	for (int i = 0; i < AT_IO_NEXT_N; i++)
		if (!(next[i] = p[i]))
			return -1;
	return 0;
}

void at_net_io_set(void *const p[AT_IO_NEXT_N])
{
#define SET_FN(idx, name, bit) real_##name = (__typeof__(real_##name))p[AT_IO_FN_##idx];
	AT_IO_FNS(SET_FN)
}

/* ---- one outgoing call, whatever its form ---- */

enum { OP_WRITE, OP_SEND, OP_SENDTO, OP_WRITEV, OP_SENDMSG };

struct out_call {
	int fd, op, flags;
	const struct iovec *iov;
	int iovcnt;
	const struct msghdr *msg;
	const struct sockaddr *to;
	socklen_t tolen;
	uintptr_t caller;
};

#define IOV_MAX_OURS 64

static ssize_t raw_out(const struct out_call *k, const struct iovec *iov, int cnt)
{
	switch (k->op) {
	case OP_WRITE:
		return real_write(k->fd, cnt ? iov[0].iov_base : NULL, cnt ? iov[0].iov_len : 0);
	case OP_SEND:
		return real_send(k->fd, cnt ? iov[0].iov_base : NULL, cnt ? iov[0].iov_len : 0,
		                 k->flags);
	case OP_SENDTO:
		return real_sendto(k->fd, cnt ? iov[0].iov_base : NULL, cnt ? iov[0].iov_len : 0,
		                   k->flags, k->to, k->tolen);
	case OP_WRITEV:
		return real_writev(k->fd, iov, cnt);
	default: {
		struct msghdr m = *k->msg;
		m.msg_iov = (struct iovec *)iov;
		m.msg_iovlen = (size_t)cnt;
		return real_sendmsg(k->fd, &m, k->flags);
	}
	}
}

/* The same bytes as k would send, from other iovecs, in one sendmsg (for a
 * socket, write and send are sendmsg without an address). */
static ssize_t raw_msg(const struct out_call *k, struct iovec *v, int n)
{
	struct msghdr m;
	int flags = 0;
	memset(&m, 0, sizeof m);
	if (k->op == OP_SENDMSG) {
		m.msg_name = k->msg->msg_name;
		m.msg_namelen = k->msg->msg_namelen;
		flags = k->flags;
	} else if (k->op == OP_SENDTO) {
		m.msg_name = (void *)k->to;
		m.msg_namelen = k->tolen;
		flags = k->flags;
	} else if (k->op == OP_SEND) {
		flags = k->flags;
	}
	m.msg_iov = v;
	m.msg_iovlen = (size_t)n;
	return real_sendmsg(k->fd, &m, flags);
}

static size_t iov_total(const struct iovec *iov, int cnt)
{
	size_t t = 0;
	for (int i = 0; i < cnt; i++)
		t += iov[i].iov_len;
	return t;
}

/* The iovecs covering bytes [skip, skip + len) of iov; at most max of them
 * (then they cover less, which is a short write: legal). */
static int iov_slice(const struct iovec *iov, int cnt, size_t skip, size_t len, struct iovec *out,
                     int max)
{
	int n = 0;
	for (int i = 0; i < cnt && len && n < max; i++) {
		size_t l = iov[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		size_t take = l - skip < len ? l - skip : len;
		out[n].iov_base = (char *)iov[i].iov_base + skip;
		out[n].iov_len = take;
		n++;
		len -= take;
		skip = 0;
	}
	return n;
}

/* Parse bytes [skip, skip + limit) of iov until an event in stop. */
static int parse_iov(struct at_http_parser *p, const struct iovec *iov, int cnt, size_t skip,
                     size_t limit, size_t *used, int stop)
{
	size_t done = 0;
	int ev = 0;
	for (int i = 0; i < cnt && done < limit; i++) {
		size_t l = iov[i].iov_len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		const char *b = (const char *)iov[i].iov_base + skip;
		size_t avail = l - skip;
		skip = 0;
		while (avail && done < limit) {
			size_t n = avail < limit - done ? avail : limit - done, u = 0;
			ev = at_http_parse(p, b, n, &u);
			done += u;
			b += u;
			avail -= u;
			if ((ev & stop) || !u) {
				*used = done;
				return ev;
			}
		}
	}
	*used = done;
	return ev;
}

/* The same over bytes [from, from + n) of k's iovecs; or, k NULL, n body
 * bytes that went out unseen (sendfile, splice: at_http_skip). */
static int parse_out(struct at_http_parser *p, const struct out_call *k, size_t from, size_t n,
                     size_t *used, int stop)
{
	if (k)
		return parse_iov(p, k->iov, k->iovcnt, from, n, used, stop);
	int ev = at_http_skip(p, n);
	*used = (ev & AT_HTTP_ERROR) ? 0 : n;
	return ev;
}

/* ---- connections ---- */

/* A connection's state, on its first traced call (conn_get). */
static __attribute__((noinline)) struct at_conn *conn_new(int fd, struct at_fd *e, int kind)
{
	struct at_conn *c = at_conn_alloc();
	if (!c) { /* pool exhausted: this connection is not traced */
		atomic_store(&e->kind, AT_FD_NONE);
		return NULL;
	}
	/* everything but inuse, which another allocator must keep seeing */
	memset((char *)c + offsetof(struct at_conn, lock), 0,
	       offsetof(struct at_conn, host) - offsetof(struct at_conn, lock));
	c->refs = 1;
	c->fd = fd;
	c->kind = kind;
	c->local = e->local;
	if (kind == AT_FD_CLIENT) {
		c->by = e->by;
		c->by_seq = e->by_seq;
	}
	struct at_conn *expect = NULL;
	if (!atomic_compare_exchange_strong(&e->conn, &expect, c)) {
		at_conn_free(c);
		return expect;
	}
	return c;
}

static AT_ALWAYS_INLINE struct at_conn *conn_get(int fd, struct at_fd *e, int kind)
{
	struct at_conn *c = atomic_load(&e->conn);
	return AT_LIKELY(c != NULL) ? c : conn_new(fd, e, kind);
}

/* stamp: when the span ended (at_stamp), or 0 for now */
static void end_span(struct at_conn *c, uint64_t stamp)
{
	if (!c->span_active)
		return;
	c->span_active = 0;
	if (at_tls.cur == &c->span)
		at_tls.cur = NULL;
	if (at_tls.baggage == c->carrier.baggage)
		at_tls.baggage = NULL;
	/* a span started before a fork belongs to the parent */
	if (c->pid == at_getpid_cached())
		at_span_end_detached_at(&c->span, stamp);
	/* another thread that still has it as its current span gets no parent
	 * from it rather than a stale one */
	c->span.ctx.valid = 0;
}

/* Decimal digits of v into b (no NUL); returns their count (at most 10). */
static size_t fmt_uint(char *b, unsigned v)
{
	char t[10];
	size_t n = 0;
	do
		t[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	for (size_t i = 0; i < n; i++)
		b[i] = t[n - 1 - i];
	return n;
}

/* The address as inet_ntop writes it (ip: AT_ADDR_MAX bytes) and the port;
 * a unix socket's path (sl: the address's length, as getpeername gave it),
 * an abstract name as "@name", and port 0. Returns the address's length, 0
 * for an unnamed unix socket or another family. */
static size_t fmt_addr(const struct sockaddr_storage *ss, socklen_t sl, char *ip, int *port)
{
	if (ss->ss_family == AF_UNIX) {
		const struct sockaddr_un *a = (const void *)ss;
		size_t off = offsetof(struct sockaddr_un, sun_path), n;
		if (sl <= off)
			return 0;
		n = sl - off < sizeof a->sun_path ? sl - off : sizeof a->sun_path;
		if (a->sun_path[0]) {
			n = strnlen(a->sun_path, n);
			memcpy(ip, a->sun_path, n);
		} else if (n > 1) {
			ip[0] = '@';
			memcpy(ip + 1, a->sun_path + 1, n - 1);
		} else {
			return 0;
		}
		ip[n] = 0;
		*port = 0;
		return n;
	}
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;
		const uint8_t *o = (const uint8_t *)&a->sin_addr;
		size_t n = 0;
		for (int i = 0; i < 4; i++) {
			if (i)
				ip[n++] = '.';
			n += fmt_uint(ip + n, o[i]);
		}
		ip[n] = 0;
		*port = ntohs(a->sin_port);
		return n;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;
		if (!inet_ntop(AF_INET6, &a->sin6_addr, ip, INET6_ADDRSTRLEN))
			return 0;
		*port = ntohs(a->sin6_port);
		return strlen(ip);
	}
	return 0;
}

size_t at_net_peer(int fd, char *ip, int *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int saved = errno;
	size_t n = getpeername(fd, (struct sockaddr *)&ss, &sl) ? 0 : fmt_addr(&ss, sl, ip, port);
	errno = saved;
	return n;
}

/* The peer's address into an fd's entry (a server span's client.address),
 * or none kept. */
static void keep_peer(struct at_fd *e, const struct sockaddr *peer)
{
	e->peer_family = 0;
	if (peer && peer->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)peer;
		e->peer_port = a->sin_port;
		memcpy(e->peer_addr, &a->sin_addr, 4);
		e->peer_family = AF_INET;
	} else if (peer && peer->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)peer;
		e->peer_port = a->sin6_port;
		memcpy(e->peer_addr, &a->sin6_addr, 16);
		e->peer_family = AF_INET6;
	}
}

/* The peer kept for c's fd when c was accepted (keep_peer): 0, or -1 when
 * not kept (then getpeername). */
static int kept_peer(const struct at_conn *c, struct sockaddr_storage *ss)
{
	struct at_fd *e = at_fd_entry(c->fd);
	/* the kind's acquire orders the fields written before it */
	if (!e || !atomic_load_explicit(&e->kind, memory_order_acquire) ||
	    atomic_load_explicit(&e->conn, memory_order_relaxed) != c || !e->peer_family)
		return -1;
	memset(ss, 0, sizeof *ss);
	if (e->peer_family == AF_INET) {
		struct sockaddr_in *a = (void *)ss;
		a->sin_family = AF_INET;
		a->sin_port = e->peer_port;
		memcpy(&a->sin_addr, e->peer_addr, 4);
	} else {
		struct sockaddr_in6 *a = (void *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = e->peer_port;
		memcpy(&a->sin6_addr, e->peer_addr, 16);
	}
	return 0;
}

void at_http_set_status(struct at_span *s, int status, int client)
{
	at_span_set_int(s, "http.response.status_code", status);
	if (status >= 500 || (client && status >= 400)) {
		char b[12];
		at_span_set_strn(s, "error.type", b, fmt_uint(b, (unsigned)status));
		at_span_set_error(s, NULL, 0);
	}
}

static void set_status(struct at_conn *c, const struct at_http_parser *resp, int client)
{
	if (!c->span.recording || !at_http_headers_done(resp) || !resp->status)
		return;
	at_http_set_status(&c->span, resp->status, client);
}

/* The address and its port (none for a unix socket's path). */
/* c's peer, formatted once (client.address, network.peer.address): kept at
 * accept, else asked. */
static void know_peer(struct at_conn *c)
{
	struct sockaddr_storage ss;
	int port = 0;
	c->peer_len = (uint8_t)(!kept_peer(c, &ss) ? fmt_addr(&ss, sizeof ss, c->peer, &port)
	                                            : at_net_peer(c->fd, c->peer, &port));
	c->peer_port = c->peer_len ? (uint16_t)port : 0;
}

static void set_addr(struct at_span *s, const char *key_addr, const char *key_port,
                     const struct sockaddr_storage *ss, socklen_t sl)
{
	char ip[AT_ADDR_MAX];
	int port;
	size_t n = fmt_addr(ss, sl, ip, &port);
	if (!n)
		return;
	if (key_addr)
		at_span_set_strn(s, key_addr, ip, n);
	if (key_port && port)
		at_span_set_int(s, key_port, port);
}

/* ---- client side ---- */

static void keep_host(struct at_conn *c, const char *v, size_t vl)
{
	if (vl >= sizeof c->host)
		vl = sizeof c->host - 1;
	memcpy(c->host, v, vl);
	c->host[vl] = 0;
	c->host_len = (uint16_t)vl;
}

/* the headers a client request is parsed for: Host, and a context of the
 * application's own */
#define CLIENT_HEADERS                                                                             \
	(AT_HTTP_H_BIT(AT_HTTP_H_HOST) | AT_HTTP_H_BIT(AT_HTTP_H_TRACEPARENT) |                    \
	 AT_HTTP_H_BIT(AT_HTTP_H_B3) | AT_HTTP_H_BIT(AT_HTTP_H_X_B3_TRACEID) |                     \
	 AT_HTTP_H_BIT(AT_HTTP_H_UBER_TRACE_ID) | AT_HTTP_H_BIT(AT_HTTP_H_UPGRADE) |               \
	 AT_HTTP_H_BIT(AT_HTTP_H_EXPECT))

static void on_client_header(struct at_http_parser *p, int id, const char *n, size_t nl,
                             const char *v, size_t vl, int complete)
{
	struct at_conn *c = p->ctx;
	if (id == AT_HTTP_H_HOST)
		keep_host(c, v, vl);
	else if (id == AT_HTTP_H_UPGRADE || id == AT_HTTP_H_EXPECT)
		c->resp_needed = 1; /* where the next request starts, the response says */
	else
		c->app_prop = 1; /* the application propagates itself: add nothing */
}

/* url.full, server.address and server.port of a request in origin form:
 * what at_url_parse and at_url_redact make of "http://{host}{target}",
 * without them for a plain host ("name" or "name:port", nothing that
 * starts userinfo, a path, a query, a fragment or an IPv6 literal).
 * Returns 0 when the host is not that plain. */
static int client_url_plain(struct at_conn *c, const char *t, size_t tl)
{
	struct at_span *s = &c->span;
	const char *host = c->host;
	size_t hl = c->host_len, name;
	int port;
	if (!at_url_host_plain(host, hl, 80, &name, &port))
		return 0;
	char url[7 + sizeof c->host + AT_HTTP_TARGET_MAX];
	memcpy(url, "http://", 7);
	memcpy(url + 7, host, hl);
	memcpy(url + 7 + hl, t, tl);
	at_span_set_strn(s, "url.full", url, 7 + hl + tl);
	at_span_set_strn(s, "server.address", host, name);
	at_span_set_int(s, "server.port", port);
	return 1;
}

/* The same through at_url_parse and at_url_redact, for any other host and
 * for the absolute form (proxy requests); from the peer's address when
 * that is no URL. */
static void client_url_parsed(struct at_conn *c, int proxy, const char *t, size_t tl)
{
	struct at_span *s = &c->span;
	char url[AT_HTTP_TARGET_MAX + 300], red[AT_HTTP_TARGET_MAX + 320];
	struct at_url u;
	size_t n = 0;
	if (proxy) {
		memcpy(url, t, tl + 1);
		n = tl;
	} else if (c->host_len) {
		memcpy(url, "http://", 7);
		memcpy(url + 7, c->host, c->host_len);
		memcpy(url + 7 + c->host_len, t, tl + 1);
		n = 7 + c->host_len + tl;
	}
	if (n > 0 && !at_url_parse(url, &u)) {
		size_t rl = at_url_redact(url, red, sizeof red);
		at_span_set_strn(s, "url.full", red, rl);
		at_span_set_str(s, "server.address", u.host);
		at_span_set_int(s, "server.port", u.port);
	} else {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		if (!getpeername(c->fd, (struct sockaddr *)&ss, &sl))
			set_addr(s, "server.address", "server.port", &ss, sl);
	}
}

static void client_attrs(struct at_conn *c, const struct at_http_parser *req)
{
	struct at_span *s = &c->span;
	at_span_set_strn(s, "http.request.method", req->method, req->method_len);
	const char *t = req->target; /* NUL-terminated, no NUL inside */
	size_t tl = req->target_len;
	int proxy = (tl >= 7 && !memcmp(t, "http://", 7)) || (tl >= 8 && !memcmp(t, "https://", 8));
	if (!proxy && t[0] != '/') { /* asterisk or authority form */
		t = "/";
		tl = 1;
	}
	if (proxy || !c->host_len || !client_url_plain(c, t, tl))
		client_url_parsed(c, proxy, t, tl);
	at_span_set_strn(s, "network.protocol.version", req->version_minor ? "1.1" : "1.0", 3);
	if (!c->addrs_known) {
		know_peer(c);
		c->addrs_known = 1;
	}
	/* where the request went, whatever its URL names (a proxy, a name that
	 * resolves to several hosts); a unix socket's path */
	if (c->local)
		at_span_set_strn(s, "network.transport", "unix", 4);
	if (c->peer_len)
		at_span_set_strn(s, "network.peer.address", c->peer, c->peer_len);
	if (c->peer_port)
		at_span_set_int(s, "network.peer.port", c->peer_port);
}

/* Our header lines, each ended by CRLF, as the bytes still to send (the
 * lines that fit: all of them, at_inject's buffer being smaller). */
static void pend_lines(struct at_conn *c, const struct at_inject *inj)
{
	size_t used = 0;
	for (int i = 0; i < inj->n; i++) {
		if (used + inj->lens[i] + 2 > sizeof c->pend)
			break;
		memcpy(c->pend + used, inj->lines[i], inj->lens[i]);
		memcpy(c->pend + used + inj->lens[i], "\r\n", 2);
		used += inj->lens[i] + 2;
	}
	c->pend_len = (uint16_t)used;
}

/* req: the request as parsed up to the end of its header section */
static void client_begin(struct at_conn *c, const struct at_http_parser *req, uintptr_t caller)
{
	at_span_start_detached(&c->span, req->method, AT_KIND_CLIENT, NULL);
	c->span.caller = caller;
	c->span_active = 1;
	c->pid = at_getpid_cached();
	if (c->span.recording) {
		c->span.start_ns = c->t0;
		client_attrs(c, req);
	}
	unsigned rf = 0;
	if (req->method_len == 4 && !memcmp(req->method, "HEAD", 4))
		rf |= AT_HTTP_F_HEAD;
	if (req->flags & AT_HTTP_F_CONNECT)
		rf |= AT_HTTP_F_CONNECT;
	at_http_parser_init(&c->in, AT_HTTP_RESPONSE, rf, c->vin, 256, NULL, 0, NULL);
	c->pend_off = c->pend_len = 0;
	if (c->app_prop)
		return;
	struct at_inject inj;
	if (at_inject_build(&inj, &c->span.ctx, at_span_str(&c->span, c->span.tracestate),
	                    c->span.tracestate.len) <= 0)
		return;
	pend_lines(c, &inj);
}

/* The request the connection was made for (c->by, from at_fd.by), taken once: the
 * server connection, locked, when that request is still going on and is
 * not the thread's current span any more (an event loop that read other
 * requests since); else NULL. */
static struct at_conn *made_for(struct at_conn *c)
{
	struct at_conn *by = c->by;
	c->by = NULL;
	if (at_tls.cur == &by->span || !at_conn_trylock(by))
		return NULL;
	if (by->kind == AT_FD_SERVER && by->span_active && by->seq == c->by_seq &&
	    by->pid == at_getpid_cached())
		return by;
	at_conn_unlock(by);
	return NULL;
}

/* On a multiplexing thread: the request under way whose path the request
 * being made asks for, when the one it would go to (by, locked, else the
 * current request) has another path and exactly one other has it; locked,
 * in place of by. Else by. */
static struct at_conn *by_path(const struct at_http_parser *req, struct at_conn *by)
{
	uint32_t h = path_hash(req->target, req->target_len);
	const struct at_conn *cand = by;
	if (!cand && cur_srv && at_tls.cur == &cur_srv->span)
		cand = cur_srv;
	if (cand && cand->path_hash == h)
		return by;
	struct at_conn *found = NULL;
	for (int i = 0; i < LOOP_RING; i++) {
		struct at_conn *s = loop_ring[i].c;
		if (!s || s == cand || s == found || s->path_hash != h || !at_conn_trylock(s))
			continue;
		if (s->kind == AT_FD_SERVER && s->span_active && s->seq == loop_ring[i].seq &&
		    s->pid == at_getpid_cached() && s->path_hash == h) {
			if (found) { /* two requests for that path: no telling */
				at_conn_unlock(s);
				at_conn_unlock(found);
				return by;
			}
			found = s;
			continue;
		}
		at_conn_unlock(s);
	}
	if (!found)
		return by;
	if (by)
		at_conn_unlock(by);
	return found;
}

static void client_start(struct at_conn *c, const struct at_http_parser *req, uintptr_t caller)
{
	/* the parent: the thread's current span, or the request the
	 * connection was made for, or on an event loop the request with the
	 * path asked for (by_path), lent as the current span for as long as
	 * this takes */
	struct at_conn *by = AT_UNLIKELY(c->by != NULL) ? made_for(c) : NULL;
	if (AT_UNLIKELY(multiplexed))
		by = by_path(req, by);
	struct at_span *cur = NULL;
	const char *bag = NULL;
	if (by) {
		cur = at_tls.cur;
		bag = at_tls.baggage;
		at_tls.cur = &by->span;
		at_tls.baggage = by->bag;
	}
	client_begin(c, req, caller);
	if (by) {
		at_tls.cur = cur;
		at_tls.baggage = bag;
		at_conn_unlock(by);
	}
}

static void client_finish(struct at_conn *c, const char *err)
{
	if (!c->span_active)
		return;
	set_status(c, &c->in, 1);
	if (err && !(at_http_headers_done(&c->in) && c->in.status)) {
		at_span_fail(&c->span, "connection_closed", 17, err, strlen(err));
	}
	end_span(c, 0);
}

/* Under curl_easy_perform (wire.h): the head of one of its requests is
 * complete; the curl hook's lines go in front of the empty line, unless the
 * application's own headers carry a trace context. */
static void wire_start(struct at_conn *c)
{
	struct at_wire *w = at_wire_cur;
	w->heads++;
	c->pend_off = c->pend_len = 0;
	if (!c->app_prop && w->inj)
		pend_lines(c, w->inj);
}

/* Bytes [from, from + n) of k (k NULL: n bytes unseen), the request's from
 * the end of its head on,
 * went out, on a connection whose responses are not read here (c->follow:
 * under curl_easy_perform, libcurl's; a request not sampled, no span needs
 * it). The request ends by its own framing: then the next bytes start a new
 * head. Bytes past its end in the same write, or not HTTP: out of step, the
 * connection is left alone from then on. Parsing only: errno stays the
 * write's. */
static void follow_body(struct at_conn *c, const struct out_call *k, size_t from, size_t n)
{
	if (!n)
		return;
	size_t used = 0;
	int ev = parse_out(&c->out, k, from, n, &used, AT_HTTP_DONE | AT_HTTP_ERROR);
	if ((ev & AT_HTTP_ERROR) || ((ev & AT_HTTP_DONE) && used < n))
		c->wstate = W_DEAD;
	else if (ev & AT_HTTP_DONE)
		c->wstate = W_IDLE;
}

/* Send what is left of our header lines; 0 when all went out. */
static int send_pending(struct at_conn *c, const struct out_call *k)
{
	int fl = k->op == OP_SEND || k->op == OP_SENDTO || k->op == OP_SENDMSG
	             ? k->flags & (MSG_DONTWAIT | MSG_NOSIGNAL)
	             : 0;
	while (c->pend_off < c->pend_len) {
		ssize_t r = real_send(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off, fl);
		if (r > 0)
			c->pend_off = (uint16_t)(c->pend_off + r);
		else if (r < 0 && errno == EINTR)
			continue;
		else {
			int err = errno;
			at_debug("fd %d: %u bytes of trace headers wait for the socket (%s)", c->fd,
			         (unsigned)(c->pend_len - c->pend_off), strerror(err));
			errno = err;
			return -1;
		}
	}
	return 0;
}

/* Where the request parser was before a dry run over bytes that may not all
 * go out: its state (all but the method and target, which only grow) and
 * the part of the current header's value it holds. */
struct out_snap {
	char state[AT_HTTP_PARSER_STATE_SIZE];
	char value[AT_SMALL_VAL];
};

static void snap_take(struct out_snap *sn, const struct at_conn *c)
{
	memcpy(sn->state, &c->out, sizeof sn->state);
	memcpy(sn->value, c->vout, c->out.value_len);
}

/* r of the `seen` bytes the dry run parsed went out (r < 0: none): make the
 * parser have parsed exactly those. */
static void commit(struct at_conn *c, const struct out_snap *sn, const struct out_call *k,
                   ssize_t r, size_t seen)
{
	if (r >= 0 && (size_t)r == seen)
		return;
	memcpy(&c->out, sn->state, sizeof sn->state);
	memcpy(c->vout, sn->value, c->out.value_len);
	if (r > 0) {
		size_t used;
		parse_iov(&c->out, k->iov, k->iovcnt, 0, (size_t)r, &used, AT_HTTP_ERROR);
	}
}

/* Our lines went to sendmsg/send and were refused with ENOTSOCK: the fd
 * is not the socket that was marked any more (its close went by unseen and
 * a file or a pipe took the number). Nothing of ours goes there, and the
 * span of this request is dropped, never exported. */
static void not_a_socket(struct at_conn *c)
{
	c->span_active = 0;
	c->wstate = W_DEAD;
	c->rstate = R_DEAD;
}

/* ---- databases on the wire: Redis (resp_wire.h), MySQL (mysql_wire.h) ---- */

/* A fork's child does not end its parent's commands. */
static void wire_own(struct at_conn *c)
{
	if (AT_UNLIKELY(c->pid != at_getpid_cached())) {
		if (c->wstate == W_RESP)
			c->resp.count = 0;
		else
			c->myw.count = c->myw.writing = 0;
		c->pid = at_getpid_cached();
	}
}

/* The first piece of iov that is not empty, or NULL. */
static const struct iovec *first_piece(const struct iovec *iov, int cnt)
{
	for (int i = 0; i < cnt; i++)
		if (iov[i].iov_len)
			return &iov[i];
	return NULL;
}

/* c speaks a database's protocol from now on (W_RESP, W_MYSQL): its state
 * set up with the peer, for server.address and server.port. */
static void wire_begin(struct at_conn *c, int state)
{
	char ip[AT_ADDR_MAX];
	int port = 0;
	size_t n = at_net_peer(c->fd, ip, &port);
	if (state == W_RESP)
		at_resp_init(&c->resp, ip, n, port);
	else
		at_myw_init(&c->myw, ip, n, port);
	c->pid = at_getpid_cached();
	c->wstate = (uint8_t)state;
	at_debug("fd %d: %s on the wire", c->fd, state == W_RESP ? "Redis" : "MySQL");
}

/* The connection's first write is a RESP command: c speaks Redis from now
 * on. Returns 0 when it does not. */
static int resp_begin(struct at_conn *c, const struct out_call *k)
{
	const struct iovec *v = c->had_head ? NULL : first_piece(k->iov, k->iovcnt);
	if (!v || !at_resp_looks(v->iov_base, v->iov_len))
		return 0;
	wire_begin(c, W_RESP);
	return 1;
}

/* The connection's first read, before anything was written, is a MySQL
 * server's greeting: c speaks MySQL from now on. Not when a client
 * library the mysql hooks follow is connecting (its own calls' spans
 * cover it). Returns 0 when it does not. */
static int myw_begin(struct at_conn *c, const struct iovec *iov, int cnt)
{
	const struct iovec *v = at_tls.lib_conn ? NULL : first_piece(iov, cnt);
	if (!v || !at_myw_looks(v->iov_base, v->iov_len))
		return 0;
	wire_begin(c, W_MYSQL);
	return 1;
}

/* The application's write, t0 when it began: the commands in it followed. */
static ssize_t wire_out(struct at_conn *c, const struct out_call *k, uint64_t t0)
{
	ssize_t r = raw_out(k, k->iov, k->iovcnt);
	if (r > 0) {
		int err = errno, rc;
		wire_own(c);
		if (c->wstate == W_RESP)
			rc = at_resp_out(&c->resp, k->iov, k->iovcnt, (size_t)r, t0, k->caller);
		else
			rc = at_myw_out(&c->myw, k->iov, k->iovcnt, (size_t)r, t0, k->caller);
		if (rc)
			c->wstate = W_DEAD;
		errno = err;
	}
	return r;
}

static void wire_in(struct at_conn *c, const struct iovec *iov, int cnt, size_t r)
{
	wire_own(c);
	int rc = c->wstate == W_RESP ? at_resp_in(&c->resp, iov, cnt, r)
	                             : at_myw_in(&c->myw, iov, cnt, r);
	if (rc)
		c->wstate = W_DEAD;
}

/* Bytes went by unseen: the commands under way end, nothing more is read. */
static void wire_lost(struct at_conn *c)
{
	wire_own(c);
	if (c->wstate == W_RESP)
		at_resp_desync(&c->resp);
	else
		at_myw_desync(&c->myw);
	c->wstate = W_DEAD;
}

/* The connection is gone (server: the peer closed it). */
static void wire_closed(struct at_conn *c, int server)
{
	wire_own(c);
	if (c->wstate == W_RESP)
		at_resp_closed(&c->resp, server);
	else
		at_myw_closed(&c->myw, server);
}

static int wire_pending(const struct at_conn *c)
{
	return c->wstate == W_RESP ? at_resp_pending(&c->resp) : at_myw_pending(&c->myw);
}

static int spans_open(const struct at_conn *c)
{
	return c->span_active || (c->wstate >= W_RESP && wire_pending(c));
}

static ssize_t client_out(struct at_conn *c, const struct out_call *k, size_t total)
{
	if (c->wstate >= W_RESP)
		return wire_out(c, k, at_stamp());
	/* past the end of the header section, ours go before any more of theirs */
	if (c->wstate == W_BODY && c->pend_off < c->pend_len && send_pending(c, k) < 0) {
		if (errno != ENOTSOCK)
			return -1;
		not_a_socket(c);
		return raw_out(k, k->iov, k->iovcnt);
	}
	if (c->wstate == W_IDLE) {
		at_http_parser_init(&c->out, AT_HTTP_REQUEST,
		                    AT_HTTP_F_STOP_BLANK | AT_HTTP_F_STRICT, c->vout,
		                    sizeof c->vout, on_client_header, CLIENT_HEADERS, c);
		c->t0 = at_stamp();
		c->app_prop = 0;
		c->pend_built = 0;
		c->follow = c->resp_needed = 0;
		c->pend_off = c->pend_len = 0;
		c->host_len = 0;
		c->host[0] = 0;
		c->wstate = W_HEAD;
	}
	if (c->wstate != W_HEAD) {
		ssize_t r = raw_out(k, k->iov, k->iovcnt);
		if (r > 0 && c->wstate == W_BODY && c->follow)
			follow_body(c, k, 0, (size_t)r);
		return r;
	}

	/* dry run, in place: does the header section end in these bytes? The
	 * snapshot is where to go back to when fewer of them go out. */
	struct out_snap sn;
	snap_take(&sn, c);
	size_t kpos = 0;
	int ev = parse_iov(&c->out, k->iov, k->iovcnt, 0, total, &kpos,
	                   AT_HTTP_HEAD_END | AT_HTTP_ERROR);
	if (ev & AT_HTTP_ERROR) { /* not HTTP/1.x: we changed nothing, we never will */
		if (resp_begin(c, k))
			return wire_out(c, k, c->t0);
		c->wstate = W_DEAD;
		return raw_out(k, k->iov, k->iovcnt);
	}
	if (!(ev & AT_HTTP_HEAD_END)) {
		ssize_t r = raw_out(k, k->iov, k->iovcnt);
		int err = errno;
		commit(c, &sn, k, r, total);
		errno = err;
		return r;
	}
	/* The header section ends at kpos. The application's bytes before it,
	 * our lines, and the rest go out in ONE call: the peer receives the
	 * request in the pieces the application wrote it in (a server that
	 * reads once still gets the whole head). */
	if (!c->pend_built) {
		c->pend_built = 1;
		if (at_wire_cur) {
			wire_start(c);
			c->follow = 1;
		} else {
			client_start(c, &c->out, k->caller);
			if (!c->span.recording && !c->resp_needed &&
			    !(c->out.flags & AT_HTTP_F_CONNECT)) {
				/* not sampled: the span has nothing to wait for.
				 * The request is followed to its end, its response
				 * never parsed (an upgrade or a CONNECT, which turn
				 * the connection into a tunnel, or a 100-continue,
				 * whose body may never come: only the response
				 * tells) */
				end_span(c, 0);
				c->follow = 1;
			}
		}
	}
	struct iovec v[2 * IOV_MAX_OURS + 1];
	int n = iov_slice(k->iov, k->iovcnt, 0, kpos, v, IOV_MAX_OURS);
	size_t plen = (size_t)(c->pend_len - c->pend_off);
	ssize_t r;
	if (iov_total(v, n) < kpos) { /* too many pieces: a short write up to there */
		r = raw_out(k, v, n);
		int err = errno;
		commit(c, &sn, k, r, kpos);
		errno = err;
		return r;
	}
	v[n].iov_base = c->pend + c->pend_off;
	v[n].iov_len = plen;
	n++;
	n += iov_slice(k->iov, k->iovcnt, kpos, total - kpos, v + n, IOV_MAX_OURS);
	r = raw_msg(k, v, n);
	int err = errno;
	if (r < 0 && err == ENOTSOCK) {
		not_a_socket(c);
		errno = err;
		return raw_out(k, k->iov, k->iovcnt);
	}
	if (r < 0) {
		commit(c, &sn, k, r, kpos);
		errno = err;
		return -1;
	}
	if ((size_t)r < kpos) {
		commit(c, &sn, k, r, kpos);
		errno = err;
		return r;
	}
	c->wstate = W_BODY;
	c->had_head = 1;
	size_t sent = (size_t)r - kpos < plen ? (size_t)r - kpos : plen;
	c->pend_off = (uint16_t)(c->pend_off + sent);
	if (sent == plen) {
		if (c->follow)
			follow_body(c, k, kpos, (size_t)r - kpos - plen);
		errno = err;
		return r - (ssize_t)plen;
	}
	errno = err;
	if (kpos)
		return (ssize_t)kpos; /* the rest of ours goes first next time */
	/* none of the application's bytes went out yet: ours first, then them */
	if (send_pending(c, k) < 0)
		return -1;
	n = iov_slice(k->iov, k->iovcnt, 0, total, v, IOV_MAX_OURS);
	r = raw_out(k, v, n);
	if (r > 0 && c->follow)
		follow_body(c, k, 0, (size_t)r);
	return r;
}

/* The response's parse said ev: 1 when it ended the span (a complete
 * response, or one that is not HTTP). */
static int response_end(struct at_conn *c, int ev)
{
	if (!(ev & (AT_HTTP_ERROR | AT_HTTP_DONE)))
		return 0;
	client_finish(c, NULL);
	c->wstate = (ev & AT_HTTP_ERROR) || (c->in.flags & AT_HTTP_F_UPGRADED) ? W_DEAD : W_IDLE;
	return 1;
}

static void client_in(struct at_conn *c, const struct iovec *iov, int cnt, size_t r)
{
	if (c->wstate >= W_RESP)
		return wire_in(c, iov, cnt, r);
	if (c->wstate == W_IDLE && !c->had_head) { /* the server speaks first */
		c->had_head = 1;
		if (myw_begin(c, iov, cnt))
			wire_in(c, iov, cnt, r);
		return;
	}
	if (c->wstate != W_BODY || !c->span_active)
		return; /* nothing asked: a greeting, or bytes after the response */
	size_t pos = 0;
	while (pos < r) {
		size_t used = 0;
		int ev =
		    parse_iov(&c->in, iov, cnt, pos, r - pos, &used, AT_HTTP_DONE | AT_HTTP_ERROR);
		pos += used;
		if (response_end(c, ev))
			return;
		if (!used)
			break;
	}
}

static void client_eof(struct at_conn *c)
{
	if (c->wstate >= W_RESP)
		wire_closed(c, 1);
	if (c->wstate == W_BODY && c->span_active) {
		if (at_http_parse_eof(&c->in) & AT_HTTP_DONE)
			client_finish(c, NULL);
		else
			client_finish(c, "connection closed before the response was complete");
	}
	c->wstate = W_DEAD;
}

/* ---- server side ---- */

/* the headers a server request is parsed for: the caller's context
 * (at_carrier_add), Host and User-Agent */
#define SERVER_HEADERS                                                                             \
	(AT_HTTP_REPORT_CARRIER | AT_HTTP_H_BIT(AT_HTTP_H_HOST) |                                  \
	 AT_HTTP_H_BIT(AT_HTTP_H_USER_AGENT))

static void on_server_header(struct at_http_parser *p, int id, const char *n, size_t nl,
                             const char *v, size_t vl, int complete)
{
	struct at_conn *c = p->ctx;
	if (id == AT_HTTP_H_HOST) {
		keep_host(c, v, vl);
	} else if (id == AT_HTTP_H_USER_AGENT) {
		if (vl >= sizeof c->ua)
			vl = sizeof c->ua - 1;
		memcpy(c->ua, v, vl);
		c->ua_len = (uint16_t)vl;
	} else {
		at_carrier_add(&c->carrier, n, nl, v, vl, complete);
	}
}

static void server_attrs(struct at_conn *c)
{
	struct at_span *s = &c->span;
	at_span_set_strn(s, "http.request.method", c->in.method, c->in.method_len);
	const char *t = c->in.target;
	size_t tl, pl = target_path(&t, c->in.target_len, &tl);
	at_span_set_strn(s, "url.path", t, pl);
	if (pl < tl)
		at_span_set_strn(s, "url.query", t + pl + 1, tl - pl - 1);
	at_span_set_strn(s, "url.scheme", "http", 4);
	at_span_set_strn(s, "network.protocol.version", c->in.version_minor ? "1.1" : "1.0", 3);
	if (c->host_len) {
		size_t hl = c->host_len;
		const char *h = c->host;
		if (h[0] == '[') {
			const char *rb = memchr(h, ']', hl);
			if (rb)
				at_span_set_strn(s, "server.address", h + 1, (size_t)(rb - h - 1));
		} else {
			const char *colon = memchr(h, ':', hl);
			at_span_set_strn(s, "server.address", h, colon ? (size_t)(colon - h) : hl);
		}
	}
	if (!c->addrs_known) { /* a connection's addresses do not change */
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		char ip[AT_ADDR_MAX];
		int port;
		c->local_port = -1; /* none for a unix socket */
		if (!getsockname(c->fd, (struct sockaddr *)&ss, &sl) && fmt_addr(&ss, sl, ip, &port) &&
		    port)
			c->local_port = port;
		know_peer(c);
		c->addrs_known = 1;
	}
	if (c->local_port >= 0)
		at_span_set_int(s, "server.port", c->local_port);
	if (c->peer_len)
		at_span_set_strn(s, "client.address", c->peer, c->peer_len);
	if (c->local)
		at_span_set_strn(s, "network.transport", "unix", 4);
	if (c->ua_len)
		at_span_set_strn(s, "user_agent.original", c->ua, c->ua_len);
}

/* A request of a multiplexing thread, going on: its path, into the ring. */
static void loop_add(struct at_conn *c)
{
	c->path_hash = path_hash(c->in.target, c->in.target_len);
	struct loop_req *e = &loop_ring[loop_next++ % LOOP_RING];
	e->c = c;
	e->seq = c->seq;
}

static void server_start(struct at_conn *c, uintptr_t caller)
{
	struct at_ctx parent, root;
	const char *ts;
	size_t tsl;
	memset(&root, 0, sizeof root);
	int have = !at_extract(&c->carrier, at_cfg.propagators, &parent, &ts, &tsl);
	at_span_start_detached(&c->span, c->in.method, AT_KIND_SERVER, have ? &parent : &root);
	c->span.caller = caller;
	c->span_active = 1;
	c->pid = at_getpid_cached();
	if (have && tsl)
		c->span.tracestate = at_span_intern(&c->span, ts, tsl);
	if (c->span.recording) {
		c->span.start_ns = c->t0;
		server_attrs(c);
	}
	/* the current span of this thread until the response is complete */
	c->span.prev = NULL;
	at_tls.cur = &c->span;
	at_tls.baggage = at_carrier_baggage(&c->carrier, at_cfg.propagators);
	/* call loops: one hop more than the caller, carried on in the baggage
	 * of calls made while handling this request (preload/loop.h) */
	int hops;
	at_tls.baggage = at_loop_server(&c->span, at_tls.baggage, c->carrier.baggage,
	                                sizeof c->carrier.baggage, &hops);
	c->bag = at_tls.baggage;
	c->seq = atomic_fetch_add_explicit(&req_seq, 1, memory_order_relaxed) + 1;
	if (AT_UNLIKELY(!multiplexed && cur_srv && cur_srv != c && cur_srv->span_active &&
	                cur_srv->seq == cur_srv_seq)) {
		multiplexed = 1; /* for good: an event loop */
		loop_add(cur_srv);
	}
	if (AT_UNLIKELY(multiplexed))
		loop_add(c);
	cur_srv = c;
	cur_srv_seq = c->seq;
	int head = c->in.method_len == 4 && !memcmp(c->in.method, "HEAD", 4);
	at_http_parser_init(&c->out, AT_HTTP_RESPONSE, head ? AT_HTTP_F_HEAD : 0, c->vout,
	                    sizeof c->vout, NULL, 0, NULL);
}

/* stamp as for end_span */
static void server_finish(struct at_conn *c, uint64_t stamp)
{
	if (!c->span_active)
		return;
	set_status(c, &c->out, 0);
	end_span(c, stamp);
}

static void server_in(struct at_conn *c, const struct iovec *iov, int cnt, size_t r,
                      uintptr_t caller)
{
	size_t pos = 0;
	while (pos < r) {
		if (c->rstate == R_IDLE) {
			at_http_parser_init(&c->in, AT_HTTP_REQUEST, AT_HTTP_F_STRICT, c->vin,
			                    sizeof c->vin, on_server_header, SERVER_HEADERS, c);
			at_carrier_reset(&c->carrier);
			c->host_len = c->ua_len = 0;
			c->t0 = at_stamp();
			c->rstate = R_HEAD;
		}
		if (c->rstate == R_HANDLING) { /* the next request before our response */
			c->pipelined = 1;
			return;
		}
		if (c->rstate != R_HEAD && c->rstate != R_BODY)
			return;
		size_t used = 0;
		int ev = parse_iov(&c->in, iov, cnt, pos, r - pos, &used,
		                   AT_HTTP_HEADERS | AT_HTTP_DONE | AT_HTTP_ERROR);
		pos += used;
		if (ev & AT_HTTP_ERROR) {
			server_finish(c, 0);
			c->rstate = R_DEAD;
			return;
		}
		if (ev & AT_HTTP_HEADERS) {
			server_start(c, caller);
			c->rstate = R_BODY;
		}
		if (ev & AT_HTTP_DONE)
			c->rstate = R_HANDLING;
		if (!used && !ev)
			break;
	}
}

/* The response is complete: the span ends (stamp as for end_span), and
 * the next request is followed if this one was whole. */
static void server_done(struct at_conn *c, uint64_t stamp)
{
	server_finish(c, stamp);
	int again =
	    c->rstate == R_HANDLING && !c->pipelined && !(c->out.flags & AT_HTTP_F_UPGRADED);
	c->rstate = again ? R_IDLE : R_DEAD;
}

/* k NULL: r bytes of the response's body went out unseen.
 * t0: when the write of these r bytes began, the end of the span if they
 * complete the response: the client can have read them, and ended its own
 * span, before this thread runs again. */
static void server_out(struct at_conn *c, const struct out_call *k, size_t r, uint64_t t0)
{
	if (!c->span_active) {
		/* writing first, or before the request is complete: not ours */
		c->rstate = R_DEAD;
		return;
	}
	size_t pos = 0;
	while (pos < r) {
		size_t used = 0;
		int ev = parse_out(&c->out, k, pos, r - pos, &used, AT_HTTP_DONE | AT_HTTP_ERROR);
		pos += used;
		if (ev & AT_HTTP_ERROR) {
			server_finish(c, 0);
			c->rstate = R_DEAD;
			return;
		}
		if (ev & AT_HTTP_DONE) {
			server_done(c, t0);
			return;
		}
		if (!used)
			break;
	}
}

/* The connection is going away (close, exit, exec): end what is open. */
static void conn_finish(struct at_conn *c)
{
	if (c->wstate >= W_RESP) /* a client's only */
		wire_closed(c, 0);
	if (!c->span_active)
		return;
	if (c->kind == AT_FD_CLIENT) {
		client_eof(c);
	} else {
		at_http_parse_eof(&c->out); /* a response without length ends here */
		server_finish(c, 0);
	}
}

static void desynced(struct at_conn *c)
{
	if (c->wstate >= W_RESP)
		wire_lost(c);
	if (c->kind == AT_FD_CLIENT)
		client_finish(c, NULL);
	else
		server_finish(c, 0);
	c->wstate = W_DEAD;
	c->rstate = R_DEAD;
}

/* ---- the paths of a marked fd ---- */

static void retire(struct at_fd *e, struct at_conn *c);

/* Bytes went by that we did not see (under an outer hook: a MySQL or Redis
 * client library's socket): parsing can never resume on this connection.
 * With nothing of ours on it yet, the fd is forgotten at once, so that its
 * every read and write passes straight through. With a connection but no
 * span open on it (a descriptor dup2'd or wrapped by the library after the
 * program's own calls) it is let go now too: the next call to lock it would
 * find it dead, and under the library's hook none would. */
static void mark_desync(struct at_fd *e)
{
	struct at_conn *c = atomic_load(&e->conn);
	if (!c) {
		atomic_store(&e->kind, AT_FD_NONE);
		return;
	}
	atomic_store(&c->desync, 1);
	if (!at_conn_trylock(c))
		return;
	int idle = atomic_load(&e->conn) == c && !spans_open(c);
	if (idle)
		desynced(c);
	at_conn_unlock(c);
	if (idle)
		retire(e, c);
}

/* The connection this thread holds locked, from lock_conn to conn_done: a
 * signal that kills while the thread is in its call (a write that blocks,
 * one that raises SIGPIPE) ends that one's request too (end_killed). */
static AT_TLS struct at_conn *held;

static struct at_conn *lock_conn(int fd, struct at_fd *e, int kind)
{
	struct at_conn *c = conn_get(fd, e, kind);
	if (!c)
		return NULL;
	if (!at_conn_trylock(c)) { /* two threads on one connection at once */
		atomic_store(&c->desync, 1);
		return NULL;
	}
	if (AT_UNLIKELY(atomic_load_explicit(&e->conn, memory_order_relaxed) != c)) {
		/* the fd was closed by another thread since c was loaded, and
		 * its slot freed (and maybe taken by another connection) */
		at_conn_unlock(c);
		return NULL;
	}
	c->fd = fd; /* one of its descriptors, open for this call */
	if (atomic_load(&c->desync))
		desynced(c);
	held = c;
	return c;
}

/* Whether a connection can never be traced again: a client's write side
 * or a server's read side dead (not HTTP/1.x, upgraded, out of sync). */
static int conn_dead(const struct at_conn *c)
{
	return !c->span_active &&
	       (c->kind == AT_FD_CLIENT ? c->wstate == W_DEAD : c->rstate == R_DEAD);
}

/* Called unlocked, when conn_dead was true under the lock: the fd is
 * unmarked, so that its later reads and writes pass straight through. The
 * connection's slot stays attached until the fd is closed or marked again
 * (forget): another thread may be about to lock it (one reading, one
 * writing the same socket), and a dead connection is safe to lock, a slot
 * given to another fd is not. */
static void retire(struct at_fd *e, struct at_conn *c)
{
	if (atomic_load(&e->conn) == c && atomic_exchange(&e->kind, AT_FD_NONE) != AT_FD_NONE)
		at_debug("fd %d: not HTTP/1.x or out of step: no longer watched", c->fd);
}

/* A call on c is over: c unlocked (and the fd let go if c can never be
 * traced again), then at_leave if the call entered. */
static AT_ALWAYS_INLINE void conn_done(struct at_fd *e, struct at_conn *c, int entered)
{
	int dead = conn_dead(c);
	held = NULL;
	at_conn_unlock(c);
	if (dead)
		retire(e, c);
	if (entered)
		at_leave();
}

/* What an outgoing call on e (of the given kind, not a CGI's) is followed
 * as: AT_FD_CLIENT or AT_FD_SERVER, *entered when at_enter was taken for
 * it; or 0, the call passed through (a marked connection then out of
 * step: a libcurl socket outside curl_easy_perform, a call inside another
 * hook). */
static int out_kind(struct at_fd *e, int kind, int *entered)
{
	*entered = 0;
	if (kind == AT_FD_WIRE) { /* libcurl's socket (wire.h) */
		if (at_wire_cur)
			return AT_FD_CLIENT;
	} else if (!kind || (*entered = at_enter())) {
		return kind;
	}
	mark_desync(e);
	return 0;
}

static ssize_t out_path(struct out_call *k)
{
	int saved = errno;
	struct at_fd *e = at_fd_entry(k->fd);
	int kind = e ? atomic_load(&e->kind) : 0, entered = 0;
	if (kind == AT_FD_CGI) { /* a CGI program's stdout (cgi.c) */
		ssize_t r = raw_out(k, k->iov, k->iovcnt);
		int err = errno;
		int expect = AT_FD_CGI;
		if (r > 0 && at_cgi_out(k->iov, k->iovcnt, (size_t)r))
			atomic_compare_exchange_strong(&e->kind, &expect, AT_FD_NONE);
		errno = err;
		return r;
	}
	if (!(kind = out_kind(e, kind, &entered)))
		return raw_out(k, k->iov, k->iovcnt);
	struct at_conn *c;
	size_t total = iov_total(k->iov, k->iovcnt);
	if (!total || (k->op == OP_SENDMSG && k->msg->msg_controllen) || (k->flags & MSG_OOB) ||
	    !(c = lock_conn(k->fd, e, kind))) {
		if (total)
			mark_desync(e);
		if (entered)
			at_leave();
		errno = saved;
		return raw_out(k, k->iov, k->iovcnt);
	}
	ssize_t r;
	int err;
	if (kind == AT_FD_CLIENT) {
		errno = saved;
		r = client_out(c, k, total);
		err = errno;
	} else {
		uint64_t t0 = c->span_active ? at_stamp() : 0;
		errno = saved;
		r = raw_out(k, k->iov, k->iovcnt);
		err = errno;
		if (r > 0 && c->rstate != R_DEAD)
			server_out(c, k, (size_t)r, t0);
	}
	conn_done(e, c, entered);
	errno = r < 0 ? err : saved;
	return r;
}

/* r bytes of a response, or of a request, came in unseen (at_net_unseen_in). */
static void client_unseen_in(struct at_conn *c, ssize_t r)
{
	if (c->wstate >= W_RESP)
		return wire_lost(c);
	if (c->wstate != W_BODY || !c->span_active)
		return; /* as client_in: nothing asked */
	response_end(c, at_http_skip(&c->in, (uint64_t)r));
}

static void server_unseen_in(struct at_conn *c, ssize_t r)
{
	if (c->rstate == R_HANDLING) { /* as server_in: the next request, early */
		c->pipelined = 1;
		return;
	}
	int ev = c->rstate == R_BODY ? at_http_skip(&c->in, (uint64_t)r) : AT_HTTP_ERROR;
	if (ev & AT_HTTP_ERROR) { /* a request's head, unseen */
		server_finish(c, 0);
		c->rstate = R_DEAD;
	} else if (ev & AT_HTTP_DONE) {
		c->rstate = R_HANDLING;
	}
}

/* After a read-family call returned r; iov NULL: r bytes came unseen
 * (at_net_unseen_in). */
static void in_done(int fd, const struct iovec *iov, int cnt, ssize_t r, int flags,
                    uintptr_t caller)
{
	if (r < 0 || (flags & MSG_PEEK)) /* peeked bytes will be read again */
		return;
	if (!r && iov && !iov_total(iov, cnt)) /* nothing asked: not the peer's close */
		return;
	struct at_fd *e = at_fd_entry(fd);
	int kind = e ? atomic_load(&e->kind) : 0;
	/* libcurl's response is not ours to follow; a CGI's stdout is written */
	if (!kind || kind == AT_FD_WIRE || kind == AT_FD_CGI)
		return;
	if ((flags & MSG_TRUNC) || !at_enter()) { /* TRUNC on TCP: discarded, unseen */
		mark_desync(e);
		return;
	}
	struct at_conn *c = lock_conn(fd, e, kind);
	if (c) {
		if (kind == AT_FD_CLIENT) {
			if (r == 0)
				client_eof(c);
			else if (iov)
				client_in(c, iov, cnt, (size_t)r);
			else
				client_unseen_in(c, r);
		} else if (r > 0 && c->rstate != R_DEAD) {
			if (iov)
				server_in(c, iov, cnt, (size_t)r, caller);
			else
				server_unseen_in(c, r);
		}
		conn_done(e, c, 0);
	}
	at_leave();
}

/* ---- bytes no hook sees (hooks/unseen.c) ---- */

/* r bytes of the request went out unseen: only a body can be counted, and
 * only a followed one is (c->follow); a sampled request's body is not
 * looked at, its response says when it is over. */
static void client_unseen_out(struct at_conn *c, ssize_t r)
{
	if (r <= 0 || c->wstate == W_DEAD)
		return;
	if (c->wstate >= W_RESP)
		return wire_lost(c);
	if (c->wstate != W_BODY) { /* a head we cannot see: no lines of ours in it */
		c->wstate = W_DEAD;
		return;
	}
	if (c->follow)
		follow_body(c, NULL, 0, (size_t)r);
}

ssize_t at_net_unseen_out(int fd, at_unseen_fn call, void *arg, uintptr_t caller)
{
	int saved = errno;
	struct at_fd *e = at_fd_entry(fd);
	int kind = e ? atomic_load(&e->kind) : 0, entered = 0;
	if (kind == AT_FD_CGI) { /* the head of a CGI's response, unseen: stop */
		int expect = AT_FD_CGI;
		atomic_compare_exchange_strong(&e->kind, &expect, AT_FD_NONE);
		return call(arg);
	}
	if (!(kind = out_kind(e, kind, &entered)))
		return call(arg);
	struct at_conn *c = lock_conn(fd, e, kind);
	if (!c) {
		mark_desync(e);
		if (entered)
			at_leave();
		errno = saved;
		return call(arg);
	}
	ssize_t r = -1;
	int err = 0;
	uint64_t t0 = 0;
	if (kind == AT_FD_CLIENT && c->wstate == W_BODY && c->pend_off < c->pend_len) {
		/* ours still owed go before any more of theirs (client_out) */
		struct out_call k = {.fd = fd, .op = OP_WRITE, .caller = caller};
		if (send_pending(c, &k) < 0) {
			err = errno;
			if (err != ENOTSOCK)
				goto out;
			not_a_socket(c);
		}
	}
	if (kind == AT_FD_SERVER && c->span_active)
		t0 = at_stamp();
	errno = saved;
	r = call(arg);
	err = errno;
	if (kind == AT_FD_CLIENT)
		client_unseen_out(c, r);
	else if (r > 0 && c->rstate != R_DEAD)
		server_out(c, NULL, (size_t)r, t0);
out:;
	conn_done(e, c, entered);
	errno = r < 0 ? err : saved;
	return r;
}

void at_net_unseen_in(int fd, ssize_t r)
{
	int saved = errno;
	in_done(fd, NULL, 0, r, 0, 0);
	errno = saved;
}

/* ---- marking and forgetting fds ---- */

static void release(struct at_conn *c)
{
	/* a thread may be mid-call on it (a close racing a read): wait a little,
	 * else leave the slot behind rather than race */
	int locked = 0;
	for (int i = 0; i < 1000 && !(locked = at_conn_trylock(c)); i++)
		sched_yield();
	if (!locked)
		return;
	if (at_on())
		conn_finish(c);
	c->span_active = 0;
	at_conn_unlock(c);
	at_conn_free(c);
}

/* The fd is closed (or replaced): forget it, before the number can be
 * reused. Not in a vfork child: it shares our memory, not our fds. */
static void forget(int fd)
{
	struct at_fd *e = at_fd_entry(fd);
	if (!e || (!atomic_load_explicit(&e->kind, memory_order_relaxed) &&
	           !atomic_load_explicit(&e->conn, memory_order_relaxed)))
		return;
	if (getpid() != at_getpid_cached())
		return;
	struct at_conn *c = atomic_exchange(&e->conn, NULL);
	atomic_store(&e->kind, AT_FD_NONE);
	if (c && atomic_fetch_sub(&c->refs, 1) == 1) /* its last descriptor */
		release(c);
}

/* new is a duplicate of old (dup, dup2, dup3), which is a marked socket:
 * both numbers name its connection, so that a server that reads one and
 * writes the other (fdopen(dup(s), "w"); a child given the socket as its
 * stdin and stdout) is followed whole. The connection ends with the last
 * of them closed. Not in a vfork child (it shares our memory, not our
 * descriptors), nor for libcurl's or a CGI's descriptor. */
static void share(int old, int new)
{
	struct at_fd *from = at_fd_entry(old), *to = at_fd_entry(new);
	int kind = from ? atomic_load(&from->kind) : AT_FD_NONE;
	if (!to || (kind != AT_FD_CLIENT && kind != AT_FD_SERVER) ||
	    getpid() != at_getpid_cached())
		return;
	forget(new); /* a stale entry: its close went by unseen */
	struct at_conn *c = conn_get(old, from, kind);
	if (!c)
		return;
	int n = atomic_load(&c->refs);
	do {
		if (n <= 0) /* being freed: old was closed meanwhile */
			return;
	} while (!atomic_compare_exchange_weak(&c->refs, &n, n + 1));
	if (atomic_load(&from->conn) != c) { /* closed meanwhile, the slot reused */
		if (atomic_fetch_sub(&c->refs, 1) == 1)
			release(c);
		return;
	}
	to->peer_family = from->peer_family;
	to->peer_port = from->peer_port;
	memcpy(to->peer_addr, from->peer_addr, sizeof to->peer_addr);
	to->local = from->local;
	to->by = from->by;
	to->by_seq = from->by_seq;
	atomic_store(&to->conn, c);
	atomic_store_explicit(&to->kind, kind, memory_order_release);
}

static void shared(int old, int rc)
{
	if (rc >= 0 && AT_UNLIKELY(at_fd_kind(old))) {
		int saved = errno;
		share(old, rc);
		errno = saved;
	}
}

void at_net_closing(int fd)
{
	if (AT_UNLIKELY(at_fd_kind(fd)))
		forget(fd);
}

static void end_all(struct at_conn *c)
{
	if (!spans_open(c) || c->pid != at_getpid_cached() || !at_conn_trylock(c))
		return;
	conn_finish(c);
	at_conn_unlock(c);
}

/* A signal kills the process (preload/crash.c, from its handler): requests
 * under way on any thread end as killed by it (one another thread holds,
 * being worked on, is left); a response that a close would have ended is
 * whole. */
static struct {
	const char *type, *msg;
	size_t mlen;
} killer;

/* The killing thread's own connection (held), locked in a call the
 * signal interrupted, is ended too: that call never goes on. */
static void end_killed(struct at_conn *c)
{
	if (!spans_open(c) || (c->span_active && !c->span.recording) ||
	    c->pid != at_getpid_cached() || (c != held && !at_conn_trylock(c)))
		return;
	if (c->wstate == W_RESP) {
		at_resp_killed(&c->resp, killer.type, killer.msg, killer.mlen);
	} else if (c->wstate == W_MYSQL) {
		at_myw_killed(&c->myw, killer.type, killer.msg, killer.mlen);
	} else if (c->kind == AT_FD_CLIENT && c->wstate == W_BODY &&
	    (at_http_parse_eof(&c->in) & AT_HTTP_DONE)) {
		client_finish(c, NULL);
	} else {
		set_status(c, c->kind == AT_FD_CLIENT ? &c->in : &c->out, c->kind == AT_FD_CLIENT);
		at_span_fail(&c->span, killer.type, strlen(killer.type), killer.msg, killer.mlen);
		end_span(c, 0);
	}
	at_conn_unlock(c);
}

void at_net_killed(const char *type, const char *msg, size_t mlen)
{
	killer.type = type;
	killer.msg = msg;
	killer.mlen = mlen;
	if (atomic_load(&at_fds))
		at_conn_each(end_killed);
}

/* Exit, _exit and exec: spans of connections still open would be lost. */
void at_net_exit(void)
{
	/* not in a vfork child: the connections in memory are the parent's */
	if (atomic_load(&at_fds) && at_on() && getpid() == at_getpid_cached())
		at_conn_each(end_all);
}

/* ---- stdio on a marked socket ----
 * stdio writes its buffer with libc's own write, which no hook sees: a
 * response printf'ed to an inetd service's stdout, or fprintf'ed to
 * fdopen(s, "w"). Its bytes are read as they go and parsed as the
 * response: from the buffer where it is flushed through a hook (fflush,
 * fclose: hooks/stdio.c; exit, below), and as the writing calls that
 * write some of it by themselves (hooks/stdio_write.c) give them. A
 * client's request is written through the write hook instead, so that
 * it gets its header (at_net_stdio_drain). And stdio's reads, likewise
 * unseen, are handed over as they come (at_net_stdio_read). */

void at_net_stdio_wrote(int fd, const struct iovec *v, int cnt, size_t n, uint64_t t0)
{
	struct at_fd *e = at_fd_entry(fd);
	int entered = 0, kind;
	struct at_conn *c;
	if (n && e && (kind = out_kind(e, atomic_load(&e->kind), &entered)) &&
	    (kind == AT_FD_SERVER || kind == AT_FD_CLIENT) && (c = lock_conn(fd, e, kind))) {
		struct out_call k = {.fd = fd, .op = OP_WRITE, .iov = v, .iovcnt = cnt};
		if (kind == AT_FD_CLIENT) /* libc wrote them, with no header of ours */
			client_unseen_out(c, (ssize_t)n);
		else if (c->rstate != R_DEAD)
			server_out(c, v ? &k : NULL, n, t0);
		conn_done(e, c, entered);
	} else if (entered) {
		at_leave();
	}
}

void at_net_stdio_drain(FILE *f, int fd, uintptr_t caller)
{
	int saved = errno;
	char *b = f->_IO_write_base;
	size_t n = at_stdio_pending(f);
	/* libc would first seek back over read bytes not handed out (an "r+"
	 * stream written without an fseek), which fails on a socket and writes
	 * nothing: left to it */
	if (!(f->_flags & AT_IO_IS_APPENDING) && f->_IO_read_end != b)
		return;
	size_t done = at_net_write_all(fd, b, n, caller);
	if (done < n) { /* the rest is libc's: to write, or to fail on */
		struct at_fd *e = at_fd_entry(fd);
		if (e)
			mark_desync(e);
		memmove(b, b + done, n - done);
	}
	f->_IO_write_ptr = b + (n - done);
	errno = saved;
}

void at_net_stdio_read(int fd, const struct iovec *v, int cnt, ssize_t r, uintptr_t caller)
{
	int saved = errno;
	struct at_fd *e;
	if (r >= 0)
		in_done(fd, v, cnt, r, 0, caller);
	else if ((e = at_fd_entry(fd)))
		mark_desync(e);
	errno = saved;
}

int at_net_stdio_flush(FILE *f, int fd, int (*flush)(FILE *), uintptr_t caller)
{
	flockfile(f); /* no other thread fills the buffer meanwhile */
	if (at_fd_kind(fd) == AT_FD_CLIENT) {
		if (at_stdio_pending(f))
			at_net_stdio_drain(f, fd, caller);
		int rc = flush(f); /* what a failed write left, if any */
		funlockfile(f);
		return rc;
	}
	const char *base = f->_IO_write_base;
	size_t n = at_stdio_pending(f); /* not a stream being read: fflush(stdin) */
	uint64_t t0 = n ? at_stamp() : 0;
	int rc = flush(f); /* writes the buffer, whose bytes stay where they were */
	int saved = errno;
	struct iovec v = {(void *)base, n};
	if (!rc)
		at_net_stdio_wrote(fd, &v, 1, n, t0);
	funlockfile(f);
	errno = saved;
	return rc;
}

/* exit(): what is still open ends. stdio writes what it holds only after
 * every exit handler and destructor: the streams on server sockets are
 * written first, through the hook (an inetd service's printf'ed response
 * with no fflush, a forked child's fdopen(s, "w") never fclose'd). Not at
 * _exit or exec, which drop it. From the atexit handler, and from the
 * shim's destructor (preload/init.c), which runs after a handler
 * registered at start-up (before main, as an inetd service's is). */
void at_net_fini(void)
{
	if (at_on() && getpid() == at_getpid_cached())
		at_stdio_flush_all();
	at_net_exit();
}

static void on_exit_handler(void)
{
	int saved = errno;
	at_net_fini();
	errno = saved;
}

/* The fd table, mapped at the first fd marked; with it, the exit handler
 * that ends what is still open. */
static int table_ready(void)
{
	if (atomic_load(&at_fds))
		return 1;
	if (!at_fd_table())
		return 0;
	atexit(on_exit_handler);
	return 1;
}

/* stream: the socket is known to be a stream (accepted), else asked;
 * peer: its peer's address to keep (accepted), or NULL; local: a unix
 * socket */
static void mark(int fd, int kind, int stream, const struct sockaddr *peer, int local)
{
	int saved = errno;
	forget(fd); /* a stale entry: its close went by unseen */
	if (!at_on())
		goto out;
	if (at_tls.depth) { /* inside another hook: only libcurl's, when wired */
		if (kind != AT_FD_CLIENT || !at_wire_cur)
			goto out;
		kind = AT_FD_WIRE;
	}
	int type = 0;
	socklen_t tl = sizeof type;
	if (!stream && (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) || type != SOCK_STREAM))
		goto out;
	if (!table_ready())
		goto out;
	struct at_fd *e = at_fd_entry(fd);
	if (!e)
		goto out;
	atomic_store(&e->conn, NULL);
	keep_peer(e, peer);
	e->local = (uint8_t)local;
	e->by = NULL;
	if (kind == AT_FD_CLIENT && cur_srv && at_tls.cur == &cur_srv->span &&
	    cur_srv->span_active) {
		e->by = cur_srv;
		e->by_seq = cur_srv->seq;
	}
	atomic_store_explicit(&e->kind, kind, memory_order_release);
out:
	errno = saved;
}

int at_net_mark_cgi(int fd)
{
	struct at_fd *e = table_ready() ? at_fd_entry(fd) : NULL;
	if (!e)
		return -1;
	atomic_store(&e->conn, NULL);
	atomic_store_explicit(&e->kind, AT_FD_CGI, memory_order_release);
	return 0;
}

static int inet(const struct sockaddr *sa)
{
	return sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
}

/* A unix socket on stdin that a listening socket accepted (systemd's
 * Accept=yes on a ListenStream=/path, socat UNIX-LISTEN): its own address
 * is the listener's name, a path or an abstract one. A socketpair's ends
 * (how libuv, sshd and others give a child its stdio) and a client's
 * connected end have none. */
static int accepted_unix(int fd)
{
	struct sockaddr_un un;
	socklen_t l = sizeof un;
	return !getsockname(fd, (struct sockaddr *)&un, &l) && un.sun_family == AF_UNIX &&
	       l > offsetof(struct sockaddr_un, sun_path);
}

/* An inetd-style service (inetd, xinetd, systemd's Accept=yes, tcpserver,
 * socat's EXEC with nofork): started with a client's TCP connection, or a
 * unix one a listener accepted, as its stdin, and as its stdout. Its stdin
 * is followed as an accepted socket, its stdout as the same connection
 * (share). Not in a CGI program (the web server read the request), nor in
 * one started by a traced process with a context (TRACEPARENT: a program
 * a service's request runs, which reads what its parent left).
 * AUTOTRACE_INETD=0: not at all. */
void at_net_inetd_init(void)
{
	struct stat in, out;
	if (fstat(0, &in) || !S_ISSOCK(in.st_mode) || at_cgi_active() || at_env_parent.valid)
		return;
	const char *v = at_getenv("AUTOTRACE_INETD");
	int on = 1;
	if (v && at_parse_bool(v, &on))
		at_warn("AUTOTRACE_INETD=\"%.20s\" is not a boolean; using true", v);
	int type = 0, listening = 1;
	socklen_t tl = sizeof type, ll = sizeof listening;
	struct sockaddr_storage peer;
	socklen_t pl = sizeof peer;
	if (!on || getsockopt(0, SOL_SOCKET, SO_TYPE, &type, &tl) || type != SOCK_STREAM ||
	    getsockopt(0, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ll) || listening ||
	    getpeername(0, (struct sockaddr *)&peer, &pl))
		return;
	if (inet((struct sockaddr *)&peer))
		mark(0, AT_FD_SERVER, 1, (struct sockaddr *)&peer, 0);
	else if (peer.ss_family == AF_UNIX && accepted_unix(0))
		mark(0, AT_FD_SERVER, 1, NULL, 1);
	if (!at_fd_kind(0))
		return;
	if (!fstat(1, &out) && out.st_dev == in.st_dev && out.st_ino == in.st_ino)
		share(0, 1);
	at_debug("stdin is a %s connection: followed as an inetd service's%s",
	         peer.ss_family == AF_UNIX ? "unix" : "TCP", at_fd_kind(1) ? ", with stdout" : "");
}

/* A family whose stream connections are followed: TCP's, and a unix
 * socket's (a database's local socket, HTTP behind a local proxy). */
static int followed(const struct sockaddr *sa)
{
	return inet(sa) || (sa && sa->sa_family == AF_UNIX);
}

/* sa: the peer's address accept() wrote for the application, or NULL
 * when it asked for none. */
static void mark_accepted(int fd, const struct sockaddr *sa)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	const struct sockaddr *peer = NULL;
	if (!sa) {
		/* whether the socket is inet: getpeername answers that and
		 * gives the peer, which the first request's span would ask
		 * for (client.address); getsockname where the peer has
		 * already gone (ENOTCONN) */
		int saved = errno;
		if (!getpeername(fd, (struct sockaddr *)&ss, &sl)) {
			peer = (const struct sockaddr *)&ss;
		} else {
			sl = sizeof ss;
			if (getsockname(fd, (struct sockaddr *)&ss, &sl)) {
				errno = saved;
				return forget(fd);
			}
		}
		errno = saved;
		sa = (const struct sockaddr *)&ss;
	}
	/* an inet socket accept() returned is a stream one: accept answers
	 * EOPNOTSUPP on a datagram socket, and of the connection-oriented
	 * types only SOCK_STREAM (TCP, MPTCP, one-to-one SCTP) is accepted on
	 * inet (DCCP aside, gone from Linux 6.16): no getsockopt. The
	 * application's own buffer is not kept: it may have been too short
	 * for the address (accept then cuts it). A unix socket may be a
	 * SOCK_SEQPACKET one: mark asks. */
	if (inet(sa))
		mark(fd, AT_FD_SERVER, 1, peer, 0);
	else if (sa->sa_family == AF_UNIX)
		mark(fd, AT_FD_SERVER, 0, NULL, 1);
	else
		forget(fd);
}

/* ---- hooks ---- */

/* AUTOTRACE_NET_SPANS=1: a CLIENT span "connect" for every TCP connect (off
 * by default: most connections are already covered by a protocol's span). */
static int net_spans(void)
{
	static _Atomic int v = -1;
	int x = atomic_load_explicit(&v, memory_order_relaxed);
	if (AT_UNLIKELY(x < 0)) {
		const char *e = at_getenv("AUTOTRACE_NET_SPANS");
		int b = 0;
		if (e && at_parse_bool(e, &b))
			at_warn("AUTOTRACE_NET_SPANS=\"%.20s\" is not a boolean; ignored", e);
		x = e && b;
		atomic_store(&v, x);
	}
	return x;
}

static int traced_connect(int fd, const struct sockaddr *sa, socklen_t len, uintptr_t caller)
{
	int saved = errno, type = 0;
	socklen_t tl = sizeof type;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) || type != SOCK_STREAM) {
		errno = saved;
		return real_connect(fd, sa, len);
	}
	struct at_span s;
	at_span_start(&s, "connect", AT_KIND_CLIENT);
	s.caller = caller;
	errno = saved;
	int rc = real_connect(fd, sa, len);
	saved = errno;
	if (s.recording) {
		struct sockaddr_storage ss;
		memset(&ss, 0, sizeof ss);
		memcpy(&ss, sa, len < sizeof ss ? len : sizeof ss);
		set_addr(&s, "server.address", "server.port", &ss, len);
		at_span_set_str(&s, "network.transport", "tcp");
		if (rc && saved != EINPROGRESS) {
			const char *m = strerror(saved);
			at_span_set_int(&s, "error.code", saved);
			at_span_fail(&s, "connect_failed", 14, m, strlen(m));
		}
	}
	at_span_end(&s);
	errno = saved;
	return rc;
}

/* A connect on a socket that is connected already, not marked: the check
 * that a non-blocking connect is over (hiredis 1.x's redisCheckConnectDone
 * calls connect again), on a socket connected inside another hook (which
 * leaves it unmarked: the library's own spans cover it). The first connect
 * decided; this one changes nothing. */
static int already_connected(int fd)
{
	if (at_fd_kind(fd))
		return 0;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int saved = errno, yes = !getpeername(fd, (struct sockaddr *)&ss, &sl);
	errno = saved;
	return yes;
}

AT_EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (!NEED(connect))
		return (int)syscall(SYS_connect, fd, sa, len);
	/* a connect of the application's own, while tracing: a span maybe (TCP),
	 * a mark unless the socket was connected already (a unix socket's
	 * second connect fails: EISCONN) */
	int own = inet(sa) && at_tls.depth == 0 && at_on();
	int again = own && already_connected(fd), rc;
	if (own && !again && net_spans() && at_enter()) {
		rc = traced_connect(fd, sa, len, AT_CALLER());
		at_leave();
	} else {
		rc = real_connect(fd, sa, len);
	}
	int saved = errno;
	if (followed(sa) && !again && (rc == 0 || saved == EINPROGRESS || saved == EINTR))
		mark(fd, AT_FD_CLIENT, 0, NULL, !inet(sa));
	else if (rc == 0)
		forget(fd);
	errno = saved;
	return rc;
}

AT_EXPORT int accept(int fd, struct sockaddr *sa, socklen_t *len)
{
	if (!NEED(accept))
		return (int)syscall(SYS_accept, fd, sa, len);
	int r = real_accept(fd, sa, len);
	if (r >= 0)
		mark_accepted(r, sa && len && *len ? sa : NULL);
	return r;
}

AT_EXPORT int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	if (!NEED(accept4))
		return (int)syscall(SYS_accept4, fd, sa, len, flags);
	int r = real_accept4(fd, sa, len, flags);
	if (r >= 0)
		mark_accepted(r, sa && len && *len ? sa : NULL);
	return r;
}

static AT_NOINLINE ssize_t write_marked(int fd, const void *buf, size_t n, uintptr_t caller)
{
	struct iovec v = {(void *)buf, n};
	struct out_call k = {.fd = fd, .op = OP_WRITE, .iov = &v, .iovcnt = 1, .caller = caller};
	return out_path(&k);
}

size_t at_net_write_all(int fd, const void *buf, size_t n, uintptr_t caller)
{
	size_t done = 0;
	while (done < n) {
		const char *p = (const char *)buf + done;
		ssize_t r = NEED(write) ? write_marked(fd, p, n - done, caller)
		                        : syscall(SYS_write, fd, p, n - done);
		if (r <= 0)
			break;
		done += (size_t)r;
	}
	return done;
}

/* The read and write family's first calls, before resolve (first_write and
 * the others below): the hook made again once resolved, else the system
 * call. Out of line, so that the hook's own path is all tail calls and
 * takes no stack frame (its marked path, which reads the caller, takes one:
 * 4 instructions a call). */
static AT_NOINLINE ssize_t first_write(int fd, const void *buf, size_t n)
{
	return NEED(write) ? write(fd, buf, n) : syscall(SYS_write, fd, buf, n);
}

AT_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	if (AT_UNLIKELY(!real_write))
		return first_write(fd, buf, n);
	if (AT_LIKELY(!at_fd_kind(fd)))
		return real_write(fd, buf, n);
	return write_marked(fd, buf, n, AT_CALLER());
}

static AT_NOINLINE ssize_t send_marked(int fd, const void *buf, size_t n, int flags,
                                       uintptr_t caller)
{
	struct iovec v = {(void *)buf, n};
	struct out_call k = {
	    .fd = fd, .op = OP_SEND, .flags = flags, .iov = &v, .iovcnt = 1, .caller = caller};
	return out_path(&k);
}

static AT_NOINLINE ssize_t first_send(int fd, const void *buf, size_t n, int flags)
{
	return NEED(send) ? send(fd, buf, n, flags) : syscall(SYS_sendto, fd, buf, n, flags, NULL, 0);
}

AT_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	if (AT_UNLIKELY(!real_send))
		return first_send(fd, buf, n, flags);
	if (AT_LIKELY(!at_fd_kind(fd)))
		return real_send(fd, buf, n, flags);
	return send_marked(fd, buf, n, flags, AT_CALLER());
}

static AT_NOINLINE ssize_t first_sendto(int fd, const void *buf, size_t n, int flags,
                                        const struct sockaddr *to, socklen_t tolen)
{
	return NEED(sendto) ? sendto(fd, buf, n, flags, to, tolen)
	                    : syscall(SYS_sendto, fd, buf, n, flags, to, tolen);
}

AT_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *to,
                         socklen_t tolen)
{
	if (AT_UNLIKELY(!real_sendto))
		return first_sendto(fd, buf, n, flags, to, tolen);
	if (AT_LIKELY(!at_fd_kind(fd)))
		return real_sendto(fd, buf, n, flags, to, tolen);
	struct iovec v = {(void *)buf, n};
	struct out_call k = {.fd = fd,
	                     .op = OP_SENDTO,
	                     .flags = flags,
	                     .iov = &v,
	                     .iovcnt = 1,
	                     .to = to,
	                     .tolen = tolen,
	                     .caller = AT_CALLER()};
	return out_path(&k);
}

static AT_NOINLINE ssize_t first_writev(int fd, const struct iovec *iov, int cnt)
{
	return NEED(writev) ? writev(fd, iov, cnt) : syscall(SYS_writev, fd, iov, cnt);
}

AT_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	if (AT_UNLIKELY(!real_writev))
		return first_writev(fd, iov, cnt);
	if (AT_LIKELY(!at_fd_kind(fd)) || cnt <= 0)
		return real_writev(fd, iov, cnt);
	struct out_call k = {
	    .fd = fd, .op = OP_WRITEV, .iov = iov, .iovcnt = cnt, .caller = AT_CALLER()};
	return out_path(&k);
}

/* A sendmsg on a marked fd (more iovecs than the kernel takes: its
 * EMSGSIZE, passed through) */
static AT_ALWAYS_INLINE ssize_t sendmsg_marked(int fd, const struct msghdr *msg, int flags,
                                               uintptr_t caller)
{
	if (msg->msg_iovlen > 1024)
		return real_sendmsg(fd, msg, flags);
	struct out_call k = {.fd = fd,
	                     .op = OP_SENDMSG,
	                     .flags = flags,
	                     .iov = msg->msg_iov,
	                     .iovcnt = (int)msg->msg_iovlen,
	                     .msg = msg,
	                     .caller = caller};
	return out_path(&k);
}

static AT_NOINLINE ssize_t first_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	return NEED(sendmsg) ? sendmsg(fd, msg, flags) : syscall(SYS_sendmsg, fd, msg, flags);
}

AT_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (AT_UNLIKELY(!real_sendmsg))
		return first_sendmsg(fd, msg, flags);
	if (AT_LIKELY(!at_fd_kind(fd)) || !msg)
		return real_sendmsg(fd, msg, flags);
	return sendmsg_marked(fd, msg, flags, AT_CALLER());
}

/* What one buffer of n bytes read from a marked fd brought (r: the real
 * call's result, returned as is, errno kept). */
static ssize_t in_one(int fd, void *buf, size_t n, ssize_t r, int flags, uintptr_t caller)
{
	int saved = errno;
	struct iovec v = {buf, r > 0 ? (size_t)r : n};
	in_done(fd, &v, 1, r, flags, caller);
	errno = saved;
	return r;
}

/* The marked paths are out of line (with the real call inside) so that the
 * pass-through of read() and recv() keeps no registers: a few instructions. */
static AT_NOINLINE ssize_t read_marked(int fd, void *buf, size_t n, uintptr_t caller)
{
	return in_one(fd, buf, n, real_read(fd, buf, n), 0, caller);
}

static AT_NOINLINE ssize_t first_read(int fd, void *buf, size_t n)
{
	return NEED(read) ? read(fd, buf, n) : syscall(SYS_read, fd, buf, n);
}

AT_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	if (AT_UNLIKELY(!real_read))
		return first_read(fd, buf, n);
	if (AT_LIKELY(!at_fd_kind(fd)))
		return real_read(fd, buf, n);
	return read_marked(fd, buf, n, AT_CALLER());
}

AT_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
static AT_NOINLINE ssize_t first___read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	return NEED(__read_chk) ? __read_chk(fd, buf, n, buflen)
	                        : syscall(SYS_read, fd, buf, n < buflen ? n : buflen);
}

AT_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (AT_UNLIKELY(!real___read_chk))
		return first___read_chk(fd, buf, n, buflen);
	if (AT_LIKELY(!at_fd_kind(fd)))
		return real___read_chk(fd, buf, n, buflen);
	return in_one(fd, buf, n, real___read_chk(fd, buf, n, buflen), 0, AT_CALLER());
}

static AT_NOINLINE ssize_t recv_marked(int fd, void *buf, size_t n, int flags, uintptr_t caller)
{
	return in_one(fd, buf, n, real_recv(fd, buf, n, flags), flags, caller);
}

static AT_NOINLINE ssize_t first_recv(int fd, void *buf, size_t n, int flags)
{
	return NEED(recv) ? recv(fd, buf, n, flags) : syscall(SYS_recvfrom, fd, buf, n, flags, NULL, NULL);
}

AT_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	if (AT_UNLIKELY(!real_recv))
		return first_recv(fd, buf, n, flags);
	if (AT_LIKELY(!at_fd_kind(fd)))
		return real_recv(fd, buf, n, flags);
	return recv_marked(fd, buf, n, flags, AT_CALLER());
}

AT_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
static AT_NOINLINE ssize_t first___recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	return NEED(__recv_chk)
	           ? __recv_chk(fd, buf, n, buflen, flags)
	           : syscall(SYS_recvfrom, fd, buf, n < buflen ? n : buflen, flags, NULL, NULL);
}

AT_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	if (AT_UNLIKELY(!real___recv_chk))
		return first___recv_chk(fd, buf, n, buflen, flags);
	if (AT_LIKELY(!at_fd_kind(fd)))
		return real___recv_chk(fd, buf, n, buflen, flags);
	return in_one(fd, buf, n, real___recv_chk(fd, buf, n, buflen, flags), flags, AT_CALLER());
}

static AT_NOINLINE ssize_t recvfrom_marked(int fd, void *buf, size_t n, int flags,
                                           struct sockaddr *from, socklen_t *fromlen,
                                           uintptr_t caller)
{
	return in_one(fd, buf, n, real_recvfrom(fd, buf, n, flags, from, fromlen), flags, caller);
}

static AT_NOINLINE ssize_t first_recvfrom(int fd, void *buf, size_t n, int flags,
                                          struct sockaddr *from, socklen_t *fromlen)
{
	return NEED(recvfrom) ? recvfrom(fd, buf, n, flags, from, fromlen)
	                      : syscall(SYS_recvfrom, fd, buf, n, flags, from, fromlen);
}

AT_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *from,
                           socklen_t *fromlen)
{
	if (AT_UNLIKELY(!real_recvfrom))
		return first_recvfrom(fd, buf, n, flags, from, fromlen);
	if (AT_LIKELY(!at_fd_kind(fd)))
		return real_recvfrom(fd, buf, n, flags, from, fromlen);
	return recvfrom_marked(fd, buf, n, flags, from, fromlen, AT_CALLER());
}

AT_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
                                 struct sockaddr *from, socklen_t *fromlen);
static AT_NOINLINE ssize_t first___recvfrom_chk(int fd, void *buf, size_t n, size_t buflen,
                                                int flags, struct sockaddr *from,
                                                socklen_t *fromlen)
{
	return NEED(__recvfrom_chk)
	           ? __recvfrom_chk(fd, buf, n, buflen, flags, from, fromlen)
	           : syscall(SYS_recvfrom, fd, buf, n < buflen ? n : buflen, flags, from, fromlen);
}

AT_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
                                 struct sockaddr *from, socklen_t *fromlen)
{
	if (AT_UNLIKELY(!real___recvfrom_chk))
		return first___recvfrom_chk(fd, buf, n, buflen, flags, from, fromlen);
	if (AT_LIKELY(!at_fd_kind(fd)))
		return real___recvfrom_chk(fd, buf, n, buflen, flags, from, fromlen);
	return in_one(fd, buf, n, real___recvfrom_chk(fd, buf, n, buflen, flags, from, fromlen), flags,
	              AT_CALLER());
}

static AT_NOINLINE ssize_t first_readv(int fd, const struct iovec *iov, int cnt)
{
	return NEED(readv) ? readv(fd, iov, cnt) : syscall(SYS_readv, fd, iov, cnt);
}

AT_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	if (AT_UNLIKELY(!real_readv))
		return first_readv(fd, iov, cnt);
	if (AT_LIKELY(!at_fd_kind(fd)))
		return real_readv(fd, iov, cnt);
	ssize_t r = real_readv(fd, iov, cnt);
	int saved = errno;
	if (cnt > 0)
		in_done(fd, iov, cnt, r, 0, AT_CALLER());
	errno = saved;
	return r;
}

static AT_NOINLINE ssize_t first_recvmsg(int fd, struct msghdr *msg, int flags)
{
	return NEED(recvmsg) ? recvmsg(fd, msg, flags) : syscall(SYS_recvmsg, fd, msg, flags);
}

AT_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	if (AT_UNLIKELY(!real_recvmsg))
		return first_recvmsg(fd, msg, flags);
	if (AT_LIKELY(!at_fd_kind(fd)))
		return real_recvmsg(fd, msg, flags);
	ssize_t r = real_recvmsg(fd, msg, flags);
	int saved = errno;
	if (msg && msg->msg_iovlen <= 1024)
		in_done(fd, msg->msg_iov, (int)msg->msg_iovlen, r, flags, AT_CALLER());
	errno = saved;
	return r;
}

/* Many messages at once (a datagram API, but any socket takes it): on a
 * marked socket each is a sendmsg of ours, one after the other as the
 * kernel sends them (on to the next after a short one, the count of those
 * sent when a later one fails), so that a request's head still gets its
 * header lines; a read's messages are followed in order. */
AT_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned n, int flags)
{
	if (!NEED(sendmmsg) || !NEED(sendmsg))
		return (int)syscall(SYS_sendmmsg, fd, vec, n, flags);
	if (AT_LIKELY(!at_fd_kind(fd)))
		return real_sendmmsg(fd, vec, n, flags);
	int saved = errno;
	unsigned sent = 0;
	for (; sent < n && sent < 1024; sent++) { /* the kernel's UIO_MAXIOV cap */
		ssize_t r = sendmsg_marked(fd, &vec[sent].msg_hdr, flags, AT_CALLER());
		if (r < 0) {
			if (!sent)
				return -1;
			break;
		}
		vec[sent].msg_len = (unsigned)r;
	}
	errno = saved;
	return (int)sent;
}

AT_EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned n, int flags, struct timespec *tmo)
{
	if (!NEED(recvmmsg))
		return (int)syscall(SYS_recvmmsg, fd, vec, n, flags, tmo);
	if (AT_LIKELY(!at_fd_kind(fd)))
		return real_recvmmsg(fd, vec, n, flags, tmo);
	int r = real_recvmmsg(fd, vec, n, flags, tmo);
	int saved = errno;
	for (int i = 0; i < r; i++)
		in_done(fd, vec[i].msg_hdr.msg_iov, (int)vec[i].msg_hdr.msg_iovlen,
		        (ssize_t)vec[i].msg_len, flags, AT_CALLER());
	errno = saved;
	return r;
}

AT_EXPORT int close(int fd)
{
	if (!NEED(close))
		return (int)syscall(SYS_close, fd);
	if (AT_UNLIKELY(at_fd_kind(fd))) {
		int saved = errno;
		forget(fd);
		errno = saved;
	}
	if (AT_UNLIKELY(fd == 2))
		at_stderr_closed();
	return real_close(fd);
}

AT_EXPORT int dup2(int old, int new)
{
	if (!NEED(dup2))
		return (int)syscall(SYS_dup2, old, new);
	if (AT_UNLIKELY(at_fd_kind(new)) && old != new) {
		int saved = errno;
		forget(new);
		errno = saved;
	}
	int rc = real_dup2(old, new);
	if (old != new)
		shared(old, rc);
	if (AT_UNLIKELY(rc == 2))
		at_stderr_placed(); /* the program's new stderr (stdfd.c) */
	return rc;
}

AT_EXPORT int dup3(int old, int new, int flags)
{
	if (!NEED(dup3))
		return (int)syscall(SYS_dup3, old, new, flags);
	if (AT_UNLIKELY(at_fd_kind(new)) && old != new) {
		int saved = errno;
		forget(new);
		errno = saved;
	}
	int rc = real_dup3(old, new, flags);
	shared(old, rc);
	if (AT_UNLIKELY(rc == 2))
		at_stderr_placed(); /* the program's new stderr (stdfd.c) */
	return rc;
}

/* A new descriptor on a number whose close went by unseen (a raw close
 * system call, fclose of an fdopen'ed socket): the stale entry goes, so no
 * header is ever added to what the application writes on the new one. */
static void fresh(int fd)
{
	if (fd >= 0 && AT_UNLIKELY(at_fd_kind(fd))) {
		int saved = errno;
		forget(fd);
		errno = saved;
	}
}

/* A new number rc, a duplicate of old (dup, fcntl's F_DUPFD): a stale
 * entry on it goes; a duplicate of a marked socket shares its connection;
 * on 2 it is the program's new stderr (close(2); dup(f): the old way to
 * redirect). */
static int duplicated(int old, int rc)
{
	fresh(rc);
	shared(old, rc);
	if (AT_UNLIKELY(rc == 2))
		at_stderr_placed();
	return rc;
}

AT_EXPORT int dup(int old)
{
	if (!NEED(dup))
		return (int)syscall(SYS_dup, old);
	return duplicated(old, real_dup(old));
}

/* fcntl's F_DUPFD and F_DUPFD_CLOEXEC are dup's (Python's os.dup and
 * socket.dup, a shell's n>&m); every other command passes through, its
 * argument as the caller gave it (a pointer or an int, in a register
 * either way, as glibc's own fcntl reads it). */
AT_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (!NEED(fcntl))
		return (int)syscall(SYS_fcntl, fd, cmd, arg);
	int rc = real_fcntl(fd, cmd, arg);
	return AT_UNLIKELY(cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) ? duplicated(fd, rc) : rc;
}

/* the same function in a 64-bit glibc, under the name programs built
 * since glibc 2.28 call */
AT_EXPORT int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

AT_EXPORT int socket(int domain, int type, int proto)
{
	if (!NEED(socket))
		return (int)syscall(SYS_socket, domain, type, proto);
	int fd = real_socket(domain, type, proto);
	fresh(fd);
	return fd;
}

AT_EXPORT int socketpair(int domain, int type, int proto, int sv[2])
{
	if (!NEED(socketpair))
		return (int)syscall(SYS_socketpair, domain, type, proto, sv);
	int rc = real_socketpair(domain, type, proto, sv);
	if (rc == 0) {
		fresh(sv[0]);
		fresh(sv[1]);
	}
	return rc;
}

/* poll: interposed only so that a program with no thread of its own makes
 * it as a system call once the exporter thread runs (io_direct.h): libcurl
 * polls three times a request, libmariadb when a reply is late, and glibc's
 * poll is a cancellation point, two atomic read-modify-writes around every
 * call in a multi-threaded process. Every call goes on to the next
 * definition unchanged. */
static AT_NOINLINE int raw_poll(struct pollfd *fds, nfds_t n, int timeout)
{
#ifdef SYS_poll
	return (int)syscall(SYS_poll, fds, n, timeout);
#else
	struct timespec ts = {timeout / 1000, (long)(timeout % 1000) * 1000000};
	return (int)syscall(SYS_ppoll, fds, n, timeout >= 0 ? &ts : NULL, NULL, (size_t)8);
#endif
}

static AT_ALWAYS_INLINE int next_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (!NEED(poll))
		return raw_poll(fds, n, timeout);
	return real_poll(fds, n, timeout);
}

AT_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	return next_poll(fds, n, timeout);
}

/* _FORTIFY_SOURCE's poll: glibc's calls its own poll, past the hook */
AT_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (AT_UNLIKELY(fdslen / sizeof *fds < n) && AT_RESOLVE(__poll_chk))
		return real___poll_chk(fds, n, timeout, fdslen); /* reports the overflow */
	return next_poll(fds, n, timeout);
}

AT_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	if (!NEED(close_range))
		return (int)syscall(SYS_close_range, first, last, flags);
	if (atomic_load(&at_fds) && !(flags & CLOSE_RANGE_CLOEXEC)) {
		int saved = errno;
		size_t end = last < at_fds_n ? (size_t)last + 1 : at_fds_n;
		for (size_t fd = first; fd < end; fd++)
			if (at_fd_kind((int)fd))
				forget((int)fd);
		errno = saved;
	}
	if (first <= 2 && last >= 2 && !(flags & CLOSE_RANGE_CLOEXEC))
		at_stderr_closed();
	return real_close_range(first, last, flags);
}
