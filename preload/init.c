/* Start-up, shut-down and fork handling, all in one place.
 *
 * Init runs once, from whichever comes first: our constructor or the first
 * hook called (another library's constructor may write to a socket before
 * ours has run). at_state is set to AT_INITING before anything else, so a
 * hook reached from inside init (glibc's dlsym, getaddrinfo, ...) sees a
 * state other than AT_ON and passes straight through instead of recursing
 * into pthread_once and deadlocking. No thread is started here: the exporter
 * thread starts with the first span. */
#define _GNU_SOURCE
#include "autotrace.h"

#include "clock.h"
#include "config.h"
#include "crash.h"
#include "ids.h"
#include "log.h"
#include "propagation.h"
#include "resource.h"
#include "stdfd.h"
#include "unwinder.h"
#include "../reporter/exporter.h"
#include "../reporter/helper.h"
#include "../reporter/queue.h"
#include "../hooks/cgi.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

_Atomic int at_state = AT_UNINIT;
AT_TLS struct at_tls at_tls;

extern struct at_ctx at_env_parent;
struct at_span at_env_carrier; /* the tracestate that came with TRACEPARENT */

/* hooks/cgi.c, hooks/net.c: weak, so that a unit test linking init.o does
 * not take the hooks with it */
void at_cgi_init(void) __attribute__((weak));
void at_cgi_end(int how) __attribute__((weak));
void at_net_inetd_init(void) __attribute__((weak));
void at_net_fini(void) __attribute__((weak));

static pthread_once_t once = PTHREAD_ONCE_INIT;
static _Atomic int at_pid;

int at_getpid_cached(void)
{
	return atomic_load_explicit(&at_pid, memory_order_relaxed);
}

/* The span ring. Process mode: in shared memory, for the exporter process
 * started at the first span (reporter/helper.c); else, or if that cannot be
 * had, private, for an exporter thread. */
static int open_queue(void)
{
	size_t cap = (size_t)at_cfg.bsp_queue_size, wake = (size_t)at_cfg.bsp_batch_size;
	if (at_cfg.exporter_process) {
		if (!at_queue_init_shared(cap, wake, at_helper_extra_size()))
			return 0;
		at_warn("cannot share the span queue with an exporter process; using a thread");
		at_cfg.exporter_process = 0;
	}
	return at_queue_init(cap, wake);
}

/* A span of the forking thread whose ids are not drawn yet would get them
 * from the parent and from the child, differently: drawn before the fork,
 * both see the same. */
static void atfork_prepare(void)
{
	if (atomic_load(&at_state) == AT_ON)
		for (struct at_span *p = at_tls.cur; p; p = p->prev)
			at_span_ctx(p);
	at_unwinder_atfork_prepare();
}

static void atfork_child(void)
{
	if (atomic_load(&at_state) != AT_ON)
		return;
	atomic_store(&at_pid, getpid());
	atomic_fetch_add(&at_ids_generation, 1);
	at_queue_forget();
	/* a process-mode parent's ring is shared with its exporter process:
	 * the child gets a ring (and, at its first span, a helper) of its own */
	if (at_queue_shared_fd() >= 0) {
		at_helper_atfork_child();
		at_queue_unmap();
		if (open_queue()) {
			at_disable("cannot allocate the span queue in a fork child");
			return;
		}
	}
	at_exporter_atfork_child();
	at_unwinder_atfork_child();
	at_crash_atfork_child();
	at_resource_set_pid(getpid());
}

static void load_env_parent(void)
{
	if (!at_cfg.traceparent[0])
		return;
	if (at_traceparent_parse(at_cfg.traceparent, strlen(at_cfg.traceparent), &at_env_parent)) {
		at_warn("TRACEPARENT=\"%.60s\" is not a valid W3C traceparent; starting a new trace",
			at_cfg.traceparent);
		return;
	}
	size_t tl = strlen(at_cfg.tracestate);
	if (tl && at_tracestate_valid(at_cfg.tracestate, tl)) {
		at_env_carrier.recording = 1;
		at_env_carrier.tracestate = at_span_intern(&at_env_carrier, at_cfg.tracestate, tl);
	} else if (tl) {
		at_warn("TRACESTATE is not a valid W3C tracestate; ignored");
	}
}

static void do_init(void)
{
	atomic_store(&at_state, AT_INITING);
	atomic_store(&at_pid, getpid());
	at_stderr_init();
	if (!at_config_load()) {
		atomic_store(&at_state, AT_OFF);
		return;
	}
	at_clock_init();
	at_resource_init();
	int keys = at_span_keys_init();
	load_env_parent();
	if (open_queue()) {
		at_warn("cannot allocate the span queue; tracing is off");
		atomic_store(&at_state, AT_OFF);
		return;
	}
	pthread_atfork(atfork_prepare, NULL, atfork_child);
	at_crash_init();
	at_debug("on: service %s, exporters 0x%x, sampler %d (parent-based %d, ratio %g); "
		 "attribute keys on distinct bits after %d multipliers",
		 at_cfg.service_name, at_cfg.exporters, at_cfg.sampler, at_cfg.parent_based,
		 at_cfg.ratio, keys);
	if (at_cgi_init)
		at_cgi_init(); /* a CGI request's span: every span's parent */
	atomic_store(&at_state, AT_ON);
	if (at_net_inetd_init)
		at_net_inetd_init(); /* marks a socket: needs tracing on */
}

void at_init_slow(void)
{
	if (atomic_load(&at_state) == AT_INITING)
		return; /* reentered from init itself, or another thread mid-init */
	int saved = errno; /* init runs inside the app's call: leave its errno be */
	pthread_once(&once, do_init);
	errno = saved;
}

void at_disable(const char *why)
{
	at_warn("%s; tracing is off, the program runs on untraced", why);
	atomic_store(&at_state, AT_OFF);
}

/* Export what is queued before the process goes away, bounded in time. Not
 * in a vfork child: it shares the parent's memory and the parent's exporter. */
void at_flush_at_exit(void)
{
	if (atomic_load(&at_state) != AT_ON || getpid() != at_getpid_cached())
		return;
	at_exporter_flush(at_cfg.exit_timeout_ms);
}

__attribute__((constructor)) static void at_ctor(void)
{
	(void)at_on();
}

__attribute__((destructor)) static void at_dtor(void)
{
	if (atomic_load(&at_state) != AT_ON)
		return;
	if (at_cgi_end)
		at_cgi_end(AT_CGI_EXIT);
	if (at_net_fini) {
		int saved = errno;
		at_net_fini(); /* connections still open, stdout's last response */
		errno = saved;
	}
	at_flush_at_exit();
	if (at_log_level >= AT_LOG_INFO)
		at_exporter_print_stats();
}
