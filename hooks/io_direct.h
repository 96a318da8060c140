/* The system call itself, where libc's wrapper would only add glibc's
 * multi-threaded cost that the shim's own thread brought.
 *
 * A single-threaded program's read, write, send, recv, sendmsg, poll,
 * connect, accept and close are one system call each in glibc. Once the
 * exporter thread runs, glibc takes its multi-threaded path on every one of
 * them: each is a cancellation point, switched on and off around the call
 * with two atomic read-modify-writes (bench/RESULTS.md, section 1:
 * __pthread_enable_asynccancel). Nothing can cancel a thread of a program
 * that never started one and never called pthread_cancel, so for such a
 * program the hooks make the system call themselves: what glibc would have
 * done had the shim not started a thread.
 *
 * The hooks call through their pointers to the next definition (net.c;
 * poll is interposed there for this alone);
 * where that definition is libc's own (not another preload's hook, which
 * must keep seeing the call), the pointer is moved to a function below,
 * so the hooks' own path is not one instruction longer (the direct call
 * adds three: it checks that its caller is the thread that was alone when
 * they began, else it is libc's). The program's first pthread_create,
 * thrd_create or pthread_cancel (hooks/thread.c) puts libc's back for
 * good, before the thread exists. */
#ifndef AT_IO_DIRECT_H
#define AT_IO_DIRECT_H

#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

enum {
	AT_IO_READ = 1 << 0,
	AT_IO_WRITE = 1 << 1,
	AT_IO_RECV = 1 << 2, /* recv and recvfrom: glibc's recv is recvfrom */
	AT_IO_SEND = 1 << 3, /* send and sendto */
	AT_IO_SENDMSG = 1 << 4,
	AT_IO_POLL = 1 << 5,
	AT_IO_CONNECT = 1 << 6,
	AT_IO_ACCEPT = 1 << 7, /* accept and accept4 */
	AT_IO_CLOSE = 1 << 8,
};

/* The exporter starts (exporter.c): the calls to make directly. */
void at_io_direct_init(void);
/* The program starts a thread or cancels one: libc's wrappers from now on. */
void at_io_direct_off(void);
/* Whether the program has started a thread (or cancelled one): sticky. A
 * thread glibc starts itself (a SIGEV_THREAD timer's) is not seen. */
int at_io_app_threads(void);
/* The calls made directly now (tests, the debug log). */
unsigned at_io_direct_bits(void);

/* The calls net.c's hooks make through a pointer that can be moved: each
 * one's index (AT_IO_FN_*), libc's name and the bit above that makes it
 * direct. X(INDEX, name, bit) for each; the tables of net.c and io_direct.c
 * are written from this one list. */
#define AT_IO_FNS(X)                                                                               \
	X(READ, read, AT_IO_READ)                                                                  \
	X(WRITE, write, AT_IO_WRITE)                                                               \
	X(RECV, recv, AT_IO_RECV)                                                                  \
	X(RECVFROM, recvfrom, AT_IO_RECV)                                                          \
	X(SEND, send, AT_IO_SEND)                                                                  \
	X(SENDTO, sendto, AT_IO_SEND)                                                              \
	X(SENDMSG, sendmsg, AT_IO_SENDMSG)                                                         \
	X(CONNECT, connect, AT_IO_CONNECT)                                                         \
	X(ACCEPT, accept, AT_IO_ACCEPT)                                                            \
	X(ACCEPT4, accept4, AT_IO_ACCEPT)                                                          \
	X(CLOSE, close, AT_IO_CLOSE)                                                               \
	X(POLL, poll, AT_IO_POLL)
#define AT_IO_FN_INDEX(idx, name, bit) AT_IO_FN_##idx,
enum { AT_IO_FNS(AT_IO_FN_INDEX) AT_IO_NEXT_N };
/* net.c: the next definitions its hooks call (resolved if they were not
 * yet); 0, or -1. */
int at_net_io_next(void *next[AT_IO_NEXT_N]);
/* net.c: its hooks call these from now on. */
void at_net_io_set(void *const p[AT_IO_NEXT_N]);

/* The system calls, with the signatures of libc's functions. */
ssize_t at_io_read(int fd, void *b, size_t n);
ssize_t at_io_write(int fd, const void *b, size_t n);
ssize_t at_io_recv(int fd, void *b, size_t n, int fl);
ssize_t at_io_recvfrom(int fd, void *b, size_t n, int fl, struct sockaddr *from,
                       socklen_t *fromlen);
ssize_t at_io_send(int fd, const void *b, size_t n, int fl);
ssize_t at_io_sendto(int fd, const void *b, size_t n, int fl, const struct sockaddr *to,
                     socklen_t tolen);
ssize_t at_io_sendmsg(int fd, const struct msghdr *m, int fl);
int at_io_poll(struct pollfd *fds, nfds_t n, int timeout);
int at_io_connect(int fd, const struct sockaddr *sa, socklen_t len);
int at_io_accept(int fd, struct sockaddr *sa, socklen_t *len);
int at_io_accept4(int fd, struct sockaddr *sa, socklen_t *len, int fl);
int at_io_close(int fd);

#endif
