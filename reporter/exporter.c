/* One thread takes batches off the queue and hands them to every configured
 * backend. It blocks all signals (the application's handlers must never run
 * here) and runs with the hook depth held up, so its own sockets and writes
 * are never traced. */
#define _GNU_SOURCE
#include "exporter.h"

#include "../preload/autotrace.h"
#include "../preload/callsite.h"
#include "../preload/clock.h"
#include "../preload/config.h"
#include "../preload/log.h"
#include "../preload/real.h"
#include "../preload/unwinder.h"
#include "backend.h"
#include "finalize.h"
#include "helper.h"
#include "queue.h"
#include "tls.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_BACKENDS 8

_Atomic int at_exporter_started;
#define started at_exporter_started
static struct at_backend *backends[MAX_BACKENDS];
static int nbackends;
static struct at_span **batch;
/* The flush handshake lives in the ring's control block: with the exporter
 * in another process (helper.c), both sides see the same words. */
#define flush_req (at_queue_ctl()->flush_req)
#define flush_done (at_queue_ctl()->flush_done)
#define flush_deadline (at_queue_ctl()->flush_deadline)
_Atomic uint64_t at_stat_exported;
/* This process exports for another (helper.c): pointers into the shim's
 * image are moved, and the batch is drained whole when the app has gone. */
static int serving, draining;
/* Its app gone, an exporter process takes no longer than the app's own
 * exit flush would have (AUTOTRACE_EXIT_TIMEOUT). */
static uint64_t drain_deadline;
/* The exporter thread's own CPU time, as of its last batch: what tracing
 * costs the host beyond the hooks (info-level stats, the bench), and of it
 * the rendering of deferred attributes and call sites, and the encoding
 * (the rest of the backends' time is the sending: system calls). */
static _Atomic uint64_t cpu_ns, render_ns, backends_ns;
_Atomic uint64_t at_stat_encode_ns;

AT_REAL(int, pthread_create, (pthread_t *, const pthread_attr_t *, void *(*)(void *), void *));
/* hooks/io_direct.c; absent where the hooks are not linked (unit tests) */
void at_io_direct_init(void) __attribute__((weak));

static void setup_backends(void)
{
	nbackends = 0;
	struct at_backend *(*make[5])(void);
	int k = 0;
	if (at_cfg.exporters & AT_EXP_OTLP)
		make[k++] = at_backend_otlp_new;
	if (at_cfg.exporters & AT_EXP_JAEGER) /* JAEGER_ENDPOINT overrides the agent */
		make[k++] = at_cfg.jaeger_endpoint[0] ? at_backend_jaeger_http_new
		                                      : at_backend_jaeger_udp_new;
	if (at_cfg.exporters & AT_EXP_ZIPKIN)
		make[k++] = at_backend_zipkin_new;
	if (at_cfg.exporters & AT_EXP_CONSOLE)
		make[k++] = at_backend_console_new;
	if (at_cfg.exporters & AT_EXP_FILE)
		make[k++] = at_backend_file_new;
	for (int i = 0; i < k && nbackends < MAX_BACKENDS; i++) {
		struct at_backend *b = make[i]();
		if (b)
			backends[nbackends++] = b;
	}
	at_debug("exporter started: %d backend(s), endpoint %s", nbackends, at_cfg.otlp_endpoint);
}

#define OPEN_AFTER_MS 2

/* When an export (or a connect ahead) starting now must give up:
 * OTEL_BSP_EXPORT_TIMEOUT or OTEL_EXPORTER_OTLP_TIMEOUT, the sooner. */
static uint64_t export_deadline(void)
{
	long t = at_cfg.bsp_export_timeout_ms < at_cfg.otlp_timeout_ms ? at_cfg.bsp_export_timeout_ms
	                                                                 : at_cfg.otlp_timeout_ms;
	return at_mono_ms() + (uint64_t)t;
}

/* The collectors connected to ahead (a TLS handshake too: 4-6 ms of
 * OpenSSL's work in a process), while the program goes on, rather than in
 * the first export: for a short program, in its exit flush. */
