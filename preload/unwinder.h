/* libunwind, loaded when the process makes its first span rather than with
 * the shim: a program that makes none (most of what a shell starts) does
 * not pay for mapping and relocating libunwind and liblzma. A span can end
 * in a crash only once one has started, and the crash handler is the only
 * user. Loaded with RTLD_LOCAL: its symbols stay out of the process's
 * global scope. */
#ifndef AT_UNWINDER_H
#define AT_UNWINDER_H

#define UNW_LOCAL_ONLY
#include <libunwind.h>

struct at_unwinder {
	int (*getcontext)(unw_context_t *);
	int (*init_local)(unw_cursor_t *, unw_context_t *);
	int (*step)(unw_cursor_t *);
	int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
	int (*get_proc_name)(unw_cursor_t *, char *, size_t, unw_word_t *);
	int (*get_proc_info)(unw_cursor_t *, unw_proc_info_t *);
};

/* With the first span, before the exporter thread starts: that thread
 * has the load done (by a short-lived thread of its own, at nice 19, 10 ms
 * later: reporter/exporter.c, settle), and a crash meanwhile waits for it. (With the
 * exporter in a process there is no thread: the first span calls the load
 * itself.) */
void at_unwinder_request(void);
/* Does the load: dlopen, dlsym, and one unwind so libunwind has found its
 * tables before a crash needs them. Any thread; once. */
void at_unwinder_load(void);
/* For the crash handler (async-signal-safe): the functions, or NULL if
 * libunwind is absent, still not loaded after waiting at most wait_ms for a
 * load under way, or if the program closed the pipe libunwind keeps (it
 * would read and write the program's descriptor of the same number). */
const struct at_unwinder *at_unwinder_get(long wait_ms);
/* fork: the parent waits (at most 100 ms) for a load under way, so the
 * child's loader is not copied in the middle of a dlopen; in the child a
 * load that was only asked for is asked again by its own first span. */
void at_unwinder_atfork_prepare(void);
void at_unwinder_atfork_child(void);

#endif
