/* exec*: the new program continues the trace. The current context goes into
 * its environment as TRACEPARENT / TRACESTATE (hooks/child_env.c), and what
 * is queued is exported first (bounded by AUTOTRACE_EXIT_TIMEOUT): after
 * exec it is gone. Spans of connections still open are ended, for the same
 * reason.
 *
 * glibc's exec functions call each other internally, not through the PLT,
 * so each one is interposed. The new environment is built on the stack:
 * an exec in a vfork child must not allocate. */
#define _GNU_SOURCE
#include "../preload/autotrace.h"
#include "../preload/propagation.h"
#include "../preload/real.h"
#include "../reporter/helper.h"
#include "child_env.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

AT_REAL(int, execve, (const char *, char *const[], char *const[]));
AT_REAL(int, execvpe, (const char *, char *const[], char *const[]));
AT_REAL(int, fexecve, (int, char *const[], char *const[]));
AT_REAL(int, execveat, (int, const char *, char *const[], char *const[], int));

extern char **environ;

/* A process-mode exporter (reporter/helper.c) is told that the ring may go:
 * execve keeps the pid, so the exporter would otherwise wait for an app
 * that no longer maps it. Not from a vfork child, whose exec is not the
 * app's. */
#define AT_EXEC(call)                                                                              \
	do {                                                                                       \
		int own_ = at_on() && getpid() == at_getpid_cached();                              \
		if (own_)                                                                          \
			at_helper_exec_begin();                                                    \
		int r_ = call;                                                                     \
		if (own_) {                                                                        \
			int e_ = errno;                                                            \
			at_helper_exec_failed();                                                   \
			errno = e_;                                                                \
		}                                                                                  \
		return r_;                                                                         \
	} while (0)

AT_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	if (!AT_RESOLVE(execve)) {
		errno = ENOSYS;
		return -1;
	}
	size_t room = at_child_env_slots(envp);
	char *out[room];
	struct at_child_env ne;
	char *const *env = at_child_env(envp, out, room, &ne, AT_CHILD_EXEC);
	AT_EXEC(real_execve(path, argv, env));
}

AT_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	if (!AT_RESOLVE(execvpe)) {
		errno = ENOSYS;
		return -1;
	}
	size_t room = at_child_env_slots(envp);
	char *out[room];
	struct at_child_env ne;
	char *const *env = at_child_env(envp, out, room, &ne, AT_CHILD_EXEC);
	AT_EXEC(real_execvpe(file, argv, env));
}

AT_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	if (!AT_RESOLVE(fexecve)) {
		errno = ENOSYS;
		return -1;
	}
	size_t room = at_child_env_slots(envp);
	char *out[room];
	struct at_child_env ne;
	char *const *env = at_child_env(envp, out, room, &ne, AT_CHILD_EXEC);
	AT_EXEC(real_fexecve(fd, argv, env));
}

AT_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
                       int flags)
{
	if (!AT_RESOLVE(execveat)) {
		errno = ENOSYS;
		return -1;
	}
	size_t room = at_child_env_slots(envp);
	char *out[room];
	struct at_child_env ne;
	char *const *env = at_child_env(envp, out, room, &ne, AT_CHILD_EXEC);
	AT_EXEC(real_execveat(dirfd, path, argv, env, flags));
}

AT_EXPORT int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

AT_EXPORT int execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

/* The list forms: count the arguments, then gather them into an array on
 * the stack sized to fit, as glibc does (no limit of our own). */
static size_t count_args(va_list ap)
{
	va_list c;
	va_copy(c, ap);
	size_t n = 0;
	while (va_arg(c, char *) != NULL)
		n++;
	va_end(c);
	return n;
}

/* argv[0] = first, then the n arguments and the terminating NULL of ap. */
static void gather(char **argv, const char *first, va_list ap, size_t n)
{
	argv[0] = (char *)first;
	for (size_t i = 1; i <= n; i++)
		argv[i] = va_arg(ap, char *);
	argv[n + 1] = va_arg(ap, char *); /* the NULL */
}

AT_EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	size_t n = count_args(ap);
	char *argv[n + 2];
	gather(argv, arg, ap, n);
	va_end(ap);
	return execve(path, argv, environ);
}

AT_EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	size_t n = count_args(ap);
	char *argv[n + 2];
	gather(argv, arg, ap, n);
	va_end(ap);
	return execvpe(file, argv, environ);
}

AT_EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	size_t n = count_args(ap);
	char *argv[n + 2];
	gather(argv, arg, ap, n);
	char *const *envp = va_arg(ap, char *const *);
	va_end(ap);
	return execve(path, argv, envp);
}
