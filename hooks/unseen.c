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

AT_REAL(ssize_t, sendfile, (int, int, off_t *, size_t));
AT_REAL(ssize_t, sendfile64, (int, int, off64_t *, size_t));
AT_REAL(ssize_t, splice, (int, loff_t *, int, loff_t *, size_t, unsigned));

#define CALLER() ((uintptr_t)__builtin_return_address(0))

/* ---- sendfile ---- */

struct sendfile_call {
	int out, in;
	off64_t *off;
	size_t n;
	int wide; /* sendfile64 */
};

static ssize_t sendfile_real(void *arg)
{
	struct sendfile_call *k = arg;
	if (k->wide ? !AT_RESOLVE(sendfile64) : !AT_RESOLVE(sendfile))
		return syscall(SYS_sendfile, k->out, k->in, k->off, k->n);
	return k->wide ? real_sendfile64(k->out, k->in, k->off, k->n)
	               : real_sendfile(k->out, k->in, (off_t *)k->off, k->n);
}

/* out_fd is where the bytes go; in_fd, a file (or, on newer kernels, any
 * fd a pipe could read) */
static AT_NOINLINE ssize_t sendfile_marked(struct sendfile_call *k, uintptr_t caller)
{
	ssize_t r = at_fd_kind(k->out) ? at_net_unseen_out(k->out, sendfile_real, k, caller)
	                               : sendfile_real(k);
	if (at_fd_kind(k->in) && (r || k->n)) /* 0 of 0 asked: not a close */
		at_net_unseen_in(k->in, r);
	return r;
}

_Static_assert(sizeof(off_t) == sizeof(off64_t), "one offset type (LP64)");

AT_EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
	struct sendfile_call k = {out_fd, in_fd, (off64_t *)offset, count, 0};
	if (AT_LIKELY(!at_fd_kind(out_fd) && !at_fd_kind(in_fd)))
		return sendfile_real(&k);
	return sendfile_marked(&k, CALLER());
}

AT_EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t *offset, size_t count)
{
	struct sendfile_call k = {out_fd, in_fd, offset, count, 1};
	if (AT_LIKELY(!at_fd_kind(out_fd) && !at_fd_kind(in_fd)))
		return sendfile_real(&k);
	return sendfile_marked(&k, CALLER());
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
	if (!AT_RESOLVE(splice))
		return syscall(SYS_splice, k->in, k->off_in, k->out, k->off_out, k->n, k->flags);
	return real_splice(k->in, k->off_in, k->out, k->off_out, k->n, k->flags);
}

static AT_NOINLINE ssize_t splice_marked(struct splice_call *k, uintptr_t caller)
{
	ssize_t r = at_fd_kind(k->out) ? at_net_unseen_out(k->out, splice_real, k, caller)
	                               : splice_real(k);
	if (at_fd_kind(k->in) && (r || k->n))
		at_net_unseen_in(k->in, r);
	return r;
}

AT_EXPORT ssize_t splice(int fd_in, loff_t *off_in, int fd_out, loff_t *off_out, size_t len,
                         unsigned flags)
{
	struct splice_call k = {fd_in, fd_out, off_in, off_out, len, flags};
	if (AT_LIKELY(!at_fd_kind(fd_in) && !at_fd_kind(fd_out)))
		return splice_real(&k);
	return splice_marked(&k, CALLER());
}
