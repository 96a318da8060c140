#define _GNU_SOURCE
#include "unwinder.h"

#include "config.h"
#include "real.h"

#include <stdatomic.h>
#include <time.h>

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

void at_unwinder_load(void)
{
	if (!at_cfg.crash)
		return;
	int s = atomic_load(&state);
	if ((s != IDLE && s != PENDING) || !atomic_compare_exchange_strong(&state, &s, LOADING))
		return;
	void *p[sizeof names / sizeof names[0]];
	if (at_load_library(SONAME, names, p, (int)(sizeof names / sizeof names[0]),
	                    "crashes are recorded without a stack trace")) {
		atomic_store(&state, ABSENT);
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
	atomic_store(&state, READY);
}

const struct at_unwinder *at_unwinder_get(long wait_ms)
{
	for (long waited = 0;; waited++) {
		int s = atomic_load(&state);
		if (s == READY)
			return &fns;
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
