/* pthread_create: a thread started while a span is current (a request being
 * handled, a curl call's callback) gets that span as its parent context.
 * The hand-off record comes from a small fixed pool, never malloc; when
 * the pool is exhausted, or nothing is current, the call is passed through
 * untouched.
 *
 * pthread_create and pthread_cancel also end the hooks' direct system calls
 * (io_direct.h) before the call: from then on a read or a send may be a
 * cancellation point that matters, and goes through libc's wrapper. */
#define _GNU_SOURCE
#include "../preload/autotrace.h"
#include "../preload/real.h"
#include "io_direct.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

AT_REAL(int, pthread_create, (pthread_t *, const pthread_attr_t *, void *(*)(void *), void *));
AT_REAL(int, pthread_cancel, (pthread_t));

#define HANDOFFS 256

struct handoff {
	_Atomic int busy;
	void *(*fn)(void *);
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

static void *trampoline(void *p)
{
	struct handoff *h = p;
	void *(*fn)(void *) = h->fn;
	void *arg = h->arg;
	at_tls.inherited = h->ctx;
	atomic_store(&h->busy, 0);
	return fn(arg);
}

AT_EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                             void *arg)
{
	at_io_direct_off();
	if (!AT_RESOLVE(pthread_create))
		return EAGAIN;
	/* only an application thread with something current hands it on */
	if (AT_LIKELY(!at_tls.cur && !at_tls.inherited.valid) || at_tls.depth || !at_on())
		return real_pthread_create(t, attr, fn, arg);
	int saved = errno;
	struct at_ctx c;
	struct handoff *h = at_current_ctx(&c) && c.valid ? take() : NULL;
	errno = saved;
	if (!h)
		return real_pthread_create(t, attr, fn, arg);
	h->fn = fn;
	h->arg = arg;
	h->ctx = c;
	int rc = real_pthread_create(t, attr, trampoline, h);
	if (rc)
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
