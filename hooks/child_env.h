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
/* Room for the built environment: the variables, the three of ours and
 * the terminating NULL. */
#define AT_CHILD_ENV_SLOTS (AT_CHILD_ENV_MAX + 4)

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

/* Fills out (AT_CHILD_ENV_SLOTS) from envp and returns it, or returns envp
 * when there is nothing to pass on: the shim off or inside a hook, nothing
 * current (the environment carries TRACEPARENT if the process had one),
 * the environment too large. Keeps errno. Allocates nothing (an exec in a
 * vfork child). */
char *const *at_child_env(char *const envp[], char **out, struct at_child_env *ne, int how);

#endif
