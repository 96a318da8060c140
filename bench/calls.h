/* Shared by call_redis and call_mysql: single calls timed one by one
 * against a server this thread plays over loopback TCP. */
#ifndef BENCH_CALLS_H
#define BENCH_CALLS_H

#include "bench.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

/* The calls' latencies, and the walk before each (bench.h, bench_evict). */
struct calls {
	long n;
	struct bench_evict ev;
	double *lat;
};

static inline void calls_init(struct calls *k, long n)
{
	k->n = n;
	bench_evict_init(&k->ev);
	k->lat = calloc((size_t)n, sizeof *k->lat);
	if (!k->lat)
		bench_die("calloc");
}

/* The line run.py reads: the p50 and p99 of the calls, ns. */
static inline void calls_report(struct calls *k)
{
	qsort(k->lat, (size_t)k->n, sizeof *k->lat, bench_cmp_double);
	printf("iters=%ld lat_p50=%.0f lat_p99=%.0f\n", k->n, k->lat[k->n / 2],
	       k->lat[k->n * 99 / 100]);
	fflush(stdout);
}

/* A listener on 127.0.0.1, any port: its fd, the port in *port. */
static inline int calls_listen(int *port)
{
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof sa;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) || listen(ls, 1) ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl))
		bench_die("listen");
	*port = ntohs(sa.sin_port);
	return ls;
}

/* The server's end of the connection the client just made to ls. */
static inline int calls_accept(int ls)
{
	int one = 1, fd = accept(ls, NULL, NULL);
	if (fd < 0)
		bench_die("accept");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

#endif
