/* Shared by the bench loop programs. Every loop program runs a warm-up
 * outside bench_loop() and then bench_loop(n), so that callgrind's
 * --toggle-collect=bench_loop counts exactly the n measured iterations on
 * the calling thread and nothing the exporter thread does. */
#ifndef BENCH_H
#define BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RUSAGE_THREAD */
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define NOINLINE __attribute__((noinline))

static inline double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The calling thread's CPU time (user + system), ns. */
static inline double bench_thread_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double bench_cpu0;
static long bench_flt0, bench_pflt0;

/* Minor page faults so far: of the calling thread (RUSAGE_THREAD) or of the
 * whole process. */
static inline long bench_minflt(int who)
{
	struct rusage ru;
	return getrusage(who, &ru) ? 0 : ru.ru_minflt;
}

/* The start of the measured loop: its wall clock (returned) and the calling
 * thread's CPU time (for bench_report). */
static inline double bench_begin(void)
{
	bench_flt0 = bench_minflt(RUSAGE_THREAD);
	bench_pflt0 = bench_minflt(RUSAGE_SELF);
	bench_cpu0 = bench_thread_cpu();
	return bench_now();
}

static inline long bench_arg(int argc, char **argv, int i, long def)
{
	return argc > i ? atol(argv[i]) : def;
}

/* A line of /proc/self/status in kB (VmRSS, VmHWM), -1 if absent. */
static inline long bench_status_kb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	size_t kl = strlen(key);
	while (f && fgets(line, sizeof line, f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			v = atol(line + kl + 1);
	if (f)
		fclose(f);
	return v;
}

/* One line run.py parses: ns per iteration of the measured loop, the CPU
 * time per iteration of the thread that ran it (since bench_begin: the
 * application thread alone, not the exporter's), the minor page faults
 * during the loop of that thread and of the whole process, and the peak
 * resident memory of the whole process. */
static inline void bench_report(long n, double t0, double t1)
{
	double d = (double)(n ? n : 1);
	double cpu = bench_cpu0 ? (bench_thread_cpu() - bench_cpu0) / d : -1.0;
	long flt = bench_minflt(RUSAGE_THREAD) - bench_flt0;
	long pflt = bench_minflt(RUSAGE_SELF) - bench_pflt0;
	printf("iters=%ld ns_per_iter=%.1f app_cpu_ns_per_iter=%.1f app_minflt=%ld proc_minflt=%ld "
	       "hwm_kb=%ld\n",
	       n, (t1 - t0) / d, cpu, flt, pflt, bench_status_kb("VmHWM"));
	fflush(stdout);
}

static inline void bench_die(const char *what)
{
	perror(what);
	exit(2);
}

/* The walk BENCH_EVICT_KB asks for before each timed call: that many KiB,
 * one store per cache line, which pushes the call's code and data out of L1
 * and L2 as a server's turn on the same CPU does in a client loop. */
struct bench_evict {
	long bytes;
	volatile char *buf;
};

static inline void bench_evict_init(struct bench_evict *e)
{
	e->bytes = getenv("BENCH_EVICT_KB") ? atol(getenv("BENCH_EVICT_KB")) * 1024 : 0;
	e->buf = e->bytes > 0 ? calloc(1, (size_t)e->bytes) : NULL;
	if (e->bytes > 0 && !e->buf)
		bench_die("calloc");
}

static inline void bench_evict(const struct bench_evict *e)
{
	for (long j = 0; e->buf && j < e->bytes; j += 64)
		e->buf[j]++;
}

/* qsort's order for latencies */
static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

#endif
