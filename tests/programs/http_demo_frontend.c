// LIBS:
/* Demo service A, "frontend": a legacy-style C web service on plain sockets,
 * one thread per connection, that knows nothing of tracing. For
 * GET /checkout?user=N it asks the backend (service B) over HTTP, written by
 * hand on a socket, and answers with what it got.
 *   http_demo_frontend listen_port backend_port */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int backend_port;

static int listen_on(int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) {
		perror("frontend: listen");
		exit(1);
	}
	return s;
}

/* GET path from the backend; the response body goes into out. */
static int ask_backend(const char *path, char *out, size_t cap)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)backend_port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
		close(s);
		return snprintf(out, cap, "backend unavailable\n");
	}
	char req[512];
	int n = snprintf(req, sizeof req,
	                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: frontend/1.0\r\n"
	                 "Connection: close\r\n\r\n",
	                 path, backend_port);
	send(s, req, (size_t)n, 0);
	size_t have = 0;
	ssize_t r;
	char buf[8192];
	while (have < sizeof buf - 1 && (r = recv(s, buf + have, sizeof buf - 1 - have, 0)) > 0)
		have += (size_t)r;
	buf[have] = 0;
	close(s);
	char *body = strstr(buf, "\r\n\r\n");
	return snprintf(out, cap, "%s", body ? body + 4 : "");
}

static void *handle(void *p)
{
	int c = (int)(intptr_t)p;
	char buf[4096], body[4096], path[256] = "/", resp[8192];
	ssize_t n = recv(c, buf, sizeof buf - 1, 0);
	if (n > 0) {
		buf[n] = 0;
		sscanf(buf, "%*s %255s", path);
		char *q = strchr(path, '?');
		char back[300];
		snprintf(back, sizeof back, "/inventory%s", q ? q : "");
		ask_backend(back, body, sizeof body);
		char text[4400];
		int tl = snprintf(text, sizeof text, "frontend: checkout ok\n%s", body);
		int rl = snprintf(resp, sizeof resp,
		                  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
		                  "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
		                  tl, text);
		write(c, resp, (size_t)rl);
	}
	close(c);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	backend_port = atoi(argv[2]);
	int s = listen_on(atoi(argv[1]));
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			continue;
		pthread_t t;
		pthread_create(&t, NULL, handle, (void *)(intptr_t)c);
		pthread_detach(t);
	}
}
