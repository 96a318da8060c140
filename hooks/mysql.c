/* MySQL and MariaDB client libraries (libmariadb, libmysqlclient): a CLIENT
 * span per query. The library is never linked: its functions are found in
 * the host at the first call, also when a Perl, Python or PHP extension
 * dlopen'ed it with RTLD_LOCAL. Only public API functions are called on a
 * MYSQL or MYSQL_STMT (mysql_errno, mysql_error, mysql_get_server_info,
 * mysql_stmt_errno, mysql_stmt_error): their struct layouts differ between
 * libmysqlclient and libmariadb, so both are opaque here.
 *
 * Which calls re-enter our hooks, from objdump -d / -R of Debian 12's
 * libmariadb.so.3 (3.3.x): every mysql_* function is exported with a
 * JUMP_SLOT relocation, and internal calls go through the PLT:
 *   mysql_query        -> mysql_real_query@plt (tail call)
 *   mysql_commit, mysql_rollback, mysql_autocommit, mysql_kill,
 *   mysql_set_character_set -> mysql_real_query@plt
 *   mysql_list_dbs, mysql_list_tables -> mysql_query@plt
 *   mysql_real_connect (its helper) -> mysql_select_db@plt, and
 *                         mysql_real_query@plt for MYSQL_INIT_COMMAND
 *   mariadb_stmt_execute_direct -> mysql_stmt_prepare@plt, mysql_stmt_execute@plt
 *   mariadb_reconnect -> mysql_real_connect@plt, mysql_close@plt
 * mysql_real_query itself does not call mysql_send_query or
 * mysql_read_query_result (it uses a static send function and the
 * connection's method table), but Oracle's libmysqlclient may. Either way
 * the outermost hook owns the span (at_enter), so a layered call makes one
 * span and the inner hooks pass straight through. */
#define _GNU_SOURCE
#include "../preload/autotrace.h"
#include "../preload/leaf.h"
#include "../preload/config.h"
#include "../preload/errors.h"
#include "../preload/log.h"
#include "../preload/real.h"
#include "mysql_render.h"
#include "sql_sanitize.h"
#include "../preload/utf8.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct st_mysql MYSQL;
typedef struct st_mysql_stmt MYSQL_STMT;
typedef char my_bool; /* bool in MySQL 8: one byte either way */

static const char *const mysql_sonames[] = {"libmariadb.so.3",
                                            "libmysqlclient.so.21",
                                            "libmysqlclient.so.24",
                                            "libmysqlclient.so.23",
                                            "libmysqlclient.so.22",
                                            "libmysqlclient.so.20",
                                            "libmysqlclient.so.18",
                                            "libmariadbclient.so.18",
                                            "libperconaserverclient.so.21",
                                            "libperconaserverclient.so.20",
                                            NULL};

#define RESOLVE(name) AT_RESOLVE_IN(name, mysql_sonames)

AT_REAL(MYSQL *, mysql_real_connect,
        (MYSQL *, const char *, const char *, const char *, const char *, unsigned int,
         const char *, unsigned long));
AT_REAL(int, mysql_select_db, (MYSQL *, const char *));
AT_REAL(my_bool, mysql_change_user, (MYSQL *, const char *, const char *, const char *));
AT_REAL(void, mysql_close, (MYSQL *));
AT_REAL(int, mysql_query, (MYSQL *, const char *));
AT_REAL(int, mysql_real_query, (MYSQL *, const char *, unsigned long));
AT_REAL(int, mysql_send_query, (MYSQL *, const char *, unsigned long));
AT_REAL(my_bool, mysql_read_query_result, (MYSQL *));
AT_REAL(MYSQL_STMT *, mysql_stmt_init, (MYSQL *));
AT_REAL(int, mysql_stmt_prepare, (MYSQL_STMT *, const char *, unsigned long));
AT_REAL(int, mysql_stmt_execute, (MYSQL_STMT *));
AT_REAL(my_bool, mysql_stmt_close, (MYSQL_STMT *));
AT_REAL(unsigned int, mysql_errno, (MYSQL *));
AT_REAL(const char *, mysql_error, (MYSQL *));
AT_REAL(const char *, mysql_get_server_info, (MYSQL *));
AT_REAL(unsigned int, mysql_stmt_errno, (MYSQL_STMT *));
AT_REAL(const char *, mysql_stmt_error, (MYSQL_STMT *));

/* ---- lock-free tables keyed by handle (open addressing, tombstones) ---- */

#define TOMBSTONE ((void *)1)

struct table {
	char *base; /* entries of `stride` bytes, each starting with its key */
	size_t stride, size;
	const char *what;
	_Atomic int overflow;
};

static _Atomic(void *) *key_at(struct table *t, size_t i)
{
	return (_Atomic(void *) *)(void *)(t->base + i * t->stride);
}

static size_t hash(const void *p, size_t size)
{
	uintptr_t x = (uintptr_t)p;
	x ^= x >> 17;
	x *= 0xed5ad4bbU;
	x ^= x >> 11;
	return x & (size - 1);
}

static void *lookup(struct table *t, const void *h)
{
	size_t i = hash(h, t->size);
	for (size_t n = 0; n < t->size; n++, i = (i + 1) & (t->size - 1)) {
		void *k = atomic_load(key_at(t, i));
		if (k == h)
			return t->base + i * t->stride;
		if (!k)
			return NULL;
	}
	return NULL;
}

