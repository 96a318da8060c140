#define _GNU_SOURCE
#include "unwinder.h"

#include "config.h"
#include "real.h"
#include "stdfd.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* the name a libunwind macro stands for: "_ULx86_64_step" for unw_step */
#define NAME_(x) #x
#define NAME(x) NAME_(x)
#define SONAME "libunwind.so.8" /* the nongnu libunwind, not LLVM's libunwind.so.1 */

enum { IDLE, PENDING, LOADING, READY, ABSENT };

static _Atomic int state;
static struct at_unwinder fns;

void at_unwinder_request(void)
{
	int expect = IDLE;
	if (at_cfg.crash)
		atomic_compare_exchange_strong(&state, &expect, PENDING);
}

/* fns' members, in order: the names the unw_* macros stand for */
static const char *const names[] = {
#if defined(__x86_64__)
    NAME(unw_tdep_getcontext),
#else
#error "unwinder.c: say which libunwind symbol unw_getcontext is on this CPU"
#endif
    NAME(unw_init_local),    NAME(unw_step),          NAME(unw_get_reg),
    NAME(unw_get_proc_name), NAME(unw_get_proc_info),
};

/* libunwind (1.6) keeps a pipe open for itself, made at its first unwind,
 * through which it tests addresses before reading them. Two things follow:
 *
 * - in a program started without stdin, stdout or stderr the pipe would take
 *   the free number: the program's next open would not get it, and what it
 *   prints would go into libunwind's pipe. The numbers 0..2 that are free are
 *   held while libunwind makes its pipe (at_std_hold).
 * - a program that closes every descriptor closes libunwind's too, and may
 *   reuse the numbers: at a crash libunwind would read a byte from, and write
 *   one to, the program's file or connection. The pipe's descriptors are
 *   noted (those libunwind made: pipes that were not open before) and a
 *   crash unwinds only while they are still the same pipes. */
enum { PIPES_MAX = 64, OWN_MAX = 4 };

struct fd_id {
	int fd;
	struct at_fd_id id;
};

static struct fd_id own[OWN_MAX];
static int nown;

/* The pipes open in the process; -1 if more than max (then libunwind's are
 * not told apart: a crash unwinds as before). */
static int list_pipes(struct fd_id *out, int max)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int self = dirfd(d);
	struct dirent *e;
	struct stat st;
	while (n >= 0 && (e = readdir(d))) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		if (*end || end == e->d_name || fd == self || fstat((int)fd, &st) ||
		    !S_ISFIFO(st.st_mode))
			continue;
		if (n == max)
			n = -1;
		else
			out[n++] = (struct fd_id){(int)fd, {st.st_dev, st.st_ino}};
	}
	closedir(d);
	return n;
}

static void note_own(const struct fd_id *before, int nbefore)
{
	struct fd_id after[PIPES_MAX];
	int n = list_pipes(after, PIPES_MAX);
	if (n - nbefore > OWN_MAX)
		return; /* the program's too, opened meanwhile: not told apart */
	for (int i = 0; i < n && nown < OWN_MAX; i++) {
		int old = 0;
		for (int j = 0; j < nbefore && !old; j++)
			old = before[j].id.ino == after[i].id.ino && before[j].id.dev == after[i].id.dev;
		if (!old)
			own[nown++] = after[i];
	}
}

static int own_intact(void)
{
	for (int i = 0; i < nown; i++)
		if (!at_fd_same(own[i].fd, &own[i].id))
			return 0;
	return 1;
}

void at_unwinder_load(void)
{
	if (!at_cfg.crash)
		return;
	int s = atomic_load(&state);
	if ((s != IDLE && s != PENDING) || !atomic_compare_exchange_strong(&state, &s, LOADING))
		return;
	int saved = errno;
	struct fd_id before[PIPES_MAX];
	struct at_std_held h;
	int nbefore = list_pipes(before, PIPES_MAX);
	at_std_hold(&h);
	void *p[sizeof names / sizeof names[0]];
	if (at_load_library(SONAME, names, p, (int)(sizeof names / sizeof names[0]),
	                    "crashes are recorded without a stack trace")) {
		at_std_release(&h);
		atomic_store(&state, ABSENT);
		errno = saved;
		return;
	}
	fns.getcontext = (__typeof__(fns.getcontext))p[0];
	fns.init_local = (__typeof__(fns.init_local))p[1];
	fns.step = (__typeof__(fns.step))p[2];
	fns.get_reg = (__typeof__(fns.get_reg))p[3];
	fns.get_proc_name = (__typeof__(fns.get_proc_name))p[4];
	fns.get_proc_info = (__typeof__(fns.get_proc_info))p[5];
	/* let libunwind find the unwind tables now rather than in a handler */
	unw_context_t ctx;
	unw_cursor_t c;
	if (!fns.getcontext(&ctx) && !fns.init_local(&c, &ctx))
		fns.step(&c);
	at_std_release(&h);
	if (nbefore >= 0)
		note_own(before, nbefore);
	atomic_store(&state, READY);
	errno = saved;
}

const struct at_unwinder *at_unwinder_get(long wait_ms)
{
	for (long waited = 0;; waited++) {
		int s = atomic_load(&state);
		if (s == READY)
			return own_intact() ? &fns : NULL;
		if ((s != PENDING && s != LOADING) || waited >= wait_ms)
			return NULL;
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL); /* async-signal-safe */
	}
}

void at_unwinder_atfork_prepare(void)
{
	if (atomic_load(&state) == LOADING)
		at_unwinder_get(100);
}

void at_unwinder_atfork_child(void)
{
	int s = atomic_load(&state);
	if (s == PENDING || s == LOADING)
		atomic_store(&state, IDLE);
}
