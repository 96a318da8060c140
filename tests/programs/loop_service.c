// LIBS: -lcurl
/* A small HTTP service (plain sockets, a thread per connection) that calls
 * the next service with libcurl while handling a request; two of them
 * pointing at each other make a call loop. The depth limit is the
 * services' own, as in real code:
 *   loop_service PORT NEXT_PORT LIMIT
 *   GET /hop/N   if N < LIMIT: GET http://127.0.0.1:NEXT_PORT/hop/N+1 first;
 *                answers 200 "N"
 *   GET /crash   the handler dereferences NULL
 *   GET /quit    answers, then the process exits 0
 * Knows nothing of tracing. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int next_port, limit;

static size_t sink(char *p, size_t sz, size_t n, void *u)
{
	(void)p;
	(void)u;
	return sz * n;
}

static void call_next(int n)
{
	char url[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/hop/%d", next_port, n);
	CURL *h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
	curl_easy_perform(h);
	curl_easy_cleanup(h);
}

__attribute__((noinline)) static void handle_crash(void)
{
	volatile int *volatile p = NULL;
	*p = 1;
}

static void reply(int fd, const char *body)
{
	char out[256];
	int n = snprintf(out, sizeof out,
	                 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
	                 strlen(body), body);
	(void)!write(fd, out, (size_t)n);
}

static void *conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char req[4096];
	size_t len = 0;
	while (len < sizeof req - 1) {
		ssize_t r = read(fd, req + len, sizeof req - 1 - len);
		if (r <= 0)
			break;
		len += (size_t)r;
		req[len] = 0;
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[len] = 0;
	int n;
	char body[32];
	if (sscanf(req, "GET /hop/%d", &n) == 1) {
		if (n < limit)
			call_next(n + 1);
		snprintf(body, sizeof body, "%d", n);
		reply(fd, body);
	} else if (!strncmp(req, "GET /crash", 10)) {
		handle_crash();
	} else if (!strncmp(req, "GET /quit", 9)) {
		reply(fd, "bye");
		close(fd);
		exit(0);
	} else {
		reply(fd, "?");
	}
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: loop_service PORT NEXT_PORT LIMIT\n");
		return 2;
	}
	next_port = atoi(argv[2]);
	limit = atoi(argv[3]);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 64)) {
		perror("bind");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		int fd = accept(s, NULL, NULL);
		if (fd < 0)
			continue;
		pthread_t t;
		pthread_create(&t, NULL, conn_main, (void *)(intptr_t)fd);
		pthread_detach(t);
	}
}