/* The entry for h, existing or new (*fresh: its fields are a former entry's
 * or zero, for the caller to set). */
static void *lookup_or_add(struct table *t, void *h, int *fresh)
{
	void *e = lookup(t, h);
	*fresh = 0;
	if (e)
		return e;
	size_t i = hash(h, t->size);
	for (size_t n = 0; n < t->size; n++, i = (i + 1) & (t->size - 1)) {
		_Atomic(void *) *key = key_at(t, i);
		void *k = atomic_load(key);
		if ((!k || k == TOMBSTONE) && atomic_compare_exchange_strong(key, &k, h)) {
			*fresh = 1;
			return t->base + i * t->stride;
		}
	}
	if (!atomic_exchange(&t->overflow, 1))
		at_warn("mysql: more than %zu %s alive; new ones are traced with fewer "
		        "attributes",
		        t->size, t->what);
	return NULL;
}

static void forget(struct table *t, const void *h)
{
	void *e = lookup(t, h);
	if (e)
		atomic_store(key_at(t, (size_t)((char *)e - t->base) / t->stride), TOMBSTONE);
}

/* Connection facts, per MYSQL*, from mysql_real_connect & co. */
enum { SYS_UNKNOWN = 0, SYS_MYSQL = 1, SYS_MARIADB = 2 };

struct conn {
	_Atomic(void *) key;
	_Atomic int system;
	int port;       /* 0: none (unix socket) */
	char addr[128]; /* server.address: host name or socket path */
	char db[64];    /* db.namespace; "" for none */
	uint8_t addr_len, db_len;
	/* the blob's start as every statement's span copies it (defer_all):
	 * the head (its first two bytes written per statement), the database,
	 * the address; rebuilt when they change (conn_facts) */
	uint8_t facts_len;
	char facts[AT_MYSQL_HEAD + 63 + 127];
};

#define CONN_MAX 1024
static struct conn conns[CONN_MAX];
static struct table conn_table = {
    .base = (char *)conns, .stride = sizeof(struct conn), .size = CONN_MAX, .what = "connections"};

/* Prepared statements: their text, kept from prepare to execute. */
struct stmt {
	_Atomic(void *) key;
	MYSQL *conn;
	int system;   /* SYS_*, noted while the connection was surely open */
	uint16_t len; /* 0: not prepared (or prepare failed) */
	struct at_sql_summary sum;
	char text[AT_SQL_MAX];
};

#define STMT_MAX 1024
static struct stmt stmts[STMT_MAX];
static struct table stmt_table = {
    .base = (char *)stmts, .stride = sizeof(struct stmt), .size = STMT_MAX, .what = "statements"};

/* mysql_send_query .. mysql_read_query_result: the span in between. */
struct pending {
	_Atomic(void *) key;
	struct at_sql_summary sum;
	uint16_t len;
	char text[AT_SQL_MAX];
	struct at_span span;
};

#define PENDING_MAX 32 /* queries in flight at once; beyond it, no span */
static struct pending pendings[PENDING_MAX];

static struct pending *pending_find(const MYSQL *m)
{
	for (int i = 0; i < PENDING_MAX; i++)
		if (atomic_load(&pendings[i].key) == m)
			return &pendings[i];
	return NULL;
}

static struct pending *pending_claim(MYSQL *m)
{
	for (int i = 0; i < PENDING_MAX; i++) {
		void *k = NULL;
		if (atomic_compare_exchange_strong(&pendings[i].key, &k, m))
			return &pendings[i];
	}
	return NULL;
}

static void pending_release(struct pending *p)
{
	atomic_store(&p->key, NULL);
}

static uint8_t copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;
	memcpy(dst, src ? src : "", n);
	dst[n] = 0;
	return (uint8_t)n;
}

/* The connection's facts as a blob's start (struct conn, facts): port,
 * database and address, after any of them changed. */
static void conn_facts(struct conn *c)
{
	char *f = c->facts;
	f[0] = f[1] = 0;
	f[2] = (char)(c->port & 0xff);
	f[3] = (char)(c->port >> 8 & 0xff);
	f[4] = (char)c->db_len;
	f[5] = (char)c->addr_len;
	f[6] = f[7] = 0;
	memcpy(f + AT_MYSQL_HEAD, c->db, c->db_len);
	memcpy(f + AT_MYSQL_HEAD + c->db_len, c->addr, c->addr_len);
	c->facts_len = (uint8_t)(AT_MYSQL_HEAD + c->db_len + c->addr_len);
}

/* A statement that worked, "USE name": name is the connection's database
 * from now on (as mysql_select_db's), for the statements after it (the
 * USE's own span has the one it was sent in). */
static AT_NOINLINE void note_use(MYSQL *m, const char *q, size_t n)
{
	char db[sizeof ((struct conn *)0)->db];
	size_t dl = at_sql_use_db(q, n, db, sizeof db);
	struct conn *c = dl && m ? lookup(&conn_table, m) : NULL;
	if (!c)
		return;
	memcpy(c->db, db, dl + 1);
	c->db_len = (uint8_t)dl;
	conn_facts(c);
}

