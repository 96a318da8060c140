#ifndef AT_CLOCK_H
#define AT_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Wall-clock nanoseconds since the epoch (vDSO, no syscall). */
static inline uint64_t at_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t at_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t at_mono_ms(void)
{
	return at_mono_ns() / 1000000ull;
}

/* CPU time of the calling thread (a system call, not the vDSO: for
 * counting per batch, never per span). */
static inline uint64_t at_thread_cpu_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
