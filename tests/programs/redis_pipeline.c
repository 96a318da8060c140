// LIBS: -lhiredis
/* hiredis pipelining, knowing nothing of tracing:
 *   redis_pipeline HOST PORT [N]
 * appends SELECT 2, SET, GET, a failing INCR, an argv HSET, an EXISTS formatted
 * beforehand (redisAppendFormattedCommand) and N PINGs, then
 * reads every reply; then a plain redisCommand; then appends two GETs and
 * frees the context without reading their replies.
 * Prints one line per reply: "<i>: <reply>". */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	int extra = argc > 3 ? atoi(argv[3]) : 0;
	redisContext *c = redisConnect(argv[1], atoi(argv[2]));
	if (!c || c->err) {
		fprintf(stderr, "connect: %s\n", c ? c->errstr : "oom");
		return 2;
	}
	int n = 0;
	redisAppendCommand(c, "SELECT %d", 2), n++;
	redisAppendCommand(c, "SET %s %s", "p:1", "one"), n++;
	redisAppendCommand(c, "GET %s", "p:1"), n++;
	redisAppendCommand(c, "INCR %s", "p:1"), n++;
	const char *hv[] = {"HSET", "p:h", "f", "v"};
	redisAppendCommandArgv(c, 4, hv, NULL), n++;
	char *pre;
	int len = redisFormatCommand(&pre, "EXISTS %s", "p:1");
	redisAppendFormattedCommand(c, pre, (size_t)len), n++;
	redisFreeCommand(pre);
	for (int i = 0; i < extra; i++)
		redisAppendCommand(c, "PING"), n++;
	for (int i = 0; i < n; i++) {
		redisReply *r = NULL;
		if (redisGetReply(c, (void **)&r) != REDIS_OK) {
			printf("%d: NULL %s\n", i, c->errstr);
			continue;
		}
		if (r->type == REDIS_REPLY_ERROR)
			printf("%d: error %s\n", i, r->str);
		else if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
			printf("%d: %s\n", i, r->str);
		else
			printf("%d: type %d\n", i, r->type);
		freeReplyObject(r);
	}
	redisReply *r = redisCommand(c, "DBSIZE");
	printf("dbsize: %lld\n", r ? r->integer : -1);
	if (r)
		freeReplyObject(r);
	redisAppendCommand(c, "GET %s", "p:1");
	redisAppendCommand(c, "GET %s", "p:2");
	redisFree(c);
	printf("done\n");
	return 0;
}
