// LIBS: -ldl
/* hiredis loaded late by dlopen(RTLD_LOCAL), as a plugin or a Perl/Ruby
 * extension does; not linked.
 *   redis_dlopen LIB HOST PORT   SET and GET through the dlopen'ed library
 *   redis_dlopen none            no hiredis at all
 * Also prints whether hiredis is mapped before the dlopen ("mapped=0|1"). */
#include <dlfcn.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hiredis_mapped(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int found = 0;
	while (f && fgets(line, sizeof line, f))
		if (strstr(line, "libhiredis"))
			found = 1;
	if (f)
		fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	printf("mapped=%d\n", hiredis_mapped());
	if (argc < 4) {
		printf("done\n");
		return 0;
	}
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 2;
	}
	redisContext *(*connect)(const char *, int) =
	    (redisContext * (*)(const char *, int)) dlsym(h, "redisConnect");
	void *(*command)(redisContext *, const char *, ...) =
	    (void *(*)(redisContext *, const char *, ...))dlsym(h, "redisCommand");
	void (*free_reply)(void *) = (void (*)(void *))dlsym(h, "freeReplyObject");
	void (*free_ctx)(redisContext *) = (void (*)(redisContext *))dlsym(h, "redisFree");
	if (!connect || !command || !free_reply || !free_ctx)
		return 3;
	redisContext *c = connect(argv[2], atoi(argv[3]));
	if (!c)
		return 2;
	redisReply *r = command(c, "SET %s %s", "d:1", "plugin");
	printf("set: %s\n", r ? r->str : "NULL");
	if (r)
		free_reply(r);
	r = command(c, "GET %s", "d:1");
	printf("get: %s\n", r ? r->str : "NULL");
	if (r)
		free_reply(r);
	free_ctx(c);
	printf("done\n");
	return 0;
}
