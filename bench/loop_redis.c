/* hiredis PING loop: loop_redis N PORT */
// LIBS: -lhiredis
#include "bench.h"

#include <hiredis/hiredis.h>

static redisContext *c;

static NOINLINE void op(void)
{
	redisReply *r = redisCommand(c, "PING");
	if (!r) {
		fprintf(stderr, "redis: %s\n", c->errstr);
		exit(2);
	}
	freeReplyObject(r);
}

NOINLINE void bench_loop(long n)
{
	for (long i = 0; i < n; i++)
		op();
}

int main(int argc, char **argv)
{
	long n = bench_arg(argc, argv, 1, 1000);
	c = redisConnect("127.0.0.1", (int)bench_arg(argc, argv, 2, 6379));
	if (!c || c->err) {
		fprintf(stderr, "redis connect: %s\n", c ? c->errstr : "oom");
		return 2;
	}
	for (int i = 0; i < 20; i++)
		op();
	double t0 = bench_begin();
	bench_loop(n);
	bench_report(n, t0, bench_now());
	redisFree(c);
	return 0;
}
