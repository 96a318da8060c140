// LIBS: -lhiredis
/* hiredis's asynchronous API on a small poll() event loop (the adapter hooks
 * ev.addRead etc., as libevent/libev adapters do), knowing nothing of tracing.
 *   redis_async HOST PORT         commands, an error reply, SELECT, a command
 *                                 without callback, a preformatted one, then
 *                                 disconnect
 *   redis_async HOST PORT free    a command, then redisAsyncFree before any I/O
 *   redis_async HOST PORT sub     SUBSCRIBE (its callback runs once per message);
 *                                 3 messages PUBLISHed from a synchronous context
 * Each callback checks it got exactly its own privdata and prints
 * "<name>: <reply> privdata=<ok|WRONG>". */
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
	redisAsyncContext *ac;
	int rd, wr;
} loop;

static void add_read(void *p)
{
	loop.rd = 1;
}
static void del_read(void *p)
{
	loop.rd = 0;
}
static void add_write(void *p)
{
	loop.wr = 1;
}
static void del_write(void *p)
{
	loop.wr = 0;
}
static void cleanup(void *p)
{
	loop.rd = loop.wr = 0;
	loop.ac = NULL;
}

struct req {
	const char *name;
	int magic;
};
static int pending;

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct req *q = privdata;
	redisReply *r = reply;
	const char *ok = q && q->magic == 0x5eed ? "ok" : "WRONG";
	if (!r)
		printf("%s: NULL privdata=%s\n", q ? q->name : "?", ok);
	else if (r->type == REDIS_REPLY_ERROR)
		printf("%s: error %s privdata=%s\n", q->name, r->str, ok);
	else if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
		printf("%s: %s privdata=%s\n", q->name, r->str, ok);
	else if (r->type == REDIS_REPLY_INTEGER)
		printf("%s: %lld privdata=%s\n", q->name, r->integer, ok);
	else
		printf("%s: type %d privdata=%s\n", q->name, r->type, ok);
	fflush(stdout);
	pending--;
}

static redisContext *pub;
static int messages;

static void on_message(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct req *q = privdata;
	redisReply *r = reply;
	const char *ok = q && q->magic == 0x5eed ? "ok" : "WRONG";
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 3) {
		printf("sub: %s privdata=%s\n", r ? "other" : "NULL", ok);
		pending = 0;
		return;
	}
	printf("sub: %s %s privdata=%s\n", r->element[0]->str,
	       r->element[2]->str ? r->element[2]->str : "-", ok);
	fflush(stdout);
	if (!strcmp(r->element[0]->str, "subscribe")) {
		for (int i = 0; i < 3; i++) {
			redisReply *p = redisCommand(pub, "PUBLISH %s m%d", "chan", i);
			if (p)
				freeReplyObject(p);
		}
	} else if (++messages == 3) {
		pending = 0;
	}
}

static void run(void)
{
	while (loop.ac && pending > 0) {
		struct pollfd p = {loop.ac->c.fd,
		                   (short)((loop.rd ? POLLIN : 0) | (loop.wr ? POLLOUT : 0)), 0};
		if (poll(&p, 1, 2000) <= 0) {
			printf("timeout\n");
			return;
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR))
			redisAsyncHandleRead(loop.ac);
		if (loop.ac && (p.revents & POLLOUT))
			redisAsyncHandleWrite(loop.ac);
	}
}

int main(int argc, char **argv)
{
	static struct req set = {"set", 0x5eed}, get = {"get", 0x5eed}, bad = {"notint", 0x5eed},
	                  sel = {"select", 0x5eed}, set3 = {"set3", 0x5eed},
	                  hset = {"hset", 0x5eed};
	if (argc < 3)
		return 2;
	redisAsyncContext *ac = redisAsyncConnect(argv[1], atoi(argv[2]));
	if (!ac || ac->err) {
		fprintf(stderr, "connect: %s\n", ac ? ac->errstr : "oom");
		return 2;
	}
	loop.ac = ac;
	ac->ev.data = &loop;
	ac->ev.addRead = add_read;
	ac->ev.delRead = del_read;
	ac->ev.addWrite = add_write;
	ac->ev.delWrite = del_write;
	ac->ev.cleanup = cleanup;

	if (argc > 3 && !strcmp(argv[3], "free")) {
		redisAsyncCommand(ac, on_reply, &get, "GET %s", "a:1");
		pending++;
		redisAsyncFree(ac);
		printf("freed pending=%d\n", pending);
		return 0;
	}
	if (argc > 3 && !strcmp(argv[3], "sub")) {
		static struct req sub = {"sub", 0x5eed};
		pub = redisConnect(argv[1], atoi(argv[2]));
		redisAsyncCommand(ac, on_message, &sub, "SUBSCRIBE %s", "chan");
		pending = 1;
		run();
		printf("messages=%d\n", messages);
		redisFree(pub);
		if (loop.ac)
			redisAsyncFree(loop.ac);
		printf("done\n");
		return 0;
	}
	redisAsyncCommand(ac, on_reply, &set, "SET %s %s", "a:1", "v1"), pending++;
	redisAsyncCommand(ac, on_reply, &get, "GET %s", "a:1"), pending++;
	redisAsyncCommand(ac, on_reply, &bad, "INCR %s", "a:1"), pending++;
	redisAsyncCommand(ac, NULL, NULL, "SET %s %s", "a:nocb", "x");
	redisAsyncCommand(ac, on_reply, &sel, "SELECT %d", 3), pending++;
	redisAsyncCommand(ac, on_reply, &set3, "SET %s %d", "a:3", 3), pending++;
	const char *hv[] = {"HSET", "a:h", "f", "v"};
	redisAsyncCommandArgv(ac, on_reply, &hset, 4, hv, NULL), pending++;
	static struct req exists = {"exists", 0x5eed};
	char *pre;
	int len = redisFormatCommand(&pre, "EXISTS %s", "a:1");
	redisAsyncFormattedCommand(ac, on_reply, &exists, pre, (size_t)len), pending++;
	redisFreeCommand(pre);
	run();
	if (loop.ac)
		redisAsyncDisconnect(loop.ac);
	printf("done pending=%d\n", pending);
	return 0;
}
