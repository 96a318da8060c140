/* TLS for the exporter's connections to https endpoints, with the host's
 * OpenSSL 3 (libssl.so.3, or AUTOTRACE_LIBSSL) loaded at the first https
 * connection: the shim links no TLS library, and a process that never
 * exports over https never loads one.
 *
 * OpenSSL never touches the socket: it reads and writes a BIO pair (rings in memory), and
 * conn.c moves the bytes with its own deadlines, MSG_NOSIGNAL and the
 * check that the fd is still ours. So the exporter is never blocked inside
 * OpenSSL, and a program that exits while it waits for a collector can
 * clean OpenSSL up under it (see at_tls_conn_start: its exit handler). */
#ifndef AT_TLS_H
#define AT_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct at_conn;

/* Loads and initializes OpenSSL once (a warning when it cannot): 0, or -1.
 * Done when an https backend is made, at the exporter's start, not at its
 * first connection: OpenSSL registers its exit handler (OPENSSL_cleanup)
 * with its first initialization, the program's or ours, and ours, which
 * flushes, must come after it to run before it. A first connection made
 * in the exit flush would find OpenSSL cleaned up if the program uses it. */
int at_tls_load(void);
/* At the exporter thread's start, on the application's thread: when the
 * program has OpenSSL loaded already (it uses it: its OPENSSL_cleanup is
 * an exit handler), at_tls_load now, where it costs microseconds, so that
 * ours is registered after it and the program cannot be exiting, running
 * OPENSSL_cleanup, while the exporter thread initializes the library
 * (measured: curl, which exits right after its request, crashed in 1 of
 * 48 runs, in two test runs of four). A program without it has no OPENSSL_cleanup to race: the
 * exporter thread loads it (2 ms not spent on the application's thread). */
void at_tls_prepare(void);
/* Starts TLS on c's connected socket: 0, or -1 with c->why said. */
int at_tls_conn_start(struct at_conn *c, uint64_t deadline_ms);
/* Ends c's session; sends close_notify first when send is set. */
void at_tls_conn_end(struct at_conn *c, int send);
/* What at_conn_sendv and at_conn_recv do on a TLS connection: the same
 * returns; a TLS failure is errno EPROTO with its text in c->tls_err. */
int at_tls_sendv(struct at_conn *c, struct iovec *iov, int n, uint64_t deadline_ms);
ssize_t at_tls_recv(struct at_conn *c, void *p, size_t n, uint64_t deadline_ms);
/* Frees c's context (at_conn_init's second call, a backend's close). */
void at_tls_conn_free(struct at_conn *c);
/* In a forked child: no exporter thread is inside OpenSSL here. */
void at_tls_atfork_child(void);

#endif
