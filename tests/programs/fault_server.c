// LIBS:
/* A one-thread HTTP server whose request handling takes a page fault that
 * its own SIGSEGV handler deals with, as a JVM (null checks, safepoint
 * polls) or a garbage collector's write barrier does. Per request: the
 * head is read, a PROT_NONE page is written (touch_page), a GET /up is
 * made to 127.0.0.1:UPPORT, and 200 is answered. Prints its port first.
 * Usage: fault_server UPPORT MODE
 *   recover  the handler makes the page writable and returns: the write
 *            goes on (the page is protected again after the request)
 *   die      the handler writes "handler\n" to stderr, sets SIG_DFL and
 *            raises SIGSEGV: the process dies by it
 *   abort    the handler writes "handler\n" and calls abort() */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static char *page;
static int die, aborts;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (die || (char *)si->si_addr < page || (char *)si->si_addr >= page + 4096) {
		(void)!write(2, "handler\n", 8);
		if (aborts)
			abort();
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	mprotect(page, 4096, PROT_READ | PROT_WRITE);
}

__attribute__((noinline)) void touch_page(int n)
{
	page[n % 4096] = (char)n;
}

static void upstream(int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a))
		exit(3);
	const char req[] = "GET /up HTTP/1.1\r\nHost: up\r\nConnection: close\r\n\r\n";
	(void)!write(s, req, sizeof req - 1);
	char b[4096];
	while (read(s, b, sizeof b) > 0)
		;
	close(s);
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	int up = atoi(argv[1]);
	aborts = !strcmp(argv[2], "abort");
	die = aborts || !strcmp(argv[2], "die");
	page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof a;
	if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 16) ||
	    getsockname(l, (struct sockaddr *)&a, &al))
		return 3;
	printf("%d\n", ntohs(a.sin_port));
	fflush(stdout);
	for (int n = 0;; n++) {
		int c = accept(l, NULL, NULL);
		if (c < 0)
			continue;
		char b[4096];
		size_t have = 0;
		ssize_t r;
		while (have < sizeof b - 1 && (r = read(c, b + have, sizeof b - 1 - have)) > 0) {
			have += (size_t)r;
			b[have] = 0;
			if (strstr(b, "\r\n\r\n"))
				break;
		}
		touch_page(n);
		upstream(up);
		mprotect(page, 4096, PROT_NONE);
		const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
		(void)!write(c, resp, sizeof resp - 1);
		close(c);
	}
}