static void open_backends(void)
{
	uint64_t deadline = export_deadline();
	for (int i = 0; i < nbackends; i++)
		if (backends[i]->open)
			backends[i]->open(backends[i], deadline);
}

/* not inlined: the bench counts the exporter's instructions per span with
 * callgrind --toggle-collect=export_all */
static AT_NOINLINE void export_all(void)
{
	size_t n;
	while (at_queue_length()) {
		/* each span rendered as it is copied out (finalize.c), its
		 * stamps against one anchor taken before the batch is read */
		struct at_prepare prep = {.relocate = serving};
		at_clock_map(&prep.clk);
		uint64_t t0 = at_thread_cpu_ns();
		n = at_queue_peek_each(batch, (size_t)at_cfg.bsp_batch_size, at_span_prepare, &prep);
		if (!n)
			break;
		/* The batch is the exporter's own copies now: its records go
		 * back to the ring before the export, not after it. While
		 * this thread renders and copies, on the app's CPU the app
		 * does not run, so the ring is mostly empty here and its next
		 * record starts again at unit 0 (queue.c): the app keeps
		 * writing over the same few pages, in its caches, instead of
		 * going round the whole ring (4.6 MiB; a new page, a fault, per
		 * 32 Redis spans on the first lap). A flush waits for the
		 * batch through inflight. */
		struct at_queue_ctl *qc = at_queue_ctl();
		atomic_store_explicit(&qc->inflight, (uint32_t)n, memory_order_relaxed);
		at_queue_release(n); /* its tail's store-release orders inflight */
		uint64_t deadline = export_deadline();
		if (atomic_load(&flush_req) != atomic_load(&flush_done)) {
			uint64_t fd = atomic_load(&flush_deadline);
			if (fd && fd < deadline)
				deadline = fd;
		}
		if (draining && drain_deadline < deadline)
			deadline = drain_deadline;
		uint64_t t1 = at_thread_cpu_ns();
		size_t delivered = 0;
		for (int i = 0; i < nbackends; i++) {
			size_t d = backends[i]->export_batch(backends[i], batch, n, deadline);
			if (d > delivered)
				delivered = d;
		}
		atomic_fetch_add_explicit(&render_ns, t1 - t0, memory_order_relaxed);
		atomic_fetch_add_explicit(&backends_ns, at_thread_cpu_ns() - t1,
		                          memory_order_relaxed);
		atomic_fetch_add(&at_stat_exported, delivered);
		atomic_store(&qc->inflight, 0);
		/* a remainder smaller than a batch waits for the schedule delay
		 * (or a flush): draining it at once degenerates, under a steady
		 * trickle, into one POST per span or two */
		if (!draining && atomic_load(&flush_req) == atomic_load(&flush_done) &&
		    at_queue_length() < (size_t)at_cfg.bsp_batch_size)
			break;
	}
}

/* The counts an app prints at exit (info level), published in the shared
 * control block by an exporter process. */
static void publish_stats(void)
{
	struct at_queue_ctl *c = at_queue_ctl();
	atomic_store_explicit(&c->exported, atomic_load(&at_stat_exported), memory_order_relaxed);
	atomic_store_explicit(&c->cpu_ns, atomic_load(&cpu_ns), memory_order_relaxed);
	atomic_store_explicit(&c->render_ns, atomic_load(&render_ns), memory_order_relaxed);
	atomic_store_explicit(&c->backends_ns, atomic_load(&backends_ns), memory_order_relaxed);
	atomic_store_explicit(&c->encode_ns, atomic_load(&at_stat_encode_ns), memory_order_relaxed);
}

/* An exporter process wakes at least this often to see whether its app is
 * still there (helper.c): it ends soon after the app does. */
#define HELPER_POLL_MS 200

/* What the first span asks for and is not urgent, done by a short-lived
 * thread of its own at the lowest priority (nice 19), 10 ms after the first
 * span (SETTLE_DELAY_MS), so that it holds up neither the exports nor the
 * exit flush (a slow libunwind load, a cold disk), nor the app's first
 * request: dlopen holds the loader's lock throughout, which that request's
 * own first look-ups (dlsym) need too, and on one CPU the work took the CPU
 * from it (~0.5 ms more for it: bench section 6, first traced call). A
 * process that ends before then (a CGI program, a command) does not pay for
 * it. The work: libunwind, for a crash in the app's spans (AUTOTRACE_CRASH;
 * no thread without it). A crash meanwhile waits for the load (crash.c, at
 * most 100 ms). Inline on the exporter thread if this thread cannot start. */
