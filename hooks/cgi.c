/* CGI programs (RFC 3875). A web server starts one process per request,
 * with the request in its environment (REQUEST_METHOD, SCRIPT_NAME,
 * QUERY_STRING..., every header as HTTP_<NAME>) and the response read from
 * its stdout: a head of CGI header lines (Status, Content-Type, Location),
 * a blank line, the body.
 *
 * Under the shim such a process gets a SERVER span for its request, from
 * the shim's start to the program's end: the caller's trace continued from
 * the request's headers by the configured propagators (or from TRACEPARENT,
 * which a traced web server passes), the parent of every span the program
 * makes, and its status code read from the head the program writes. The
 * head is looked for in what the program writes to fd 1 through the hooks
 * (write, writev, send... : hooks/net.c marks fd 1 AT_FD_CGI until the head
 * is over), and in what stdio holds for stdout at fflush and at exit: libc
 * writes stdio's buffers with its own calls, which no hook sees.
 *
 * One span per request: the span's process puts AT_CGI_MARK, the span's
 * context, into its own environment at start-up (single-threaded then), so
 * that every process it starts has it, however it starts it (fork and exec,
 * system, popen, posix_spawn); a program started with it makes no span, and
 * its spans are children of that context when no TRACEPARENT says better.
 * The span's own process, when it execs, ends its span there and drops the
 * mark: the program it becomes makes the next span, a child of it (a
 * wrapper script that execs the real program). */
#define _GNU_SOURCE
#include "cgi.h"

#include "cgi_head.h"
#include "fdstate.h"
#include "stdio_buf.h"

#include "../preload/autotrace.h"
#include "../preload/config.h"
#include "../preload/crash.h"
#include "../preload/leaf.h"
#include "../preload/log.h"
#include "../preload/loop.h"
#include "../preload/propagation.h"
#include "../preload/real.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

static struct at_span span;
static struct at_carrier carrier; /* the request's propagation headers */
static pid_t owner;               /* the process whose span it is; 0: none */
static int active;                /* inside a CGI request: ours or a parent's */
int at_cgi_watching; /* the head is still looked for (hooks/stdio.c's test) */
static _Atomic int ended;
static char mark_tp[AT_TRACEPARENT_LEN + 1]; /* AT_CGI_MARK's value */
static struct stat out_st;                   /* the response's channel, fd 1 */
static int out_known;

/* The response's head, as the program writes it. */
static struct at_cgi_head head;
static _Atomic int head_busy; /* two threads writing to stdout at once: given up */

/* ---- the response head ---- */

/* Whether the head is still looked for by this process (not by a fork
 * child, whose writes are not the span's process's). Once it is over,
 * nothing more: the fflush hook tests one flag. */
static int looking(void)
{
	if (!at_cgi_watching)
		return 0;
	if (head.state == AT_CGI_HEAD_LINE && getpid() == owner)
		return 1;
	at_cgi_watching = 0;
	return 0;
}

int at_cgi_out(const struct iovec *iov, int cnt, size_t r)
{
	if (!looking())
		return 1;
	if (atomic_exchange(&head_busy, 1)) {
		head.state = AT_CGI_HEAD_BAD;
		return 1;
	}
	if (!iov && r) /* bytes gone by unread (hooks/stdio_write.c) */
		head.state = AT_CGI_HEAD_BAD;
	for (int i = 0; i < cnt && r && head.state == AT_CGI_HEAD_LINE; i++) {
		size_t n = iov[i].iov_len < r ? iov[i].iov_len : r;
		at_cgi_head_feed(&head, iov[i].iov_base, n);
		r -= n;
	}
	int over = head.state != AT_CGI_HEAD_LINE;
	atomic_store(&head_busy, 0);
	return over;
}

void at_cgi_stdio(void)
{
	FILE *f = stdout;
	if (!looking() || !f || fileno(f) != 1)
		return;
	int saved = errno;
	if (ftrylockfile(f) == 0) {
		if (!atomic_exchange(&head_busy, 1)) {
			size_t n = at_stdio_pending(f);
			if (n)
				at_cgi_head_feed(&head, f->_IO_write_base, n);
			atomic_store(&head_busy, 0);
		}
		funlockfile(f);
	}
	errno = saved;
}

/* ---- the request span ---- */

