/* The exporter's TCP connection to a collector, for its HTTP/1.1 and its
 * HTTP/2 client: every step bounded by a deadline, and the fd checked
 * before each use (a daemon that closes every fd may have given the number
 * to the application: we must never write into its files). Runs only on
 * the exporter thread. */
#ifndef AT_CONN_H
#define AT_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "../preload/stdfd.h"

struct at_tls_sess;

struct at_conn {
	char host[256];
	char port[8];
	int fd;
	struct at_fd_id id; /* the socket's file: at_conn_ours */
	char why[256]; /* what failed last ("connect: Connection refused") */
	/* https (tls.h): the files set by the backend (NULL: SSL_CERT_FILE and
	 * SSL_CERT_DIR, else the system's CAs; no client certificate) */
	int tls, alpn_h2;
	const char *ca, *cert, *key;
	void *ctx;               /* SSL_CTX, made at the first connect */
	int ctx_failed;          /* it cannot be made: said once, not tried again */
	int verify_warned;       /* the server's certificate was refused: said once */
	const char *ca_lazy;     /* the CA file not loaded yet: the directory was */
	int ca_widened;          /* it was loaded after a refusal: connect again */
	struct at_tls_sess *sess; /* the session on fd */
	char tls_err[160];       /* OpenSSL's reason, when errno is EPROTO */
};

/* Parses an http:// or https:// URL into c (host, port; no socket yet)
 * and *path (into url). -1, with a warning naming the URL, when it cannot
 * be used. */
int at_conn_init(struct at_conn *c, const char *url, const char **path);
/* The files an https connection uses (see struct at_conn); kept, not copied. */
void at_conn_tls_files(struct at_conn *c, const char *ca, const char *cert, const char *key);
/* Ms left until deadline_ms (CLOCK_MONOTONIC), 0 once it has passed. */
int at_conn_remaining(uint64_t deadline_ms);
/* Whether c->fd is still the socket at_conn_connect opened. */
int at_conn_ours(const struct at_conn *c);
/* Connects (non-blocking, TCP_NODELAY, SOCK_CLOEXEC): 0, or -1 (c->why). */
int at_conn_connect(struct at_conn *c, uint64_t deadline_ms);
/* Closes the socket if it is still ours; forgets it either way. */
void at_conn_close(struct at_conn *c);
/* In a fork's child: closes the parent's socket if it is still ours, and
 * touches nothing else (TLS's state may have been mid-change). */
void at_conn_drop(struct at_conn *c);
/* Forgets the socket without a word on it (it is not ours any more). */
void at_conn_forget(struct at_conn *c);
/* at_conn_close, and what TLS keeps between connections freed. */
void at_conn_release(struct at_conn *c);
/* Waits for ev on the fd: 0, or -1 at the deadline or on error. */
int at_conn_wait(int fd, short ev, uint64_t deadline_ms);
/* 0 once all n bytes are sent, -1 (errno) otherwise. */
int at_conn_send_all(struct at_conn *c, const void *p, size_t n, uint64_t deadline_ms);
/* The same for n iovecs (changed: they end describing what is left). */
int at_conn_sendv(struct at_conn *c, struct iovec *iov, int n, uint64_t deadline_ms);
/* What one recv gave (0 at the peer's end), waiting for it; -1 (errno). */
ssize_t at_conn_recv(struct at_conn *c, void *p, size_t n, uint64_t deadline_ms);
/* The socket's own I/O, under TLS's (at_conn_sendv and at_conn_recv on
 * a plain connection). */
int at_conn_raw_send(struct at_conn *c, const void *p, size_t n, uint64_t deadline_ms);
ssize_t at_conn_raw_recv(struct at_conn *c, void *p, size_t n, uint64_t deadline_ms);
/* c->why: step and errno's text (TLS's reason for EPROTO), or "timed out"
 * once the deadline passed. */
void at_conn_failed(struct at_conn *c, const char *step, int err, uint64_t deadline_ms);

#endif
