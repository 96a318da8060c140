/* Issue 7 helpers without a crash: hop counting in baggage, crash
 * descriptions, symbolizing callers. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "../../preload/autotrace.h"
#include "../../preload/config.h"
#include "../../preload/crash.h"
#include "../../preload/loop.h"
#include "../../preload/real.h"

static int setup(void **state)
{
	setenv("OTEL_TRACES_EXPORTER", "none", 1);
	assert_true(at_on());
	at_cfg.record = AT_FLAG_SAMPLED; /* recorded with no exporter: the test reads them */
	return 0;
}

static void hops_parse(void **state)
{
	assert_int_equal(at_loop_hops(NULL, 0), 0);
	assert_int_equal(at_loop_hops("", 0), 0);
	const char *b = "user=alice,autotrace.hops=3;p=1,x=y";
	assert_int_equal(at_loop_hops(b, strlen(b)), 3);
	b = " autotrace.hops = 12 ";
	assert_int_equal(at_loop_hops(b, strlen(b)), 12);
	b = "autotrace.hops=abc";
	assert_int_equal(at_loop_hops(b, strlen(b)), 0);
	b = "autotrace.hopsx=5,autotrace.hops2=7";
	assert_int_equal(at_loop_hops(b, strlen(b)), 0);
	b = "autotrace.hops=99999999999";
	assert_int_equal(at_loop_hops(b, strlen(b)), 0);
	/* the length bounds the parse: nothing past it is read */
	b = "autotrace.hops=45";
	assert_int_equal(at_loop_hops(b, 16), 4);
}

static void hops_baggage(void **state)
{
	char out[128];
	size_t n = at_loop_baggage(NULL, 0, 1, out, sizeof out);
	assert_string_equal(out, "autotrace.hops=1");
	assert_int_equal(n, strlen(out));
	const char *in = "user=alice, autotrace.hops=3 ,k=v;prop";
	n = at_loop_baggage(in, strlen(in), 4, out, sizeof out);
	assert_string_equal(out, "user=alice,k=v;prop,autotrace.hops=4");
	/* might not fit: 0, nothing written */
	strcpy(out, "untouched");
	assert_int_equal(at_loop_baggage(in, strlen(in), 4, out, 40), 0);
	assert_string_equal(out, "untouched");
}

static int has_depth(const struct at_span *s, int64_t *v)
{
	for (int i = 0; i < s->nattrs; i++)
		if (!strcmp(s->attrs[i].key, "autotrace.loop.depth")) {
			*v = s->attrs[i].v.i;
			return 1;
		}
	return 0;
}

static void hops_server_marks_past_threshold(void **state)
{
	struct at_span s;
	char buf[128];
	int hops;
	int64_t v;
	long saved = at_cfg.loop_depth;
	at_cfg.loop_depth = 3;
	unsigned props = at_cfg.propagators;
	at_cfg.propagators |= AT_PROP_BAGGAGE;
	at_span_start_detached(&s, "GET", AT_KIND_SERVER, NULL);
	assert_ptr_equal(at_loop_server(&s, "a=1,autotrace.hops=2", buf, sizeof buf, &hops), buf);
	assert_int_equal(hops, 3);
	assert_string_equal(buf, "a=1,autotrace.hops=3");
	assert_false(has_depth(&s, &v));
	/* in place, as hooks/net.c does with the request's own buffer */
	strcpy(buf, "autotrace.hops=3 , b=2");
	assert_ptr_equal(at_loop_server(&s, buf, buf, sizeof buf, &hops), buf);
	assert_int_equal(hops, 4);
	assert_string_equal(buf, "b=2,autotrace.hops=4");
	assert_true(has_depth(&s, &v));
	assert_int_equal(v, 4);
	/* no incoming baggage: the first server span is hop 1 */
	assert_ptr_equal(at_loop_server(&s, NULL, buf, sizeof buf, &hops), buf);
	assert_int_equal(hops, 1);
	assert_string_equal(buf, "autotrace.hops=1");
	/* no room: the incoming baggage goes on unchanged */
	const char *in = "k=v";
	assert_ptr_equal(at_loop_server(&s, in, buf, 8, &hops), in);
	/* baggage propagator off: counted, not propagated */
	at_cfg.propagators &= ~AT_PROP_BAGGAGE;
	assert_ptr_equal(at_loop_server(&s, NULL, buf, sizeof buf, &hops), NULL);
	at_cfg.propagators = props;
	at_cfg.loop_depth = saved;
}

/* at_crash_describe's text, as a string (in a static buffer) */
static const char *described(int sig, const siginfo_t *si)
{
	static char out[256];
	out[at_crash_describe(sig, si, out, sizeof out - 1)] = 0;
	return out;
}

