/* The environment a new program gets: the current context as TRACEPARENT /
 * TRACESTATE (which the shim reads at its start), replacing any the
 * environment had, and a CGI request's mark (hooks/cgi.h). Shared by the
 * exec hooks (hooks/exec.c) and the spawn hooks (hooks/spawn.c). */
#ifndef AT_CHILD_ENV_H
#define AT_CHILD_ENV_H

#include "cgi.h"

#include "../preload/propagation.h"

/* The variables at most: a larger environment passes untouched. */
#define AT_CHILD_ENV_MAX 2048

/* The strings of the three variables it adds. */
struct at_child_env {
	char tp[sizeof "TRACEPARENT=" + AT_TRACEPARENT_LEN];
	char ts[sizeof "TRACESTATE=" + AT_TRACESTATE_MAX];
	char cgi[AT_CGI_MARK_VAR];
};

enum {
	/* this process becomes the program: its queue and open spans are
	 * sent first (they are lost in the new image), a CGI request's span
	 * ends in its own process and the next image makes the next one */
	AT_CHILD_EXEC,
	/* a new process runs the program; this one goes on: nothing is sent
	 * or ended, and a CGI request's mark goes along from every process */
	AT_CHILD_SPAWN,
};

/* The room at_child_env needs for envp: its variables (at most
 * AT_CHILD_ENV_MAX), the three it may add and the terminating NULL. The
 * caller's array is a variable-length one of this size, on its stack: a
 * few hundred bytes for a usual environment. */
static inline size_t at_child_env_slots(char *const envp[])
{
	size_t n = 0;
	while (envp && envp[n] && n < AT_CHILD_ENV_MAX)
		n++;
	return n + 4;
}

/* Fills out (room entries) from envp and returns it, or returns envp when
 * there is nothing to pass on: the shim off or inside a hook, nothing
 * current (the environment carries TRACEPARENT if the process had one),
 * the environment too large (or grown since it was measured). Keeps errno.
 * Allocates nothing (an exec in a vfork child). */
char *const *at_child_env(char *const envp[], char **out, size_t room, struct at_child_env *ne,
                          int how);

#endif
