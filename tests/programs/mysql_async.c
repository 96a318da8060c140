// LIBS: -I/usr/include/mariadb -I/usr/include/mariadb/mysql -lmariadb
/* libmariadb's non-blocking API: two connections (MYSQL_TEST_HOST/PORT,
 * database MYSQL_TEST_DB) run "SELECT SLEEP(0.1)" at once with
 * mysql_real_query_start/_cont, then mysql_commit_start, then the first
 * connection runs "SELECT 'after'" with the blocking API. Inside the
 * library the *_start functions call mysql_real_query on a coroutine
 * stack that is suspended while the server works. Prints "ok" or "err". */
#include <mysql.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

static MYSQL *connect_nb(void)
{
	MYSQL *m = mysql_init(NULL);
	mysql_options(m, MYSQL_OPT_NONBLOCK, 0);
	if (!mysql_real_connect(m, getenv("MYSQL_TEST_HOST"), "root", NULL, getenv("MYSQL_TEST_DB"),
	                        (unsigned)atoi(getenv("MYSQL_TEST_PORT")), NULL, 0)) {
		fprintf(stderr, "connect: %s\n", mysql_error(m));
		exit(2);
	}
	return m;
}

static int wait_for(MYSQL *m, int status)
{
	struct pollfd p = {mysql_get_socket(m), 0, 0};
	if (status & MYSQL_WAIT_READ)
		p.events |= POLLIN;
	if (status & MYSQL_WAIT_WRITE)
		p.events |= POLLOUT;
	int timeout = status & MYSQL_WAIT_TIMEOUT ? (int)mysql_get_timeout_value_ms(m) : -1;
	int n = poll(&p, 1, timeout);
	int r = 0;
	if (n == 0)
		r |= MYSQL_WAIT_TIMEOUT;
	if (p.revents & POLLIN)
		r |= MYSQL_WAIT_READ;
	if (p.revents & POLLOUT)
		r |= MYSQL_WAIT_WRITE;
	return r;
}

int main(void)
{
	MYSQL *a = connect_nb(), *b = connect_nb();
	const char *q = "SELECT SLEEP(0.1)";
	int ra = 0, rb = 0;
	int sa = mysql_real_query_start(&ra, a, q, 17);
	int sb = mysql_real_query_start(&rb, b, q, 17);
	while (sa || sb) {
		if (sa)
			sa = mysql_real_query_cont(&ra, a, wait_for(a, sa));
		if (sb)
			sb = mysql_real_query_cont(&rb, b, wait_for(b, sb));
	}
	if (ra || rb) {
		printf("err\n");
		return 1;
	}
	mysql_free_result(mysql_store_result(a));
	mysql_free_result(mysql_store_result(b));
	my_bool rc = 0;
	int s = mysql_commit_start(&rc, a);
	while (s)
		s = mysql_commit_cont(&rc, a, wait_for(a, s));
	if (rc || mysql_query(a, "SELECT 'after'")) {
		printf("err\n");
		return 1;
	}
	mysql_free_result(mysql_store_result(a));
	mysql_close(a);
	mysql_close(b);
	printf("ok\n");
	return 0;
}
