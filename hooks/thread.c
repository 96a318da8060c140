/* pthread_create, thrd_create: a thread started while a span is current (a
 * request being handled, a curl call's callback) gets that span as its
 * parent context. (glibc's thrd_create starts its thread without calling
 * pthread_create through the PLT: it has a hook of its own.)
 * The hand-off record comes from a small fixed pool, never malloc; when
 * the pool is exhausted, or nothing is current, the call is passed through
 * untouched.
 *
 * The three also end the hooks' direct system calls
 * (io_direct.h) before the call: from then on a read or a send may be a
 * cancellation point that matters, and goes through libc's wrapper. */
#define _GNU_SOURCE
#include "../preload/autotrace.h"
#include "../preload/real.h"
#include "io_direct.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <threads.h>

AT_REAL(int, pthread_create, (pthread_t *, const pthread_attr_t *, void *(*)(void *), void *));
AT_REAL(int, pthread_cancel, (pthread_t));
AT_REAL(int, thrd_create, (thrd_t *, thrd_start_t, void *));

#define HANDOFFS 256

struct handoff {
	_Atomic int busy;
	void *(*fn)(void *);
	thrd_start_t c11; /* thrd_create's */
	void *arg;
	struct at_ctx ctx;
};

static struct handoff pool[HANDOFFS];

static struct handoff *take(void)
{
	for (int i = 0; i < HANDOFFS; i++) {
		int expect = 0;
		if (!atomic_load_explicit(&pool[i].busy, memory_order_relaxed) &&
		    atomic_compare_exchange_strong(&pool[i].busy, &expect, 1))
			return &pool[i];
	}
	return NULL;
}

/* The new thread's side: the context in, the record back to the pool;
 * returns the argument. */
static void *arrive(struct handoff *h)
{
	void *arg = h->arg;
	at_tls.inherited = h->ctx;
	atomic_store(&h->busy, 0);
	return arg;
}

static void *trampoline(void *p)
{
	void *(*fn)(void *) = ((struct handoff *)p)->fn;
	return fn(arrive(p));
}

static int c11_trampoline(void *p)
{
	thrd_start_t fn = ((struct handoff *)p)->c11;
	return fn(arrive(p));
}

/* A record for a thread about to start, when the calling application
 * thread has something current to hand on; NULL: pass the call through. */
static struct handoff *handoff_for(void *arg)
{
	if (AT_LIKELY(!at_tls.cur && !at_tls.inherited.valid) || at_tls.depth || !at_on())
		return NULL;
	int saved = errno;
	struct at_ctx c;
	struct handoff *h = at_current_ctx(&c) && c.valid ? take() : NULL;
	errno = saved;
	if (h) {
		h->arg = arg;
		h->ctx = c;
	}
	return h;
}

AT_EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                             void *arg)
{
	at_io_direct_off();
	if (!AT_RESOLVE(pthread_create))
		return EAGAIN;
	struct handoff *h = handoff_for(arg);
	if (!h)
		return real_pthread_create(t, attr, fn, arg);
	h->fn = fn;
	int rc = real_pthread_create(t, attr, trampoline, h);
	if (rc)
		atomic_store(&h->busy, 0);
	return rc;
}

AT_EXPORT int thrd_create(thrd_t *t, thrd_start_t fn, void *arg)
{
	at_io_direct_off();
	if (!AT_RESOLVE(thrd_create))
		return thrd_error;
	struct handoff *h = handoff_for(arg);
	if (!h)
		return real_thrd_create(t, fn, arg);
	h->c11 = fn;
	int rc = real_thrd_create(t, c11_trampoline, h);
	if (rc != thrd_success)
		atomic_store(&h->busy, 0);
	return rc;
}

AT_EXPORT int pthread_cancel(pthread_t t)
{
	at_io_direct_off();
	if (!AT_RESOLVE(pthread_cancel))
		return ESRCH;
	return real_pthread_cancel(t);
}