static void describe(void **state)
{
	siginfo_t si;
	char out[256];
	memset(&si, 0, sizeof si);
	si.si_code = SEGV_MAPERR;
	si.si_addr = (void *)0x10;
	assert_string_equal(described(SIGSEGV, &si),
	                    "Segmentation fault: address not mapped (SEGV_MAPERR) at address 0x10");
	si.si_code = SI_USER;
	si.si_pid = 1;
	assert_string_equal(described(SIGBUS, &si), "Bus error (sent by process 1)");
	/* bounded by the buffer */
	si.si_code = FPE_INTDIV;
	assert_int_equal(at_crash_describe(SIGFPE, &si, out, 10), 10);
	assert_string_equal(at_crash_signame(SIGILL), "SIGILL");
}

/* A signal that kills: who sent it, never a faulting address (a timer's
 * SIGALRM and a tty's SIGHUP have positive codes too). */
static void describe_kill(void **state)
{
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_code = SI_USER;
	si.si_pid = 4242;
	assert_string_equal(described(SIGTERM, &si), "Terminated (sent by process 4242)");
	si.si_code = SI_KERNEL;
	assert_string_equal(described(SIGALRM, &si), "Alarm clock (a timer)");
	assert_string_equal(described(SIGHUP, &si), "Hangup (sent by the kernel)");
	si.si_code = SI_TKILL;
	si.si_pid = getpid();
	assert_string_equal(described(SIGINT, &si), "Interrupt (raised by the process)");
	assert_string_equal(at_crash_signame(SIGQUIT), "SIGQUIT");
	/* which signals are ours, and which of them kill */
	assert_true(at_crash_watched(SIGSEGV) && !at_term_signal(SIGSEGV));
	assert_true(at_crash_watched(SIGTERM) && at_term_signal(SIGTERM));
	assert_true(at_term_signal(SIGALRM) && at_term_signal(SIGHUP));
	assert_true(at_term_signal(SIGUSR1) && at_crash_watched(SIGUSR1) &&
	            at_term_signal(SIGXCPU) && at_term_signal(SIGPROF));
	assert_false(at_crash_watched(SIGPIPE) || at_crash_watched(SIGCHLD) ||
	             at_crash_watched(SIGWINCH) || at_crash_watched(SIGCONT) ||
	             at_crash_watched(0) || at_crash_watched(65) || at_crash_watched(-1) ||
	             at_crash_watched(32) || at_crash_watched(33)); /* glibc's own */
	/* the real-time signals kill too, once the handlers are in */
	assert_true(at_term_signal(SIGRTMIN) && at_term_signal(SIGRTMAX) &&
	            at_crash_watched(SIGRTMIN + 3));
	si.si_code = SI_QUEUE;
	si.si_pid = 4242;
	assert_string_equal(described(SIGRTMIN + 3, &si), "Real-time signal 3 (sent by process 4242)");
	assert_string_equal(at_crash_signame(SIGRTMIN + 3), "SIGRTMIN+3");
	assert_string_equal(at_crash_signame(SIGRTMIN), "SIGRTMIN");
	si.si_code = SI_KERNEL;
	assert_string_equal(described(SIGXCPU, &si),
	                    "CPU time limit exceeded (a resource limit: RLIMIT_CPU)");
	assert_string_equal(described(SIGPROF, &si), "Profiling timer expired (a timer)");
}

/* The loader behind the unwinder and gzip: a library that is not there, or
 * lacks a function, is refused whole; one that is there gives working
 * pointers, without joining the process's global scope. */
static void load_library(void **state)
{
	static const char *const names[] = {"zlibVersion", "deflateBound"};
	void *p[2] = {NULL, NULL};
	assert_int_equal(at_load_library("libautotrace-absent.so.9", names, p, 2, "for a test"),
	                 -1);
	static const char *const bad[] = {"zlibVersion", "no_such_function_here"};
	assert_int_equal(at_load_library("libz.so.1", bad, p, 2, "for a test"), -1);
	assert_int_equal(at_load_library("libz.so.1", names, p, 2, "for a test"), 0);
	const char *(*version)(void) = (const char *(*)(void))p[0];
	assert_non_null(version);
	assert_int_equal(version()[0], '1'); /* zlib 1.x */
	assert_non_null(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(hops_parse),
	    cmocka_unit_test(hops_baggage),
	    cmocka_unit_test(hops_server_marks_past_threshold),
	    cmocka_unit_test(describe),
	    cmocka_unit_test(describe_kill),
	    cmocka_unit_test(load_library),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
