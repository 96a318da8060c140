/* The environment a new program gets (child_env.h). */
#define _GNU_SOURCE
#include "child_env.h"

#include "../preload/autotrace.h"
#include "../reporter/exporter.h"

#include <errno.h>
#include <string.h>

void at_net_exit(void) __attribute__((weak));

static int is_var(const char *e, const char *name, size_t n)
{
	return !strncmp(e, name, n) && e[n] == '=';
}

char *const *at_child_env(char *const envp[], char **out, size_t room, struct at_child_env *ne,
                          int how)
{
	if (!at_on() || at_tls.depth)
		return envp;
	/* nothing current but TRACEPARENT itself: the environment has it
	 * already; an exec still loses what is queued: sent now */
	if (!at_tls.cur && !at_tls.inherited.valid && !at_cgi_active()) {
		if (how == AT_CHILD_EXEC)
			at_flush_at_exit();
		return envp;
	}
	int saved = errno;
	struct at_ctx c;
	if (!at_current_ctx(&c) || !c.valid) {
		errno = saved;
		return envp;
	}
	/* tracestate of the current span (an incoming request's, or TRACESTATE) */
	const char *ts = NULL;
	size_t tsl = 0;
	if (at_tls.cur && at_tls.cur->tracestate.len) {
		ts = at_span_str(at_tls.cur, at_tls.cur->tracestate);
		tsl = at_tls.cur->tracestate.len;
	}
	if (tsl > AT_TRACESTATE_MAX)
		tsl = 0;
	if (how == AT_CHILD_EXEC) {
		/* the queue and open spans are lost in the new image: send them now */
		if (at_net_exit)
			at_net_exit();
		at_cgi_end(AT_CGI_EXEC);
		at_flush_at_exit();
	}
	int cgi = at_cgi_mark(ne->cgi, how == AT_CHILD_SPAWN);

	size_t n = 0;
	for (char *const *e = envp; e && *e; e++) {
		if (is_var(*e, "TRACEPARENT", 11) || is_var(*e, "TRACESTATE", 10) ||
		    (cgi && is_var(*e, AT_CGI_MARK, sizeof AT_CGI_MARK - 1)))
			continue;
		if (n + 4 >= room || n >= AT_CHILD_ENV_MAX) {
			errno = saved;
			return envp;
		}
		out[n++] = *e;
	}
	memcpy(ne->tp, "TRACEPARENT=", 12);
	at_traceparent_format(&c, ne->tp + 12);
	out[n++] = ne->tp;
	if (tsl) {
		memcpy(ne->ts, "TRACESTATE=", 11);
		memcpy(ne->ts + 11, ts, tsl);
		ne->ts[11 + tsl] = 0;
		out[n++] = ne->ts;
	}
	if (cgi > 0)
		out[n++] = ne->cgi;
	out[n] = NULL;
	errno = saved;
	return out;
}
