/* The exporter thread: started with the first span, never in a constructor. */
#ifndef AT_EXPORTER_H
#define AT_EXPORTER_H

#include <stdint.h>

#include <stdatomic.h>

#include "../preload/config.h"

extern _Atomic int at_exporter_started;
void at_exporter_start(void);

/* Starts the thread if this process has none yet (one load when it has;
 * with OTEL_TRACES_EXPORTER=none there is nothing to start, and no call). */
static inline void at_exporter_ensure(void)
{
	if (__builtin_expect(!atomic_load_explicit(&at_exporter_started, memory_order_relaxed), 0) &&
	    at_cfg.exporters)
		at_exporter_start();
}
/* Ask the thread to export everything queued now and wait for it, at most
 * timeout_ms. Safe to call when no thread was ever started. */
void at_exporter_flush(long timeout_ms);
/* For a backend's retries, on the exporter thread: 1 when the program waits
 * for the export under way (at_exporter_flush: its exit, a crash), so that
 * every pause is the program's time. */
int at_exporter_app_waits(void);
/* Pause ms before a retry. Returns 0 after ms, or 1 when the program
 * waits for the export: at once when it starts to, after ms when it
 * already did. */
int at_exporter_pause(int ms);
/* Ends the exporter thread, after it exported everything queued (at most
 * timeout_ms): 1 when it has left its loop (the next span starts another),
 * 0 when there is no thread of ours or it did not come round in time. For a
 * call the kernel grants only to a process of one thread (hooks/ns.c). */
int at_exporter_park(long timeout_ms);
/* How many threads of the shim's have been started and not yet named
 * themselves (autotrace-exp, autotrace-bg). */
int at_exporter_unnamed(void);
/* fork child: the parent's thread does not exist here. */
void at_exporter_atfork_child(void);
void at_exporter_print_stats(void);
/* The exporter process's loop (helper.c): returns once its app has gone
 * and what it queued is exported. */
void at_exporter_serve(void);

extern _Atomic uint64_t at_stat_exported;
/* The exporter thread's CPU time spent encoding (backends that encode a
 * whole batch before sending it add theirs): the stats split it from the
 * sending. */
extern _Atomic uint64_t at_stat_encode_ns;

#endif
