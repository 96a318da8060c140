/* posix_spawn, posix_spawnp, system, popen: the new program continues the
 * trace, as after exec (hooks/exec.c): the current context goes into its
 * environment as TRACEPARENT / TRACESTATE (hooks/child_env.c). This process
 * goes on, so nothing is sent or ended first.
 *
 * posix_spawn and posix_spawnp take the environment as an argument: the
 * built one (on the stack, sized to it) is passed instead.
 *
 * system and popen start their shell with glibc's internal posix_spawn,
 * which no hook sees, with the process's environ as it is then. While the
 * program has no thread of its own (hooks/io_direct.c: it never started or
 * cancelled one) the built environment is made environ for the call and
 * the program's own put back after it: the calling thread is the
 * program's only one, in the call, and the shim's threads only read
 * environ. The program's array is never written, and the built one is one
 * of two kept in turn, never on the stack, so that one of the shim's
 * threads still reading it through a pointer loaded before it was put back
 * reads what it read before. Once the program has a thread of its own, a
 * second thread could read or change environ meanwhile: the calls pass
 * through and their programs get the context the process started with. */
#define _GNU_SOURCE
#include "../preload/autotrace.h"
#include "../preload/log.h"
#include "../preload/real.h"
#include "child_env.h"
#include "io_direct.h"

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>

extern char **environ;

typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                        const posix_spawnattr_t *, char *const[], char *const[]);
AT_REAL(int, system, (const char *));
AT_REAL(FILE *, popen, (const char *, const char *));

static int spawn_with(spawn_fn real, pid_t *pid, const char *path,
                      const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
                      char *const argv[], char *const envp[])
{
	size_t room = at_child_env_slots(envp);
	char *out[room];
	struct at_child_env ne;
	return real(pid, path, fa, attr, argv, at_child_env(envp, out, room, &ne, AT_CHILD_SPAWN));
}

/* glibc has two of each: GLIBC_2.15's, and GLIBC_2.2.5's for programs
 * linked before it, which also runs a file the kernel cannot execute
 * (ENOEXEC) with /bin/sh. The hooks have no version: each call takes the
 * one its caller's object was linked against (at_caller_needs: one that
 * needs no glibc version from 2.15 on has the old one), resolved by
 * version (dlvsym: BZ #14932). */
static spawn_fn real_spawn[2][2]; /* [p][old] */

static spawn_fn resolve(int p, const void *caller)
{
	int old = at_caller_needs(caller, "libc.so.6", "GLIBC_", 2, 15) == 0;
	spawn_fn *fn = &real_spawn[p][old];
	if (!*fn)
		*fn = (spawn_fn)at_real_version(p ? "posix_spawnp" : "posix_spawn",
		                                old ? "GLIBC_2.2.5" : "GLIBC_2.15");
	return *fn;
}

AT_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                          const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	spawn_fn real = resolve(0, __builtin_return_address(0));
	if (!real)
		return ENOSYS;
	return spawn_with(real, pid, path, fa, attr, argv, envp);
}

AT_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                           const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	spawn_fn real = resolve(1, __builtin_return_address(0));
	if (!real)
		return ENOSYS;
	return spawn_with(real, pid, file, fa, attr, argv, envp);
}

/* ---- system, popen ---- */

static char *built[2][AT_CHILD_ENV_MAX + 4];
static struct at_child_env built_vars[2];
static unsigned turn;

/* Makes the built environment environ for a call; returns the program's,
 * to put back with put_back, or NULL when environ stays as it is. */
static char **swap_in(const char *what, char ***mine)
{
	if (!at_on() || at_tls.depth)
		return NULL;
	if (at_io_app_threads()) {
		static _Atomic int told;
		if (!atomic_exchange(&told, 1))
			at_debug("%s: the program has threads of its own; its environment is not "
			         "changed, so the shell gets no TRACEPARENT from the shim",
			         what);
		return NULL;
	}
	char **own = environ;
	unsigned t = turn ^= 1;
	char *const *e = at_child_env(own, built[t], AT_CHILD_ENV_MAX + 4, &built_vars[t],
	                              AT_CHILD_SPAWN);
	if (e == own)
		return NULL;
	*mine = built[t];
	atomic_thread_fence(memory_order_release); /* the array before the pointer */
	environ = built[t];
	return own;
}

/* The program's environ back, unless something set another one meanwhile
 * (a signal handler's setenv): that one stays. */
static void put_back(char **own, char **mine)
{
	if (own && environ == mine)
		environ = own;
}

AT_EXPORT int system(const char *cmd)
{
	if (!AT_RESOLVE(system)) {
		errno = ENOSYS;
		return -1;
	}
	char **mine = NULL;
	char **own = cmd ? swap_in("system", &mine) : NULL;
	int rc = real_system(cmd);
	int e = errno;
	put_back(own, mine);
	errno = e;
	return rc;
}

AT_EXPORT FILE *popen(const char *cmd, const char *mode)
{
	if (!AT_RESOLVE(popen)) {
		errno = ENOSYS;
		return NULL;
	}
	char **mine = NULL;
	char **own = cmd ? swap_in("popen", &mine) : NULL;
	FILE *f = real_popen(cmd, mode);
	int e = errno;
	put_back(own, mine);
	errno = e;
	return f;
}
