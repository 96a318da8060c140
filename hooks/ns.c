/* unshare(2) and setns(2): the kernel grants some of them only to a process
 * of one thread (a new user namespace, CLONE_THREAD/CLONE_SIGHAND/CLONE_VM;
 * setns into a user namespace, or into a mount namespace, which wants the
 * caller's fs_struct unshared). After its first span a program has the
 * exporter thread too, and the call it would have made fails with EINVAL.
 * When every other thread of the process is the shim's, the hook ends them
 * first: the exporter exports what is queued (at most AUTOTRACE_EXIT_TIMEOUT)
 * and leaves, and the next span starts it again. A program with threads of
 * its own gets the kernel's answer, as it would without the shim. Every
 * call goes on to libc unchanged, errno the call's. With the exporter in a
 * process (AUTOTRACE_EXPORTER_MODE=process) there is nothing to end. */
#define _GNU_SOURCE
#include "../preload/autotrace.h"
#include "../preload/clock.h"
#include "../preload/config.h"
#include "../preload/real.h"
#include "../reporter/exporter.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef NS_GET_NSTYPE
#define NS_GET_NSTYPE _IO(0xb7, 0x3)
#endif

AT_REAL(int, unshare, (int));
AT_REAL(int, setns, (int, int));

/* How long the threads that left are waited for to be gone, at least: the
 * short-lived one of the first span loads libunwind at the lowest priority,
 * which on a busy machine with a cold disk takes longer; the wait is
 * AUTOTRACE_EXIT_TIMEOUT when that is longer. */
#define GONE_WAIT_MS 200

/* Whether thread tid of this process is one of the shim's (they name
 * themselves autotrace-exp and autotrace-bg): 1, 0, or -1 if gone. */
static int shim_thread(long tid)
{
	char name[64], comm[32];
	snprintf(name, sizeof name, "/proc/self/task/%ld/comm", tid);
	int fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, comm, sizeof comm - 1);
	close(fd);
	if (n <= 0)
		return -1;
	comm[n] = 0;
	return !strncmp(comm, "autotrace-", 10);
}

/* The threads of this process other than the caller: of the app's own, and
 * of the shim's. -1 if /proc cannot say. */
static int threads_besides_me(int *apps, int *shims)
{
	char buf[4096];
	int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	long me = syscall(SYS_gettid);
	*apps = *shims = 0;
	for (;;) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
		if (n < 0) {
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			off += d->d_reclen;
			long tid = atol(d->d_name);
			if (tid <= 0 || tid == me)
				continue;
			int k = shim_thread(tid);
			if (k > 0)
				(*shims)++;
			else if (k == 0)
				(*apps)++;
		}
	}
	close(fd);
	return 0;
}

/* The caller alone, if only the shim's threads are with it. */
static void be_alone(void)
{
	int apps, shims;
	/* a thread of ours just started (not yet run, on a busy machine) is
	 * not yet named as ours: let it name itself */
	uint64_t named_by = at_mono_ms() + (uint64_t)at_cfg.exit_timeout_ms;
	while (at_exporter_unnamed() > 0 && at_mono_ms() < named_by) {
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
	if (threads_besides_me(&apps, &shims) || apps || !shims)
		return;
	if (!at_exporter_park(at_cfg.exit_timeout_ms))
		return; /* still busy (a slow collector): the kernel's answer */
	/* the exporter leaving, and the short-lived one of the first span
	 * (libunwind's load) ending: gone from the kernel's thread group */
	long gone_ms = at_cfg.exit_timeout_ms > GONE_WAIT_MS ? at_cfg.exit_timeout_ms : GONE_WAIT_MS;
	uint64_t until = at_mono_ms() + (uint64_t)gone_ms;
	while (!threads_besides_me(&apps, &shims) && !apps && shims && at_mono_ms() < until) {
		struct timespec ts = {0, 200000};
		nanosleep(&ts, NULL);
	}
}

static int unshare_needs_one(int flags)
{
	return (flags & (CLONE_NEWUSER | CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)) != 0;
}

/* nstype 0: whatever namespace fd is (a pidfd's flags name them). */
static int setns_needs_one(int fd, int nstype)
{
	if (!nstype) {
		int t = ioctl(fd, NS_GET_NSTYPE);
		if (t < 0)
			return 0; /* not a namespace: the call's own answer */
		nstype = t;
	}
	return (nstype & (CLONE_NEWUSER | CLONE_NEWNS)) != 0;
}

AT_EXPORT int unshare(int flags)
{
	int saved = errno;
	if (unshare_needs_one(flags) && atomic_load(&at_exporter_started) && at_enter()) {
		be_alone();
		at_leave();
	}
	errno = saved;
	if (AT_RESOLVE(unshare))
		return real_unshare(flags);
	return (int)syscall(SYS_unshare, flags);
}

AT_EXPORT int setns(int fd, int nstype)
{
	int saved = errno;
	if (atomic_load(&at_exporter_started) && setns_needs_one(fd, nstype) && at_enter()) {
		be_alone();
		at_leave();
	}
	errno = saved;
	if (AT_RESOLVE(setns))
		return real_setns(fd, nstype);
	return (int)syscall(SYS_setns, fd, nstype);
}
