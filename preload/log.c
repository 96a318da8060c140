/* Diagnostics on stderr, each line prefixed "autotrace[pid]:". Written with
 * one write(2) so lines from several processes do not interleave, and never
 * through stdio: the host's stdout/stderr buffers are not ours to touch.
 * Only while descriptor 2 is the program's stderr (stdfd.c); with
 * AUTOTRACE_LOG_FILE, appended to that file instead, opened for each line
 * (no descriptor kept that a daemon's close-every-fd loop could take). */
#define _GNU_SOURCE
#include "log.h"

#include "stdfd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>

int at_log_level = AT_LOG_OFF;
const char *at_log_file;

static void vlog(const char *fmt, va_list ap)
{
	char line[1024];
	int saved = errno, fd = 2;
	if (at_log_file)
		fd = (int)syscall(SYS_openat, AT_FDCWD, at_log_file,
		                  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
	else if (!at_stderr_usable())
		fd = -1; /* the application's descriptor now, or none */
	if (fd < 0) {
		errno = saved;
		return;
	}
	int n = snprintf(line, sizeof line, "autotrace[%d]: ", (int)getpid());
	int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	if (n + m > (int)sizeof line - 2)
		m = (int)sizeof line - 2 - n;
	line[n + m] = '\n';
	/* a raw syscall: a write() hook must never see our own diagnostics */
	(void)!syscall(SYS_write, fd, line, (size_t)(n + m + 1));
	if (fd != 2)
		(void)syscall(SYS_close, fd);
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