/* The statement as it goes into the span. Sanitizing it and finding its
 * operation and table is heavy: a statement that fits the span whole goes in
 * raw, as the caller's own text (no copy), and that work runs on the
 * exporter thread (at_sql_render). A longer one (a bulk INSERT, a wide
 * SELECT) must be cut, and the cut could hide its FROM: it is described
 * here, from up to 4 KiB of sanitized text, into out. Returns the text to
 * use (q or out) and its length in *len. */
#define SQL_WORK 4096

static const char *query_text(const char *q, size_t n, char *out, struct at_sql_summary *sum,
                              uint16_t *len)
{
	at_sql_summary_clear(sum);
	sum->rendered = 0;
	if (!q) {
		q = "";
		n = 0;
	}
	if (n < AT_SQL_MAX) {
		*len = (uint16_t)n;
		return q;
	}
	char work[SQL_WORK];
	size_t l = at_sql_sanitize(q, n, work, sizeof work, NULL);
	at_sql_summarize(work, l, sum);
	sum->rendered = 1;
	const char *src = work;
	if (at_sql_keep_literals()) {
		src = q;
		l = n;
	}
	l = at_utf8_cut(src, l, AT_SQL_MAX - 1);
	memcpy(out, src, l);
	out[l] = 0;
	*len = (uint16_t)l;
	return out;
}

/* The same, kept in out (AT_SQL_MAX bytes) for a span that ends later. */
static uint16_t describe_query(const char *q, size_t n, char *out, struct at_sql_summary *sum)
{
	uint16_t len;
	const char *t = query_text(q, n, out, sum, &len);
	if (t != out) {
		memcpy(out, t, len);
		out[len] = 0;
	}
	return len;
}

/* The server's flavour (SYS_*): remembered per connection, else asked once
 * from the library. live: m is the application's handle of this call, not
 * one remembered (a statement's connection may have been closed and freed
 * since): only then, or while the connection is known open, is it asked. */
static AT_NOINLINE int server_system_ask(MYSQL *m, struct conn *c, int live)
{
	if (m && (c || live) && RESOLVE(mysql_get_server_info)) {
		/* a string the library keeps from the handshake: no round trip */
		const char *v = real_mysql_get_server_info(m);
		if (v) {
			int sys = strcasestr(v, "mariadb") ? SYS_MARIADB : SYS_MYSQL;
			if (c)
				atomic_store(&c->system, sys);
			return sys;
		}
	}
	return SYS_UNKNOWN;
}

static inline int server_system(MYSQL *m, struct conn *c, int live)
{
	int sys = c ? atomic_load_explicit(&c->system, memory_order_relaxed) : SYS_UNKNOWN;
	return AT_LIKELY(sys != SYS_UNKNOWN) ? sys : server_system_ask(m, c, live);
}

/* Everything but timing: called when the span is recording. err != 0 is
 * the failed call's error number, msg its message. The query text goes
 * last: it may fill the span's arena, and is what can best be cut. */
static void set_error(struct at_span *s, unsigned err, const char *msg)
{
	char code[16];
	int n = snprintf(code, sizeof code, "%u", err);
	at_span_set_strn(s, "db.response.status_code", code, (size_t)n);
	size_t ml = msg ? strnlen(msg, 256) : 0;
	at_span_fail(s, code, (size_t)n, ml ? msg : code, ml ? ml : (size_t)n);
}

/* The common case, cheap: a statement short enough to go in raw. It and
 * the connection's facts are copied into one attribute's bytes at b (room
 * of them), rendered on the exporter thread (hooks/mysql_render.c).
 * Returns their length, 0 when they do not fit. */
static AT_ALWAYS_INLINE size_t facts_blob(char *b, size_t room, const struct conn *c, int sysn,
                                          const char *text, size_t len)
{
	if (at_cfg.attr_value_limit && len > (size_t)at_cfg.attr_value_limit)
		return 0;
	static const char no_facts[AT_MYSQL_HEAD]; /* no port, database, address */
	int facts = c && c->facts_len >= AT_MYSQL_HEAD;
	size_t flen = facts ? c->facts_len : AT_MYSQL_HEAD;
	size_t need = flen + len;
	if (need > room)
		return 0;
	/* the connection's facts, then a short statement: no call for each */
	at_copy_small(b, facts ? c->facts : no_facts, flen);
	b[0] = (char)(sysn == SYS_MARIADB ? AT_MYSQL_SYS_MARIADB : AT_MYSQL_SYS_MYSQL);
	b[1] = (char)at_sql_keep_literals();
	at_copy_small(b + flen, text, len);
	return need;
}

/* The same as a span's attribute. Returns 0 when it does not fit (the
 * attribute count limit, the arena's room): the caller does it here. */
static int defer_all(struct at_span *s, const struct conn *c, int sysn, const char *text,
                     size_t len)
{
	size_t off = s->arena_used;
	if (s->nattrs >= s->attr_cap)
		return 0;
	size_t need = facts_blob(s->arena + off, AT_ARENA_SIZE - off, c, sysn, text, len);
	if (!need)
		return 0;
	struct at_attr *a = at_span_slot(s, "db.query.text");
	if (!a)
		return 0;
	a->type = AT_ATTR_DEFER;
	a->render = AT_RENDER_MYSQL;
	a->v.s = (struct at_str){(uint16_t)off, (uint16_t)need};
	s->arena_used = (uint16_t)(off + need);
	return 1;
}

