/* Per-fd state for the socket hooks. Every read and write of the process
 * asks "is this fd one of ours?", so the answer must be one array load and a
 * compare: a table indexed by fd, mapped on the first traced connect or
 * accept (before that the table pointer is NULL and every fd is "no").
 * Only fds that went through a traced connect() (client) or accept()
 * (server) of a stream socket, TCP or unix, are marked; everything else
 * (files, pipes, UDP, socketpairs, unix datagram and seqpacket sockets)
 * stays 0 and passes straight through.
 *
 * The per-connection state (parsers, the active span, bytes still to send)
 * lives in a pool of fixed-size slots mapped on demand, never malloc'ed. */
#ifndef AT_FDSTATE_H
#define AT_FDSTATE_H

#include "../preload/autotrace.h"
#include "../preload/propagation.h"
#include "../preload/span.h"
#include "http_parse.h"
#include "mysql_wire.h"
#include "resp_wire.h"

#include <netinet/in.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

/* AT_FD_WIRE: a client socket libcurl connected inside a curl_easy_perform
 * that hands its trace headers to net.c (wire.h); written to only there.
 * AT_FD_CGI: a CGI program's stdout, until its response's head is over
 * (hooks/cgi.c). */
enum at_fd_kind {
	AT_FD_NONE = 0,
	AT_FD_CLIENT = 1,
	AT_FD_SERVER = 2,
	AT_FD_WIRE = 3,
	AT_FD_CGI = 4
};

struct at_conn;

/* An entry stands for the socket that was marked (connect, accept) until
 * the fd is closed or replaced through a hook (close, dup2, dup3,
 * close_range) or the number is marked again (a new connect or accept on
 * it): no per-request check that the fd is still that socket. A close that
 * goes by unseen (a raw syscall, fclose of an fdopen'ed socket) followed
 * by a file or pipe taking the number is caught where it would matter: our
 * header lines only ever go out through sendmsg/send, which refuse a
 * non-socket (ENOTSOCK), and then the application's call is passed through
 * unchanged. */
struct at_fd {
	_Atomic int kind;
	/* an accepted socket's peer, kept where finding out whether the
	 * socket is inet took a getpeername anyway (accept without an
	 * address): a server span's client.address then costs no second
	 * call. peer_family 0: not kept. Written before kind is stored. */
	uint16_t peer_family;
	uint16_t peer_port; /* network order */
	_Atomic(struct at_conn *) conn; /* allocated on the first traced I/O */
	unsigned char peer_addr[16];
	/* a client socket: the server connection whose request was the
	 * thread's current span when it was connected, and that request's
	 * number (at_conn.seq); its first request is made on that request's
	 * behalf if it is still going on (net.c client_start) */
	struct at_conn *by;
	uint32_t by_seq;
	uint8_t local; /* a unix socket */
};

extern struct at_fd *_Atomic at_fds;
extern size_t at_fds_n;

/* The hot path: 0 for every fd the hooks do not care about. */
static inline int at_fd_kind(int fd)
{
	struct at_fd *t = atomic_load_explicit(&at_fds, memory_order_acquire);
	if (AT_LIKELY(!t) || (size_t)(unsigned)fd >= at_fds_n)
		return 0;
	return atomic_load_explicit(&t[fd].kind, memory_order_relaxed);
}

static inline struct at_fd *at_fd_entry(int fd)
{
	struct at_fd *t = atomic_load_explicit(&at_fds, memory_order_acquire);
	if (!t || fd < 0 || (size_t)fd >= at_fds_n)
		return NULL;
	return &t[fd];
}

/* Maps the table if needed; NULL if it cannot be mapped (then: untraced). */
struct at_fd *at_fd_table(void);
/* The peer of a connected socket fd (net.c): its address as inet_ntop
 * writes it into ip (AT_ADDR_MAX bytes), or a unix socket's path, and its
 * port (0 for a unix socket); the address's length, 0 when unknown. errno
 * is kept. */
size_t at_net_peer(int fd, char *ip, int *port);
/* Marks fd AT_FD_CGI (net.c); 0, or -1 when the table cannot be had. */
int at_net_mark_cgi(int fd);
/* At start-up, once tracing is on: stdin (and stdout) an inetd service's
 * client connection, followed as an accepted socket (net.c). */
void at_net_inetd_init(void);
/* n bytes written on the marked fd through the write hook's path, as
 * write(2)s from caller, until all are out or one fails (its errno kept):
 * how many went (hooks/dprintf.c, at_net_stdio_drain). */
size_t at_net_write_all(int fd, const void *buf, size_t n, uintptr_t caller);
/* stdio on a marked socket fd (net.c; the hooks in hooks/stdio.c, which
 * tell it with hooks/stdio_buf.h's at_stdio_socket_fd): a flush of f by
 * flush (libc's fflush) whose bytes are parsed as the response they are, or
 * on a client's, written as its request (at_net_stdio_drain) from caller. */
int at_net_stdio_flush(FILE *f, int fd, int (*flush)(FILE *), uintptr_t caller);
/* A client socket's stream, f locked: the bytes its buffer holds written
 * through the write hook as write(2)s from caller would be (the request
 * parsed, its trace header added) and taken out of the buffer, as libc's
 * flush takes them: libc then has none to write. A write that fails
 * leaves the rest in the buffer, for libc to write or fail on as it would
 * have, and the connection is given up. A buffer libc would not write (it
 * would first seek back over read bytes not handed out) is left to it. */
