/* MariaDB client loop: loop_mysql N PORT, mysql_query("SELECT 1") */
// LIBS: -I/usr/include/mariadb -lmariadb
#include "mariadb.h"

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
	m = bench_mysql_connect((unsigned)bench_arg(argc, argv, 2, 3306));
	for (int i = 0; i < 20; i++)
		op();
	double t0 = bench_begin();
	bench_loop(n);
	bench_report(n, t0, bench_now());
	mysql_close(m);
	return 0;
}
