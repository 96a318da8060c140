// LIBS: -lcurl
/* A program with its own SIGSEGV handler (installed in main, i.e. after the
 * shim's), crashing inside a traced libcurl call. Modes:
 *   crash_handler sigaction URL  SA_SIGINFO handler: prints, restores the
 *                                default and returns (the fault repeats)
 *   crash_handler signal URL     the same installed with signal()
 *   crash_handler recover URL    the handler siglongjmps back; exits 0
 * The handler prints "app handler ran: <si_addr or ->\n" with write(2). */
#include <curl/curl.h>
#include <setjmp.h>
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

static size_t on_data(char *p, size_t sz, size_t n, void *u)
{
	(void)p;
	(void)u;
	crash_null_deref();
	return sz * n;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: crash_handler MODE URL\n");
		return 2;
	}
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