#define SETTLE_DELAY_MS 10

/* Threads of the shim's started and not yet named: until a thread runs,
 * /proc shows it with the program's name (hooks/ns.c tells the shim's
 * threads from the app's by name). */
static _Atomic int unnamed;

int at_exporter_unnamed(void)
{
	return atomic_load(&unnamed);
}

/* Named by the thread itself: one prctl on it, where naming it from the
 * app's thread took three system calls there (open, write, close of
 * /proc/self/task/N/comm). */
static void name_self(const char *name)
{
#ifdef __GLIBC__
	pthread_setname_np(pthread_self(), name);
#endif
	atomic_fetch_sub(&unnamed, 1);
}

static void *settle(void *arg)
{
	(void)arg;
	at_tls.depth = 1;
	name_self("autotrace-bg");
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19); /* this thread only */
	struct timespec ts = {0, SETTLE_DELAY_MS * 1000000L};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	at_unwinder_load();
	return NULL;
}

/* A detached thread of the shim's (256 KiB of stack), started with every
 * signal blocked, which it keeps: the app's signals go to the app's
 * threads. Returns pthread_create's error. */
static int start_thread(void *(*fn)(void *))
{
	pthread_t t;
	pthread_attr_t attr;
	sigset_t all, old;
	sigfillset(&all);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_sigmask(SIG_SETMASK, &all, &old); /* the new thread inherits this mask */
	atomic_fetch_add(&unnamed, 1);
	int rc = AT_RESOLVE(pthread_create) ? real_pthread_create(&t, &attr, fn, NULL) : ENOSYS;
	if (rc)
		atomic_fetch_sub(&unnamed, 1);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return rc;
}

/* at_exporter_park's request, and the thread's answer: it leaves its loop
 * once its flush is done. */
enum { PARK_NONE, PARK_REQ, PARK_EXITING };
static _Atomic int park;

static void *run(void *arg)
{
	(void)arg;
	at_tls.depth = 1; /* nothing this thread does is traced */
	if (!serving) /* started by start_thread (an exporter process runs it itself) */
		name_self("autotrace-exp");
	if (!serving && at_cfg.crash && start_thread(settle))
		at_unwinder_load();
	/* the backends connect OPEN_AFTER_MS after the thread starts (the
	 * first export connects, if it comes first): not at once, when on a
	 * program's one CPU the connect would run inside its first call */
	uint64_t open_at = 0;
	if (!nbackends) { /* a thread started again after a park keeps them */
		setup_backends();
		open_at = at_mono_ms() + OPEN_AFTER_MS;
	}
	for (;;) {
		uint64_t due = at_mono_ms() + (uint64_t)at_cfg.bsp_delay_ms;
		for (;;) {
			/* at least once a round, and at each wake while it waits
			 * (rate-limited there: helper.c) */
			if (serving)
				at_helper_watch();
			uint32_t req = atomic_load(&flush_req);
			if (req != atomic_load(&flush_done))
				break;
			if (at_queue_length() >= (size_t)at_cfg.bsp_batch_size)
				break;
			uint64_t now = at_mono_ms();
			if (now >= due)
				break;
			if (open_at && now >= open_at) {
				open_backends();
				open_at = 0;
				continue;
			}
			long wait = (long)((open_at && open_at < due ? open_at : due) - now);
			if (serving) {
				if (at_helper_app_gone()) {
					draining = 1;
					drain_deadline =
					    at_mono_ms() + (uint64_t)at_cfg.exit_timeout_ms;
					break;
				}
				if (wait > HELPER_POLL_MS)
					wait = HELPER_POLL_MS;
			}
			at_queue_wait(wait);
		}
		uint32_t req = atomic_load(&flush_req);
		open_at = 0;
		export_all();
		atomic_store_explicit(&cpu_ns, at_thread_cpu_ns(), memory_order_relaxed);
		if (serving)
			publish_stats();
		/* at_exporter_park: decided before the flush is said done, which
		 * is when the program looks (it was asked before the flush) */
		int expect = PARK_REQ, leave = atomic_load(&park) == PARK_REQ &&
		                                atomic_compare_exchange_strong(&park, &expect,
		                                                               PARK_EXITING);
		if (req != atomic_load(&flush_done)) {
			atomic_store(&flush_done, req);
			syscall(SYS_futex, &flush_done, FUTEX_WAKE | at_queue_futex_private, 64,
			        NULL, NULL, 0);
		}
		if (draining || leave)
			return NULL;
	}
	return NULL;
}

