/* The export queue at a size where its memory is mapped 2 MiB-aligned for
 * transparent huge pages: spans go through in order, many times round. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../preload/autotrace.h"
#include "../../reporter/queue.h"

#define QSIZE 4096 /* about 9 MiB of slots */

static void big_ring_keeps_order(void **state)
{
	assert_true(at_on());
	static const char key[] = "i";
	struct at_span s, *got[512];
	long next_out = 0;
	for (long i = 0; i < 5 * QSIZE; i++) {
		at_span_start(&s, "q", AT_KIND_INTERNAL);
		at_span_set_int(&s, key, i);
		at_span_end(&s);
		if (at_queue_length() < 3000)
			continue;
		size_t n = at_queue_peek(got, 512); /* the consumer lags behind */
		for (size_t k = 0; k < n; k++)
			assert_int_equal(got[k]->attrs[0].v.i, next_out++);
		at_queue_release(n);
	}
	size_t n;
	while ((n = at_queue_peek(got, 512)) > 0) {
		for (size_t k = 0; k < n; k++)
			assert_int_equal(got[k]->attrs[0].v.i, next_out++);
		at_queue_release(n);
	}
	assert_int_equal(next_out, 5 * QSIZE);
	assert_int_equal(at_queue_dropped(), 0);
}

static void full_big_ring_drops(void **state)
{
	struct at_span s, *got[512];
	uint64_t before = at_queue_dropped();
	for (int i = 0; i < QSIZE + 10; i++) {
		at_span_start(&s, "q", AT_KIND_INTERNAL);
		at_span_end(&s);
	}
	assert_int_equal(at_queue_length(), QSIZE);
	assert_int_equal(at_queue_dropped() - before, 10);
	size_t n;
	while ((n = at_queue_peek(got, 512)) > 0)
		at_queue_release(n);
	assert_int_equal(at_queue_length(), 0);
}

/* Producers dropping at once, on a full ring: every drop is counted (the
 * count is kept in per-thread shards and summed). */
static void *drop_many(void *arg)
{
	struct at_span s;
	for (int i = 0; i < 5000; i++) {
		at_span_start(&s, "q", AT_KIND_INTERNAL);
		at_span_end(&s);
	}
	return arg;
}

static void concurrent_drops_all_counted(void **state)
{
	struct at_span s, *got[512];
	for (int i = 0; i < QSIZE; i++) {
		at_span_start(&s, "q", AT_KIND_INTERNAL);
		at_span_end(&s);
	}
	assert_int_equal(at_queue_length(), QSIZE);
	uint64_t before = at_queue_dropped();
	pthread_t t[8];
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, drop_many, NULL), 0);
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(at_queue_dropped() - before, 8 * 5000);
	size_t n;
	while ((n = at_queue_peek(got, 512)) > 0)
		at_queue_release(n);
}

int main(int argc, char **argv)
{
	/* the runtime reads its configuration in a constructor: set it, start again */
	if (!getenv("OTEL_BSP_MAX_QUEUE_SIZE")) {
		setenv("OTEL_TRACES_EXPORTER", "none", 1);
		setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4096", 1);
		setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512", 1);
		setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000", 1);
		execv("/proc/self/exe", argv);
		return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(big_ring_keeps_order),
	    cmocka_unit_test(full_big_ring_drops),
	    cmocka_unit_test(concurrent_drops_all_counted),
	};
	return cmocka_run_group_tests_name("queue", tests, NULL, NULL);
}