/* Everything but timing: called when the span is recording. err != 0 is
 * the failed call's error number, msg its message. The query text goes
 * last: it may fill the span's arena, and is what can best be cut. */
static void finish_span(struct at_span *s, MYSQL *m, int live, int sys_hint,
                        const struct at_sql_summary *sum, const char *text, size_t len,
                        unsigned err, const char *msg)
{
	struct conn *c = m ? lookup(&conn_table, m) : NULL;
	int sysn = server_system(m, c, live);
	if (!sysn)
		sysn = sys_hint;
	if (err)
		set_error(s, err, msg);
	if (len && !sum->rendered && defer_all(s, c, sysn, text, len))
		return;
	const char *sys = sysn == SYS_MARIADB ? "mariadb" : "mysql";
	/* copied now, not a literal copied on the exporter thread: the text set
	 * below may fill what a parent's tracestate left of the arena */
	at_span_set_strn(s, "db.system.name", sys, strlen(sys));
	char name[sizeof sum->op + sizeof sum->table + 1];
	if (sum->op[0]) {
		size_t on = sum->op_len, tn = sum->table_len;
		memcpy(name, sum->op, on);
		if (tn) {
			name[on] = ' ';
			memcpy(name + on + 1, sum->table, tn);
			on += tn + 1;
		}
		at_span_set_name(s, name, on);
		at_span_set_strn(s, "db.operation.name", sum->op, sum->op_len);
	} else {
		at_span_set_name(s, sys, strlen(sys));
	}
	if (sum->table[0])
		at_span_set_strn(s, "db.collection.name", sum->table, sum->table_len);
	if (c) {
		if (c->db[0])
			at_span_set_strn(s, "db.namespace", c->db, c->db_len);
		if (c->addr[0])
			at_span_set_strn(s, "server.address", c->addr, c->addr_len);
		if (c->port)
			at_span_set_int(s, "server.port", c->port);
	}
	if (len && sum->rendered)
		at_span_set_strn(s, "db.query.text", text, len);
	else if (len) /* sanitized and named on the exporter thread */
		at_span_set_deferred(s, "db.query.text",
		                     at_sql_keep_literals() ? AT_RENDER_SQL_RAW : AT_RENDER_SQL, text,
		                     len);
}

/* The error of a failed call on a connection: its number (never 0). */
static unsigned conn_error(MYSQL *m, const char **msg)
{
	unsigned e = RESOLVE(mysql_errno) ? real_mysql_errno(m) : 0;
	*msg = RESOLVE(mysql_error) ? real_mysql_error(m) : NULL;
	return e ? e : 2000; /* CR_UNKNOWN_ERROR */
}

static AT_NOINLINE void finish_text_query_full(struct at_span *s, MYSQL *m, const char *q,
                                               size_t n, int failed)
{
	char text[AT_SQL_MAX];
	struct at_sql_summary sum;
	uint16_t len;
	const char *t = query_text(q, n, text, &sum, &len);
	const char *msg = NULL;
	unsigned err = failed ? conn_error(m, &msg) : 0;
	finish_span(s, m, 1, 0, &sum, t, len, err, msg);
}

/* The common case first: a statement that succeeded and fits the span whole
 * goes in raw with the connection's facts (defer_all), without the summary
 * and the copy that a long or failed one needs. */
static void finish_text_query(struct at_span *s, MYSQL *m, const char *q, size_t n, int failed)
{
	if (AT_LIKELY(!failed && q && n && n < AT_SQL_MAX)) {
		struct conn *c = m ? lookup(&conn_table, m) : NULL;
		if (defer_all(s, c, server_system(m, c, 1), q, n))
			return;
	}
	finish_text_query_full(s, m, q, n, failed);
}

/* ---- connections ---- */

AT_EXPORT MYSQL *mysql_real_connect(MYSQL *m, const char *host, const char *user,
                                    const char *passwd, const char *db, unsigned int port,
                                    const char *sock, unsigned long flags)
{
	if (!RESOLVE(mysql_real_connect))
		return NULL;
	uint8_t was = at_tls.lib_conn;
	at_tls.lib_conn = 1; /* not followed on the wire (net.c) */
	MYSQL *r = real_mysql_real_connect(m, host, user, passwd, db, port, sock, flags);
	int saved = errno;
	at_tls.lib_conn = was;
	int fresh;
	struct conn *c = r && at_on() ? lookup_or_add(&conn_table, r, &fresh) : NULL;
	if (c) {
		atomic_store(&c->system, SYS_UNKNOWN);
		/* no host, or "localhost": the client library uses a unix socket */
		int local = !host || !strcmp(host, "localhost");
		if (sock && *sock && local) {
			c->addr_len = copy_str(c->addr, sizeof c->addr, sock);
			c->port = 0;
		} else if (local) {
			c->addr_len = copy_str(c->addr, sizeof c->addr, "localhost");
			c->port = 0;
		} else {
			c->addr_len = copy_str(c->addr, sizeof c->addr, host);
			c->port = port ? (int)port : 3306;
		}
		c->db_len = copy_str(c->db, sizeof c->db, db);
		conn_facts(c);
	}
	errno = saved;
	return r;
}

