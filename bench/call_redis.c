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
#include "calls.h"

#include <hiredis/hiredis.h>

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
	struct calls k;
	int port, ls = calls_listen(&port);
	calls_init(&k, bench_arg(argc, argv, 1, 20000));
	redisContext *c = redisConnect("127.0.0.1", port);
	if (!c || c->err) {
		fprintf(stderr, "redis connect: %s\n", c ? c->errstr : "oom");
		return 2;
	}
	int srv = calls_accept(ls);
	for (long i = -200; i < k.n; i++) { /* 200 warm-up calls */
		if (write(srv, "+PONG\r\n", 7) != 7)
			bench_die("write reply");
		bench_evict(&k.ev);
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
			k.lat[i] = b - a;
	}
	calls_report(&k);
	redisFree(c);
	close(srv);
	close(ls);
	return 0;
}
