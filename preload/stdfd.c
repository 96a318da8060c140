/* The shim writes its diagnostics and console spans to descriptor 2. A
 * daemon that closes its stderr and then opens a file, a socket or accepts a
 * connection gets descriptor 2 back for its own use: a line written there
 * would land in the application's data or on its client's connection
 * (PITFALLS 6: never write into a descriptor that belongs to the app).
 *
 * So before writing, descriptor 2 must be the file it was at start (device
 * and inode), or one the application put there on purpose: through dup2 or
 * dup3 (a shell's 2>file, daemon-style redirection), or unseen by the hooks
 * (freopen on stderr, glibc's daemon()) while the stdio stream stderr still
 * names descriptor 2. After the application closed it (close, close_range,
 * or fclose(stderr), which leaves the stream with no descriptor), whatever
 * takes number 2 next is the application's, and the shim stays silent.
 * Nor is a connection a stderr: inetd, systemd's Accept=yes and forking
 * servers that dup2 the accepted socket onto 0, 1 and 2 give the program its
 * client as stderr too, where a diagnostic would reach the client.
 *
 * The other way round: a program started without one of 0, 1, 2 (a daemon
 * run with 2>&-) leaves the number free, and the shim's ring or collector
 * socket would take it; the program would then print its errors into the
 * shim's ring. The descriptors the shim keeps go above 2. */
#define _GNU_SOURCE
#include "stdfd.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { SAME, CLOSED, PLACED };

static _Atomic int state = SAME;
static _Atomic uint64_t known_dev, known_ino; /* ino 0: none known */
static _Atomic int known_ok;                     /* a stderr, not a connection */

/* A socket on 2 is a stderr (journald's stream, a log collector's) unless
 * it is an IP socket or stdin's socket: the program's client. */
static int a_connection(const struct stat *st)
{
	if (!S_ISSOCK(st->st_mode))
		return 0;
	int dom = 0;
	socklen_t l = sizeof dom;
	if (!getsockopt(2, SOL_SOCKET, SO_DOMAIN, &dom, &l) && (dom == AF_INET || dom == AF_INET6))
		return 1;
	struct stat in;
	return !fstat(0, &in) && in.st_ino == st->st_ino && in.st_dev == st->st_dev;
}

static int remember(const struct stat *st)
{
	int ok = !a_connection(st);
	atomic_store_explicit(&known_ok, ok, memory_order_relaxed);
	atomic_store_explicit(&known_dev, (uint64_t)st->st_dev, memory_order_relaxed);
	atomic_store_explicit(&known_ino, (uint64_t)st->st_ino, memory_order_relaxed);
	return ok;
}

void at_stderr_init(void)
{
	struct stat st;
	int saved = errno;
	if (fstat(2, &st))
		atomic_store(&state, CLOSED); /* started without one */
	else
		(void)remember(&st);
	errno = saved;
}

void at_stderr_closed(void)
{
	atomic_store(&state, CLOSED);
}

void at_stderr_placed(void)
{
	atomic_store(&state, PLACED);
}

int at_stderr_usable(void)
{
	struct stat st;
	int saved = errno, ok = 0;
	if (fstat(2, &st))
		goto out;
	if ((uint64_t)st.st_ino == atomic_load_explicit(&known_ino, memory_order_relaxed) &&
	    (uint64_t)st.st_dev == atomic_load_explicit(&known_dev, memory_order_relaxed)) {
		ok = atomic_load_explicit(&known_ok, memory_order_relaxed);
		goto out;
	}
	int s = atomic_load(&state);
	/* a change the hooks did not see: freopen keeps the stream on 2 */
	if (s == PLACED || (s == SAME && fileno_unlocked(stderr) == 2)) {
		ok = remember(&st);
		atomic_compare_exchange_strong(&state, &s, SAME);
	}
out:
	errno = saved;
	return ok;
}

int at_fd_note(int fd, struct at_fd_id *id)
{
	struct stat st;
	if (fd < 0 || fstat(fd, &st))
		return -1;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	return 0;
}

int at_fd_same(int fd, const struct at_fd_id *id)
{
	struct stat st;
	int saved = errno;
	int same = fd >= 0 && !fstat(fd, &st) && st.st_dev == id->dev && st.st_ino == id->ino;
	errno = saved;
	return same;
}

int at_fd_not_std(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	/* raw calls: the close hook would take this for the program's */
	int nfd = (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 3);
	int err = errno;
	(void)syscall(SYS_close, fd);
	errno = err;
	return nfd;
}

void at_std_hold(struct at_std_held *h)
{
	h->n = 0;
	int nul = -1;
	for (int fd = 0; fd <= 2; fd++) {
		if (syscall(SYS_fcntl, fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		if (nul < 0 && (nul = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null",
		                                   O_RDWR | O_CLOEXEC)) < 0)
			return;
		int got = nul == fd ? fd : (int)syscall(SYS_fcntl, nul, F_DUPFD_CLOEXEC, fd);
		if (got == fd)
			h->fd[h->n++] = fd;
		else if (got >= 0) /* the program took fd meanwhile */
			syscall(SYS_close, got);
	}
	if (nul > 2)
		syscall(SYS_close, nul);
}

void at_std_release(const struct at_std_held *h)
{
	for (int i = 0; i < h->n; i++)
		syscall(SYS_close, h->fd[i]);
}
