/* dprintf and vdprintf, and their _FORTIFY_SOURCE forms: libc formats into
 * a buffer of its own and writes it with its own write, which no hook
 * sees. On a descriptor the shim follows (a marked client or server
 * socket, a CGI program's stdout) the bytes are formatted here instead,
 * once, and written through the write hook (net.c) as a write(2) of them
 * would be: a server's response is read, a client's request gets its span
 * and its trace header, a CGI's head its status. A call whose bytes cannot
 * be had here (a conversion error, an output over INT_MAX, no memory for
 * a long one) is libc's, its bytes unseen (a connection whose head they
 * are is no longer followed). Any other descriptor passes straight
 * through after one load of the fd table. */
#define _GNU_SOURCE
#include "../preload/autotrace.h"
#include "../preload/real.h"
#include "fdstate.h"
#include "stdio_buf.h"
#include "unseen.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

AT_REAL(int, vdprintf, (int, const char *, va_list));
AT_REAL(int, __vdprintf_chk, (int, int, const char *, va_list));

/* libc's call, as one form: flag < 0 for the unchecked one */
static int real_call(int fd, int flag, const char *fmt, va_list ap)
{
	return flag < 0 ? real_vdprintf(fd, fmt, ap) : real___vdprintf_chk(fd, flag, fmt, ap);
}

/* libc's call where the bytes could not be had: made as one the hooks do
 * not see (unseen.h), its bytes counted as gone by unread; a failed one may
 * have written some of them (glibc writes what it formatted before a
 * conversion error), so it counts as one byte at least. */
struct unseen_call {
	int fd, flag, rc, err;
	const char *fmt;
	va_list *ap;
};

static ssize_t unseen(void *arg)
{
	struct unseen_call *u = arg;
	u->rc = real_call(u->fd, u->flag, u->fmt, *u->ap);
	u->err = errno;
	return u->rc < 0 ? 1 : u->rc;
}

static AT_NOINLINE int followed(int fd, int flag, const char *fmt, va_list ap, uintptr_t caller)
{
	char small[1024], *d;
	int n = at_stdio_format(small, sizeof small, &d, flag, fmt, ap);
	if (!d) {
		va_list cp;
		va_copy(cp, ap);
		struct unseen_call u = {fd, flag, -1, 0, fmt, &cp};
		at_net_unseen_out(fd, unseen, &u, caller);
		va_end(cp);
		if (u.rc < 0)
			errno = u.err;
		return u.rc;
	}
	/* written as libc's loop writes them: until all are out or a write
	 * fails (-1, its errno) */
	int rc = at_net_write_all(fd, d, (size_t)n, caller) == (size_t)n ? n : -1;
	if (d != small) {
		int err = errno;
		free(d);
		errno = err;
	}
	return rc;
}

static AT_ALWAYS_INLINE int call(int fd, int flag, const char *fmt, va_list ap, uintptr_t caller)
{
	RESOLVED_ONE_OR(flag < 0, vdprintf, __vdprintf_chk, -1);
	if (AT_LIKELY(!at_fd_kind(fd)))
		return real_call(fd, flag, fmt, ap);
	return followed(fd, flag, fmt, ap, caller);
}


AT_EXPORT int vdprintf(int fd, const char *fmt, va_list ap)
{
	return call(fd, -1, fmt, ap, AT_CALLER());
}

AT_EXPORT int __vdprintf_chk(int fd, int flag, const char *fmt, va_list ap)
{
	return call(fd, flag < 0 ? 0 : flag, fmt, ap, AT_CALLER());
}

AT_EXPORT int dprintf(int fd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = call(fd, -1, fmt, ap, AT_CALLER());
	va_end(ap);
	return rc;
}

AT_EXPORT int __dprintf_chk(int fd, int flag, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = call(fd, flag < 0 ? 0 : flag, fmt, ap, AT_CALLER());
	va_end(ap);
	return rc;
}
