// LIBS: -I/usr/include/mariadb -I/usr/include/mariadb/mysql -lmariadb
/* A MySQL/MariaDB C client that knows nothing of tracing. It connects with
 * MYSQL_TEST_HOST / MYSQL_TEST_PORT, or MYSQL_TEST_SOCKET, as root without a
 * password, to database MYSQL_TEST_DB (may be empty), then runs each
 * argument in order:
 *   q:SQL          mysql_query (results stored and freed)
 *   r:SQL          mysql_real_query
 *   s:SQL          mysql_send_query + mysql_read_query_result
 *   p:SQL[|n|n..]  mysql_stmt_init, prepare, bind the numbers, execute, close
 *   e:SQL          prepare once, execute twice, close
 *   u:DB           mysql_select_db
 *   c:DB           mysql_change_user (root) to DB
 *   commit         mysql_commit
 *   threads:N:SQL  N threads, each its own connection, mysql_query SQL 5 times
 *   loop:N:SQL     mysql_query SQL N times (one line for all; for timing)
 *   orphan:SQL     prepare SQL, close the connection, execute (fails), close
 *                  the statement; later steps run on a new connection
 * Prints one line per step: "ok" or "err <errno>". */
#include <mysql.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static MYSQL *connect_db(void)
{
	const char *host = getenv("MYSQL_TEST_HOST");
	const char *port = getenv("MYSQL_TEST_PORT");
	const char *sock = getenv("MYSQL_TEST_SOCKET");
	const char *db = getenv("MYSQL_TEST_DB");
	MYSQL *m = mysql_init(NULL);
	if (!m)
		return NULL;
	if (!mysql_real_connect(m, sock ? NULL : host, "root", NULL, db && *db ? db : NULL,
	                        port ? (unsigned)atoi(port) : 0, sock, 0)) {
		fprintf(stderr, "connect: %s\n", mysql_error(m));
		mysql_close(m);
		return NULL;
	}
	return m;
}

static void drain(MYSQL *m)
{
	do {
		MYSQL_RES *r = mysql_store_result(m);
		if (r)
			mysql_free_result(r);
	} while (mysql_next_result(m) == 0);
}

static int report(int failed, unsigned err)
{
	if (failed)
		printf("err %u\n", err);
	else
		printf("ok\n");
	return failed;
}

static int stmt_run(MYSQL *m, const char *arg, int times)
{
	char sql[4096];
	snprintf(sql, sizeof sql, "%s", arg);
	long long vals[16];
	MYSQL_BIND bind[16];
	int n = 0;
	char *bar = strchr(sql, '|');
	if (bar) {
		*bar = 0;
		for (char *t = strtok(bar + 1, "|"); t && n < 16; t = strtok(NULL, "|"))
			vals[n++] = atoll(t);
	}
	memset(bind, 0, sizeof bind);
	for (int k = 0; k < n; k++) {
		bind[k].buffer_type = MYSQL_TYPE_LONGLONG;
		bind[k].buffer = &vals[k];
	}
	MYSQL_STMT *st = mysql_stmt_init(m);
	if (!st)
		return report(1, mysql_errno(m));
	if (mysql_stmt_prepare(st, sql, strlen(sql))) {
		report(1, mysql_stmt_errno(st));
		mysql_stmt_close(st);
		return 1;
	}
	if (n && mysql_stmt_bind_param(st, bind)) {
		report(1, mysql_stmt_errno(st));
		mysql_stmt_close(st);
		return 1;
	}
	int rc = 0;
	for (int t = 0; t < times; t++) {
		if (mysql_stmt_execute(st)) {
			rc |= report(1, mysql_stmt_errno(st));
			continue;
		}
		mysql_stmt_store_result(st);
		mysql_stmt_free_result(st);
		report(0, 0);
	}
	mysql_stmt_close(st);
	return rc;
}

static const char *thread_sql;

static void *thread_main(void *arg)
{
	MYSQL *m = connect_db();
	if (!m)
		return (void *)1;
	for (int k = 0; k < 5; k++) {
		if (mysql_query(m, thread_sql))
			return (void *)1;
		drain(m);
	}
	mysql_close(m);
	return NULL;
}

static int threads(const char *arg)
{
	int n = atoi(arg);
	const char *colon = strchr(arg, ':');
	thread_sql = colon ? colon + 1 : "SELECT 1";
	pthread_t t[32];
	if (n > 32)
		n = 32;
	for (int k = 0; k < n; k++)
		pthread_create(&t[k], NULL, thread_main, NULL);
	int failed = 0;
	for (int k = 0; k < n; k++) {
		void *r;
		pthread_join(t[k], &r);
		failed |= r != NULL;
	}
	return report(failed, 0);
}

int main(int argc, char **argv)
{
	MYSQL *m = connect_db();
	if (!m)
		return 2;
	int failed = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strncmp(a, "q:", 2)) {
			int rc = mysql_query(m, a + 2);
			failed |= report(rc != 0, mysql_errno(m));
			if (!rc)
				drain(m);
		} else if (!strncmp(a, "r:", 2)) {
			int rc = mysql_real_query(m, a + 2, strlen(a + 2));
			failed |= report(rc != 0, mysql_errno(m));
			if (!rc)
				drain(m);
		} else if (!strncmp(a, "s:", 2)) {
			int rc = mysql_send_query(m, a + 2, strlen(a + 2));
			if (!rc)
				rc = mysql_read_query_result(m);
			failed |= report(rc != 0, mysql_errno(m));
			if (!rc)
				drain(m);
		} else if (!strncmp(a, "p:", 2)) {
			failed |= stmt_run(m, a + 2, 1);
		} else if (!strncmp(a, "e:", 2)) {
			failed |= stmt_run(m, a + 2, 2);
		} else if (!strncmp(a, "u:", 2)) {
			failed |= report(mysql_select_db(m, a + 2) != 0, mysql_errno(m));
		} else if (!strncmp(a, "c:", 2)) {
			failed |=
			    report(mysql_change_user(m, "root", NULL, a + 2) != 0, mysql_errno(m));
		} else if (!strcmp(a, "commit")) {
			failed |= report(mysql_commit(m) != 0, mysql_errno(m));
		} else if (!strncmp(a, "loop:", 5)) {
			long n = atol(a + 5), k = 0;
			const char *sql = strchr(a + 5, ':');
			for (; sql && k < n; k++) {
				if (mysql_query(m, sql + 1))
					break;
				drain(m);
			}
			failed |= report(k < n, mysql_errno(m));
		} else if (!strncmp(a, "orphan:", 7)) {
			MYSQL_STMT *st = mysql_stmt_init(m);
			if (!st || mysql_stmt_prepare(st, a + 7, strlen(a + 7)))
				return 2;
			mysql_close(m);
			int rc = mysql_stmt_execute(st);
			failed |= !report(rc != 0, mysql_stmt_errno(st));
			mysql_stmt_close(st);
			if (!(m = connect_db()))
				return 2;
		} else if (!strncmp(a, "threads:", 8)) {
			failed |= threads(a + 8);
		} else {
			fprintf(stderr, "unknown step %s\n", a);
			return 2;
		}
		fflush(stdout);
	}
	mysql_close(m);
	return failed;
}