AT_EXPORT int mysql_select_db(MYSQL *m, const char *db)
{
	if (!RESOLVE(mysql_select_db))
		return 1;
	int rc = real_mysql_select_db(m, db);
	int saved = errno;
	int fresh;
	struct conn *c = rc == 0 && at_on() ? lookup_or_add(&conn_table, m, &fresh) : NULL;
	if (c) {
		if (fresh) { /* connected where we did not see it: no address known */
			atomic_store(&c->system, SYS_UNKNOWN);
			c->addr_len = 0;
			c->addr[0] = 0;
			c->port = 0;
		}
		c->db_len = copy_str(c->db, sizeof c->db, db);
		conn_facts(c);
	}
	errno = saved;
	return rc;
}

AT_EXPORT my_bool mysql_change_user(MYSQL *m, const char *user, const char *passwd, const char *db)
{
	if (!RESOLVE(mysql_change_user))
		return 1;
	my_bool rc = real_mysql_change_user(m, user, passwd, db);
	int saved = errno;
	struct conn *c = rc == 0 && at_on() ? lookup(&conn_table, m) : NULL;
	if (c) {
		c->db_len = copy_str(c->db, sizeof c->db, db);
		conn_facts(c);
	}
	errno = saved;
	return rc;
}

AT_EXPORT void mysql_close(MYSQL *m)
{
	if (!RESOLVE(mysql_close))
		return;
	int saved = errno;
	if (m) {
		forget(&conn_table, m);
		struct pending *p = pending_find(m); /* sent, never read: no span */
		if (p)
			pending_release(p);
	}
	errno = saved;
	real_mysql_close(m);
}

/* ---- text protocol ---- */

/* A text statement's span is a leaf (preload/leaf.h): the common case (it
 * succeeded and fits whole) goes into the queue as a record of the
 * connection's facts and the statement; the rest make the whole span. */
static AT_NOINLINE void finish_whole(struct at_leaf *l, MYSQL *m, const char *q, size_t n,
                                     int failed)
{
	struct at_span s;
	at_leaf_span(l, &s);
	finish_text_query(&s, m, q, n, failed);
	at_span_end(&s);
}

/* A statement that succeeded, raw and whole, into the leaf's record with
 * its connection's facts (live: the connection may be asked for its server
 * system; hint: the system noted before). Returns 0 when it does not go
 * there: no attribute allowed, a parent's tracestate (it takes arena room
 * the statement may need: the whole span cuts or summarizes it), no room. */
static AT_ALWAYS_INLINE int leaf_statement(struct at_leaf *l, MYSQL *m, int live, int hint,
                                           const char *text, size_t len)
{
	if (AT_UNLIKELY(at_cfg.attr_count_limit < 1) ||
	    AT_UNLIKELY(l->pspan && l->pspan->tracestate.len))
		return 0;
	struct conn *c = m ? lookup(&conn_table, m) : NULL;
	int sysn = server_system(m, c, live);
	if (!sysn)
		sysn = hint;
	char b[AT_ARENA_SIZE];
	size_t n = facts_blob(b, sizeof b, c, sysn, text, len);
	if (!n)
		return 0;
	at_leaf_raw(l, "db.query.text", AT_RENDER_MYSQL, b, n);
	at_leaf_end(l);
	return 1;
}

/* A crash or kill during a text statement (leaf.h's late): the statement
 * and its connection's facts, as leaf_statement would take them after the
 * call, the first AT_SQL_MAX - 1 bytes of a long one (the renderer
 * sanitizes what it gets). The connection is open: the call runs on it. */
static void late_query(struct at_leaf *l, char *buf, size_t room)
{
	MYSQL *m = (MYSQL *)l->late_obj;
	struct conn *c = m ? lookup(&conn_table, m) : NULL;
	size_t len = l->late_len < AT_SQL_MAX ? l->late_len : AT_SQL_MAX - 1;
	size_t n = l->late_text && len ? facts_blob(buf, room, c, server_system(m, c, 1),
	                                            l->late_text, len)
	                               : 0;
	if (n)
		at_leaf_raw(l, "db.query.text", AT_RENDER_MYSQL, buf, n);
}

/* The same for a prepared statement's execute: the text it was prepared
 * from. */
static void late_stmt(struct at_leaf *l, char *buf, size_t room)
{
	const struct stmt *e = lookup(&stmt_table, l->late_obj);
	if (!e || !e->len || e->sum.rendered)
		return;
	struct conn *c = e->conn ? lookup(&conn_table, e->conn) : NULL;
	size_t n = facts_blob(buf, room, c, e->system, e->text, e->len);
	if (n)
		at_leaf_raw(l, "db.query.text", AT_RENDER_MYSQL, buf, n);
}

static AT_ALWAYS_INLINE void late_set(struct at_leaf *l,
                                      void (*late)(struct at_leaf *, char *, size_t),
                                      const void *obj, const char *text, size_t len)
{
	l->late = late;
	l->late_obj = obj;
	l->late_text = text;
	l->late_len = len;
}

static AT_ALWAYS_INLINE void finish_leaf(struct at_leaf *l, MYSQL *m, const char *q, size_t n,
                                         int failed)
{
	if (AT_LIKELY(!failed && q && n && n < AT_SQL_MAX) && leaf_statement(l, m, 1, 0, q, n))
		return;
	finish_whole(l, m, q, n, failed);
}

/* mysql_query is mysql_real_query(m, q, strlen(q)) in libmariadb and in
 * libmysqlclient alike (the comment at the top): made here, once the
 * library's mysql_real_query is known, the statement is measured once and
 * neither the library's mysql_query nor our mysql_real_query hook, which
 * would pass it through, runs. query_real is the mysql_real_query of the
 * library whose mysql_query was found (a process may hold two client
 * libraries, whose MYSQL structures differ). */
