// LIBS: -I/usr/include/mariadb -lcurl -lhiredis -lmariadb -lpthread
/* A threaded program whose threads are stuck in calls when it is killed:
 * one thread per argument, each making one call,
 *   curl:URL          curl_easy_perform of URL
 *   redis:PORT        redisCommand "GET k" on 127.0.0.1:PORT
 *   mysql:SQL         mysql_query of SQL, connected as root to 127.0.0.1,
 *                     MYSQL_TEST_PORT, database MYSQL_TEST_DB
 *   blocked-curl:URL  the same as curl, in a thread that blocks SIGTERM
 *                     (and SIGINT, SIGHUP)
 *   deaf-curl:URL     the same, in a thread that blocks every signal
 *   segv              reads a line from stdin, then dereferences NULL
 * The main thread prints "started" and waits for them all, then prints
 * "done" and exits 0. Knows nothing of tracing. */
#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <mysql.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t sink(char *p, size_t size, size_t n, void *u)
{
	(void)p, (void)u;
	return size * n;
}

static void do_curl(const char *url)
{
	CURL *h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	CURLcode rc = curl_easy_perform(h);
	printf("curl %s: %d\n", url, (int)rc);
	curl_easy_cleanup(h);
}

static void *job(void *arg)
{
	const char *a = arg;
	if (!strncmp(a, "curl:", 5)) {
		do_curl(a + 5);
	} else if (!strncmp(a, "deaf-curl:", 10)) {
		sigset_t m;
		sigfillset(&m);
		pthread_sigmask(SIG_BLOCK, &m, NULL);
		do_curl(a + 10);
	} else if (!strncmp(a, "blocked-curl:", 13)) {
		sigset_t m;
		sigemptyset(&m);
		sigaddset(&m, SIGTERM);
		sigaddset(&m, SIGINT);
		sigaddset(&m, SIGHUP);
		pthread_sigmask(SIG_BLOCK, &m, NULL);
		do_curl(a + 13);
	} else if (!strncmp(a, "redis:", 6)) {
		redisContext *c = redisConnect("127.0.0.1", atoi(a + 6));
		if (!c || c->err) {
			printf("redis: cannot connect\n");
			return NULL;
		}
		redisReply *r = redisCommand(c, "GET k");
		printf("redis: %s\n", r ? "reply" : c->errstr);
		if (r)
			freeReplyObject(r);
		redisFree(c);
	} else if (!strncmp(a, "mysql:", 6)) {
		MYSQL *m = mysql_init(NULL);
		const char *port = getenv("MYSQL_TEST_PORT");
		if (!mysql_real_connect(m, "127.0.0.1", "root", NULL, getenv("MYSQL_TEST_DB"),
		                        port ? (unsigned)atoi(port) : 3306, NULL, 0)) {
			printf("mysql: %s\n", mysql_error(m));
			return NULL;
		}
		printf("mysql: %d\n", mysql_query(m, a + 6));
		mysql_close(m);
	} else if (!strcmp(a, "segv")) {
		char line[16];
		if (fgets(line, sizeof line, stdin))
			*(volatile int *)NULL = 1;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[32];
	int n = argc - 1 < 32 ? argc - 1 : 32;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (int i = 0; i < n; i++)
		pthread_create(&t[i], NULL, job, argv[i + 1]);
	printf("started\n");
	fflush(stdout);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	printf("done\n");
	return 0;
}
