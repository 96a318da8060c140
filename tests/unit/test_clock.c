/* Span timestamps (preload/clock.h): the map from stamps to wall-clock
 * nanoseconds, worked by hand, and against the system clock when stamps are
 * TSC ticks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../preload/clock.h"

static uint64_t realtime(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The rate from CLOCK_MONOTONIC between the anchors, the offset from the
 * later one's REALTIME, stamps on either side of it. */
static void map_by_hand(void **state)
{
	struct at_clock_anchor first = {
	    .tsc_mono = 1000, .mono = 10000, .tsc_real = 1000, .real = 77};
	struct at_clock_anchor now = {
	    .tsc_mono = 3000, .mono = 11000, .tsc_real = 3010, .real = 5000000};
	struct at_clock_map m;
	at_clock_map_from(&m, &first, &now);
	assert_int_equal(m.mult, 1ull << 31); /* 0.5 ns a tick */
	assert_int_equal(at_clock_apply(&m, 3010), 5000000);
	assert_int_equal(at_clock_apply(&m, 4010), 5000500);
	assert_int_equal(at_clock_apply(&m, 2010), 4999500); /* before the anchor */
	/* a counter that did not move: still a map, never the identity */
	at_clock_map_from(&m, &first, &first);
	assert_true(m.mult > 0);
}

static void system_clock_is_identity(void **state)
{
	setenv("AUTOTRACE_CLOCK", "system", 1);
	at_clock_init();
	assert_int_equal(at_clock_tsc, 0);
	uint64_t a = at_stamp(), r = realtime();
	assert_true(a <= r && r - a < 1000000000ull); /* already wall-clock ns */
	struct at_clock_map m;
	at_clock_map(&m);
	assert_int_equal(at_clock_apply(&m, a), a);
	assert_int_equal(at_clock_apply(&m, 123), 123);
}

static void tsc_stamps_map_to_the_wall_clock(void **state)
{
#if defined(__x86_64__)
	setenv("AUTOTRACE_CLOCK", "tsc", 1);
	at_clock_init();
	assert_int_equal(at_clock_tsc, 1);
	uint64_t r0 = realtime();
	uint64_t a = at_stamp();
	uint64_t r1 = realtime();
	for (int i = 0; i < 1000; i++) { /* monotonic on this thread */
		uint64_t x = at_stamp();
		assert_true(x >= a);
	}
	struct timespec ts = {0, 20 * 1000000};
	nanosleep(&ts, NULL);
	uint64_t b = at_stamp();
	struct at_clock_map m;
	at_clock_map(&m);
	uint64_t an = at_clock_apply(&m, a), bn = at_clock_apply(&m, b);
	/* the read between two system clock reads (1 ms either way: the rate is
	 * known over ~20 ms here, and two reads' jitter) */
	assert_true(an + 1000000 >= r0 && an <= r1 + 1000000);
	assert_true(bn - an >= 19000000 && bn - an < 2000000000ull);
#else
	skip();
#endif
}

/* A process that may not read the TSC (PR_TSC_SIGSEGV, inherited through
 * fork and exec) at start-up: no rdtsc and no vDSO clock, whatever
 * AUTOTRACE_CLOCK asks; stamps are still the wall clock. In a child: the
 * flag cannot be cleared. */
static void forbidden_tsc_at_start(void **state)
{
#if defined(__x86_64__)
	uint64_t r0 = realtime();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0))
			_exit(3);
		setenv("AUTOTRACE_CLOCK", "tsc", 1);
		at_clock_init();
		if (at_clock_tsc || !at_clock_sys)
			_exit(4);
		uint64_t a = at_stamp();
		struct at_clock_map m;
		at_clock_map(&m);
		uint64_t an = at_clock_apply(&m, a);
		_exit(an >= r0 && an - r0 < 10000000000ull ? 0 : 5);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st)); /* not killed by SIGSEGV */
	assert_int_equal(WEXITSTATUS(st), 0);
#else
	skip();
#endif
}

static void unknown_value_is_auto(void **state)
{
	setenv("AUTOTRACE_CLOCK", "sundial", 1);
	at_clock_init(); /* warns; auto: TSC only when the kernel keeps time with it */
	uint64_t a = at_stamp();
	struct at_clock_map m;
	at_clock_map(&m);
	uint64_t an = at_clock_apply(&m, a), r = realtime();
	assert_true(an <= r + 1000000 && r - an < 1000000000ull);
	unsetenv("AUTOTRACE_CLOCK");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(map_by_hand),
	    cmocka_unit_test(system_clock_is_identity),
	    cmocka_unit_test(tsc_stamps_map_to_the_wall_clock),
	    cmocka_unit_test(forbidden_tsc_at_start),
	    cmocka_unit_test(unknown_value_is_auto),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
