// LIBS: -lcurl
/* A program with its own SIGSEGV handler (installed in main, i.e. after the
 * shim's), crashing inside a traced libcurl call. Modes:
 *   crash_handler sigaction URL  SA_SIGINFO handler: prints, restores the
 *                                default and returns (the fault repeats)
 *   crash_handler signal URL     the same installed with signal()
 *   crash_handler recover URL    the handler siglongjmps back; exits 0
 *   crash_handler emulate URL    as a sandbox does: handlers for SIGSYS
 *                                and SIGTRAP; inside the transfer, a
 *                                seccomp filter traps getppid, which the
 *                                SIGSYS handler answers (4242), 100 times,
 *                                and 10 breakpoints are counted; prints
 *                                "previous default default", then
 *                                "emulated N traps M"; exits 0 ("no
 *                                seccomp" and 4 where filters cannot be
 *                                installed)
 * The handler prints "app handler ran: <si_addr or ->\n" with write(2). */
#ifndef _POSIX_C_SOURCE /* test_failures.py builds it in strict ISO C too */
#define _GNU_SOURCE
#define AT_EMULATE 1
#endif
#include <curl/curl.h>
#include <setjmp.h>
#ifdef AT_EMULATE
#include <sys/syscall.h>
#include <ucontext.h>

#include "seccomp_trap.h"
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static sigjmp_buf back;
static int recover;

static void say(const char *s)
{
	(void)!write(1, s, strlen(s));
}

static void on_segv_info(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	say(si && si->si_addr == NULL ? "app handler ran: 0\n" : "app handler ran: ?\n");
	if (recover)
		siglongjmp(back, 1);
	signal(sig, SIG_DFL);
}

static void on_segv(int sig)
{
	say("app handler ran: -\n");
	signal(sig, SIG_DFL);
}

__attribute__((noinline)) static void crash_null_deref(void)
{
	volatile int *volatile p = NULL;
	*p = 42;
}

static int emulate;

#ifdef AT_EMULATE
static volatile int emulated, traps;

static void on_sys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
#if defined(__x86_64__)
	if (si->si_syscall == SYS_getppid) {
		((ucontext_t *)uc)->uc_mcontext.gregs[REG_RAX] = 4242;
		emulated++;
	}
#else
	(void)si;
	(void)uc;
#endif
}

static void on_trap(int sig)
{
	(void)sig;
	traps++;
}

static void sandboxed(void)
{
	trap_getppid();
	int answered = 0;
	for (int i = 0; i < 100; i++)
		answered += syscall(SYS_getppid) == 4242;
	for (int i = 0; i < 10; i++)
		__asm__ volatile("int3");
	printf("emulated %d traps %d\n", answered == emulated ? emulated : -1, traps);
}
#else
static void sandboxed(void)
{
}
#endif

static size_t on_data(char *p, size_t sz, size_t n, void *u)
{
	(void)p;
	(void)u;
	if (emulate) {
		static int once;
		if (!once++)
			sandboxed();
		return sz * n;
	}
	crash_null_deref();
	return sz * n;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: crash_handler MODE URL\n");
		return 2;
	}
#ifdef AT_EMULATE
	if (!strcmp(argv[1], "emulate")) {
		struct sigaction sa, old_sys, old_trap;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = on_sys;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGSYS, &sa, &old_sys) || sigaction(SIGTRAP, NULL, &old_trap) ||
		    signal(SIGTRAP, on_trap) == SIG_ERR)
			return 3;
		printf("previous %s %s\n", old_sys.sa_handler == SIG_DFL ? "default" : "other",
		       old_trap.sa_handler == SIG_DFL ? "default" : "other");
		emulate = 1;
		CURL *h = curl_easy_init();
		curl_easy_setopt(h, CURLOPT_URL, argv[2]);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
		CURLcode rc = curl_easy_perform(h);
		printf("done %d\n", (int)rc);
		return 0;
	}
#endif
	if (!strcmp(argv[1], "signal")) {
		if (signal(SIGSEGV, on_segv) == SIG_ERR)
			return 3;
	} else {
		struct sigaction sa, old;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = on_segv_info;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGSEGV, &sa, &old))
			return 3;
		/* the application sees its own disposition, not ours */
		struct sigaction now;
		sigaction(SIGSEGV, NULL, &now);
		printf("previous %s, now %s\n", old.sa_handler == SIG_DFL ? "default" : "other",
		       now.sa_sigaction == on_segv_info ? "mine" : "other");
		recover = !strcmp(argv[1], "recover");
	}
	CURL *h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_URL, argv[2]);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	fflush(stdout);
	if (sigsetjmp(back, 1) == 0) {
		curl_easy_perform(h);
		printf("not reached\n");
	} else {
		printf("recovered\n");
	}
	fflush(stdout);
	return 0;
}
