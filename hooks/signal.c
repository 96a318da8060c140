/* signal() and sigaction() for the signals whose crashes we record (see
 * preload/crash.c): our handler stays installed in front, and the
 * application sets and reads its own disposition, which ours chains to.
 * Every other signal, and every call before our handlers are installed,
 * goes straight to libc. Not covered: sigset(), and raw rt_sigaction
 * system calls, which replace our handler (that signal's crashes are then
 * not recorded; the application's behaviour is unchanged). */
#define _GNU_SOURCE
#include "../preload/autotrace.h"
#include "../preload/crash.h"
#include "../preload/real.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

AT_REAL(sighandler_t, signal, (int, sighandler_t));
AT_REAL(sighandler_t, sysv_signal, (int, sighandler_t));

/* Only the crash signals and those that kill are ours to virtualise: every
 * other one goes straight to libc, and SIGPIPE nearly so (libcurl sets it
 * around each request: at_crash_pipe_sigaction). */
static AT_NOINLINE int sigaction_slow(int sig, const struct sigaction *act, struct sigaction *oact)
{
	int rc;
	if (at_crash_watched(sig)) {
		(void)at_on(); /* the first call may be what initialises us */
		if (at_crash_sigaction(sig, act, oact, &rc))
			return rc;
	}
	return at_crash_real_sigaction(sig, act, oact);
}

AT_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *oact)
{
	if (sig == SIGPIPE) /* libcurl sets and restores it ~20 times a transfer */
		return at_crash_pipe_sigaction(act, oact);
	if (AT_LIKELY(!at_crash_watched(sig) && at_real_sigaction))
		return at_real_sigaction(sig, act, oact); /* a tail call */
	return sigaction_slow(sig, act, oact);
}

/* signal() through our sigaction, with the flags glibc's would use. */
static int virtual_signal(int sig, sighandler_t h, int flags, sighandler_t *old)
{
	if (!at_crash_watched(sig) && sig != SIGPIPE)
		return 0;
	struct sigaction act, oact;
	memset(&act, 0, sizeof act);
	act.sa_handler = h;
	sigemptyset(&act.sa_mask);
	if (!(flags & SA_NODEFER))
		sigaddset(&act.sa_mask, sig);
	act.sa_flags = flags;
	int rc;
	(void)at_on();
	if (sig == SIGPIPE)
		rc = at_crash_pipe_sigaction(&act, &oact);
	else if (!at_crash_sigaction(sig, &act, &oact, &rc))
		return 0;
	*old = rc ? SIG_ERR : oact.sa_handler;
	return 1;
}

/* BSD semantics (glibc's signal and bsd_signal): restart, handler stays. */
AT_EXPORT sighandler_t signal(int sig, sighandler_t h)
{
	sighandler_t old;
	if (h != SIG_ERR && virtual_signal(sig, h, SA_RESTART, &old))
		return old;
	if (!AT_RESOLVE(signal)) {
		errno = ENOSYS;
		return SIG_ERR;
	}
	return real_signal(sig, h);
}

AT_EXPORT sighandler_t bsd_signal(int sig, sighandler_t h)
{
	return signal(sig, h);
}

/* System V semantics (what signal() is in strict ISO C programs): one shot. */
AT_EXPORT sighandler_t sysv_signal(int sig, sighandler_t h)
{
	sighandler_t old;
	if (h != SIG_ERR && virtual_signal(sig, h, SA_RESETHAND | SA_NODEFER, &old))
		return old;
	if (!AT_RESOLVE(sysv_signal)) {
		errno = ENOSYS;
		return SIG_ERR;
	}
	return real_sysv_signal(sig, h);
}

AT_EXPORT sighandler_t __sysv_signal(int sig, sighandler_t h)
{
	return sysv_signal(sig, h);
}
