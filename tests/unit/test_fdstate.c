/* The connection slot pool (hooks/fdstate.c): a freed slot is the next one
 * taken, so that a process making connection after connection keeps using
 * the same few slots; every slot in use is visited at exit, and only those;
 * threads allocating and freeing at once never share a slot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

#include "../../hooks/fdstate.h"

static struct at_conn *seen[256];
static int nseen;

static void visit(struct at_conn *c)
{
	if (nseen < 256)
		seen[nseen] = c;
	nseen++;
}

static int visited(struct at_conn *c)
{
	for (int i = 0; i < nseen && i < 256; i++)
		if (seen[i] == c)
			return 1;
	return 0;
}

static void walk(void)
{
	nseen = 0;
	at_conn_each(visit);
}

static void freed_slot_is_taken_again(void **state)
{
	(void)state;
	struct at_conn *a = at_conn_alloc(), *b = at_conn_alloc(), *c = at_conn_alloc();
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_true(a != b && b != c && a != c);
	assert_true(atomic_load(&a->inuse) && atomic_load(&b->inuse) && atomic_load(&c->inuse));
	at_conn_free(b);
	assert_int_equal(atomic_load(&b->inuse), 0);
	struct at_conn *d = at_conn_alloc();
	assert_ptr_equal(d, b);
	walk();
	assert_int_equal(nseen, 3);
	assert_true(visited(a) && visited(c) && visited(d));
	/* one connection after another: always the same slot */
	at_conn_free(d);
	for (int i = 0; i < 10000; i++) {
		struct at_conn *e = at_conn_alloc();
		assert_ptr_equal(e, b);
		at_conn_free(e);
	}
	at_conn_free(a);
	at_conn_free(c);
	walk();
	assert_int_equal(nseen, 0);
}

static void slots_across_chunks(void **state)
{
	(void)state;
	struct at_conn *c[100];
	for (int i = 0; i < 100; i++) { /* more than three chunks of 32 */
		c[i] = at_conn_alloc();
		assert_non_null(c[i]);
		for (int j = 0; j < i; j++)
			assert_true(c[i] != c[j]);
	}
	walk();
	assert_int_equal(nseen, 100);
	for (int i = 0; i < 100; i++)
		assert_true(visited(c[i]));
	for (int i = 0; i < 100; i += 2)
		at_conn_free(c[i]);
	walk();
	assert_int_equal(nseen, 50);
	for (int i = 0; i < 100; i++)
		assert_int_equal(visited(c[i]), i % 2);
	/* the freed ones are taken again before any new slot */
	for (int i = 0; i < 50; i++) {
		struct at_conn *n = at_conn_alloc();
		int found = 0;
		for (int j = 0; j < 100; j += 2)
			found |= n == c[j];
		assert_true(found);
	}
	for (int i = 0; i < 100; i++)
		at_conn_free(c[i]);
	walk();
	assert_int_equal(nseen, 0);
}

#define THREADS 4
#define ROUNDS 20000
static _Atomic int clashes;

static void *churn(void *arg)
{
	int me = (int)(intptr_t)arg;
	for (int i = 0; i < ROUNDS; i++) {
		struct at_conn *c = at_conn_alloc();
		if (!c) {
			atomic_fetch_add(&clashes, 1);
			continue;
		}
		c->fd = me;
		if (i % 64 == 0)
			sched_yield();
		if (c->fd != me) /* another thread was handed the same slot */
			atomic_fetch_add(&clashes, 1);
		at_conn_free(c);
	}
	return NULL;
}

static void threads_never_share_a_slot(void **state)
{
	(void)state;
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn, (void *)(intptr_t)(i + 1)), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&clashes), 0);
	walk();
	assert_int_equal(nseen, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(freed_slot_is_taken_again),
	    cmocka_unit_test(slots_across_chunks),
	    cmocka_unit_test(threads_never_share_a_slot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
