/* poll: interposed only so that a program with no thread of its own makes
 * it as a system call once the exporter thread runs, as it does read and
 * send (io_direct.h). Event loops and client libraries wait in poll between
 * their reads and writes (libcurl three times a request, libmariadb when a
 * reply is late), and glibc's poll is a cancellation point: two atomic
 * read-modify-writes around every call in a multi-threaded process. Every
 * call goes on to the next definition (libc's, or another preload's)
 * unchanged, or to the system call itself where that definition is libc's. */
#define _GNU_SOURCE
#include "io_direct.h"

#include "../preload/autotrace.h"
#include "../preload/real.h"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

AT_REAL(int, poll, (struct pollfd *, nfds_t, int));
AT_REAL(int, __poll_chk, (struct pollfd *, nfds_t, int, size_t));

/* glibc's dlsym may allocate, and an allocator may poll: a poll reached
 * from inside the resolution is the raw system call. */
static AT_TLS int resolving;

static int resolve(void)
{
	if (resolving)
		return 0;
	resolving = 1;
	int ok = AT_RESOLVE(poll);
	resolving = 0;
	return ok;
}

static int raw_poll(struct pollfd *fds, nfds_t n, int timeout)
{
#ifdef SYS_poll
	return (int)syscall(SYS_poll, fds, n, timeout);
#else
	struct timespec ts = {timeout / 1000, (long)(timeout % 1000) * 1000000}, *t = NULL;
	if (timeout >= 0)
		t = &ts;
	return (int)syscall(SYS_ppoll, fds, n, t, NULL, (size_t)8);
#endif
}

void *at_poll_next(void)
{
	if (!real_poll && !resolve())
		return NULL;
	return (void *)real_poll;
}

void at_poll_set(void *p)
{
	real_poll = (int (*)(struct pollfd *, nfds_t, int))p;
}

/* the first call: out of line, so that the others take a load, a test and
 * a jump */
static AT_NOINLINE int poll_first(struct pollfd *fds, nfds_t n, int timeout)
{
	if (!resolve())
		return raw_poll(fds, n, timeout);
	return real_poll(fds, n, timeout);
}

static AT_ALWAYS_INLINE int next_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	int (*f)(struct pollfd *, nfds_t, int) = real_poll;
	if (AT_UNLIKELY(!f))
		return poll_first(fds, n, timeout);
	return f(fds, n, timeout);
}

AT_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	return next_poll(fds, n, timeout);
}

/* _FORTIFY_SOURCE's poll: glibc's calls its own poll, past this hook */
AT_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (AT_UNLIKELY(fdslen / sizeof *fds < n)) /* the real one reports the overflow */
		return AT_RESOLVE(__poll_chk) ? real___poll_chk(fds, n, timeout, fdslen)
		                              : raw_poll(fds, n, timeout);
	return next_poll(fds, n, timeout);
}
