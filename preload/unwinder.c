#define _GNU_SOURCE
#include "unwinder.h"

#include "config.h"
#include "log.h"

#include <dlfcn.h>
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

static int resolve(void *h)
{
#if defined(__x86_64__)
	fns.getcontext = (__typeof__(fns.getcontext))dlsym(h, NAME(unw_tdep_getcontext));
#else
#error "unwinder.c: say which libunwind symbol unw_getcontext is on this CPU"
#endif
	fns.init_local = (__typeof__(fns.init_local))dlsym(h, NAME(unw_init_local));
	fns.step = (__typeof__(fns.step))dlsym(h, NAME(unw_step));
	fns.get_reg = (__typeof__(fns.get_reg))dlsym(h, NAME(unw_get_reg));
	fns.get_proc_name = (__typeof__(fns.get_proc_name))dlsym(h, NAME(unw_get_proc_name));
	fns.get_proc_info = (__typeof__(fns.get_proc_info))dlsym(h, NAME(unw_get_proc_info));
	return fns.getcontext && fns.init_local && fns.step && fns.get_reg &&
	       fns.get_proc_name && fns.get_proc_info;
}

void at_unwinder_load(void)
{
	if (!at_cfg.crash)
		return;
	int s = atomic_load(&state);
	if ((s != IDLE && s != PENDING) || !atomic_compare_exchange_strong(&state, &s, LOADING))
		return;
	void *h = dlopen(SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h || !resolve(h)) {
		at_warn("%s: %s; crashes are recorded without a stack trace", SONAME,
		        h ? "a function is missing" : "cannot be loaded");
		atomic_store(&state, ABSENT);
		return;
	}
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
