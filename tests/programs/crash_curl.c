// LIBS: -lcurl
/* A libcurl program that crashes inside a traced call: its write callback
 * (run inside curl_easy_perform, i.e. inside the CLIENT span) fails. Modes:
 *   crash_curl segv URL     NULL dereference in crash_null_deref
 *   crash_curl abort URL    abort() in crash_abort
 *   crash_curl assert URL   a failed assert() in crash_assert
 *   crash_curl fpe URL      integer division by zero in crash_divide
 *   crash_curl overflow URL unbounded recursion in crash_recurse (stack overflow)
 *   crash_curl trap URL     a breakpoint instruction (int3) in crash_trap
 *   crash_curl seccomp URL  crash_seccomp installs a seccomp filter that
 *                           traps getppid (SECCOMP_RET_TRAP), then calls it:
 *                           SIGSYS; prints "no seccomp" and exits 4 where
 *                           the filter cannot be installed
 *   crash_curl after URL    the request completes, then a NULL dereference
 *   crash_curl early URL    NULL dereference in the open-socket callback, the
 *                           first thing the request does (microseconds
 *                           after the process's first span starts)
 *   crash_curl none URL     no crash
 *   crash_curl fork URL     a request, 100 ms, then fork: the child's
 *                           request crashes as segv does; the parent prints
 *                           how long fork took ("fork_ms N") and the
 *                           child's signal
 *   crash_curl closeall URL FILE
 *                           a request, 200 ms, then, as a daemon does, closes
 *                           every descriptor above 2, opens FILE (read-write)
 *                           on the numbers 3 to 10, and a second request
 *                           crashes as segv does
 *   crash_curl pipes URL    opens 70 pipes, then crashes as segv does
 * Prints "performing" before the request. Knows nothing of tracing. */
#include <assert.h>
#include <fcntl.h>
#include <curl/curl.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "seccomp_trap.h"

static const char *mode;

__attribute__((noinline)) static void crash_null_deref(void)
{
	volatile int *volatile p = NULL; /* volatile: the compiler cannot turn it into a trap */
	*p = 42;
}

__attribute__((noinline)) static void crash_abort(void)
{
	abort();
}

__attribute__((noinline)) static void crash_assert(int x)
{
	assert(x == 42);
}

__attribute__((noinline)) static int crash_divide(int a)
{
	volatile int zero = 0;
	return a / zero;
}

__attribute__((noinline)) static int crash_recurse(volatile char *prev, long depth)
{
	volatile char frame[512];
	frame[0] = prev ? prev[0] + 1 : 0;
	if (depth < 0) /* never: the stack runs out first */
		return frame[0];
	return crash_recurse(frame, depth + 1) + frame[1];
}

__attribute__((noinline)) static void crash_trap(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ volatile("int3");
#else
	__builtin_trap();
#endif
	printf("after the trap\n"); /* the trap's return address is in this function */
}

__attribute__((noinline)) static long crash_seccomp(void)
{
	trap_getppid();
	return syscall(SYS_getppid);
}

static size_t on_data(char *p, size_t sz, size_t n, void *u)
{
	(void)p;
	(void)u;
	if (!strcmp(mode, "segv"))
		crash_null_deref();
	else if (!strcmp(mode, "abort"))
		crash_abort();
	else if (!strcmp(mode, "assert"))
		crash_assert((int)n - (int)n);
	else if (!strcmp(mode, "fpe"))
		return (size_t)crash_divide((int)(sz * n));
	else if (!strcmp(mode, "overflow"))
		return (size_t)crash_recurse(NULL, 0);
	else if (!strcmp(mode, "trap"))
		crash_trap();
	else if (!strcmp(mode, "seccomp"))
		return (size_t)crash_seccomp();
	return sz * n;
}

static curl_socket_t on_open_socket(void *u, curlsocktype purpose, struct curl_sockaddr *a)
{
	(void)u;
	(void)purpose;
	(void)a;
	crash_null_deref();
	return CURL_SOCKET_BAD;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: crash_curl MODE URL\n");
		return 2;
	}
	mode = argv[1];
	CURL *h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_URL, argv[2]);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	if (!strcmp(mode, "early"))
		curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	if (!strcmp(mode, "pipes")) {
		int fds[2];
		for (int i = 0; i < 70; i++)
			if (pipe(fds))
				return 3;
		mode = "segv";
	}
	printf("performing\n");
	fflush(stdout);
	CURLcode rc = curl_easy_perform(h);
	printf("done %d\n", (int)rc);
	fflush(stdout);
	if (!strcmp(mode, "after"))
		crash_null_deref();
	if (!strcmp(mode, "fork")) {
		struct timespec t0, t1, pause = {0, 100000000};
		nanosleep(&pause, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		pid_t pid = fork();
		if (pid == 0) {
			mode = "segv";
			curl_easy_perform(h);
			_exit(0); /* not reached: on_data crashes */
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		int st = 0;
		waitpid(pid, &st, 0);
		printf("fork_ms %ld\nchild signal %d\n",
		       (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000),
		       WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	}
	if (!strcmp(mode, "closeall") && argc > 3) {
		struct timespec pause = {0, 200000000};
		nanosleep(&pause, NULL);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		for (int fd = 3; fd <= 10; fd++)
			if (open(argv[3], O_RDWR) != fd)
				return 3;
		mode = "segv";
		curl_easy_perform(h);
	}
	curl_easy_cleanup(h);
	return 0;
}
