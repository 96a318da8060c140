/* Internal definitions shared by every part of the shim. */
#ifndef AUTOTRACE_H
#define AUTOTRACE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define AT_EXPORT __attribute__((visibility("default")))
#define AT_HIDDEN __attribute__((visibility("hidden")))
#define AT_LIKELY(x) __builtin_expect(!!(x), 1)
#define AT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define AT_NOINLINE __attribute__((noinline))
#define AT_ALWAYS_INLINE inline __attribute__((always_inline))
#define AT_TLS __thread __attribute__((tls_model("initial-exec")))
/* The application's call site: the return address of an exported hook, or
 * of a function always inlined into one (span->caller, preload/callsite.h). */
#define AT_CALLER() ((uintptr_t)__builtin_return_address(0))

/* A peer's address as text, with its NUL: an IPv6 address, or a unix
 * socket's path (108 bytes; an abstract name as "@name"). */
#define AT_ADDR_MAX 110

#define AT_SDK_NAME "autotrace"
#define AT_SDK_VERSION "0.1.0"

/* Life cycle of the shim. Hooks trace only in AT_ON. */
enum at_state { AT_UNINIT = 0, AT_INITING = 1, AT_ON = 2, AT_OFF = 3 };
extern _Atomic int at_state;

#include "span.h"

/* Per-thread state. Kept small: the library uses the initial-exec TLS model
 * (preload only), whose static TLS block is shared with every other library. */
struct at_tls {
	int depth;              /* >0: inside a hook that owns a span, or our own thread */
	struct at_span *cur;    /* innermost active span on this thread */
	struct at_leaf *leaf;   /* a leaf span's call running (leaf.h), for a crash */
	const char *tracestate; /* tracestate / baggage to propagate (incoming request) */
	const char *baggage;
	uint64_t rng; /* id generator state (ids.h) */
	unsigned rng_gen;
	/* inside a database client library's connect (hooks/mysql.c): the
	 * socket is the library's, its calls' spans cover it */
	uint8_t lib_conn;
	struct at_ctx inherited; /* parent context given to a new thread or process */
};
extern AT_TLS struct at_tls at_tls;

void at_init_slow(void);

/* Is the shim tracing? Pass through (return 0) before init has finished,
 * while it runs, once turned off, and on the exporter thread. */
static inline int at_on(void)
{
	int s = atomic_load_explicit(&at_state, memory_order_acquire);
	if (AT_UNLIKELY(s == AT_UNINIT)) {
		at_init_slow();
		s = atomic_load_explicit(&at_state, memory_order_acquire);
	}
	return s == AT_ON;
}

/* The outermost hook owns the span: enter returns 1 (and must be paired with
 * at_leave) only when tracing is on and no traced hook is already running on
 * this thread. Inner layers (curl's sendto, mysql_query -> mysql_real_query)
 * see 0 and pass straight through. */
static inline int at_enter(void)
{
	if (!at_on() || at_tls.depth)
		return 0;
	at_tls.depth = 1;
	return 1;
}
static inline void at_leave(void)
{
	at_tls.depth = 0;
}

/* at_enter for the hot hooks, in the shape of a dispatch whose every
 * branch is a tail call, so that passing through (shim off, an inner
 * layer, the exporter thread) costs a few loads and a jump, no frame:
 *   AT_GO_PASS   call the real function;
 *   AT_GO_TRACE  entered (as at_enter returned 1): trace, then at_leave;
 *   AT_GO_SLOW   the real function is not resolved yet or init has not
 *                run: do it the long way (resolve, at_enter). */
enum { AT_GO_SLOW = 0, AT_GO_PASS = 1, AT_GO_TRACE = 2 };
static inline int at_go(const void *real)
{
	if (AT_UNLIKELY(!real))
		return AT_GO_SLOW;
	int s = atomic_load_explicit(&at_state, memory_order_acquire);
	if (AT_UNLIKELY(s == AT_UNINIT))
		return AT_GO_SLOW;
	if (s != AT_ON || at_tls.depth)
		return AT_GO_PASS;
	at_tls.depth = 1;
	return AT_GO_TRACE;
}

/* For hooks that keep books whatever the depth: 1 when real is resolved
 * and the shim is off, so the call can go straight (a tail call) to it. */
static inline int at_off_pass(const void *real)
{
	int s = atomic_load_explicit(&at_state, memory_order_relaxed);
	return real && s != AT_ON && s != AT_UNINIT;
}

int at_getpid_cached(void);
/* Export what is queued, bounded by AUTOTRACE_EXIT_TIMEOUT (exit, _exit, exec). */
void at_flush_at_exit(void);

/* Something inside the shim went wrong: stop tracing, keep passing through. */
void at_disable(const char *why);

#endif
