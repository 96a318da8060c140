/* Crash recording: on SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT the spans
 * open on the crashing thread get an `exception` event with a stack trace,
 * end with Error and are flushed (bounded); then the signal takes the course
 * it would have taken without the shim (the application's handler, else the
 * default action with its exit status and core dump). Likewise, without the
 * stack trace, a SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGALRM... that kills
 * the process (its disposition the default one; with it for a SIGTRAP or
 * SIGSYS an instruction raised). See docs/failures.md. */
#ifndef AT_CRASH_H
#define AT_CRASH_H

#include "autotrace.h"

#include <signal.h>
#include <stdint.h>

/* From init, when AUTOTRACE_CRASH is on: install our handlers. */
void at_crash_init(void);

/* Each thread gets an alternate signal stack (so a stack overflow is
 * recorded too) with its first sampled span; freed when the thread exits. */
extern AT_TLS uint8_t at_crash_thread_ready;
void at_crash_thread_setup(void);
/* The signals whose crashes are recorded; and those that end a process
 * whose disposition is the default one (a service stopped, a CGI program
 * killed by its web server, Ctrl-C): while the application leaves them at
 * SIG_DFL our handler is installed, records the thread's open spans as
 * killed (and has the other threads record theirs), flushes the queue and
 * lets the signal kill. SIGTRAP and SIGSYS
 * are among these, not among the crashes, although the CPU or the kernel
 * raises them for an instruction (a breakpoint, a system call a seccomp
 * filter traps): a program that handles them (a debugger's stub, a
 * sandbox that emulates the system calls it traps) gets them often and
 * lives on, so ours stands in only for their default action; then their
 * spans get the stack trace a crash's get. Every other signal is not
 * ours. */
#define AT_CRASH_SIGNALS SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT
#define AT_TERM_SIGNALS                                                                        \
	SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGALRM, SIGPIPE, SIGUSR1, SIGUSR2, SIGXCPU, SIGXFSZ,   \
	    SIGVTALRM, SIGPROF, SIGIO, SIGPWR, SIGSTKFLT, SIGTRAP, SIGSYS
#define AT_SIGBIT(s) (1ULL << (s))
#define AT_CRASH_MASK                                                                          \
	(AT_SIGBIT(SIGSEGV) | AT_SIGBIT(SIGBUS) | AT_SIGBIT(SIGFPE) | AT_SIGBIT(SIGILL) |         \
	 AT_SIGBIT(SIGABRT))
#define AT_TERM_MASK                                                                           \
	(AT_SIGBIT(SIGTERM) | AT_SIGBIT(SIGINT) | AT_SIGBIT(SIGHUP) | AT_SIGBIT(SIGQUIT) |         \
	 AT_SIGBIT(SIGALRM) | AT_SIGBIT(SIGPIPE) | AT_SIGBIT(SIGUSR1) | AT_SIGBIT(SIGUSR2) |       \
	 AT_SIGBIT(SIGXCPU) | AT_SIGBIT(SIGXFSZ) | AT_SIGBIT(SIGVTALRM) | AT_SIGBIT(SIGPROF) |     \
	 AT_SIGBIT(SIGIO) | AT_SIGBIT(SIGPWR) | AT_SIGBIT(SIGSTKFLT) | AT_SIGBIT(SIGTRAP) |         \
	 AT_SIGBIT(SIGSYS))
/* The real-time signals, SIGRTMIN to SIGRTMAX as glibc gives them (34 to
 * 64: it keeps 32 and 33 for itself), kill by default too: they are among
 * those above once at_crash_init has set the range (empty before). */
extern int at_crash_rt_lo, at_crash_rt_hi;
static inline int at_rt_signal(int sig)
{
	return sig >= at_crash_rt_lo && sig <= at_crash_rt_hi;
}
/* The signals whose disposition the application sets through the shim's
 * view (at_crash_sigaction): one unsigned compare and a bit test, or two
 * compares (sigaction's every call). Not SIGPIPE: at_crash_pipe_sigaction. */
static inline int at_crash_watched(int sig)
{
	return ((unsigned)sig < 64 &&
	        ((((AT_CRASH_MASK | AT_TERM_MASK) & ~AT_SIGBIT(SIGPIPE)) >> (unsigned)sig) & 1)) ||
	       at_rt_signal(sig);
}
static inline int at_term_signal(int sig)
{
	return ((unsigned)sig < 64 && ((AT_TERM_MASK >> (unsigned)sig) & 1)) || at_rt_signal(sig);
}
/* The signals that kill, as a set: blocked while their handler runs, and
 * while a span passes from the code that ends it to the queue where the
 * handler cannot see it (hooks/cgi.c). Made once, at_crash_init. */
void at_term_sigset(sigset_t *s);

/* In a fork's child: forgets the parent's other threads (see crash.c:
 * a kill ends their open spans too). */
void at_crash_atfork_child(void);

static inline void at_crash_thread_ensure(void)
{
	if (AT_UNLIKELY(!at_crash_thread_ready))
		at_crash_thread_setup();
}

/* For hooks/signal.c. The application sees and changes its own view of the
 * dispositions of the signals above while ours stays installed in front.
 * Returns 1 if the call was handled (*rc is its result), 0 if the caller
 * must pass it to the real sigaction. */
int at_crash_sigaction(int sig, const struct sigaction *act, struct sigaction *oact, int *rc);
/* SIGPIPE's sigaction, which libcurl makes ~20 times a transfer: straight
 * to libc, but for the default, which is our handler while ours stands in
 * for it (as for the other signals that kill), and reads back as the
 * default. */
int at_crash_pipe_sigaction(const struct sigaction *act, struct sigaction *oact);
/* libc's sigaction (resolved on first use; the pointer is NULL until then). */
int at_crash_real_sigaction(int sig, const struct sigaction *act, struct sigaction *oact);
extern int (*at_real_sigaction)(int, const struct sigaction *, struct sigaction *);

/* Formatting helpers, exposed for unit tests: async-signal-safe. */
const char *at_crash_signame(int sig);
size_t at_crash_describe(int sig, const siginfo_t *si, char *out, size_t outlen);

#endif