static void set_env(const char *key, const char *var)
{
	const char *v = at_getenv(var);
	if (v && *v)
		at_span_set_strn(&span, key, v, strlen(v));
}

static void set_port(const char *key, const char *var)
{
	const char *v = at_getenv(var);
	long port;
	if (v && !at_parse_long(v, 1, 65535, &port))
		at_span_set_int(&span, key, port);
}

/* The request's headers (HTTP_<NAME>: upper case, '-' as '_') back into
 * the names the propagators know. */
static void collect_headers(void)
{
	at_carrier_reset(&carrier);
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, "HTTP_", 5))
			continue;
		const char *eq = strchr(*e, '=');
		size_t nl = eq ? (size_t)(eq - *e - 5) : 0;
		char name[64];
		if (!nl || nl >= sizeof name)
			continue;
		for (size_t i = 0; i < nl; i++) {
			char c = (*e)[5 + i];
			name[i] = c == '_' ? '-' : (char)tolower((unsigned char)c);
		}
		at_carrier_add(&carrier, name, nl, eq + 1, strlen(eq + 1), 1);
	}
}

/* The path as the client sent it (REQUEST_URI, which servers set), else as
 * RFC 3875 gives it (SCRIPT_NAME and PATH_INFO). */
static void set_path(void)
{
	const char *uri = at_getenv("REQUEST_URI");
	if (uri && uri[0] == '/') {
		size_t n = strcspn(uri, "?#");
		at_span_set_strn(&span, "url.path", uri, n);
		return;
	}
	const char *sn = at_getenv("SCRIPT_NAME"), *pi = at_getenv("PATH_INFO");
	char path[1024];
	int n = snprintf(path, sizeof path, "%s%s", sn ? sn : "", pi ? pi : "");
	if (n > 0)
		at_span_set_strn(&span, "url.path", path, (size_t)n < sizeof path ? (size_t)n : sizeof path - 1);
}

static void set_attrs(const char *method)
{
	at_span_set_strn(&span, "http.request.method", method, strlen(method));
	const char *script = at_getenv("SCRIPT_NAME");
	if (script && *script) {
		/* the script is the route: one name per program, not per request */
		char name[256];
		int n = snprintf(name, sizeof name, "%s %s", method, script);
		at_span_set_name(&span, name, (size_t)n < sizeof name ? (size_t)n : sizeof name - 1);
		at_span_set_strn(&span, "http.route", script, strlen(script));
	}
	set_path();
	set_env("url.query", "QUERY_STRING");
	const char *scheme = at_getenv("REQUEST_SCHEME"), *https = at_getenv("HTTPS");
	if (!scheme || (strcmp(scheme, "http") && strcmp(scheme, "https")))
		scheme = https && (!strcasecmp(https, "on") || !strcmp(https, "1")) ? "https" : "http";
	at_span_set_strn(&span, "url.scheme", scheme, strlen(scheme));
	const char *proto = at_getenv("SERVER_PROTOCOL");
	if (proto && !strncmp(proto, "HTTP/", 5) && proto[5])
		at_span_set_strn(&span, "network.protocol.version", proto + 5, strlen(proto + 5));
	set_env("server.address", "SERVER_NAME");
	set_port("server.port", "SERVER_PORT");
	set_env("client.address", "REMOTE_ADDR");
	set_port("client.port", "REMOTE_PORT");
	set_env("user_agent.original", "HTTP_USER_AGENT");
}

