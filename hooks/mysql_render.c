/* On the exporter thread (reporter/finalize.c): see mysql_render.h; and
 * the literals setting both MySQL hooks read. */
#include "mysql_render.h"

#include "sql_sanitize.h"
#include "../preload/config.h"
#include "../preload/log.h"

#include <string.h>

_Atomic int at_sql_keep_literals_v = -1;

AT_NOINLINE int at_sql_keep_literals_read(void)
{
	const char *e = at_getenv("AUTOTRACE_SQL_LITERALS");
	int k = 0;
	if (e && at_parse_bool(e, &k))
		at_warn("AUTOTRACE_SQL_LITERALS=\"%.16s\" is not a boolean; literals are "
		        "replaced",
		        e);
	atomic_store_explicit(&at_sql_keep_literals_v, k, memory_order_relaxed);
	return k;
}

void at_mysql_render(struct at_span *s, struct at_attr *a)
{
	const unsigned char *b = (const unsigned char *)at_span_str(s, a->v.s);
	size_t n = a->v.s.len;
	a->type = AT_ATTR_STR;
	if (n < AT_MYSQL_HEAD || n < AT_MYSQL_HEAD + (size_t)b[4] + b[5]) {
		a->v.s.len = 0;
		return;
	}
	int maria = b[0] == AT_MYSQL_SYS_MARIADB;
	const char *sys = maria ? "mariadb" : "mysql";
	size_t sn = maria ? 7 : 5;
	int keep = b[1];
	int port = b[2] | b[3] << 8;
	size_t dlen = b[4], alen = b[5];
	/* the database and the address are copied straight from the blob: to
	 * the arena's end, past it, and before the statement's rendering (which
	 * writes over the statement only) */
	const char *db = (const char *)b + AT_MYSQL_HEAD, *addr = db + dlen;
	size_t skip = AT_MYSQL_HEAD + dlen + alen;
	a->v.s.off = (uint16_t)(a->v.s.off + skip);
	a->v.s.len = (uint16_t)(n - skip);
	s->name = at_span_intern_fast(s, sys, sn);
	at_span_set_strn(s, "db.system.name", sys, sn);
	if (dlen)
		at_span_set_strn(s, "db.namespace", db, dlen);
	if (alen)
		at_span_set_strn(s, "server.address", addr, alen);
	if (port)
		at_span_set_int(s, "server.port", port);
	if (a->v.s.len)
		at_sql_render(s, a, keep);
}