void at_exporter_serve(void)
{
	serving = 1;
	if (!batch)
		batch = calloc((size_t)at_cfg.bsp_batch_size, sizeof *batch);
	if (!batch)
		return;
	atomic_store(&started, 1);
	run(NULL);
}

void at_exporter_start(void)
{
	int expect = 0;
	if (!atomic_compare_exchange_strong(&started, &expect, 1))
		return;
	int saved = errno;
	if (at_queue_shared_fd() >= 0) {
		/* process mode: the exporter runs in a helper process; if it
		 * cannot be started, in a thread after all */
		const char *why;
		if (!at_helper_spawn(&why)) {
			at_unwinder_load(); /* no thread of ours to do it */
			errno = saved;
			return;
		}
		if (why) /* the helper would be the program's own child */
			at_warn("AUTOTRACE_EXPORTER_MODE=process: %s: the exporter process would "
			        "become its child; exporting from a thread instead",
			        why);
		else
			at_warn("cannot start the exporter process; exporting from a thread instead");
	}
	if (!batch)
		batch = calloc((size_t)at_cfg.bsp_batch_size, sizeof *batch);
	/* the thread about to start makes glibc take its multi-threaded
	 * paths: the I/O hooks take the cancellation switches back off (not
	 * with an exporter process: glibc's single-threaded wrapper is the
	 * system call already) */
	if (at_io_direct_init)
		at_io_direct_init();
	at_unwinder_request(); /* the thread has it loaded: a crash meanwhile waits */
	at_tls_prepare();
	int rc = batch ? start_thread(run) : ENOMEM;
	if (rc) {
		errno = saved;
		at_disable("cannot start the exporter thread");
		return;
	}
	errno = saved;
}

int at_exporter_app_waits(void)
{
	return atomic_load(&flush_req) != atomic_load(&flush_done);
}

int at_exporter_pause(int ms)
{
	uint32_t req = atomic_load(&flush_req);
	int waits = req != atomic_load(&flush_done);
	uint64_t until = at_mono_ms() + (uint64_t)(ms > 0 ? ms : 0);
	for (;;) {
		uint64_t now = at_mono_ms();
		if (now >= until)
			return waits;
		uint64_t left = until - now;
		struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
		if (waits) {
			nanosleep(&ts, NULL);
			continue;
		}
		/* at_exporter_flush wakes this wait */
		syscall(SYS_futex, &flush_req, FUTEX_WAIT | at_queue_futex_private, req, &ts, NULL,
		        0);
		if (atomic_load(&flush_req) != req)
			return 1;
	}
}

static uint64_t last_flush_ns; /* how long the last flush waited (info-level stats) */

/* Asks the thread for a round of its loop, exporting everything queued, and
 * waits for it, at most timeout_ms. */
static void flush_and_wait(long timeout_ms)
{
	uint64_t deadline = at_mono_ms() + (uint64_t)timeout_ms;
	atomic_store(&flush_deadline, deadline);
	uint32_t req = atomic_fetch_add(&flush_req, 1) + 1;
	at_queue_wake();
	/* and an export pausing before a retry (at_exporter_pause) */
	syscall(SYS_futex, &flush_req, FUTEX_WAKE | at_queue_futex_private, 1, NULL, NULL, 0);
	for (;;) {
		uint32_t done = atomic_load(&flush_done);
		if ((int32_t)(done - req) >= 0)
			break;
		uint64_t now = at_mono_ms();
		if (now >= deadline)
			break;
		uint64_t left = deadline - now;
		struct timespec ts = {(time_t)(left / 1000), (long)(left % 1000) * 1000000L};
		syscall(SYS_futex, &flush_done, FUTEX_WAIT | at_queue_futex_private, done, &ts,
		        NULL, 0);
	}
}

