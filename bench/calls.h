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

/* The calls' latencies, and the walk that BENCH_EVICT_KB asks for before
 * each call (one store per cache line: the call's code and data leave L1
 * and L2, as a server's turn on the same CPU makes them in a client loop). */
struct calls {
	long n, evict;
	volatile char *ev;
	double *lat;
};

static inline void calls_init(struct calls *k, long n)
{
	k->n = n;
	k->evict = getenv("BENCH_EVICT_KB") ? atol(getenv("BENCH_EVICT_KB")) * 1024 : 0;
	k->ev = k->evict > 0 ? calloc(1, (size_t)k->evict) : NULL;
	k->lat = calloc((size_t)n, sizeof *k->lat);
	if (!k->lat || (k->evict > 0 && !k->ev))
		bench_die("calloc");
}

static inline void calls_evict(struct calls *k)
{
	for (long j = 0; k->ev && j < k->evict; j += 64)
		k->ev[j]++;
}

static int calls_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The line run.py reads: the p50 and p99 of the calls, ns. */
static inline void calls_report(struct calls *k)
{
	qsort(k->lat, (size_t)k->n, sizeof *k->lat, calls_cmp);
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
