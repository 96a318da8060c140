// LIBS: -lhiredis
/* An event-loop server in the style of libevent/ae services, knowing nothing
 * of tracing: one thread, one poll() loop driving both its clients and an
 * asynchronous hiredis context (through the adapter hooks ev.addRead etc.).
 *   redis_evserver REDIS_HOST REDIS_PORT LISTEN_PORT N
 * Answers N HTTP requests "GET /<key>" with the key's value (GET issued with
 * redisAsyncCommand, the response written from the reply callback), then
 * exits. Prints "listening" once ready and "served N" at the end. */
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

static int client = -1, busy, served;
static char in[8192];
static size_t inlen;

static void respond(int status, const char *body, size_t len)
{
	char head[128];
	int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n\r\n", status,
	                 status == 200 ? "OK" : "Not Found", len);
	if (write(client, head, (size_t)n) != n || write(client, body, len) != (ssize_t)len)
		perror("write");
}

static void on_value(redisAsyncContext *ac, void *reply, void *privdata)
{
	redisReply *r = reply;
	if (privdata != &served)
		printf("privdata WRONG\n");
	if (r && r->type == REDIS_REPLY_STRING)
		respond(200, r->str, r->len);
	else
		respond(404, "", 0);
	busy = 0;
	served++;
}

/* A complete request in the buffer: issue its GET. */
static void handle_request(void)
{
	char *end = strstr(in, "\r\n\r\n");
	if (!end || busy)
		return;
	char key[256] = "";
	if (sscanf(in, "GET /%255s HTTP/1.1", key) != 1)
		key[0] = 0;
	size_t used = (size_t)(end + 4 - in);
	memmove(in, in + used, inlen - used + 1);
	inlen -= used;
	busy = 1;
	redisAsyncCommand(loop.ac, on_value, &served, "GET %s", key);
}

int main(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	int want = atoi(argv[4]);
	redisAsyncContext *ac = redisAsyncConnect(argv[1], atoi(argv[2]));
	if (!ac || ac->err)
		return 2;
	loop.ac = ac;
	ac->ev.addRead = add_read;
	ac->ev.delRead = del_read;
	ac->ev.addWrite = add_write;
	ac->ev.delWrite = del_write;
	ac->ev.cleanup = cleanup;

	int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)atoi(argv[3])),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 16)) {
		perror("listen");
		return 2;
	}
	printf("listening\n");
	fflush(stdout);
	while (loop.ac && served < want) {
		struct pollfd p[2] = {
		    {loop.ac->c.fd, (short)((loop.rd ? POLLIN : 0) | (loop.wr ? POLLOUT : 0)), 0},
		    {client >= 0 ? client : lfd, (short)(busy ? 0 : POLLIN), 0}};
		if (poll(p, 2, 10000) <= 0) {
			printf("timeout\n");
			break;
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
			redisAsyncHandleRead(loop.ac);
		if (loop.ac && (p[0].revents & POLLOUT))
			redisAsyncHandleWrite(loop.ac);
		if (!(p[1].revents & (POLLIN | POLLHUP)))
			continue;
		if (client < 0) {
			client = accept(lfd, NULL, NULL);
			continue;
		}
		ssize_t n = read(client, in + inlen, sizeof in - 1 - inlen);
		if (n <= 0) {
			close(client);
			client = -1;
			inlen = 0;
			continue;
		}
		inlen += (size_t)n;
		in[inlen] = 0;
		handle_request();
	}
	if (client >= 0)
		close(client);
	if (loop.ac)
		redisAsyncDisconnect(loop.ac);
	printf("served %d\n", served);
	return 0;
}
