/* Shared by loop_mysql and call_mysql: the client's connection to the
 * bench's mariadbd, over TCP to 127.0.0.1:port as root. */
#ifndef BENCH_MARIADB_H
#define BENCH_MARIADB_H

#include "bench.h"

#include <mysql.h>

static inline MYSQL *bench_mysql_connect(unsigned port)
{
	MYSQL *m = mysql_init(NULL);
	unsigned proto = MYSQL_PROTOCOL_TCP;
	mysql_options(m, MYSQL_OPT_PROTOCOL, &proto);
	if (!mysql_real_connect(m, "127.0.0.1", "root", "", NULL, port, NULL, 0)) {
		fprintf(stderr, "mysql connect: %s\n", mysql_error(m));
		exit(2);
	}
	return m;
}

#endif
