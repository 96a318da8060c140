// LIBS: -lhiredis -lpthread
/* A hiredis program that knows nothing of tracing; synchronous calls.
 *   redis_sync basic HOST PORT       commands of every form, error replies, SELECT
 *   redis_sync loop HOST PORT N MS   N PINGs MS apart, going on after errors
 *   redis_sync unix PATH             two commands over a unix socket
 *   redis_sync threads HOST PORT T N T threads, each its own context, N INCRs each
 *   redis_sync follow HOST PORT      GET, SELECT 3, GET, 50 PINGs, 2.3 s of sleep, GET (with
 *                                    a sampler of one trace in 2 s: the first and last
 *                                    sampled, the database followed in between)
 *   redis_sync crash HOST PORT       a BLPOP that waits 5 s; a SIGALRM handler aborts
 *                                    the program 1 s into it (a crash inside a command)
 *   redis_sync varargs HOST PORT     many argument kinds: ints, long longs, doubles
 *                                    (vector registers), %b, %% (the shim's variadic
 *                                    redisCommand must pass them all on untouched)
 *   redis_sync nonblock HOST PORT    a non-blocking context: SET and GET pipelined and both
 *                                    replies read into hiredis's reader, SET's taken, then a
 *                                    redisCommand PING, which only appends there (NULL, the
 *                                    GET's reply left for the next redisGetReply)
 *   redis_sync handed HOST PORT N    the program connects and sends a PING itself, then
 *                                    hands the socket to hiredis (redisConnectFd): N INCRs
 * Prints one line per command: "<command>: <reply>" or "<command>: NULL <errstr>". */
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static redisContext *c;

static void show(const char *what, redisReply *r)
{
	if (!r) {
		printf("%s: NULL %s\n", what, c->errstr);
	} else if (r->type == REDIS_REPLY_ERROR) {
		printf("%s: error %s\n", what, r->str);
	} else if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
		printf("%s: %.*s\n", what, (int)r->len, r->str);
	} else if (r->type == REDIS_REPLY_INTEGER) {
		printf("%s: %lld\n", what, r->integer);
	} else {
		printf("%s: type %d\n", what, r->type);
	}
	fflush(stdout);
	if (r)
		freeReplyObject(r);
}

static int basic(void)
{
	show("set", redisCommand(c, "SET %s %s", "user:1", "alice"));
	show("get", redisCommand(c, "GET %s", "user:1"));
	show("incrby", redisCommand(c, "INCRBY counter:%d %lld", 7, 5LL));
	const char *argv[] = {"HSET", "h:1", "field", "secret value"};
	show("hset", redisCommandArgv(c, 4, argv, NULL));
	show("notint", redisCommand(c, "INCR %s", "user:1"));
	show("wrongtype", redisCommand(c, "LPUSH %s x", "user:1"));
	show("unknown", redisCommand(c, "NOSUCHCOMMAND a b"));
	show("select", redisCommand(c, "SELECT %d", 3));
	show("set3", redisCommand(c, "SET %s %b", "k3", "v\0x", (size_t)3));
	return 0;
}

static const char *host;
static int port, per_thread;

static void *worker(void *arg)
{
	long id = (long)arg;
	redisContext *t = redisConnect(host, port);
	int ok = 0;
	for (int i = 0; t && !t->err && i < per_thread; i++) {
		redisReply *r = redisCommand(t, "INCR thread:%ld", id);
		ok += r && r->type == REDIS_REPLY_INTEGER && r->integer == i + 1;
		if (r)
			freeReplyObject(r);
	}
	if (t)
		redisFree(t);
	return (void *)(long)ok;
}