void at_cgi_init(void)
{
	const char *gi = at_getenv("GATEWAY_INTERFACE"), *method = at_getenv("REQUEST_METHOD");
	if (!gi || strncmp(gi, "CGI/", 4) || !method || !*method)
		return;
	const char *off = at_getenv("AUTOTRACE_CGI");
	int on = 1;
	if (off && at_parse_bool(off, &on))
		at_warn("AUTOTRACE_CGI=\"%.20s\" is not a boolean; using true", off);
	if (!on)
		return;
	active = 1;
	const char *mark = at_getenv(AT_CGI_MARK);
	if (mark) { /* a parent process's request: its span is the parent */
		struct at_ctx c;
		if (at_traceparent_parse(mark, strlen(mark), &c)) {
			at_warn(AT_CGI_MARK "=\"%.60s\" is not a traceparent; ignored", mark);
			return;
		}
		memcpy(mark_tp, mark, AT_TRACEPARENT_LEN);
		if (!at_env_parent.valid) /* started by system or popen: no TRACEPARENT */
			at_env_parent = c;
		return;
	}
	if (strlen(method) > 32)
		method = "_OTHER";

	struct at_ctx parent;
	memset(&parent, 0, sizeof parent);
	const char *ts = NULL;
	size_t tsl = 0;
	collect_headers();
	if (at_env_parent.valid) {
		/* TRACEPARENT: a traced web server's own span for the request */
		parent = at_env_parent;
		if (at_env_carrier.tracestate.len) {
			ts = at_span_str(&at_env_carrier, at_env_carrier.tracestate);
			tsl = at_env_carrier.tracestate.len;
		}
	} else if (at_extract(&carrier, at_cfg.propagators, &parent, &ts, &tsl) &&
	           carrier.tp_len) {
		at_warn("CGI request: HTTP_TRACEPARENT=\"%.60s\" is not a valid W3C traceparent; "
		        "starting a new trace",
		        carrier.traceparent);
	}
	at_span_start_detached(&span, method, AT_KIND_SERVER, &parent);
	if (tsl)
		span.tracestate = at_span_intern(&span, ts, tsl);
	if (span.recording)
		set_attrs(method);
	int hops;
	at_tls.baggage = at_loop_server(&span, at_carrier_baggage(&carrier, at_cfg.propagators),
	                                carrier.baggage, sizeof carrier.baggage, &hops);

	/* every span of the process, on any thread, is the request's child */
	at_env_parent = *at_span_ctx(&span);
	at_env_parent.remote = 0;
	memset(&at_env_carrier, 0, sizeof at_env_carrier);
	at_env_carrier.recording = 1;
	if (tsl)
		at_env_carrier.tracestate = at_span_intern(&at_env_carrier, ts, tsl);
	at_traceparent_format(&at_env_parent, mark_tp);
	owner = getpid();
	setenv(AT_CGI_MARK, mark_tp, 1);

	at_cgi_head_init(&head);
	out_known = fstat(1, &out_st) == 0;
	if (fcntl(1, F_GETFD) >= 0 && !at_net_mark_cgi(1))
		at_cgi_watching = 1;
	else
		head.state = AT_CGI_HEAD_BAD;
}

int at_cgi_active(void)
{
	return active;
}

int at_cgi_mark(char out[AT_CGI_MARK_VAR], int spawn)
{
	if (!active || !mark_tp[0])
		return 0;
	if (!spawn && getpid() == owner)
		return -1;
	memcpy(out, AT_CGI_MARK "=", sizeof AT_CGI_MARK);
	memcpy(out + sizeof AT_CGI_MARK, mark_tp, sizeof mark_tp);
	return 1;
}

/* The head's status on the span, as a server's (also from a crash's
 * signal handler). */
static void set_status(void)
{
	if (head.state == AT_CGI_HEAD_DONE && head.status)
		at_http_set_status(&span, head.status, 0);
}

/* Whether this process owns the span and it is still open: then it is
 * this caller's to end. */
static int take(void)
{
	return owner && getpid() == owner && !atomic_exchange(&ended, 1);
}

void at_cgi_end(int how)
{
	/* a kill meanwhile (lighttpd ends a program with SIGTERM as its
	 * response's pipe closes, which may be as it exits) waits until the
	 * span is queued: taken, it is no longer the kill's to record */
	if (!owner || atomic_load(&ended))
		return; /* not a CGI request's process, or ended */
	sigset_t kills, old;
	at_term_sigset(&kills);
	int saved = errno;
	pthread_sigmask(SIG_BLOCK, &kills, &old);
	if (take()) {
		if (how == AT_CGI_EXIT)
			at_cgi_stdio(); /* written after this, by exit */
		at_cgi_watching = 0;
		set_status();
		at_span_end_detached(&span);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
}

int at_cgi_handed_off(void)
{
	struct stat st;
	if (!out_known)
		return 0;
	return fstat(1, &st) || st.st_dev != out_st.st_dev || st.st_ino != out_st.st_ino;
}

struct at_span *at_cgi_take(void)
{
	if (!take() || !span.recording)
		return NULL;
	at_cgi_watching = 0;
	set_status();
	return &span;
}
