/* A minimal keep-alive HTTP/1.1 server for the bench: answers GET with a
 * 2-byte body and swallows POST bodies (a collector sink that costs next to
 * nothing, so exporter figures measure the exporter). Uses recv/send, like
 * most hand-written servers.
 *
 * httpd PORT [MAXREQ]   PORT 0 picks a free one; the port is printed on
 * stdout. With MAXREQ it exits after that many requests (so callgrind
 * writes its profile); handle_request() is the function to toggle on. */
#define _GNU_SOURCE
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXCONN 64
#define BUFSZ 65536

struct conn {
	int fd;
	size_t len;  /* bytes buffered */
	size_t skip; /* body bytes still to discard */
	char buf[BUFSZ];
};

static struct conn conns[MAXCONN];
static long served, posts, maxreq;
static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}
static const char ok_get[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             "Content-Length: 2\r\n\r\nok";
static const char ok_post[] = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
                              "Content-Length: 0\r\n\r\n";

static long content_length(const char *hdr, size_t n)
{
	for (const char *p = hdr; p && p < hdr + n; p = memchr(p, '\n', (size_t)(hdr + n - p))) {
		if (*p == '\n')
			p++;
		if (!strncasecmp(p, "Content-Length:", 15))
			return atol(p + 15);
	}
	printf("served=%ld posts=%ld\n", served, posts);
	return 0;
}

/* Serve every complete request buffered on c; 0 to keep, -1 to close. */
static NOINLINE int handle_request(struct conn *c)
{
	ssize_t r = recv(c->fd, c->buf + c->len, BUFSZ - c->len, 0);
	if (r <= 0)
		return -1;
	c->len += (size_t)r;
	for (;;) {
		if (c->skip) {
			size_t d = c->skip < c->len ? c->skip : c->len;
			memmove(c->buf, c->buf + d, c->len - d);
			c->len -= d;
			c->skip -= d;
			if (c->skip)
				return 0;
		}
		char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
		if (!end)
			return c->len == BUFSZ ? -1 : 0;
		size_t hl = (size_t)(end - c->buf) + 4;
		int post = !strncmp(c->buf, "POST", 4);
		long cl = post ? content_length(c->buf, hl) : 0;
		const char *resp = post ? ok_post : ok_get;
		size_t rl = post ? sizeof ok_post - 1 : sizeof ok_get - 1;
		if (send(c->fd, resp, rl, MSG_NOSIGNAL) != (ssize_t)rl)
			return -1;
		memmove(c->buf, c->buf + hl, c->len - hl);
		c->len -= hl;
		c->skip = (size_t)cl;
		served++;
		posts += post;
		if (!c->len && !c->skip)
			return 0;
	}
}

int main(int argc, char **argv)
{
	int port = (int)bench_arg(argc, argv, 1, 0);
	maxreq = bench_arg(argc, argv, 2, 0);
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&sa, sizeof sa) || listen(ls, 128))
		bench_die("bind");
	socklen_t sl = sizeof sa;
	getsockname(ls, (struct sockaddr *)&sa, &sl);
	printf("%d\n", ntohs(sa.sin_port));
	fflush(stdout);
	for (int i = 0; i < MAXCONN; i++)
		conns[i].fd = -1;
	struct pollfd pf[MAXCONN + 1];
	/* SIGTERM: print what was served (run.py counts the exporter's requests) */
	struct sigaction sa_term = {.sa_handler = on_term};
	sigaction(SIGTERM, &sa_term, NULL);
	while (!stopping && (!maxreq || served < maxreq)) {
		int n = 0;
		pf[n++] = (struct pollfd){.fd = ls, .events = POLLIN};
		int idx[MAXCONN + 1];
		for (int i = 0; i < MAXCONN; i++)
			if (conns[i].fd >= 0) {
				idx[n] = i;
				pf[n++] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
			}
		if (poll(pf, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue; /* the loop condition sees stopping */
			bench_die("poll");
		}
		if (pf[0].revents & POLLIN) {
			int fd = accept(ls, NULL, NULL);
			int i = 0;
			while (i < MAXCONN && conns[i].fd >= 0)
				i++;
			if (fd >= 0 && i < MAXCONN) {
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
				conns[i].fd = fd;
				conns[i].len = conns[i].skip = 0;
			} else if (fd >= 0) {
				close(fd);
			}
		}
		for (int k = 1; k < n; k++)
			if (pf[k].revents) {
				struct conn *c = &conns[idx[k]];
				if (handle_request(c) < 0) {
					close(c->fd);
					c->fd = -1;
				}
			}
	}
	printf("served=%ld posts=%ld\n", served, posts);
	return 0;
}
