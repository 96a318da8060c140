/* stdio's flushes: libc writes a stream's buffer with its own write, which
 * no hook sees. Where the buffer goes to something the shim follows, it is
 * read as it is written: a CGI program's stdout (the response's head,
 * hooks/cgi.c) and a server's socket (the response, hooks/net.c). Any
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

/* fflush and fflush_unlocked, real the one called */
static int flush(FILE *f, int (*real)(FILE *))
{
	if (AT_UNLIKELY(at_cgi_watching) && (!f || f == stdout))
		at_cgi_stdio();
	int fd = at_stdio_server_fd(f ? f : stdout);
	if (AT_LIKELY(fd < 0))
		return real(f);
	if (f)
		return at_net_stdio_flush(f, fd, real);
	/* every stream: stdout's through the hook first, then the others */
	int rc = at_net_stdio_flush(stdout, fd, real);
	return real(NULL) || rc ? EOF : 0;
}

AT_EXPORT int fflush(FILE *f)
{
	RESOLVED_OR(fflush, EOF);
	return flush(f, real_fflush);
}

AT_EXPORT int fflush_unlocked(FILE *f)
{
	RESOLVED_OR(fflush_unlocked, EOF);
	return flush(f, real_fflush_unlocked);
}

/* fclose writes what the buffer holds, then closes the descriptor with
 * libc's own close: the buffer is read first (a CGI's stdout: its head;
 * a server socket's: written through the hook), and the descriptor's
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
	int flushed = at_fd_kind(fd) == AT_FD_SERVER ? at_net_stdio_flush(f, fd, real_fflush) : 0;
	int err = errno;
	at_net_closing(fd);
	errno = err;
	int rc = real_fclose(f);
	if (flushed) /* fclose's result: its flush failed, with this errno */
		errno = err;
	return flushed ? EOF : rc;
}
