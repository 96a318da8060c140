/* prctl(PR_SET_TSC, PR_TSC_SIGSEGV): the application forbids reading the
 * TSC, which the shim's span timestamps do (preload/clock.h); after it,
 * rdtsc in this thread, and in every thread or process it starts, would
 * raise SIGSEGV. The shim stops reading it first. Every call goes on to
 * libc unchanged. Not covered: a raw prctl system call (the shim would then
 * kill the process at its next span: AUTOTRACE_CLOCK=system avoids it). */
#define _GNU_SOURCE
#include "../preload/autotrace.h"
#include "../preload/clock.h"
#include "../preload/real.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

AT_REAL(int, prctl, (int, unsigned long, unsigned long, unsigned long, unsigned long));

/* prctl is variadic; the kernel takes four more words whatever the option
 * (glibc's own reads them the same way). */
AT_EXPORT int prctl(int option, ...)
{
	va_list ap;
	va_start(ap, option);
	unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
	unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
	va_end(ap);
	if (option == PR_SET_TSC && a2 == PR_TSC_SIGSEGV) {
		int saved = errno;
		at_clock_forbid_tsc();
		errno = saved;
	}
	if (AT_RESOLVE(prctl))
		return real_prctl(option, a2, a3, a4, a5);
	return (int)syscall(SYS_prctl, option, a2, a3, a4, a5);
}