static int (*query_real)(MYSQL *, const char *, unsigned long);

static AT_NOINLINE int traced_query(MYSQL *m, const char *q, uintptr_t caller)
{
	int saved = errno;
	struct at_leaf l;
	int rec = at_leaf_begin(&l, AT_KIND_CLIENT, caller);
	size_t n = q ? strlen(q) : 0;
	late_set(&l, late_query, m, q, n);
	errno = saved;
	int rc = AT_LIKELY(q && query_real) ? query_real(m, q, (unsigned long)n)
	                                    : real_mysql_query(m, q);
	saved = errno;
	if (rec)
		finish_leaf(&l, m, q, n, rc != 0);
	if (AT_UNLIKELY(!rc && q && at_sql_maybe_use(q, n)))
		note_use(m, q, n);
	at_leave();
	errno = saved;
	return rc;
}

static AT_NOINLINE int slow_query(MYSQL *m, const char *q, uintptr_t caller)
{
	if (!RESOLVE(mysql_query))
		return 1;
	if (!query_real) /* where it is missing, the library's mysql_query is made */
		query_real = at_real_beside((void *)real_mysql_query, "mysql_real_query");
	if (!at_enter())
		return real_mysql_query(m, q);
	return traced_query(m, q, caller);
}

AT_EXPORT int mysql_query(MYSQL *m, const char *q)
{
	uintptr_t caller = (uintptr_t)__builtin_return_address(0);
	switch (at_go(real_mysql_query)) {
	case AT_GO_PASS:
		return real_mysql_query(m, q);
	case AT_GO_TRACE:
		return traced_query(m, q, caller);
	default:
		return slow_query(m, q, caller);
	}
}

static AT_NOINLINE int traced_real_query(MYSQL *m, const char *q, unsigned long n, uintptr_t caller)
{
	int saved = errno;
	struct at_leaf l;
	int rec = at_leaf_begin(&l, AT_KIND_CLIENT, caller);
	late_set(&l, late_query, m, q, n);
	errno = saved;
	int rc = real_mysql_real_query(m, q, n);
	saved = errno;
	if (rec)
		finish_leaf(&l, m, q, n, rc != 0);
	if (AT_UNLIKELY(!rc && q && at_sql_maybe_use(q, n)))
		note_use(m, q, n);
	at_leave();
	errno = saved;
	return rc;
}

static AT_NOINLINE int slow_real_query(MYSQL *m, const char *q, unsigned long n, uintptr_t caller)
{
	if (!RESOLVE(mysql_real_query))
		return 1;
	if (!at_enter())
		return real_mysql_real_query(m, q, n);
	return traced_real_query(m, q, n, caller);
}

AT_EXPORT int mysql_real_query(MYSQL *m, const char *q, unsigned long n)
{
	uintptr_t caller = (uintptr_t)__builtin_return_address(0);
	switch (at_go(real_mysql_real_query)) {
	case AT_GO_PASS:
		return real_mysql_real_query(m, q, n);
	case AT_GO_TRACE:
		return traced_real_query(m, q, n, caller);
	default:
		return slow_real_query(m, q, n, caller);
	}
}

/* A query whose span ends in another call (send .. read, *_start ..
 * *_cont): the span lives in a pending slot keyed by the connection, and
 * the statement is described at the start, while its buffer is sure to be
 * the application's. NULL: no slot free, or the span is not sampled. */
static struct pending *pending_begin(MYSQL *m, const char *q, size_t n)
{
	struct pending *p = pending_find(m); /* started twice without an end: replace */
	if (!p)
		p = pending_claim(m);
	if (!p)
		return NULL;
	at_span_start_detached(&p->span, NULL, AT_KIND_CLIENT, NULL);
	if (!p->span.recording) {
		pending_release(p);
		return NULL;
	}
	p->len = describe_query(q, n, p->text, &p->sum);
	return p;
}

static void pending_end(struct pending *p, MYSQL *m, int failed)
{
	const char *msg = NULL;
	unsigned err = failed ? conn_error(m, &msg) : 0;
	finish_span(&p->span, m, 1, 0, &p->sum, p->text, p->len, err, msg);
	at_span_end_detached(&p->span);
	if (!failed && !p->sum.rendered && at_sql_maybe_use(p->text, p->len))
		note_use(m, p->text, p->len);
	pending_release(p);
}

AT_EXPORT int mysql_send_query(MYSQL *m, const char *q, unsigned long n)
{
	if (!RESOLVE(mysql_send_query))
		return 1;
	if (!at_enter())
		return real_mysql_send_query(m, q, n);
	int saved = errno;
	struct pending *p = pending_begin(m, q, n);
	if (p)
		AT_SPAN_CALLER(&p->span);
	errno = saved;
	int rc = real_mysql_send_query(m, q, n);
	saved = errno;
	if (p && rc != 0)
		pending_end(p, m, 1);
	at_leave();
	errno = saved;
	return rc;
}

