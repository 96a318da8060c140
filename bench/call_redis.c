/* Single redisCommand(c, "PING") calls timed one by one, the server played
 * by this thread: call_redis N
 *
 * hiredis connects over loopback TCP to a listener of this program, which
 * writes the reply ("+PONG\r\n") into its end before each call and reads
 * the command back after it, both outside the timed part. So each timed call
 * is what the application's thread does for a PING (the append, the write,
 * the read, the reply's parse, and whatever the shim adds to them) and
 * nothing of a server's. With BENCH_EVICT_KB, a walk through that many KiB
 * (one store per cache line) before each call pushes the call's code and
 * data out of L1 and L2, as a server's turn on the same CPU does in a client
 * loop (loop_redis). Prints the p50 and p99 of the calls, in ns. */
// LIBS: -lhiredis
#include "bench.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The command hiredis sends for PING, read back whole. */
static void drain(int fd)
{
	static const char want[] = "*1\r\n$4\r\nPING\r\n";
	char buf[64];
	size_t got = 0;
	while (got < sizeof want - 1) {
		ssize_t r = read(fd, buf + got, sizeof want - 1 - got);
		if (r <= 0)
			bench_die("read back");
		got += (size_t)r;
	}
	if (memcmp(buf, want, got))
		bench_die("unexpected command");
}

int main(int argc, char **argv)
{
	long n = bench_arg(argc, argv, 1, 20000);
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof sa;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) || listen(ls, 1) ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl))
		bench_die("listen");
	redisContext *c = redisConnect("127.0.0.1", ntohs(sa.sin_port));
	if (!c || c->err) {
		fprintf(stderr, "redis connect: %s\n", c ? c->errstr : "oom");
		return 2;
	}
	int srv = accept(ls, NULL, NULL);
	if (srv < 0)
		bench_die("accept");
	setsockopt(srv, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

	long evict = getenv("BENCH_EVICT_KB") ? atol(getenv("BENCH_EVICT_KB")) * 1024 : 0;
	volatile char *ev = evict > 0 ? calloc(1, (size_t)evict) : NULL;
	double *lat = calloc((size_t)n, sizeof *lat);
	if (!lat)
		bench_die("calloc");
	for (long i = -200; i < n; i++) { /* 200 warm-up calls */
		if (write(srv, "+PONG\r\n", 7) != 7)
			bench_die("write reply");
		for (long j = 0; ev && j < evict; j += 64)
			ev[j]++;
		double a = bench_now();
		redisReply *r = redisCommand(c, "PING");
		double b = bench_now();
		if (!r || r->type != REDIS_REPLY_STATUS) {
			fprintf(stderr, "redis: %s\n", c->errstr);
			return 2;
		}
		freeReplyObject(r);
		drain(srv);
		if (i >= 0)
			lat[i] = b - a;
	}
	qsort(lat, (size_t)n, sizeof *lat, cmp);
	printf("iters=%ld lat_p50=%.0f lat_p99=%.0f\n", n, lat[n / 2], lat[n * 99 / 100]);
	redisFree(c);
	close(srv);
	close(ls);
	return 0;
}
