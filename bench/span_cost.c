/* The span hot path without any I/O, linked against libatcore.a: a fake
 * hook that does what a Redis or MySQL hook does (enter, start, caller,
 * five attributes, end, leave) around a call that does nothing. It gives
 * the app-thread floor per span, the behaviour when producers outrun the
 * exporter (drops, latency), the scaling with producer threads and the
 * memory the queue and exporter add. "leaf" does what the Redis and MySQL
 * hooks do now: a leaf span (preload/leaf.h) and, as its one raw attribute,
 * a PING captured with its connection's facts (hooks/redis_cmd.h).
 *
 *   span_cost N THREADS [db|minimal|leaf]
 *
 * Prints one line of key=value figures. The exporter is configured by the
 * usual environment (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_EXPORTER). */
// LIBS: ATCORE
#define _GNU_SOURCE
#include "bench.h"

#include "../preload/autotrace.h"
#include "../preload/leaf.h"
#include "../hooks/redis_cmd.h"
#include "../reporter/exporter.h"
#include "../reporter/queue.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

static int minimal, leaf;
static double pace_ns; /* BENCH_PACE_NS: one span per this many ns, below the exporter's rate */

static void pace(double *next)
{
	if (pace_ns <= 0)
		return;
	*next += pace_ns;
	while (bench_now() < *next)
		;
}

static NOINLINE int real_call(int x)
{
	__asm__ volatile("" ::: "memory");
	return x;
}

/* Shaped like hooks/redis.c's sync_command. */
static NOINLINE int leaf_call(int x)
{
	if (!at_enter())
		return real_call(x);
	int saved = errno;
	struct at_leaf l;
	if (!at_leaf_begin(&l, AT_KIND_CLIENT, (uintptr_t)__builtin_return_address(0))) {
		errno = saved;
		int rc = real_call(x);
		at_leave();
		return rc;
	}
	char buf[AT_REDIS_CAP_MAX];
	size_t n = at_redis_cap_words(buf, sizeof buf, at_redis_cap_head(0, 9, 6379, 0),
	                              "127.0.0.1", 9, "PING");
	at_leaf_raw(&l, "db.query.text", AT_RENDER_REDIS, buf, n);
	errno = saved;
	int rc = real_call(x);
	saved = errno;
	at_leaf_end(&l);
	at_leave();
	errno = saved;
	return rc;
}

/* Shaped like hooks/curl.c: the work a database hook did on the app thread
 * before leaf spans. */
static NOINLINE int traced_call(int x)
{
	if (leaf)
		return leaf_call(x);
	if (!at_enter())
		return real_call(x);
	int saved = errno;
	struct at_span s;
	at_span_start(&s, "PING", AT_KIND_CLIENT);
	AT_SPAN_CALLER(&s);
	errno = saved;
	int rc = real_call(x);
	saved = errno;
	if (s.recording && !minimal) {
		/* as the hooks do: a literal by pointer, a connection's address
		 * with its known length, three other strings copied */
		at_span_set_lit(&s, "db.system.name", "redis");
		at_span_set_strn(&s, "db.operation.name", "PING", 4);
		at_span_set_strn(&s, "db.query.text", "PING", 4);
		at_span_set_strn(&s, "server.address", "127.0.0.1", 9);
		at_span_set_int(&s, "server.port", 6379);
	}
	at_span_end(&s);
	at_leave();
	errno = saved;
	return rc;
}

NOINLINE void bench_loop(long n)
{
	double next = bench_now();
	for (long i = 0; i < n; i++) {
		traced_call((int)i);
		pace(&next);
	}
}

struct worker {
	pthread_t t;
	long n;
	double cpu_ns;
};

static double thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	double c0 = thread_cpu_ns();
	bench_loop(w->n);
	w->cpu_ns = thread_cpu_ns() - c0;
	return NULL;
}

int main(int argc, char **argv)
{
	long n = bench_arg(argc, argv, 1, 1000000);
	int nt = (int)bench_arg(argc, argv, 2, 1);
	minimal = argc > 3 && !strcmp(argv[3], "minimal");
	leaf = argc > 3 && !strcmp(argv[3], "leaf");
	if (getenv("BENCH_PACE_NS"))
		pace_ns = atof(getenv("BENCH_PACE_NS"));
	long rss0 = bench_status_kb("VmRSS");
	for (int i = 0; i < 1000; i++) /* starts the exporter thread */
		traced_call(i);

	struct worker *w = calloc((size_t)nt, sizeof *w);
	double t0 = bench_now();
	if (nt == 1) {
		w[0].n = n;
		work(&w[0]);
	} else {
		for (int i = 0; i < nt; i++) {
			w[i].n = n / nt;
			pthread_create(&w[i].t, NULL, work, &w[i]);
		}
		for (int i = 0; i < nt; i++)
			pthread_join(w[i].t, NULL);
	}
	double wall = bench_now() - t0;
	double cpu = 0;
	long total = 0;
	for (int i = 0; i < nt; i++) {
		cpu += w[i].cpu_ns;
		total += w[i].n;
	}

	/* latency of single calls while the exporter is as loaded as above;
	 * with BENCH_EVICT_KB, each after the walk of bench_evict */
	enum { LAT = 20000 };
	static double lat[LAT];
	struct bench_evict ev;
	bench_evict_init(&ev);
	int nlat = ev.buf ? LAT / 10 : LAT;
	double next = bench_now();
	for (int i = 0; i < nlat; i++) {
		bench_evict(&ev);
		double a = bench_now();
		traced_call(i);
		lat[i] = bench_now() - a;
		pace(&next);
	}
	qsort(lat, (size_t)nlat, sizeof lat[0], bench_cmp_double);

	printf("iters=%ld threads=%d ns_per_iter=%.1f cpu_ns_per_span=%.1f spans_per_s=%.0f "
	       "lat_p50=%.0f lat_p99=%.0f lat_max=%.0f pushed=%llu dropped=%llu exported=%llu "
	       "rss0_kb=%ld rss_kb=%ld hwm_kb=%ld\n",
	       total, nt, wall / (double)total, cpu / (double)total, (double)total / wall * 1e9,
	       lat[nlat / 2], lat[nlat * 99 / 100], lat[nlat - 1],
	       (unsigned long long)at_queue_pushed(), (unsigned long long)at_queue_dropped(),
	       (unsigned long long)atomic_load(&at_stat_exported), rss0, bench_status_kb("VmRSS"),
	       bench_status_kb("VmHWM"));
	fflush(stdout);
	return 0;
}