AT_EXPORT my_bool mysql_read_query_result(MYSQL *m)
{
	if (!RESOLVE(mysql_read_query_result))
		return 1;
	struct pending *p = at_on() ? pending_find(m) : NULL;
	if (!p)
		return real_mysql_read_query_result(m);
	int entered = at_enter();
	my_bool rc = real_mysql_read_query_result(m);
	int saved = errno;
	pending_end(p, m, rc != 0);
	if (entered)
		at_leave();
	errno = saved;
	return rc;
}

/* ---- libmariadb's non-blocking API ----
 * mysql_X_start runs mysql_X on a coroutine stack inside the library and
 * returns when it would block; mysql_X_cont resumes it, possibly on another
 * thread. Our hooks reached from there (mysql_real_query@plt, ...) must not
 * hold a span or the thread's depth across a suspension, so every *_start
 * and *_cont that reaches a hook raises the depth around the call: inner
 * hooks pass through. The query functions get a span from start to the
 * last cont, kept in a pending slot; the others are not traced. */

#define NB_GUARD(name, params, args)                                                               \
	AT_REAL(int, name, params);                                                                \
	AT_EXPORT int name params                                                                  \
	{                                                                                          \
		if (!RESOLVE(name))                                                                \
			return 0;                                                                  \
		at_tls.depth++;                                                                    \
		int rc_ = real_##name args;                                                        \
		at_tls.depth--;                                                                    \
		return rc_;                                                                        \
	}
#define NB_GUARD_CONT(name) NB_GUARD(name, (void *ret, void *h, int status), (ret, h, status))

NB_GUARD(mysql_send_query_start, (int *ret, MYSQL *m, const char *q, unsigned long n),
         (ret, m, q, n))
NB_GUARD_CONT(mysql_send_query_cont)
NB_GUARD(mysql_read_query_result_start, (my_bool * ret, MYSQL *m), (ret, m))
NB_GUARD_CONT(mysql_read_query_result_cont)
NB_GUARD(mysql_stmt_prepare_start, (int *ret, MYSQL_STMT *st, const char *q, unsigned long n),
         (ret, st, q, n))
NB_GUARD_CONT(mysql_stmt_prepare_cont)
NB_GUARD(mysql_stmt_execute_start, (int *ret, MYSQL_STMT *st), (ret, st))
NB_GUARD_CONT(mysql_stmt_execute_cont)
NB_GUARD(mysql_commit_start, (my_bool * ret, MYSQL *m), (ret, m))
NB_GUARD_CONT(mysql_commit_cont)
NB_GUARD(mysql_rollback_start, (my_bool * ret, MYSQL *m), (ret, m))
NB_GUARD_CONT(mysql_rollback_cont)
NB_GUARD(mysql_autocommit_start, (my_bool * ret, MYSQL *m, my_bool on), (ret, m, on))
NB_GUARD_CONT(mysql_autocommit_cont)
NB_GUARD(mysql_set_character_set_start, (int *ret, MYSQL *m, const char *cs), (ret, m, cs))
NB_GUARD_CONT(mysql_set_character_set_cont)
NB_GUARD(mysql_kill_start, (int *ret, MYSQL *m, unsigned long id), (ret, m, id))
NB_GUARD_CONT(mysql_kill_cont)
NB_GUARD(mysql_real_connect_start,
         (MYSQL * *ret, MYSQL *m, const char *host, const char *user, const char *passwd,
          const char *db, unsigned int port, const char *sock, unsigned long flags),
         (ret, m, host, user, passwd, db, port, sock, flags))
NB_GUARD_CONT(mysql_real_connect_cont)

AT_REAL(int, mysql_real_query_start, (int *, MYSQL *, const char *, unsigned long));
AT_REAL(int, mysql_real_query_cont, (int *, MYSQL *, int));
AT_REAL(int, mysql_query_start, (int *, MYSQL *, const char *));
AT_REAL(int, mysql_query_cont, (int *, MYSQL *, int));

AT_EXPORT int mysql_real_query_start(int *ret, MYSQL *m, const char *q, unsigned long n)
{
	if (!RESOLVE(mysql_real_query_start))
		return 0;
	if (!at_enter())
		return real_mysql_real_query_start(ret, m, q, n);
	int saved = errno;
	struct pending *p = pending_begin(m, q, n);
	if (p)
		AT_SPAN_CALLER(&p->span);
	errno = saved;
	int st = real_mysql_real_query_start(ret, m, q, n);
	saved = errno;
	if (p && st == 0)
		pending_end(p, m, *ret != 0);
	at_leave();
	errno = saved;
	return st;
}

AT_EXPORT int mysql_query_start(int *ret, MYSQL *m, const char *q)
{
	if (!RESOLVE(mysql_query_start))
		return 0;
	if (!at_enter())
		return real_mysql_query_start(ret, m, q);
	int saved = errno;
	struct pending *p = pending_begin(m, q, q ? strlen(q) : 0);
	if (p)
		AT_SPAN_CALLER(&p->span);
	errno = saved;
	int st = real_mysql_query_start(ret, m, q);
	saved = errno;
	if (p && st == 0)
		pending_end(p, m, *ret != 0);
	at_leave();
	errno = saved;
	return st;
}

static int query_cont(int (*real)(int *, MYSQL *, int), int *ret, MYSQL *m, int status)
{
	at_tls.depth++;
	int st = real(ret, m, status);
	at_tls.depth--;
	int saved = errno;
	struct pending *p = st == 0 && at_on() ? pending_find(m) : NULL;
	if (p)
		pending_end(p, m, *ret != 0);
	errno = saved;
	return st;
}

