/* The calls that move a marked socket's bytes where no read or write hook
 * sees them (unseen.h): sendfile and splice (a static file served by
 * lighttpd, nginx with `sendfile on`, a proxy splicing bodies through a
 * pipe). Any other fd passes straight through after the one table load the
 * read and write hooks make. What a marked connection does with the count
 * is hooks/net.c's. */
#define _GNU_SOURCE
#include "../preload/autotrace.h"
#include "../preload/real.h"
#include "fdstate.h"
#include "unseen.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

AT_REAL(ssize_t, sendfile64, (int, int, off64_t *, size_t));
AT_REAL(ssize_t, splice, (int, loff_t *, int, loff_t *, size_t, unsigned));


/* Is either fd marked? One load of the table for both (the pass-through
 * of any other fd: a few instructions, as read's and write's). */
static AT_ALWAYS_INLINE int either_marked(int a, int b)
{
	struct at_fd *t = atomic_load_explicit(&at_fds, memory_order_acquire);
	if (AT_LIKELY(!t))
		return 0;
	return ((size_t)(unsigned)a < at_fds_n &&
	        atomic_load_explicit(&t[a].kind, memory_order_relaxed)) ||
	       ((size_t)(unsigned)b < at_fds_n &&
	        atomic_load_explicit(&t[b].kind, memory_order_relaxed));
}

/* A call on a marked fd: out (where the bytes go) or in (where they come
 * from; n asked of it) or both. */
static ssize_t unseen_call(int out, int in, size_t n, at_unseen_fn call, void *arg,
                                       uintptr_t caller)
{
	ssize_t r = at_fd_kind(out) ? at_net_unseen_out(out, call, arg, caller) : call(arg);
	if (at_fd_kind(in) && (r || n)) /* 0 of 0 asked: not a close */
		at_net_unseen_in(in, r);
	return r;
}

/* ---- sendfile: in_fd a file (or, on newer kernels, any fd a pipe could
 * read) ---- */

struct sendfile_call {
	int out, in;
	off64_t *off;
	size_t n;
};

static ssize_t sendfile_real(void *arg)
{
	struct sendfile_call *k = arg;
	return real_sendfile64(k->out, k->in, k->off, k->n);
}

_Static_assert(sizeof(off_t) == sizeof(off64_t), "one offset type (LP64)");

static AT_NOINLINE ssize_t sendfile_marked(int out, int in, off64_t *off, size_t n,
                                           uintptr_t caller)
{
	struct sendfile_call k = {out, in, off, n};
	return unseen_call(out, in, n, sendfile_real, &k, caller);
}

/* sendfile and sendfile64 are one function on LP64: both are libc's
 * sendfile64 (resolved once for both). Inlined into each: AT_CALLER() is the
 * hook's caller. */
static AT_ALWAYS_INLINE ssize_t sendfile_hook(int out, int in, off64_t *off, size_t n)
{
	if (AT_UNLIKELY(!AT_RESOLVE(sendfile64)))
		return syscall(SYS_sendfile, out, in, off, n);
	if (AT_LIKELY(!either_marked(out, in)))
		return real_sendfile64(out, in, off, n);
	return sendfile_marked(out, in, off, n, AT_CALLER());
}

AT_EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t *offset, size_t count)
{
	return sendfile_hook(out_fd, in_fd, offset, count);
}

AT_EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
	return sendfile_hook(out_fd, in_fd, (off64_t *)offset, count);
}

/* ---- splice: one end is a pipe ---- */

struct splice_call {
	int in, out;
	loff_t *off_in, *off_out;
	size_t n;
	unsigned flags;
};

static ssize_t splice_real(void *arg)
{
	struct splice_call *k = arg;
	return real_splice(k->in, k->off_in, k->out, k->off_out, k->n, k->flags);
}

static AT_NOINLINE ssize_t splice_marked(int in, loff_t *off_in, int out, loff_t *off_out,
                                         size_t n, unsigned flags, uintptr_t caller)
{
	struct splice_call k = {in, out, off_in, off_out, n, flags};
	return unseen_call(out, in, n, splice_real, &k, caller);
}

AT_EXPORT ssize_t splice(int fd_in, loff_t *off_in, int fd_out, loff_t *off_out, size_t len,
                         unsigned flags)
{
	if (AT_UNLIKELY(!AT_RESOLVE(splice)))
		return syscall(SYS_splice, fd_in, off_in, fd_out, off_out, len, flags);
	if (AT_LIKELY(!either_marked(fd_in, fd_out)))
		return real_splice(fd_in, off_in, fd_out, off_out, len, flags);
	return splice_marked(fd_in, off_in, fd_out, off_out, len, flags, AT_CALLER());
}
