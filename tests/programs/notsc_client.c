// LIBS:
/* A client that forbids the TSC to itself midway, and reads no clock: an
 * HTTP GET on a plain socket, then prctl(PR_SET_TSC, PR_TSC_SIGSEGV) (from
 * then on rdtsc, the vDSO's clock_gettime with it, raises SIGSEGV in this
 * thread and in those it starts), then a GET, then a GET from a new thread.
 *   notsc_client port [before]
 * "before": the prctl comes first, before any request. Prints "ok N" per
 * request. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int port;

static void get(int i)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) {
		perror("connect");
		exit(1);
	}
	char req[128], buf[4096];
	int n = snprintf(req, sizeof req, "GET /t%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
	if (write(fd, req, (size_t)n) != n || read(fd, buf, sizeof buf) <= 0) {
		perror("request");
		exit(1);
	}
	close(fd);
	printf("ok %d\n", i);
	fflush(stdout);
}

static void *thread_get(void *arg)
{
	get((int)(long)arg);
	return NULL;
}

static void forbid(void)
{
	if (prctl(PR_SET_TSC, PR_TSC_SIGSEGV, 0, 0, 0)) {
		perror("prctl");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	port = atoi(argv[1]);
	int before = argc > 2 && !strcmp(argv[2], "before");
	if (before)
		forbid();
	get(0);
	if (!before)
		forbid();
	get(1);
	pthread_t t;
	if (pthread_create(&t, NULL, thread_get, (void *)2L) || pthread_join(t, NULL))
		return 1;
	return 0;
}
