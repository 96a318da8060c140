// LIBS:
/* A program whose SIGTERM handler is one-shot (SA_RESETHAND), as node's is:
 * it makes one HTTP request (a span, queued), installs the handler, prints
 * "ready" and waits. Usage: oneshot_term PORT HOW THEN
 *   HOW   sigaction (SA_RESETHAND | SA_SIGINFO), sysv (sysv_signal: also
 *         SA_NODEFER)
 *   THEN  raise: the handler raises SIGTERM again, to die by it (node's
 *         way); return: it returns, the program prints "still here" and
 *         waits for the next SIGTERM
 * The handler prints "handler <sig> <disposition now: default|handler>
 * <si_pid set: 1|0>", with write(2). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int again;
static volatile sig_atomic_t handled;

static void say(const char *s)
{
	(void)!write(1, s, strlen(s));
}

static void report(int sig, int has_pid)
{
	struct sigaction now;
	sigaction(SIGTERM, NULL, &now);
	char b[96];
	snprintf(b, sizeof b, "handler %d %s %d\n", sig,
	         now.sa_handler == SIG_DFL ? "default" : "handler", has_pid);
	say(b);
	handled = 1;
	if (again)
		raise(sig);
}

static void on_info(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	report(sig, si && si->si_pid > 0);
}

static void on_plain(int sig)
{
	report(sig, 0);
}

static int request(int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a))
		return -1;
	const char req[] = "GET /oneshot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	if (write(s, req, sizeof req - 1) != (ssize_t)(sizeof req - 1))
		return -1;
	char buf[4096];
	while (read(s, buf, sizeof buf) > 0)
		;
	close(s);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	again = !strcmp(argv[3], "raise");
	if (request(atoi(argv[1])))
		return 3;
	if (!strcmp(argv[2], "sysv")) {
		sysv_signal(SIGTERM, on_plain);
	} else {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = on_info;
		sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
		sigaction(SIGTERM, &sa, NULL);
	}
	struct sigaction seen;
	sigaction(SIGTERM, NULL, &seen);
	printf("ready %s\n", seen.sa_flags & SA_RESETHAND ? "oneshot" : "kept");
	fflush(stdout);
	while (!handled)
		pause();
	say("still here\n");
	for (;;)
		pause();
}
