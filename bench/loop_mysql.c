/* MariaDB client loop: loop_mysql N PORT, mysql_query("SELECT 1") */
// LIBS: -I/usr/include/mariadb -lmariadb
#include "bench.h"

#include <mysql.h>

static MYSQL *m;

static NOINLINE void op(void)
{
	if (mysql_query(m, "SELECT 1")) {
		fprintf(stderr, "mysql: %s\n", mysql_error(m));
		exit(2);
	}
	MYSQL_RES *r = mysql_store_result(m);
	if (r)
		mysql_free_result(r);
}

NOINLINE void bench_loop(long n)
{
	for (long i = 0; i < n; i++)
		op();
}

int main(int argc, char **argv)
{
	long n = bench_arg(argc, argv, 1, 1000);
	m = mysql_init(NULL);
	unsigned proto = MYSQL_PROTOCOL_TCP;
	mysql_options(m, MYSQL_OPT_PROTOCOL, &proto);
	if (!mysql_real_connect(m, "127.0.0.1", "root", "", NULL,
	                        (unsigned)bench_arg(argc, argv, 2, 3306), NULL, 0)) {
		fprintf(stderr, "mysql connect: %s\n", mysql_error(m));
		return 2;
	}
	for (int i = 0; i < 20; i++)
		op();
	double t0 = bench_begin();
	bench_loop(n);
	bench_report(n, t0, bench_now());
	mysql_close(m);
	return 0;
}
