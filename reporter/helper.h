/* The exporter in a process of its own (AUTOTRACE_EXPORTER_MODE=process).
 *
 * An exporter thread makes a single-threaded host multi-threaded, and glibc
 * then takes its multi-threaded paths on every call of the application
 * thread (malloc's arena locks, cancellation around read/write): 250-330
 * instructions per Redis or MySQL call (bench/RESULTS.md). In process mode
 * the ring lives in a memfd shared with a helper process, which is this
 * library run as a program: the same code, so the key and literal pointers
 * a span holds into the library's image move by one offset. */
#ifndef AT_HELPER_H
#define AT_HELPER_H

#include "../preload/span.h"

#include <stddef.h>

/* ---- the application's side ---- */

/* Bytes after the ring for the hand-off (configuration, resource). */
size_t at_helper_extra_size(void);
/* Starts the exporter process: 0, or -1 (the caller falls back to a thread;
 * *why, when not NULL, says why it must not be started here). */
int at_helper_spawn(const char **why);
/* This process started one (and it has not been seen to die). */
int at_helper_spawned(void);
/* It has exited (reaped here); later flushes do not wait for it. */
int at_helper_dead(void);
/* fork child: the parent's exporter process is not the child's. */
void at_helper_atfork_child(void);
/* Around execve: a successful exec unmaps the ring, and the exporter
 * process (whose app keeps its pid) must end rather than wait forever. */
void at_helper_exec_begin(void);
void at_helper_exec_failed(void);

/* ---- the exporter process's side ---- */

/* The application has exited or replaced its image. */
int at_helper_app_gone(void);
/* At most every 200 ms, takes the application's credentials if they changed
 * (helper_creds.h); exits the process if it cannot. */
void at_helper_watch(void);
/* Pointers into the app's copy of the library, moved into this one's. */
void at_helper_relocate(struct at_span *const *spans, size_t n);

#endif
