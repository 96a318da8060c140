/* A process's first traced call against its second: what the first span
 * costs once (the exporter thread or process started, the span ring's first
 * page faulted in, libunwind loaded in process mode). first_call PORT
 * connects to redis-server, times two PINGs, prints
 * "first_ns N second_ns M first_cpu_ns C" (C: the calling thread's CPU time
 * in the first PING). */
// LIBS: -lhiredis
#include "bench.h"

#include <hiredis/hiredis.h>

static NOINLINE double ping(redisContext *c, double *cpu)
{
	double c0 = bench_thread_cpu(), t0 = bench_now();
	redisReply *r = redisCommand(c, "PING");
	double t = bench_now() - t0;
	*cpu = bench_thread_cpu() - c0;
	if (!r) {
		fprintf(stderr, "redis: %s\n", c->errstr);
		exit(2);
	}
	freeReplyObject(r);
	return t;
}

int main(int argc, char **argv)
{
	redisContext *c = redisConnect("127.0.0.1", (int)bench_arg(argc, argv, 1, 6379));
	if (!c || c->err) {
		fprintf(stderr, "redis connect: %s\n", c ? c->errstr : "oom");
		return 2;
	}
	double cpu, cpu2;
	double first = ping(c, &cpu);
	double second = ping(c, &cpu2);
	printf("first_ns %.0f second_ns %.0f first_cpu_ns %.0f\n", first, second, cpu);
	redisFree(c);
	return 0;
}
