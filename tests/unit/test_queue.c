/* The export queue at a size where its memory is mapped 2 MiB-aligned for
 * transparent huge pages: spans go through in order, many times round. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
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
	assert_int_equal(atomic_load(&at_stat_dropped), 0);
}

static void full_big_ring_drops(void **state)
{
	struct at_span s, *got[512];
	uint64_t before = atomic_load(&at_stat_dropped);
	for (int i = 0; i < QSIZE + 10; i++) {
		at_span_start(&s, "q", AT_KIND_INTERNAL);
		at_span_end(&s);
	}
	assert_int_equal(at_queue_length(), QSIZE);
	assert_int_equal(atomic_load(&at_stat_dropped) - before, 10);
	size_t n;
	while ((n = at_queue_peek(got, 512)) > 0)
		at_queue_release(n);
	assert_int_equal(at_queue_length(), 0);
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
	};
	return cmocka_run_group_tests_name("queue", tests, NULL, NULL);
}
