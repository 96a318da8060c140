/* stdio's flushes: libc writes a stream's buffer with its own write, which
 * no hook sees. Where the buffer goes to something the shim follows, it is
 * read as it is written: a CGI program's stdout (the response's head,
 * hooks/cgi.c) and a server's socket (the response, hooks/net.c); on a
 * client's socket it is written through the write hook instead, so that
 * the request gets its trace header (net.c, at_net_stdio_drain). Any
 * other stream passes straight through after a flag test and, once a
 * socket has been marked, one load of the fd table. */
#define _GNU_SOURCE
#include "../preload/autotrace.h"
#include "../preload/real.h"
#include "cgi.h"
#include "fdstate.h"
#include "stdio_buf.h"

#include <errno.h>
#include <stdio.h>

#undef fflush_unlocked /* a macro of <stdio.h> */

AT_REAL(int, fflush, (FILE *));
AT_REAL(int, fflush_unlocked, (FILE *));
AT_REAL(int, fclose, (FILE *));
AT_REAL(int, fcloseall, (void));

/* glibc's list of every stream and its lock (libio's; exported, not
 * declared): weak, a libc without them has its streams left to itself */
extern FILE *_IO_list_all __attribute__((weak));
void _IO_list_lock(void) __attribute__((weak));
void _IO_list_unlock(void) __attribute__((weak));

/* Every stream on a marked socket with bytes to write, flushed by
 * real through the hook (at_net_stdio_flush). As libc's own flush of every
 * stream: fflush(NULL)'s holds the list's lock; exit's and fcloseall's
 * (cleanup) take no lock, and pass by a stream another thread holds.
 * EOF if one failed. */
static int flush_followed(int (*real)(FILE *), int cleanup)
{
	if (AT_LIKELY(!atomic_load_explicit(&at_fds, memory_order_relaxed)) || !&_IO_list_all ||
	    !_IO_list_lock || !_IO_list_unlock)
		return 0;
	int rc = 0;
	if (!cleanup)
		_IO_list_lock();
	for (FILE *f = _IO_list_all; f; f = f->_chain) {
		int fd = at_stdio_socket_fd(f);
		if (fd < 0 || !at_stdio_pending(f) || (cleanup && ftrylockfile(f)))
			continue;
		if (at_net_stdio_flush(f, fd, real, 0))
			rc = EOF;
		if (cleanup)
			funlockfile(f);
	}
	if (!cleanup)
		_IO_list_unlock();
	return rc;
}

int at_stdio_flush_all(void)
{
	return AT_RESOLVE(fflush) ? flush_followed(real_fflush, 1) : 0;
}

/* fflush and fflush_unlocked, real the one called; fflush(NULL) writes
 * every stream: the followed ones through the hook first */
static int flush(FILE *f, int (*real)(FILE *), uintptr_t caller)
{
	if (AT_UNLIKELY(at_cgi_watching) && (!f || f == stdout))
		at_cgi_stdio();
	if (!f) {
		int rc = flush_followed(real, 0);
		return real(NULL) || rc ? EOF : 0;
	}
	int fd = at_stdio_socket_fd(f);
	return AT_LIKELY(fd < 0) ? real(f) : at_net_stdio_flush(f, fd, real, caller);
}

AT_EXPORT int fflush(FILE *f)
{
	RESOLVED_OR(fflush, EOF);
	return flush(f, real_fflush, AT_CALLER());
}

AT_EXPORT int fflush_unlocked(FILE *f)
{
	RESOLVED_OR(fflush_unlocked, EOF);
	return flush(f, real_fflush_unlocked, AT_CALLER());
}

/* fclose writes what the buffer holds, then closes the descriptor with
 * libc's own close: the buffer is read first (a CGI's stdout: its head;
 * a socket's: written through the hook), and the descriptor's
 * connection, a server's or a client's, let go (the last one ends the
 * response, as a close does), so that a number reused is not taken for it. */
AT_EXPORT int fclose(FILE *f)
{
	RESOLVED_OR(fclose, EOF);
	if (AT_UNLIKELY(at_cgi_watching) && f == stdout)
		at_cgi_stdio();
	int fd = at_stdio_socket_fd(f);
	if (AT_LIKELY(fd < 0) || !AT_RESOLVE(fflush))
		return real_fclose(f);
	int flushed = at_stdio_pending(f) ? at_net_stdio_flush(f, fd, real_fflush, AT_CALLER()) : 0;
	int err = errno;
	at_net_closing(fd);
	errno = err;
	int rc = real_fclose(f);
	if (flushed) /* fclose's result: its flush failed, with this errno */
		errno = err;
	return flushed ? EOF : rc;
}

/* glibc's fcloseall writes every stream (and closes none of their
 * descriptors): the followed ones through the hook first. */
AT_EXPORT int fcloseall(void)
{
	RESOLVED_OR(fcloseall, EOF);
	if (AT_UNLIKELY(at_cgi_watching))
		at_cgi_stdio();
	at_stdio_flush_all();
	return real_fcloseall();
}
