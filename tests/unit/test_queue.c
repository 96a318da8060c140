/* The export queue at a size of several MiB: spans go through in order,
 * many times round. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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

/* AUTOTRACE_EXPORTER_MODE=process: the ring in a memfd, spans pushed in
 * this process and consumed in another that mapped it by its descriptor
 * (as the exporter process does, reporter/helper.c), every one, in order.
 * Last: it replaces the ring. */
#define CROSS 3000

static void shared_ring_between_processes(void **state)
{
	at_queue_unmap();
	assert_int_equal(at_queue_init_shared(256, 16, 4096), 0);
	size_t extra;
	assert_non_null(at_queue_extra(&extra));
	assert_true(extra >= 4096);
	int fd = dup(at_queue_shared_fd());
	assert_true(fd >= 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* the consumer: its own mapping of the same memory */
		at_queue_unmap();
		if (at_queue_attach(fd))
			_exit(2);
		struct at_span *got[64];
		long next = 0;
		while (next < CROSS) {
			size_t n = at_queue_peek(got, 64);
			if (!n) {
				at_queue_wait(2000);
				if (!at_queue_length() && !(n = at_queue_peek(got, 64)))
					_exit(3); /* two seconds and nothing: no wake-up */
				continue;
			}
			for (size_t k = 0; k < n; k++)
				if (got[k]->attrs[0].v.i != next++)
					_exit(4);
			at_queue_release(n);
		}
		_exit(0);
	}
	close(fd);
	static const char key[] = "i";
	struct at_span s;
	for (long i = 0; i < CROSS;) {
		at_span_start(&s, "q", AT_KIND_INTERNAL);
		at_span_set_int(&s, key, i);
		at_span_end(&s); /* into the shared ring */
		i++;
		while (at_queue_length() > 200)
			usleep(100); /* the other side drains */
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* A descriptor that is not a ring is refused, not mapped and trusted. */
static void attach_refuses_what_is_not_a_ring(void **state)
{
	int fd = (int)syscall(SYS_memfd_create, "not-a-ring", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 100), 0);
	assert_int_equal(at_queue_attach(fd), -1);
	assert_int_equal(ftruncate(fd, 1 << 20), 0); /* zeros: capacity 0 */
	assert_int_equal(at_queue_attach(fd), -1);
	close(fd);
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
	    cmocka_unit_test(attach_refuses_what_is_not_a_ring),
	    cmocka_unit_test(shared_ring_between_processes),
	};
	return cmocka_run_group_tests_name("queue", tests, NULL, NULL);
}