void at_net_stdio_drain(FILE *f, int fd, uintptr_t caller);
/* n bytes of a stdio stream went out on the server socket fd, from v (v
 * NULL: gone by unread), by a call that began at t0 (at_net_stdio_flush;
 * hooks/stdio_write.c); on a client socket, bytes libc wrote by itself,
 * with no header added: unseen (a head's: the connection given up). */
void at_net_stdio_wrote(int fd, const struct iovec *v, int cnt, size_t n, uint64_t t0);
/* r bytes came in on the marked socket fd through stdio (hooks/stdio_read.c),
 * v's; r == 0: the peer closed; r < 0: bytes came that are not known, and
 * the connection is no longer followed. */
void at_net_stdio_read(int fd, const struct iovec *v, int cnt, ssize_t r, uintptr_t caller);
/* exit: every stdio stream on a marked socket written through the hook
 * (at_stdio_flush_all), then the spans still open ended (net.c). */
void at_net_fini(void);
/* fd is about to be closed by libc's own close (fclose): forgotten. */
void at_net_closing(int fd);
/* A response's status on an HTTP span (net.c): a 5xx is an error, and on a
 * client's span a 4xx too (error.type, the code). No stdio: a crash's
 * signal handler ends a CGI span with it. */
void at_http_set_status(struct at_span *s, int status, int client);

/* Connection states (one direction each). */
/* W_RESP, W_MYSQL: a client speaking Redis (resp_wire.h), MySQL
 * (mysql_wire.h): a database's protocol read on the wire, from W_RESP on */
enum { W_IDLE = 0, W_HEAD, W_BODY, W_DEAD, W_RESP, W_MYSQL };
enum { R_IDLE = 0, R_HEAD, R_BODY, R_HANDLING, R_DEAD };

#define AT_PEND_MAX 1400 /* injected header lines not yet sent */
#define AT_SMALL_VAL 512

struct at_conn {
	_Atomic int inuse;
	_Atomic int lock;   /* one thread works on a connection at a time */
	/* the descriptors that name it: one, and one more for each duplicate
	 * of a marked socket (net.c share); freed with the last */
	_Atomic int refs;
	_Atomic int desync; /* bytes went by unparsed: stop looking */
	/* fd: the descriptor of the call that holds the connection (lock_conn;
	 * a duplicate's calls name theirs) */
	int fd, kind, pid;
	uint8_t wstate, rstate;
	uint8_t span_active, app_prop, pipelined, pend_built, addrs_known;
	/* client: the request is followed by its own framing, its response
	 * left unread (a request not sampled); or it must not be (one that
	 * asks for an upgrade or a 100-continue) */
	uint8_t follow, resp_needed;
	/* client: not a fresh connection: a request's head went out, or a
	 * greeting came in */
	uint8_t had_head;
	uint8_t local; /* a unix socket (at_fd.local) */
	uint16_t pend_off, pend_len;
	uint16_t host_len, ua_len;
	uint64_t t0;
	/* server: the request's number, unique in the process (server_start),
	 * and the baggage its calls pass on */
	uint32_t seq;
	const char *bag;
	/* server, on a thread that serves several requests at once: the
	 * request's path, hashed (net.c, by_path) */
	uint32_t path_hash;
	/* client: at_fd.by and by_seq, until its first request takes them */
	uint32_t by_seq;
	struct at_conn *by;
	char host[256];
	/* the connection's addresses, formatted once (addrs_known): a server's
	 * (its port and its client's), a client's peer */
	int local_port;   /* -1: not an inet socket */
	uint8_t peer_len; /* 0: none known (an unnamed unix socket) */
	uint16_t peer_port; /* 0: none (a unix socket) */
	char peer[AT_ADDR_MAX];
	char ua[256];
	char pend[AT_PEND_MAX];
	struct at_http_parser out; /* what the application writes */
	struct at_http_parser in;  /* what it reads */
	char vout[AT_SMALL_VAL];
	struct at_span span;
	/* big and used only by servers, or by a client speaking Redis or
	 * MySQL: pages are touched only when needed */
	union {
		struct {
			struct at_carrier carrier;
			char vin[AT_BAGGAGE_MAX + 64];
		};
		struct at_resp resp;
		struct at_myw myw;
	};
};
_Static_assert(sizeof(struct at_resp) <= sizeof(struct at_carrier) + AT_BAGGAGE_MAX + 64 &&
                   sizeof(struct at_myw) <= sizeof(struct at_carrier) + AT_BAGGAGE_MAX + 64,
               "a database connection's state takes no room of its own in the slot");

/* A free slot (inuse set, everything else to be initialised by the
 * caller), or NULL when the pool is exhausted. The lowest free slot: one
 * freed is soon taken again, so a slot's user must check, once it holds
 * the lock, that the slot is still its fd's (net.c lock_conn). */
struct at_conn *at_conn_alloc(void);
void at_conn_free(struct at_conn *c);
/* Calls fn on every connection in use (exit: end what is still open). */
void at_conn_each(void (*fn)(struct at_conn *c));

static inline int at_conn_trylock(struct at_conn *c)
{
	return !atomic_exchange_explicit(&c->lock, 1, memory_order_acquire);
}
static inline void at_conn_unlock(struct at_conn *c)
{
	atomic_store_explicit(&c->lock, 0, memory_order_release);
}

#endif