static int threads(int n)
{
	pthread_t th[64];
	long total = 0;
	for (long i = 0; i < n && i < 64; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	for (long i = 0; i < n && i < 64; i++) {
		void *ok;
		pthread_join(th[i], &ok);
		total += (long)ok;
	}
	printf("threads ok=%ld\n", total);
	return 0;
}

/* The next reply of a non-blocking context, reading as needed. */
static redisReply *next_reply(void)
{
	void *r = NULL;
	for (int i = 0; i < 100 && !r; i++) {
		if (redisGetReply(c, &r) != REDIS_OK)
			return NULL;
		if (r)
			break;
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		poll(&p, 1, 100);
		if (redisBufferRead(c) != REDIS_OK)
			return NULL;
	}
	return r;
}

static int flush_out(void)
{
	int done = 0;
	while (!done) {
		struct pollfd p = {.fd = c->fd, .events = POLLOUT};
		poll(&p, 1, 1000);
		if (redisBufferWrite(c, &done) != REDIS_OK)
			return -1;
	}
	return 0;
}

static int nonblock(const char *h, int p)
{
	c = redisConnectNonBlock(h, p);
	if (!c || c->err || (c->flags & REDIS_BLOCK))
		return 2;
	redisAppendCommand(c, "SET nb %s", "one");
	redisAppendCommand(c, "GET nb");
	if (flush_out())
		return 3;
	/* "+OK\r\n" and "$3\r\none\r\n": both in the reader, none taken */
	for (int i = 0; i < 100 && c->reader->len - c->reader->pos < 14; i++) {
		struct pollfd q = {.fd = c->fd, .events = POLLIN};
		poll(&q, 1, 100);
		if (redisBufferRead(c) != REDIS_OK)
			return 4;
	}
	show("set", next_reply());
	redisReply *r = redisCommand(c, "PING");
	printf("command: %s\n", r ? "a reply" : "NULL");
	if (r)
		freeReplyObject(r);
	show("get", next_reply());
	if (flush_out())
		return 5;
	show("ping", next_reply());
	redisFree(c);
	printf("done\n");
	return 0;
}

static void on_alarm(int sig)
{
	(void)sig;
	abort();
}

/* A socket the program connected and used itself, then gave to hiredis. */
static redisContext *handed(const char *h, int p)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char b[16];
	if (fd < 0 || inet_pton(AF_INET, h, &sa.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof sa) || write(fd, "*1\r\n$4\r\nPING\r\n", 14) != 14 ||
	    read(fd, b, sizeof b) != 7 || memcmp(b, "+PONG\r\n", 7))
		return NULL;
	printf("by hand: PONG\n");
	return redisConnectFd(fd);
}

int main(int argc, char **argv)
{
	if (argc >= 6 && !strcmp(argv[1], "threads")) {
		host = argv[2];
		port = atoi(argv[3]);
		per_thread = atoi(argv[5]);
		return threads(atoi(argv[4]));
	}
	if (argc >= 4 && !strcmp(argv[1], "nonblock"))
		return nonblock(argv[2], atoi(argv[3]));
	if (argc >= 3 && !strcmp(argv[1], "unix"))
		c = redisConnectUnix(argv[2]);
	else if (argc >= 5 && !strcmp(argv[1], "handed"))
		c = handed(argv[2], atoi(argv[3]));
	else if (argc >= 4)
		c = redisConnect(argv[2], atoi(argv[3]));
	else {
		fprintf(stderr, "usage: redis_sync basic|loop|unix ...\n");
		return 2;
	}
	if (!c || c->err) {
		fprintf(stderr, "connect: %s\n", c ? c->errstr : "oom");
		return 2;
	}
	if (!strcmp(argv[1], "basic")) {
		basic();
	} else if (!strcmp(argv[1], "varargs")) {
		show("set", redisCommand(c, "SET va:%d:%lld %.3f|%s|%b|%%|%hd", 7, -12345678901LL,
		                         2.5, "str", "b-in", (size_t)3, (short)-3));
		show("get", redisCommand(c, "GET va:%d:%lld", 7, -12345678901LL));
		show("mset", redisCommand(c, "MSET %s %f %s %e %s %g %s %d", "d1", 0.125, "d2",
		                          1e10, "d3", -3.75, "i", 42));
		show("mget", redisCommand(c, "MGET d1 d2 d3 i"));
		show("get1", redisCommand(c, "GET d1"));
		show("get2", redisCommand(c, "GET d2"));
		show("get3", redisCommand(c, "GET d3"));
	} else if (!strcmp(argv[1], "follow")) {
		show("get", redisCommand(c, "GET a"));
		show("select", redisCommand(c, "SELECT 3"));
		show("get", redisCommand(c, "GET b"));
		for (int i = 0; i < 50; i++)
			show("ping", redisCommand(c, "PING"));
		usleep(2300 * 1000);
		show("get", redisCommand(c, "GET c"));
	} else if (!strcmp(argv[1], "crash")) {
		signal(SIGALRM, on_alarm);
		alarm(1);
		printf("waiting\n");
		fflush(stdout);
		show("blpop", redisCommand(c, "BLPOP autotrace:never 5"));
	} else if (!strcmp(argv[1], "unix")) {
		show("set", redisCommand(c, "SET %s %s", "u", "1"));
		show("get", redisCommand(c, "GET u"));
	} else if (!strcmp(argv[1], "handed")) {
		for (int i = 0, n = atoi(argv[4]); i < n; i++)
			show("incr", redisCommand(c, "INCR handed"));
	} else if (!strcmp(argv[1], "loop") && argc >= 6) {
		int n = atoi(argv[4]), ms = atoi(argv[5]);
		for (int i = 0; i < n; i++) {
			show("ping", redisCommand(c, "PING"));
			usleep((useconds_t)ms * 1000);
		}
	}
	redisFree(c);
	printf("done\n");
	return 0;
}