void at_exporter_flush(long timeout_ms)
{
	if (!atomic_load(&started) || timeout_ms <= 0)
		return;
	/* tail before inflight: a batch released is seen in flight */
	if (at_queue_length() == 0 && atomic_load(&at_queue_ctl()->inflight) == 0)
		return;
	int saved = errno;
	if (at_helper_spawned() && at_helper_dead()) {
		errno = saved;
		return; /* its spans are lost; nobody would answer */
	}
	uint64_t t0 = at_mono_ns();
	flush_and_wait(timeout_ms);
	last_flush_ns = at_mono_ns() - t0;
	errno = saved;
}

int at_exporter_park(long timeout_ms)
{
	if (!atomic_load(&started) || serving || at_helper_spawned())
		return 0; /* no thread of ours */
	int saved = errno;
	atomic_store(&park, PARK_REQ);
	flush_and_wait(timeout_ms > 0 ? timeout_ms : 1);
	int expect = PARK_REQ;
	if (atomic_compare_exchange_strong(&park, &expect, PARK_NONE)) {
		errno = saved;
		return 0; /* not come round to it in time (a slow collector): it goes on */
	}
	/* it has left its loop: the next span starts another */
	atomic_store(&park, PARK_NONE);
	atomic_store(&started, 0);
	errno = saved;
	return 1;
}

void at_exporter_atfork_child(void)
{
	/* The parent's thread and its connections are not ours: their
	 * sockets closed (the parent's go on; a child that lives long, a
	 * pre-fork server's worker, would hold them open past the parent's
	 * close), nothing else of them touched (a backend may have been
	 * mid-write at fork). */
	for (int i = 0; i < nbackends; i++)
		if (backends[i] && backends[i]->drop)
			backends[i]->drop(backends[i]);
	nbackends = 0;
	memset(backends, 0, sizeof backends);
	at_tls_atfork_child();
	atomic_store(&flush_req, 0);
	atomic_store(&flush_done, 0);
	atomic_store(&started, 0);
	atomic_store(&unnamed, 0); /* one starting at the fork did not start here */
	/* the parent's counts and its thread's CPU time are not this process's */
	atomic_store(&at_stat_exported, 0);
	atomic_store(&cpu_ns, 0);
	atomic_store(&render_ns, 0);
	atomic_store(&backends_ns, 0);
	atomic_store(&at_stat_encode_ns, 0);
}

void at_exporter_print_stats(void)
{
	if (at_helper_spawned()) {
		/* the exporter process's counts */
		struct at_queue_ctl *c = at_queue_ctl();
		atomic_store(&at_stat_exported, atomic_load(&c->exported));
		atomic_store(&cpu_ns, atomic_load(&c->cpu_ns));
		atomic_store(&render_ns, atomic_load(&c->render_ns));
		atomic_store(&backends_ns, atomic_load(&c->backends_ns));
		atomic_store(&at_stat_encode_ns, atomic_load(&c->encode_ns));
	}
	uint64_t enc = atomic_load(&at_stat_encode_ns), be = atomic_load(&backends_ns);
	at_info("spans queued %llu, exported %llu, dropped %llu (queue full), still queued %zu, "
	        "last flush %llu us, exporter thread CPU %llu us (render %llu, encode %llu, "
	        "send %llu)",
	        (unsigned long long)at_queue_pushed(),
	        (unsigned long long)atomic_load(&at_stat_exported),
	        (unsigned long long)at_queue_dropped(), at_queue_length(),
	        (unsigned long long)(last_flush_ns / 1000),
	        (unsigned long long)(atomic_load(&cpu_ns) / 1000),
	        (unsigned long long)(atomic_load(&render_ns) / 1000),
	        (unsigned long long)(enc / 1000),
	        (unsigned long long)((be > enc ? be - enc : 0) / 1000));
}
