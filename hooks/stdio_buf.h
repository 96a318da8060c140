/* A stdio stream as the stdio hooks see it: its buffer, as glibc's libio
 * keeps it in the public FILE fields (the bytes written to it that libc
 * has not yet written out), and whether it is a marked socket's. */
#ifndef AT_STDIO_BUF_H
#define AT_STDIO_BUF_H

#include "fdstate.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

/* libio's flags (libio.h, not installed) */
#define AT_IO_UNBUFFERED 0x0002
#define AT_IO_LINE_BUF 0x0200
#define AT_IO_CURRENTLY_PUTTING 0x0800 /* holds bytes to write, not read ones */
#define AT_IO_IS_APPENDING 0x1000

/* The bytes f's buffer holds, not yet written; from f->_IO_write_base. */
static inline size_t at_stdio_pending(const FILE *f)
{
	if (!(f->_flags & AT_IO_CURRENTLY_PUTTING) || !f->_IO_write_base ||
	    f->_IO_write_ptr <= f->_IO_write_base)
		return 0;
	return (size_t)(f->_IO_write_ptr - f->_IO_write_base);
}

/* The fd table's kind (AT_FD_*) of f's descriptor, 0 for a stream on
 * any other: one load of the table's pointer until a socket has been
 * marked. */
static AT_ALWAYS_INLINE int at_stdio_kind(const FILE *f)
{
	if (AT_LIKELY(!atomic_load_explicit(&at_fds, memory_order_relaxed)) || !f)
		return 0;
	return at_fd_kind(f->_fileno);
}

/* f's descriptor when it is a marked client or server socket, whose bytes
 * written or read through stdio are followed (hooks/stdio_write.c,
 * hooks/stdio_read.c), else -1. */
static AT_ALWAYS_INLINE int at_stdio_socket_fd(const FILE *f)
{
	int kind = at_stdio_kind(f);
	return kind == AT_FD_CLIENT || kind == AT_FD_SERVER ? f->_fileno : -1;
}

/* One call on a followed stream, from at_stdio_hold to at_stdio_release
 * (hooks/stdio_write.c; hooks/stdio_read.c for a read that writes first). */
struct at_stdio_held {
	FILE *f;
	int to;       /* where the bytes go: a marked socket's fd, or a CGI's stdout */
	size_t p;     /* bytes the buffer held before the call */
	char *copy;   /* a copy of them, where the call may write them */
	uint64_t t0;  /* when the call began */
	int err;      /* errno at the call */
};

/* Before a call from caller giving f n more bytes ((size_t)-1: it may
 * write whatever the buffer holds): f locked, what the buffer holds kept
 * if the call may write it (a client's request: written then, through
 * the write hook). */
void at_stdio_hold(struct at_stdio_held *h, FILE *f, int to, size_t n, uintptr_t caller);
/* The call is over: it took n bytes when ok, d's pieces (d NULL: not
 * known); what went out is read as what it is; f unlocked, errno kept. */
void at_stdio_release(struct at_stdio_held *h, const struct iovec *d, int dcnt, size_t n, int ok);

/* Every stream on a marked socket with bytes to write, written
 * through the hook (hooks/stdio.c) before libc writes them unseen, at exit
 * and fcloseall: as libc then, without the list's lock, passing by a
 * stream another thread holds. EOF if one failed, else 0. */
int at_stdio_flush_all(void);

/* fmt's bytes, as vsnprintf (flag < 0) or __vsnprintf_chk (flag) makes
 * them from ap (left as it was), and their count: in *out, which is small
 * (cap bytes) or, for longer ones, memory from malloc; NULL where they
 * cannot be had (a conversion error: -1 and its errno; no memory). */
int at_stdio_format(char *small, size_t cap, char **out, int flag, const char *fmt, va_list ap);

/* A hook's real function, resolved, or the call fails with ENOSYS. */
#define RESOLVED_OR(name, fail)                                                            \
	do {                                                                               \
		if (!AT_RESOLVE(name)) {                                                   \
			errno = ENOSYS;                                                    \
			return fail;                                               \
		}                                                                          \
	} while (0)
/* The same for a call made through one of two real functions: a's when
 * first, else b's. */
#define RESOLVED_ONE_OR(first, a, b, fail)                                                 \
	do {                                                                               \
		if (!((first) ? AT_RESOLVE(a) : AT_RESOLVE(b))) {                           \
			errno = ENOSYS;                                                    \
			return fail;                                                       \
		}                                                                          \
	} while (0)

#endif
