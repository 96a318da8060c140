// LIBS: -I/usr/include/mariadb -I/usr/include/mariadb/mysql -lmariadb -lhiredis
/* Demo service B, "backend": a legacy-style forking C server on plain
 * sockets (each connection in a child that ends with _exit), knowing nothing
 * of tracing. For GET /inventory?user=N it counts the visit in Redis
 * (hiredis) and looks the user up in MySQL (libmariadb).
 *   http_demo_backend listen_port redis_port mysql_port */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <mysql.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int redis_port, db_port;

static void handle(int c)
{
	char buf[4096], path[256] = "/", body[2048];
	ssize_t n = read(c, buf, sizeof buf - 1);
	if (n <= 0)
		return;
	buf[n] = 0;
	sscanf(buf, "%*s %255s", path);
	const char *u = strstr(path, "user=");
	int user = u ? atoi(u + 5) : 1;
	int len = 0;

	redisContext *r = redisConnect("127.0.0.1", redis_port);
	if (r && !r->err) {
		redisReply *rep = redisCommand(r, "INCR visits:%d", user);
		if (rep)
			len += snprintf(body + len, sizeof body - (size_t)len, "visits: %lld\n",
			                rep->integer);
		freeReplyObject(rep);
		rep = redisCommand(r, "GET cart:%d", user);
		freeReplyObject(rep);
	}
	if (r)
		redisFree(r);

	MYSQL *m = mysql_init(NULL);
	if (mysql_real_connect(m, "127.0.0.1", "root", NULL, "shop", (unsigned)db_port, NULL, 0)) {
		char q[128];
		snprintf(q, sizeof q, "SELECT name FROM users WHERE id = %d", user);
		if (!mysql_query(m, q)) {
			MYSQL_RES *res = mysql_store_result(m);
			MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
			len += snprintf(body + len, sizeof body - (size_t)len, "user: %s\n",
			                row && row[0] ? row[0] : "?");
			mysql_free_result(res);
		}
	} else {
		len +=
		    snprintf(body + len, sizeof body - (size_t)len, "mysql: %s\n", mysql_error(m));
	}
	mysql_close(m);

	char resp[4096];
	int rl = snprintf(resp, sizeof resp,
	                  "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
	                  len, body);
	write(c, resp, (size_t)rl);
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	redis_port = atoi(argv[2]);
	db_port = atoi(argv[3]);
	signal(SIGCHLD, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) {
		perror("backend: listen");
		return 1;
	}
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			continue;
		if (fork() == 0) {
			close(s);
			handle(c);
			close(c);
			_exit(0);
		}
		close(c);
	}
}