AT_EXPORT int mysql_real_query_cont(int *ret, MYSQL *m, int status)
{
	if (!RESOLVE(mysql_real_query_cont))
		return 0;
	return query_cont(real_mysql_real_query_cont, ret, m, status);
}

AT_EXPORT int mysql_query_cont(int *ret, MYSQL *m, int status)
{
	if (!RESOLVE(mysql_query_cont))
		return 0;
	return query_cont(real_mysql_query_cont, ret, m, status);
}

/* ---- prepared statements ---- */

AT_EXPORT MYSQL_STMT *mysql_stmt_init(MYSQL *m)
{
	if (!RESOLVE(mysql_stmt_init))
		return NULL;
	MYSQL_STMT *st = real_mysql_stmt_init(m);
	int saved = errno;
	int fresh;
	struct stmt *e = st && at_on() ? lookup_or_add(&stmt_table, st, &fresh) : NULL;
	if (e) {
		e->conn = m;
		e->system = SYS_UNKNOWN;
		e->len = 0;
		at_sql_summary_clear(&e->sum);
	}
	errno = saved;
	return st;
}

/* The error of a failed call on a statement: its number (never 0). */
static unsigned stmt_error(MYSQL_STMT *st, const char **msg)
{
	unsigned e = RESOLVE(mysql_stmt_errno) ? real_mysql_stmt_errno(st) : 0;
	*msg = RESOLVE(mysql_stmt_error) ? real_mysql_stmt_error(st) : NULL;
	return e ? e : 2000;
}

/* A statement that fails to prepare (bad syntax, a missing table) never
 * executes: then the prepare gets the span, with the error. A successful
 * prepare makes none; its span was never current, so it is just dropped. */
AT_EXPORT int mysql_stmt_prepare(MYSQL_STMT *st, const char *q, unsigned long n)
{
	if (!RESOLVE(mysql_stmt_prepare))
		return 1;
	int saved = errno;
	int entered = at_enter();
	struct at_span s;
	s.recording = 0;
	if (entered) {
		at_span_start_detached(&s, NULL, AT_KIND_CLIENT, NULL);
		AT_SPAN_CALLER(&s);
	}
	errno = saved;
	int rc = real_mysql_stmt_prepare(st, q, n);
	saved = errno;
	int fresh;
	struct stmt *e = at_on() ? lookup_or_add(&stmt_table, st, &fresh) : NULL;
	if (e) {
		if (fresh) {
			e->conn = NULL; /* made before we were on: connection unknown */
			e->system = SYS_UNKNOWN;
		}
		e->len = 0;
		at_sql_summary_clear(&e->sum);
		if (rc == 0) {
			e->len = describe_query(q, n, e->text, &e->sum);
			if (e->conn)
				e->system = server_system(e->conn, lookup(&conn_table, e->conn), 0);
		}
	}
	if (rc != 0 && s.recording) {
		char text[AT_SQL_MAX];
		struct at_sql_summary sum;
		uint16_t len;
		const char *t = query_text(q, n, text, &sum, &len);
		const char *msg;
		unsigned err = stmt_error(st, &msg);
		finish_span(&s, e ? e->conn : NULL, 0, e ? e->system : 0, &sum, t, len, err, msg);
		at_span_end_detached(&s);
	}
	if (entered)
		at_leave();
	errno = saved;
	return rc;
}

/* An execution's span is a leaf too: the statement's text kept from its
 * prepare goes into the record when it succeeded and the text is still raw. */
static AT_NOINLINE void stmt_whole(struct at_leaf *l, MYSQL_STMT *st, struct stmt *e, int rc)
{
	struct at_span s;
	at_leaf_span(l, &s);
	static const struct at_sql_summary none;
	unsigned err = 0;
	const char *msg = NULL;
	if (rc != 0)
		err = stmt_error(st, &msg);
	finish_span(&s, e ? e->conn : NULL, 0, e ? e->system : 0, e ? &e->sum : &none,
	            e ? e->text : "", e ? e->len : 0, err, msg);
	at_span_end(&s);
}

AT_EXPORT int mysql_stmt_execute(MYSQL_STMT *st)
{
	if (!RESOLVE(mysql_stmt_execute))
		return 1;
	if (!at_enter())
		return real_mysql_stmt_execute(st);
	int saved = errno;
	struct at_leaf l;
	int rec = at_leaf_begin(&l, AT_KIND_CLIENT, (uintptr_t)__builtin_return_address(0));
	late_set(&l, late_stmt, st, NULL, 0);
	errno = saved;
	int rc = real_mysql_stmt_execute(st);
	saved = errno;
	if (rec) {
		struct stmt *e = lookup(&stmt_table, st);
		if (!(rc == 0 && e && e->len && !e->sum.rendered &&
		      leaf_statement(&l, e->conn, 0, e->system, e->text, e->len)))
			stmt_whole(&l, st, e, rc);
	}
	at_leave();
	errno = saved;
	return rc;
}

AT_EXPORT my_bool mysql_stmt_close(MYSQL_STMT *st)
{
	if (!RESOLVE(mysql_stmt_close))
		return 1;
	int saved = errno;
	if (st)
		forget(&stmt_table, st);
	errno = saved;
	return real_mysql_stmt_close(st);
}
