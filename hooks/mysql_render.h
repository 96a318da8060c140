/* A MySQL/MariaDB statement and its connection's facts, copied raw into
 * the span on the application thread (hooks/mysql.c) and turned into the
 * span's name and attributes on the exporter thread (hooks/mysql_render.c).
 *
 * The blob: an AT_MYSQL_HEAD-byte head (system, literals kept, port as 16
 * bits little-endian, database and address lengths), the database name,
 * the server address, then the statement as the application sent it. */
#ifndef AT_MYSQL_RENDER_H
#define AT_MYSQL_RENDER_H

#include "../preload/autotrace.h"
#include "../preload/span.h"

#include <stdatomic.h>
#include <stddef.h>

#define AT_MYSQL_HEAD 8

enum { AT_MYSQL_SYS_MYSQL = 1, AT_MYSQL_SYS_MARIADB = 2 };

/* db.system.name, the name ("mysql"/"mariadb" until the statement names
 * it), db.namespace, server.address, server.port, then the statement
 * through at_sql_render. */
void at_mysql_render(struct at_span *s, struct at_attr *a);

/* AUTOTRACE_SQL_LITERALS=1: db.query.text is the statement as sent. Read
 * once; every later call is one load. */
extern _Atomic int at_sql_keep_literals_v;
int at_sql_keep_literals_read(void);
static inline int at_sql_keep_literals(void)
{
	int k = atomic_load_explicit(&at_sql_keep_literals_v, memory_order_relaxed);
	return AT_LIKELY(k >= 0) ? k : at_sql_keep_literals_read();
}

#endif
