/* Diagnostics on stderr, each line prefixed "autotrace:". Written with one
 * write(2) so lines from several processes do not interleave, and never
 * through stdio: the host's stdout/stderr buffers are not ours to touch. */
#define _GNU_SOURCE
#include "log.h"
#include "stdfd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>

int at_log_level = AT_LOG_OFF;

static void vlog(const char *fmt, va_list ap)
{
	char line[1024];
	if (!at_stderr_usable())
		return; /* the application's descriptor now, or none */
	int saved = errno;
	int n = snprintf(line, sizeof line, "autotrace[%d]: ", (int)getpid());
	int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	if (n + m > (int)sizeof line - 2)
		m = (int)sizeof line - 2 - n;
	line[n + m] = '\n';
	/* a raw syscall: a write() hook must never see our own diagnostics */
	(void)!syscall(SYS_write, 2, line, (size_t)(n + m + 1));
	errno = saved;
}

void at_log_write(int level, const char *fmt, ...)
{
	(void)level;
	va_list ap;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void at_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}
