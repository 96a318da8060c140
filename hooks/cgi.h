/* CGI programs (RFC 3875): the request a web server started this process
 * for becomes a SERVER span (hooks/cgi.c). */
#ifndef AT_CGI_H
#define AT_CGI_H

#include "../preload/propagation.h"
#include "../preload/span.h"

#include <stddef.h>
#include <sys/uio.h>

/* In the environment of every process a CGI request's process starts: the
 * request has its span, whose context (a traceparent) this is; a program
 * started with it makes none. */
#define AT_CGI_MARK "AUTOTRACE_CGI_SPAN"
#define AT_CGI_MARK_VAR (sizeof AT_CGI_MARK "=" + AT_TRACEPARENT_LEN)

/* At start-up, once the configuration is read: a CGI request in the
 * environment starts the process's request span, which then is every
 * span's parent (at_env_parent). Marks stdout for the response's head. */
void at_cgi_init(void);

/* Whether the process is inside a CGI request (its own or a parent's). */
int at_cgi_active(void);
/* What an exec (spawn 0) or a new process (spawn 1: posix_spawn, system,
 * popen) does with AT_CGI_MARK: 1, put out ("AUTOTRACE_CGI_SPAN=
 * <traceparent>") in place of any (a process of the request that does not
 * own its span, or a new process of any: the program may have built an
 * environment without it); -1, drop it (an exec of the span's own process:
 * its next image makes the next span); 0, nothing (not in a CGI request). */
int at_cgi_mark(char out[AT_CGI_MARK_VAR], int spawn);

/* The bytes the program wrote to its stdout (r of them, from iov; iov
 * NULL: r bytes that went by unread): the response's head. Returns 1 once
 * the head is over: stop watching. */
int at_cgi_out(const struct iovec *iov, int cnt, size_t r);
/* What stdio holds for stdout and will write through libc's own calls,
 * which no hook sees: read at fflush, fclose and exit. */
void at_cgi_stdio(void);
/* Whether the response's head is still looked for: the stdio hooks' test
 * (hooks/stdio.c, hooks/stdio_write.c). */
extern int at_cgi_watching;

enum { AT_CGI_EXIT, AT_CGI_QUIT, AT_CGI_EXEC };
/* The process ends (exit; _exit, which drops stdio's buffers; exec): the
 * span ends and is queued, by the process that owns it. */
void at_cgi_end(int how);
/* The span for a crash to record and queue (crash.c), or NULL; marked
 * ended. */
struct at_span *at_cgi_take(void);
/* Whether the program no longer has its response's channel as fd 1 (closed
 * it, or put another file there): the response is out of its hands, as when
 * it gave its stdout to a child. Async-signal-safe. */
int at_cgi_handed_off(void);

#endif
