/* hiredis: a CLIENT span per Redis command, whether the application uses the
 * synchronous calls (redisCommand and its v/Argv twins), pipelines
 * (redisAppendCommand*, redisAppendFormattedCommand, then redisGetReply) or
 * the asynchronous API (redisAsyncCommand*, redisAsyncFormattedCommand;
 * replies delivered to a callback by an event loop). Subscriptions and
 * MONITOR are passed through untraced: their callbacks run once per message.
 *
 * hiredis is never linked: its functions are found in the host at the first
 * call, also when a plugin dlopen'ed it RTLD_LOCAL. Its structs are opaque
 * here: the layout of redisContext and redisReply changed in 1.0 (a function
 * table pointer before err; dval before len), so the version is found from
 * the loaded library and a field is read only when its offset is known.
 *
 * State that outlives a call lives in fixed tables, never malloc'ed:
 * - per context (a lock-free open-addressing table keyed by the context
 *   pointer): the server address from redisConnect*, the database selected,
 *   and the FIFO of pipelined commands awaiting their replies;
 * - per command awaiting a reply (a lock-free pool of records): the detached
 *   span and, for async commands, the application's callback and privdata.
 * When a table is full the command runs untraced; the command always runs. */
#define _GNU_SOURCE
#include "../preload/autotrace.h"
#include "../preload/leaf.h"
#include "../preload/config.h"
#include "../preload/errors.h"
#include "../preload/log.h"
#include "../preload/real.h"
#include "fdstate.h"
#include "redis_cmd.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#define REDIS_OK 0
#define REDIS_ERR -1
#define REDIS_REPLY_ERROR 6

typedef void redis_cb(void *ac, void *reply, void *privdata);

static const char *const hiredis_sonames[] = {
    "libhiredis.so.1.1.0", "libhiredis.so.1.2.0", "libhiredis.so.1.0.0", "libhiredis.so.1",
    "libhiredis.so.0.14",  "libhiredis.so.0.13",  "libhiredis.so",       NULL};

AT_REAL(void *, redisvCommand, (void *, const char *, va_list));
AT_REAL(void *, redisCommandArgv, (void *, int, const char **, const size_t *));
AT_REAL(int, redisvAppendCommand, (void *, const char *, va_list));
AT_REAL(int, redisAppendCommandArgv, (void *, int, const char **, const size_t *));
AT_REAL(int, redisAppendFormattedCommand, (void *, const char *, size_t));
AT_REAL(int, redisGetReply, (void *, void **));
AT_REAL(int, redisvAsyncCommand, (void *, redis_cb *, void *, const char *, va_list));
AT_REAL(int, redisAsyncCommandArgv,
        (void *, redis_cb *, void *, int, const char **, const size_t *));
AT_REAL(int, redisAsyncFormattedCommand, (void *, redis_cb *, void *, const char *, size_t));
AT_REAL(void *, redisConnect, (const char *, int));
AT_REAL(void *, redisConnectWithTimeout, (const char *, int, const struct timeval));
AT_REAL(void *, redisConnectNonBlock, (const char *, int));
AT_REAL(void *, redisConnectBindNonBlock, (const char *, int, const char *));
AT_REAL(void *, redisConnectBindNonBlockWithReuse, (const char *, int, const char *));
AT_REAL(void *, redisConnectUnix, (const char *));
AT_REAL(void *, redisConnectUnixWithTimeout, (const char *, const struct timeval));
AT_REAL(void *, redisConnectUnixNonBlock, (const char *));
AT_REAL(void *, redisConnectFd, (int));
AT_REAL(void *, redisConnectWithOptions, (const void *));
AT_REAL(void *, redisAsyncConnect, (const char *, int));
AT_REAL(void *, redisAsyncConnectBind, (const char *, int, const char *));
AT_REAL(void *, redisAsyncConnectBindWithReuse, (const char *, int, const char *));
AT_REAL(void *, redisAsyncConnectUnix, (const char *));
AT_REAL(void *, redisAsyncConnectWithOptions, (const void *));
AT_REAL(void, redisFree, (void *));
AT_REAL(void, redisAsyncFree, (void *));

#define RESOLVE(name) AT_RESOLVE_IN(name, hiredis_sonames)

/* ---- which hiredis: the layouts we know ---- */

enum { ABI_UNKNOWN = 0, ABI_V0 = 1, ABI_V1 = 2 };
static _Atomic int abi_cached = -1;

/* 0.x: redisContext starts with err; redisReply {type, integer, len, str} */
struct ctx_v0 {
	int err;
	char errstr[128];
	int fd;
	int flags; /* REDIS_BLOCK: a blocking context */
};
struct reply_v0 {
	int type;
	long long integer;
	size_t len;
	char *str;
};
/* 1.x: a function table pointer first; redisReply gained dval before len */
struct ctx_v1 {
	const void *funcs;
	int err;
	char errstr[128];
	int fd; /* redisFD: an int but on Windows */
	int flags;
};
#define REDIS_BLOCK 0x1
_Static_assert(offsetof(struct ctx_v0, flags) == 136 && offsetof(struct ctx_v1, flags) == 144,
               "redisContext's flags: 0.x and 1.x on LP64");
struct reply_v1 {
	int type;
	long long integer;
	double dval;
	size_t len;
	char *str;
};
/* 1.x redisOptions, for redisConnectWithOptions */
struct options_v1 {
	int type; /* 0 tcp, 1 unix, 2 fd */
	int options;
	const struct timeval *connect_timeout, *command_timeout;
	union {
		struct {
			const char *source_addr, *ip;
			int port;
		} tcp;
		const char *unix_socket;
		int fd;
	} endpoint;
};

/* From the library that holds sym: its file name (the soname's major
 * version), else whether it has a function that only 1.x has. Run once. */
static int detect_abi(void *sym)
{
	Dl_info di;
	if (!sym || !dladdr(sym, &di) || !di.dli_fname)
		return ABI_UNKNOWN;
	const char *base = strrchr(di.dli_fname, '/');
	base = base ? base + 1 : di.dli_fname;
	if (strstr(base, "hiredis.so.0."))
		return ABI_V0;
	if (strstr(base, "hiredis.so.1"))
		return ABI_V1;
	void *h = dlopen(*di.dli_fname ? di.dli_fname : NULL, RTLD_LAZY | RTLD_NOLOAD);
	if (!h)
		return ABI_UNKNOWN;
	/* RESP3 push handlers came with 1.0 along with the new layouts */
	int v = dlsym(h, "redisSetPushCallback") ? ABI_V1 : ABI_V0;
	dlclose(h);
	return v;
}

/* hiredis's redisvCommand and redisCommandArgv append the command and
 * then, on a blocking context, wait for its reply with redisGetReply
 * (__redisBlockForReply; the same from 0.13 to 1.2). Where the layout is
 * known and the functions all come from one library, sync_real makes those
 * two calls itself, so the hooks on them (which a synchronous command only
 * passes through) are not crossed: the offset of the context's flags, else
 * 0 (the real redisvCommand is called). */
static _Atomic int block_flags_off;

static int same_object(void *a, void *b)
{
	Dl_info x, y;
	return a && b && dladdr(a, &x) && dladdr(b, &y) && x.dli_fbase == y.dli_fbase;
}

static void detect_direct(int v)
{
	if ((v != ABI_V0 && v != ABI_V1) || !RESOLVE(redisvCommand) || !RESOLVE(redisCommandArgv) ||
	    !RESOLVE(redisvAppendCommand) || !RESOLVE(redisAppendCommandArgv) ||
	    !RESOLVE(redisGetReply))
		return;
	void *lib = (void *)real_redisvCommand;
	if (!same_object(lib, (void *)real_redisCommandArgv) ||
	    !same_object(lib, (void *)real_redisvAppendCommand) ||
	    !same_object(lib, (void *)real_redisAppendCommandArgv) ||
	    !same_object(lib, (void *)real_redisGetReply))
		return;
	atomic_store_explicit(&block_flags_off,
	                      v == ABI_V0 ? (int)offsetof(struct ctx_v0, flags)
	                                  : (int)offsetof(struct ctx_v1, flags),
	                      memory_order_release);
}

static int abi(void *sym)
{
	int v = atomic_load_explicit(&abi_cached, memory_order_relaxed);
	if (AT_LIKELY(v >= 0))
		return v;
	v = detect_abi(sym);
	at_debug("redis: hiredis %s layout", v == ABI_V1 ? "1.x" : v == ABI_V0 ? "0.x" : "unknown");
	detect_direct(v);
	atomic_store(&abi_cached, v);
	return v;
}

/* The context's error; 0 when unknown. */
static int ctx_err(const void *c, const char **msg, size_t *len)
{
	int v = atomic_load_explicit(&abi_cached, memory_order_relaxed);
	const char *s = NULL;
	int err = 0;
	if (c && v == ABI_V0) {
		err = ((const struct ctx_v0 *)c)->err;
		s = ((const struct ctx_v0 *)c)->errstr;
	} else if (c && v == ABI_V1) {
		err = ((const struct ctx_v1 *)c)->err;
		s = ((const struct ctx_v1 *)c)->errstr;
	}
	*msg = s;
	*len = s ? strnlen(s, 128) : 0;
	return err;
}

/* An error reply's text; 0 when not an error reply or the layout is unknown. */
static int reply_error(const void *r, const char **str, size_t *len)
{
	if (!r || *(const int *)r != REDIS_REPLY_ERROR)
		return 0;
	int v = atomic_load_explicit(&abi_cached, memory_order_relaxed);
	*str = NULL;
	*len = 0;
	if (v == ABI_V0) {
		*str = ((const struct reply_v0 *)r)->str;
		*len = ((const struct reply_v0 *)r)->len;
	} else if (v == ABI_V1) {
		*str = ((const struct reply_v1 *)r)->str;
		*len = ((const struct reply_v1 *)r)->len;
	}
	if (!*str)
		*len = 0;
	return 1;
}

/* ---- records: a command awaiting its reply ---- */

#define POOL_SIZE 1024

struct rec {
	struct at_span span;
	redis_cb *fn; /* async: the application's callback and privdata */
	void *privdata;
	long select_db;
	long db; /* the connection's database when the command was issued */
	_Atomic uint32_t next;
};

static struct rec pool[POOL_SIZE];
static _Atomic uint32_t pool_bump; /* records never used yet start here */
static _Atomic uint64_t pool_free; /* Treiber stack: (tag << 32) | (index + 1) */
static _Atomic int pool_warned;

static struct rec *rec_get(void)
{
	uint64_t h = atomic_load(&pool_free);
	while ((uint32_t)h) {
		uint32_t i = (uint32_t)h - 1;
		uint64_t n = ((h >> 32) + 1) << 32 | atomic_load(&pool[i].next);
		if (atomic_compare_exchange_weak(&pool_free, &h, n))
			return &pool[i];
	}
	uint32_t i = atomic_fetch_add(&pool_bump, 1);
	if (i < POOL_SIZE)
		return &pool[i];
	atomic_store(&pool_bump, POOL_SIZE);
	if (!atomic_exchange(&pool_warned, 1))
		at_warn("redis: more than %d commands awaiting replies; the rest are not traced",
		        POOL_SIZE);
	return NULL;
}

static void rec_put(struct rec *r)
{
	uint32_t i = (uint32_t)(r - pool);
	uint64_t h = atomic_load(&pool_free);
	do {
		atomic_store(&r->next, (uint32_t)h);
	} while (!atomic_compare_exchange_weak(&pool_free, &h, ((h >> 32) + 1) << 32 | (i + 1)));
}

/* ---- per-context state ---- */

#define CONN_TABLE 1024
#define RING 256 /* pipelined commands awaiting replies, per context */
#define TOMBSTONE ((void *)1)

struct conn {
	_Atomic(void *) key;
	char addr[108]; /* host, or the unix socket path when port is 0 */
	size_t addr_len;
	int port;
	long db;
	uint64_t caph; /* a capture's head for a command at db (conn_facts) */
	/* Pipelines. Used only by the thread using the context (hiredis contexts
	 * are not thread-safe), so plain fields. Every command appended gets a
	 * sequence number, traced or not, and replies are counted the same way,
	 * so a reply always meets its own command. */
	uint32_t appended, replied;
	uint16_t head, count;
	struct {
		uint32_t seq;
		uint16_t rec;
	} ring[RING];
};

static struct conn conns[CONN_TABLE];
static _Atomic int conns_warned;

static size_t conn_hash(const void *p)
{
	uintptr_t x = (uintptr_t)p;
	x ^= x >> 17;
	x *= 0xed5ad4bbU;
	x ^= x >> 11;
	return x & (CONN_TABLE - 1);
}

static AT_ALWAYS_INLINE struct conn *conn_lookup(const void *c)
{
	size_t i = conn_hash(c);
	for (size_t n = 0; c && n < CONN_TABLE; n++, i = (i + 1) & (CONN_TABLE - 1)) {
		void *k = atomic_load_explicit(&conns[i].key, memory_order_acquire);
		if (k == c)
			return &conns[i];
		if (!k)
			return NULL;
	}
	return NULL;
}

/* The connection's facts changed (its address, its database): the head of
 * its captures, made once here rather than for every command. */
static void conn_facts(struct conn *e)
{
	int has_addr = e->addr[0] != 0;
	e->caph = at_redis_cap_head(at_redis_show_args(), has_addr ? e->addr_len : 0,
	                            has_addr ? e->port : 0, e->db);
}

static void conn_set_db(struct conn *e, long db)
{
	e->db = db;
	conn_facts(e);
}

static void end_error(struct at_span *s, const char *type, const char *msg, size_t len);

/* Pipelined commands still waiting when their context goes away. */
static void conn_drain(struct conn *e)
{
	while (e->count) {
		struct rec *r = &pool[e->ring[e->head].rec];
		e->head = (uint16_t)((e->head + 1) % RING);
		e->count--;
		static const char msg[] = "no reply: context freed";
		end_error(&r->span, "REDIS_ERR_NO_REPLY", msg, sizeof msg - 1);
		at_span_end_detached(&r->span);
		rec_put(r);
	}
}

static struct conn *conn_add(void *c)
{
	struct conn *e = conn_lookup(c);
	if (!e) {
		size_t i = conn_hash(c);
		for (size_t n = 0; n < CONN_TABLE; n++, i = (i + 1) & (CONN_TABLE - 1)) {
			void *k = atomic_load(&conns[i].key);
			if ((!k || k == TOMBSTONE) &&
			    atomic_compare_exchange_strong(&conns[i].key, &k, c)) {
				e = &conns[i];
				e->count = 0;
				break;
			}
		}
	}
	if (!e) {
		if (!atomic_exchange(&conns_warned, 1))
			at_warn("redis: more than %d contexts alive; new ones are traced without "
			        "server address and pipelines",
			        CONN_TABLE);
		return NULL;
	}
	/* a context freed where we could not see it left this address behind */
	conn_drain(e);
	e->addr[0] = 0;
	e->addr_len = 0;
	e->port = -1;
	e->db = 0;
	e->appended = e->replied = 0;
	e->head = e->count = 0;
	conn_facts(e);
	return e;
}

static void conn_forget(void *c)
{
	struct conn *e = conn_lookup(c);
	if (e) {
		conn_drain(e);
		atomic_store(&e->key, TOMBSTONE);
	}
}

static void conn_note(void *c, const char *host, int port)
{
	struct conn *e = c ? conn_add(c) : NULL;
	if (!e || !host)
		return;
	size_t n = strnlen(host, sizeof e->addr - 1);
	memcpy(e->addr, host, n);
	e->addr[n] = 0;
	e->addr_len = n;
	e->port = port;
	conn_facts(e);
}

/* A context on a socket the program gave (redisConnectFd): where its peer is. */
static void conn_note_fd(void *c, int fd)
{
	char ip[AT_ADDR_MAX];
	int port = 0;
	if (fd >= 0 && at_net_peer(fd, ip, &port))
		conn_note(c, ip, port);
	else if (c)
		conn_add(c);
}

/* ---- span attributes ---- */

int at_redis_show_args(void)
{
	static int v = -1;
	if (AT_UNLIKELY(v < 0)) {
		int b = 0;
		const char *s = at_getenv("AUTOTRACE_REDIS_ARGS");
		if (s && at_parse_bool(s, &b)) {
			at_warn("AUTOTRACE_REDIS_ARGS=\"%.32s\" is not a boolean; using false", s);
			b = 0;
		}
		v = b;
	}
	return v;
}

void at_redis_fail_reply(struct at_span *s, const char *str, size_t len)
{
	/* "WRONGTYPE Operation against a key...": the prefix is the code */
	size_t n = 0;
	while (n < len && n < 32 &&
	       ((str[n] >= 'A' && str[n] <= 'Z') || str[n] == '_' ||
	        (n && str[n] >= '0' && str[n] <= '9')))
		n++;
	if (n && (n == len || str[n] == ' ')) {
		at_span_set_strn(s, "db.response.status_code", str, n);
		at_span_fail(s, str, n, str, len);
	} else {
		at_span_fail(s, "REDIS_REPLY_ERROR", 17, str, len);
	}
}

/* How the application gave a command: a format and its arguments, an
 * argv, or the protocol text already formatted. */
struct src {
	const char *fmt;
	va_list *ap;
	int argc;
	const char **argv;
	const size_t *argvlen;
	const char *resp;
	size_t resp_len;
};

static int capture(struct at_redis_cap *cap, const struct src *q)
{
	if (q->fmt)
		return at_redis_cap_format(cap, q->fmt, *q->ap);
	if (q->resp)
		return at_redis_cap_resp(cap, q->resp, q->resp_len);
	at_redis_cap_argv(cap, q->argc, q->argv, q->argvlen);
	return 0;
}

/* The kind only, for a span that does not record: from the command's
 * name, formatted only when the name is interpolated or a SELECT's
 * database is wanted. */
static AT_NOINLINE int describe_unrecorded(long *select_db, const struct src *q)
{
	int kind = AT_REDIS_PLAIN;
	if (q->fmt)
		kind = at_redis_fmt_kind(q->fmt);
	else if (q->resp)
		kind = AT_REDIS_UNKNOWN;
	else if (q->argc > 0 && q->argv[0])
		kind =
		    at_redis_kind_of(q->argv[0], q->argvlen ? q->argvlen[0] : strlen(q->argv[0]));
	if (kind != AT_REDIS_SELECT && kind != AT_REDIS_UNKNOWN)
		return kind;
	struct at_redis_cap cap;
	char blob[AT_REDIS_CAP_MAX];
	at_redis_cap_init(&cap, blob, sizeof blob, 0, NULL, 0, 0, -1);
	capture(&cap, q);
	*select_db = cap.select_db;
	return cap.kind;
}

/* No attribute allowed (OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT=0) or no room left
 * in the arena: the name at least, here. */
static AT_NOINLINE int describe_name_only(struct at_span *s, struct at_attr *a, long *select_db,
                                          const struct src *q)
{
	if (a) {
		a->type = AT_ATTR_STR;
		a->v.s = (struct at_str){0, 0};
	}
	struct at_redis_cap cap;
	char blob[AT_REDIS_CAP_MAX];
	struct at_redis_cmd cmd;
	struct at_redis_conninfo ci;
	at_redis_cap_init(&cap, blob, sizeof blob, 0, NULL, 0, 0, -1);
	capture(&cap, q);
	at_redis_blob_read(&cmd, &ci, cap.buf, cap.len);
	if (cmd.op_len)
		at_span_set_name(s, cmd.op, cmd.op_len);
	else
		at_span_set_name(s, "redis", 5);
	*select_db = cap.select_db;
	return cap.kind;
}

/* The command and the connection's facts (db: its database as far as known
 * now, -1 when finish will say) captured raw into buf (room bytes), for the
 * exporter thread to write the name and attributes (hooks/redis_render.c);
 * their length in *len. Returns the kind, -1 when the capture cannot start
 * (too little room: nothing of q was read). */
static AT_ALWAYS_INLINE int capture_raw(char *buf, size_t room, const struct conn *e, long db,
                                        long *select_db, const struct src *q, size_t *len)
{
	*select_db = -1;
	/* most formats on a known connection: their words in one copy, after
	 * the head the connection keeps (conn_facts; its address is empty when
	 * unknown) */
	if (AT_LIKELY(q->fmt && e && db == e->db)) {
		size_t n = at_redis_cap_words(buf, room, e->caph, e->addr, e->addr_len, q->fmt);
		if (n) {
			*len = n;
			return AT_REDIS_PLAIN;
		}
	}
	int has_addr = e && e->addr[0];
	const char *addr = has_addr ? e->addr : NULL;
	size_t addr_len = has_addr ? e->addr_len : 0;
	int port = has_addr ? e->port : 0;
	if (q->fmt) {
		size_t n = at_redis_cap_words(buf, room,
		                              at_redis_cap_head(at_redis_show_args(), addr_len, port, db),
		                              addr, addr_len, q->fmt);
		if (n) {
			*len = n;
			return AT_REDIS_PLAIN;
		}
	}
	struct at_redis_cap cap;
	if (at_redis_cap_init(&cap, buf, room, at_redis_show_args(), addr, addr_len, port, db))
		return -1;
	capture(&cap, q);
	*len = cap.len;
	*select_db = cap.select_db;
	return cap.kind;
}

/* What a command is: its kind (and a SELECT's database) always; when the
 * span records, captured raw into it (capture_raw). Returns the kind. For
 * the whole spans: pipelined and asynchronous commands, and a synchronous
 * one that is not a leaf. */
static AT_NOINLINE int describe(struct at_span *s, const struct conn *e, long db, long *select_db,
                                const struct src *q)
{
	*select_db = -1;
	if (!s->recording)
		return describe_unrecorded(select_db, q);
	struct at_attr *a = at_span_slot(s, "db.query.text");
	size_t off = s->arena_used, n;
	int kind;
	if (!a ||
	    (kind = capture_raw(s->arena + off, AT_ARENA_SIZE - off, e, db, select_db, q, &n)) < 0)
		return describe_name_only(s, a, select_db, q);
	a->type = AT_ATTR_DEFER;
	a->render = AT_RENDER_REDIS;
	a->v.s = (struct at_str){(uint16_t)off, (uint16_t)n};
	s->arena_used = (uint16_t)(off + n);
	return kind;
}

static const char *err_name(int err)
{
	switch (err) {
	case 1:
		return "REDIS_ERR_IO";
	case 2:
		return "REDIS_ERR_OTHER";
	case 3:
		return "REDIS_ERR_EOF";
	case 4:
		return "REDIS_ERR_PROTOCOL";
	case 5:
		return "REDIS_ERR_OOM";
	case 6:
		return "REDIS_ERR_TIMEOUT";
	default:
		return "REDIS_ERR_NO_REPLY";
	}
}

static void end_error(struct at_span *s, const char *type, const char *msg, size_t len)
{
	at_span_fail(s, type, strlen(type), msg, len);
}

/* The reply (NULL: the context's error) decides the status; a successful
 * SELECT changes the connection's database. captured: the database the
 * blob holds already (describe's db). */
static AT_NOINLINE void finish(struct at_span *s, const void *c, struct conn *e, const void *reply,
                               long select_db, long db, long captured)
{
	const char *str;
	size_t len;
	if (!reply) {
		int err = ctx_err(c, &str, &len);
		if (!len) {
			str = err ? "connection error" : "no reply";
			len = strlen(str);
		}
		end_error(s, err_name(err), str, len);
	} else if (reply_error(reply, &str, &len)) {
		at_redis_fail_reply(s, str, len);
	} else if (select_db >= 0) {
		db = select_db;
		if (e)
			conn_set_db(e, db);
	}
	if (!s->recording || db < 0 || db == captured || !(e || select_db >= 0))
		return;
	/* db.namespace: into the captured blob (see describe) */
	for (int i = 0; i < s->nattrs; i++)
		if (s->attrs[i].type == AT_ATTR_DEFER && s->attrs[i].render == AT_RENDER_REDIS) {
			at_redis_cap_set_db(s->arena + s->attrs[i].v.s.off, db);
			break;
		}
}

/* ---- synchronous commands ---- */

/* What the real redisvCommand or redisCommandArgv does and returns (see
 * block_flags_off) on a blocking context: sync_command took the others
 * aside (nonblocking_command). */
static AT_ALWAYS_INLINE void *sync_real(void *c, const struct src *q)
{
	int off = atomic_load_explicit(&block_flags_off, memory_order_acquire);
	if (AT_UNLIKELY(!off))
		return q->fmt ? real_redisvCommand(c, q->fmt, *q->ap)
		              : real_redisCommandArgv(c, q->argc, q->argv, q->argvlen);
	int rc = q->fmt ? real_redisvAppendCommand(c, q->fmt, *q->ap)
	                : real_redisAppendCommandArgv(c, q->argc, q->argv, q->argvlen);
	void *r = NULL;
	if (rc != REDIS_OK || real_redisGetReply(c, &r) != REDIS_OK)
		return NULL;
	return r;
}

/* The call through, the connection's counts kept, errno the call's. */
static AT_ALWAYS_INLINE void *sync_call(void *c, const struct src *q, struct conn *e, int *saved)
{
	if (e)
		e->appended++;
	errno = *saved;
	void *r = sync_real(c, q);
	*saved = errno;
	if (e && r && e->replied != e->appended)
		e->replied++;
	return r;
}

/* Not sampled: no span, only the connection's database followed. */
static AT_NOINLINE void *sync_unrecorded(void *c, const struct src *q, struct conn *e, int saved)
{
	long select_db = -1; /* describe_unrecorded sets it for a SELECT only */
	describe_unrecorded(&select_db, q);
	void *r = sync_call(c, q, e, &saved);
	if (e && r && select_db >= 0 && *(const int *)r != REDIS_REPLY_ERROR)
		conn_set_db(e, select_db);
	errno = saved;
	return r;
}

/* The whole span from the start: no attribute may be set
 * (OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT=0), or the capture did not fit. */
static AT_NOINLINE void *sync_whole(void *c, const struct src *q, struct conn *e, long db,
                                    struct at_leaf *l, int saved)
{
	struct at_span s;
	long select_db;
	l->len = 0;
	at_leaf_span(l, &s);
	describe(&s, e, db, &select_db, q);
	void *r = sync_call(c, q, e, &saved);
	finish(&s, c, e, r, select_db, db, db);
	at_span_end(&s);
	errno = saved;
	return r;
}

/* An error, no reply, or a SELECT: the whole span, with the capture. */
static AT_NOINLINE void finish_whole(struct at_leaf *l, void *c, struct conn *e, void *r,
                                     long select_db, long db)
{
	struct at_span s;
	at_leaf_span(l, &s);
	finish(&s, c, e, r, select_db, db, db);
	at_span_end(&s);
}

static int append_command(void *c, const struct src *q, void *sym, uintptr_t caller);

/* On a non-blocking context hiredis only appends the command and returns
 * NULL: its reply is the one the application's next redisGetReply takes,
 * as for a pipelined command (append_command), which is what the span is. */
static AT_NOINLINE void *nonblocking_command(void *c, const struct src *q, uintptr_t caller)
{
	append_command(c, q, q->fmt ? (void *)real_redisvCommand : (void *)real_redisCommandArgv,
	               caller);
	return NULL;
}

/* A synchronous command is a leaf span (preload/leaf.h): captured raw
 * before the call, queued as a compact record after it when the reply is
 * not an error; the rest make the whole span. */
static AT_ALWAYS_INLINE void *sync_command(void *c, const struct src *q, uintptr_t caller)
{
	int saved = errno;
	abi(q->fmt ? (void *)real_redisvCommand : (void *)real_redisCommandArgv);
	int off = atomic_load_explicit(&block_flags_off, memory_order_acquire);
	if (AT_UNLIKELY(off && c && !(*(const int *)((const char *)c + off) & REDIS_BLOCK)))
		return nonblocking_command(c, q, caller);
	struct conn *e = conn_lookup(c);
	long db = e ? e->db : -1;
	struct at_leaf l;
	if (!at_leaf_begin(&l, AT_KIND_CLIENT, caller))
		return sync_unrecorded(c, q, e, saved);
	char buf[AT_REDIS_CAP_MAX];
	long select_db;
	size_t len;
	if (AT_UNLIKELY(at_cfg.attr_count_limit < 1) ||
	    AT_UNLIKELY(capture_raw(buf, sizeof buf, e, db, &select_db, q, &len) < 0))
		return sync_whole(c, q, e, db, &l, saved);
	at_leaf_raw(&l, "db.query.text", AT_RENDER_REDIS, buf, len);
	void *r = sync_call(c, q, e, &saved);
	if (AT_LIKELY(r && *(const int *)r != REDIS_REPLY_ERROR && select_db < 0))
		at_leaf_end(&l);
	else
		finish_whole(&l, c, e, r, select_db, db);
	errno = saved;
	return r;
}

static AT_NOINLINE void *v_command(void *c, const char *fmt, va_list ap, uintptr_t caller)
{
	va_list cp; /* a va_list parameter's address is not a va_list * everywhere */
	va_copy(cp, ap);
	struct src q = {.fmt = fmt, .ap = &cp};
	void *r = sync_command(c, &q, caller);
	va_end(cp);
	at_leave();
	return r;
}

static AT_NOINLINE void *v_command_slow(void *c, const char *fmt, va_list ap, uintptr_t caller)
{
	if (!RESOLVE(redisvCommand))
		return NULL;
	if (!at_enter())
		return real_redisvCommand(c, fmt, ap);
	return v_command(c, fmt, ap, caller);
}

AT_EXPORT void *redisvCommand(void *c, const char *fmt, va_list ap)
{
	uintptr_t caller = (uintptr_t)__builtin_return_address(0);
	switch (at_go(real_redisvCommand)) {
	case AT_GO_PASS:
		return real_redisvCommand(c, fmt, ap);
	case AT_GO_TRACE:
		return v_command(c, fmt, ap, caller);
	default:
		return v_command_slow(c, fmt, ap, caller);
	}
}

/* Variadic: the arguments go on as a va_list to the real redisvCommand.
 * Passing through costs about what hiredis's own redisCommand does (its
 * va_start): a stub jumping to the real redisCommand was measured and is no
 * cheaper, as hiredis's then calls redisvCommand, which is hooked too. */
AT_EXPORT void *redisCommand(void *c, const char *fmt, ...)
{
	if (!RESOLVE(redisvCommand))
		return NULL;
	va_list ap;
	va_start(ap, fmt);
	void *r;
	if (!at_enter()) {
		r = real_redisvCommand(c, fmt, ap);
	} else {
		struct src q = {.fmt = fmt, .ap = &ap};
		r = sync_command(c, &q, (uintptr_t)__builtin_return_address(0));
		at_leave();
	}
	va_end(ap);
	return r;
}

AT_EXPORT void *redisCommandArgv(void *c, int argc, const char **argv, const size_t *argvlen)
{
	if (!RESOLVE(redisCommandArgv))
		return NULL;
	if (!at_enter())
		return real_redisCommandArgv(c, argc, argv, argvlen);
	struct src q = {.argc = argc, .argv = argv, .argvlen = argvlen};
	void *r = sync_command(c, &q, (uintptr_t)__builtin_return_address(0));
	at_leave();
	return r;
}

/* ---- pipelines: redisAppendCommand* then redisGetReply ---- */

static int append_real(void *c, const struct src *q)
{
	if (q->fmt)
		return real_redisvAppendCommand(c, q->fmt, *q->ap);
	if (q->resp)
		return real_redisAppendFormattedCommand(c, q->resp, q->resp_len);
	return real_redisAppendCommandArgv(c, q->argc, q->argv, q->argvlen);
}

static int append_command(void *c, const struct src *q, void *sym, uintptr_t caller)
{
	int saved = errno;
	abi(sym);
	struct conn *e = conn_lookup(c);
	struct rec *r = e && e->count < RING ? rec_get() : NULL;
	if (r) {
		at_span_start_detached(&r->span, NULL, AT_KIND_CLIENT, NULL);
		r->span.caller = caller;
		int kind = describe(&r->span, e, -1, &r->select_db, q);
		if (!r->span.recording && kind != AT_REDIS_SELECT) {
			rec_put(r); /* nothing to record: only keep the count */
			r = NULL;
		}
	}
	errno = saved;
	int rc = append_real(c, q);
	saved = errno;
	if (e && rc == REDIS_OK) {
		if (r) {
			unsigned slot = (e->head + e->count) % RING;
			e->ring[slot].seq = e->appended;
			e->ring[slot].rec = (uint16_t)(r - pool);
			e->count++;
		}
		e->appended++;
	} else if (r) {
		finish(&r->span, c, e, NULL, -1, -1, -1);
		at_span_end_detached(&r->span);
		rec_put(r);
	}
	errno = saved;
	return rc;
}

static AT_NOINLINE int v_append(void *c, const char *fmt, va_list ap, uintptr_t caller)
{
	va_list cp;
	va_copy(cp, ap);
	struct src q = {.fmt = fmt, .ap = &cp};
	int rc = append_command(c, &q, (void *)real_redisvAppendCommand, caller);
	va_end(cp);
	at_leave();
	return rc;
}

static AT_NOINLINE int v_append_slow(void *c, const char *fmt, va_list ap, uintptr_t caller)
{
	if (!RESOLVE(redisvAppendCommand))
		return REDIS_ERR;
	if (!at_enter())
		return real_redisvAppendCommand(c, fmt, ap);
	return v_append(c, fmt, ap, caller);
}

AT_EXPORT int redisvAppendCommand(void *c, const char *fmt, va_list ap)
{
	uintptr_t caller = (uintptr_t)__builtin_return_address(0);
	switch (at_go(real_redisvAppendCommand)) {
	case AT_GO_PASS: /* inside redisvCommand, among others */
		return real_redisvAppendCommand(c, fmt, ap);
	case AT_GO_TRACE:
		return v_append(c, fmt, ap, caller);
	default:
		return v_append_slow(c, fmt, ap, caller);
	}
}

AT_EXPORT int redisAppendCommand(void *c, const char *fmt, ...)
{
	if (!RESOLVE(redisvAppendCommand))
		return REDIS_ERR;
	va_list ap;
	va_start(ap, fmt);
	int rc;
	if (!at_enter()) {
		rc = real_redisvAppendCommand(c, fmt, ap);
	} else {
		struct src q = {.fmt = fmt, .ap = &ap};
		rc = append_command(c, &q, (void *)real_redisvAppendCommand,
		                    (uintptr_t)__builtin_return_address(0));
		at_leave();
	}
	va_end(ap);
	return rc;
}

AT_EXPORT int redisAppendCommandArgv(void *c, int argc, const char **argv, const size_t *argvlen)
{
	if (!RESOLVE(redisAppendCommandArgv))
		return REDIS_ERR;
	if (!at_enter())
		return real_redisAppendCommandArgv(c, argc, argv, argvlen);
	struct src q = {.argc = argc, .argv = argv, .argvlen = argvlen};
	int rc = append_command(c, &q, (void *)real_redisAppendCommandArgv,
	                        (uintptr_t)__builtin_return_address(0));
	at_leave();
	return rc;
}

/* Also where its reply comes back must be counted, or a pipeline's replies
 * would meet the wrong commands. */
AT_EXPORT int redisAppendFormattedCommand(void *c, const char *cmd, size_t len)
{
	if (!RESOLVE(redisAppendFormattedCommand))
		return REDIS_ERR;
	if (!at_enter())
		return real_redisAppendFormattedCommand(c, cmd, len);
	struct src q = {.resp = cmd, .resp_len = len};
	int rc = append_command(c, &q, (void *)real_redisAppendFormattedCommand,
	                        (uintptr_t)__builtin_return_address(0));
	at_leave();
	return rc;
}

static AT_NOINLINE int get_reply(void *c, void **reply);

static AT_NOINLINE int get_reply_slow(void *c, void **reply)
{
	if (!RESOLVE(redisGetReply))
		return REDIS_ERR;
	if (!at_enter())
		return real_redisGetReply(c, reply);
	return get_reply(c, reply);
}

AT_EXPORT int redisGetReply(void *c, void **reply)
{
	switch (at_go(real_redisGetReply)) {
	case AT_GO_PASS:
		return real_redisGetReply(c, reply);
	case AT_GO_TRACE:
		return get_reply(c, reply);
	default:
		return get_reply_slow(c, reply);
	}
}

/* Entered: the traced part, out of line (see at_go). */
static int get_reply(void *c, void **reply)
{
	int saved = errno;
	struct conn *e = conn_lookup(c);
	if (!e || e->replied == e->appended) { /* nothing of ours pending */
		at_leave();
		errno = saved;
		return real_redisGetReply(c, reply);
	}
	errno = saved;
	int rc = real_redisGetReply(c, reply);
	saved = errno;
	static const int plain_reply = 0; /* the app passed reply NULL: it was freed */
	const void *r = rc != REDIS_OK ? NULL : reply ? *reply : &plain_reply;
	if (rc != REDIS_OK || r) { /* else non-blocking and nothing yet */
		uint32_t seq = e->replied++;
		while (e->count) {
			uint32_t hs = e->ring[e->head].seq;
			if ((int32_t)(hs - seq) > 0)
				break;
			struct rec *x = &pool[e->ring[e->head].rec];
			e->head = (uint16_t)((e->head + 1) % RING);
			e->count--;
			/* an older one got its reply through redisCommand: just end it */
			if (hs == seq)
				finish(&x->span, c, e, r, x->select_db, e->db, -1);
			at_span_end_detached(&x->span);
			rec_put(x);
		}
	}
	at_leave();
	errno = saved;
	return rc;
}

/* ---- asynchronous commands ---- */

/* Stands in for the application's callback: ends the span, gives the record
 * back, then calls the application with exactly its own privdata. hiredis
 * also calls it with a NULL reply when the context is freed or drops. */
static void async_reply(void *ac, void *reply, void *privdata)
{
	struct rec *r = privdata;
	int saved = errno;
	redis_cb *fn = r->fn;
	void *pd = r->privdata;
	struct conn *e = conn_lookup(ac);
	finish(&r->span, ac, e, reply, r->select_db, e ? e->db : -1, -1);
	at_span_end_detached(&r->span);
	rec_put(r);
	errno = saved;
	if (fn)
		fn(ac, reply, pd);
}

static int async_real(void *ac, redis_cb *fn, void *pd, const struct src *q)
{
	if (q->fmt)
		return real_redisvAsyncCommand(ac, fn, pd, q->fmt, *q->ap);
	if (q->resp)
		return real_redisAsyncFormattedCommand(ac, fn, pd, q->resp, q->resp_len);
	return real_redisAsyncCommandArgv(ac, fn, pd, q->argc, q->argv, q->argvlen);
}

static int async_command(void *ac, redis_cb *fn, void *pd, const struct src *q, void *sym,
                         uintptr_t caller)
{
	int saved = errno;
	abi(sym);
	struct conn *e = conn_lookup(ac);
	struct rec *r = rec_get();
	if (r) {
		/* the parent: what is current where the command is issued */
		at_span_start_detached(&r->span, NULL, AT_KIND_CLIENT, NULL);
		r->span.caller = caller;
		int kind = describe(&r->span, e, -1, &r->select_db, q);
		r->fn = fn;
		r->privdata = pd;
		/* subscriptions and MONITOR call back once per message: not ours */
		if (kind == AT_REDIS_PUBSUB || kind == AT_REDIS_UNKNOWN ||
		    (!r->span.recording && kind != AT_REDIS_SELECT)) {
			rec_put(r);
			r = NULL;
		}
	}
	errno = saved;
	if (!r)
		return async_real(ac, fn, pd, q);
	int rc = async_real(ac, async_reply, r, q);
	saved = errno;
	if (rc != REDIS_OK) { /* not queued: hiredis will never call back */
		finish(&r->span, ac, e, NULL, -1, -1, -1);
		at_span_end_detached(&r->span);
		rec_put(r);
	}
	errno = saved;
	return rc;
}

AT_EXPORT int redisvAsyncCommand(void *ac, redis_cb *fn, void *pd, const char *fmt, va_list ap)
{
	if (!RESOLVE(redisvAsyncCommand))
		return REDIS_ERR;
	if (!at_enter())
		return real_redisvAsyncCommand(ac, fn, pd, fmt, ap);
	va_list cp;
	va_copy(cp, ap);
	struct src q = {.fmt = fmt, .ap = &cp};
	int rc = async_command(ac, fn, pd, &q, (void *)real_redisvAsyncCommand,
	                       (uintptr_t)__builtin_return_address(0));
	va_end(cp);
	at_leave();
	return rc;
}

AT_EXPORT int redisAsyncCommand(void *ac, redis_cb *fn, void *pd, const char *fmt, ...)
{
	if (!RESOLVE(redisvAsyncCommand))
		return REDIS_ERR;
	va_list ap;
	va_start(ap, fmt);
	int rc;
	if (!at_enter()) {
		rc = real_redisvAsyncCommand(ac, fn, pd, fmt, ap);
	} else {
		struct src q = {.fmt = fmt, .ap = &ap};
		rc = async_command(ac, fn, pd, &q, (void *)real_redisvAsyncCommand,
		                   (uintptr_t)__builtin_return_address(0));
		at_leave();
	}
	va_end(ap);
	return rc;
}

AT_EXPORT int redisAsyncCommandArgv(void *ac, redis_cb *fn, void *pd, int argc, const char **argv,
                                    const size_t *argvlen)
{
	if (!RESOLVE(redisAsyncCommandArgv))
		return REDIS_ERR;
	if (!at_enter())
		return real_redisAsyncCommandArgv(ac, fn, pd, argc, argv, argvlen);
	struct src q = {.argc = argc, .argv = argv, .argvlen = argvlen};
	int rc = async_command(ac, fn, pd, &q, (void *)real_redisAsyncCommandArgv,
	                       (uintptr_t)__builtin_return_address(0));
	at_leave();
	return rc;
}

AT_EXPORT int redisAsyncFormattedCommand(void *ac, redis_cb *fn, void *pd, const char *cmd,
                                         size_t len)
{
	if (!RESOLVE(redisAsyncFormattedCommand))
		return REDIS_ERR;
	if (!at_enter())
		return real_redisAsyncFormattedCommand(ac, fn, pd, cmd, len);
	struct src q = {.resp = cmd, .resp_len = len};
	int rc = async_command(ac, fn, pd, &q, (void *)real_redisAsyncFormattedCommand,
	                       (uintptr_t)__builtin_return_address(0));
	at_leave();
	return rc;
}

/* ---- connections: where the server is; freeing ---- */

/* Only the outermost connect records (redisAsyncConnect calls
 * redisConnectNonBlock, and 0.x then moves the context with realloc): note,
 * an expression of the context c, says where its server is. */
#define CONNECT_HOOK(name, params, args, note)                                                     \
	AT_EXPORT void *name params                                                                \
	{                                                                                          \
		if (!RESOLVE(name))                                                                \
			return NULL;                                                               \
		if (!at_enter())                                                                   \
			return real_##name args;                                                   \
		void *c = real_##name args;                                                        \
		int saved = errno;                                                                 \
		note;                                                                              \
		at_leave();                                                                        \
		errno = saved;                                                                     \
		return c;                                                                          \
	}

CONNECT_HOOK(redisConnect, (const char *ip, int port), (ip, port), conn_note(c, ip, port))
CONNECT_HOOK(redisConnectWithTimeout, (const char *ip, int port, const struct timeval tv),
             (ip, port, tv), conn_note(c, ip, port))
CONNECT_HOOK(redisConnectNonBlock, (const char *ip, int port), (ip, port), conn_note(c, ip, port))
CONNECT_HOOK(redisConnectBindNonBlock, (const char *ip, int port, const char *src), (ip, port, src),
             conn_note(c, ip, port))
CONNECT_HOOK(redisConnectBindNonBlockWithReuse, (const char *ip, int port, const char *src),
             (ip, port, src), conn_note(c, ip, port))
CONNECT_HOOK(redisConnectUnix, (const char *path), (path), conn_note(c, path, 0))
CONNECT_HOOK(redisConnectUnixWithTimeout, (const char *path, const struct timeval tv), (path, tv),
             conn_note(c, path, 0))
CONNECT_HOOK(redisConnectUnixNonBlock, (const char *path), (path), conn_note(c, path, 0))
CONNECT_HOOK(redisAsyncConnect, (const char *ip, int port), (ip, port), conn_note(c, ip, port))
CONNECT_HOOK(redisAsyncConnectBind, (const char *ip, int port, const char *src), (ip, port, src),
             conn_note(c, ip, port))
CONNECT_HOOK(redisAsyncConnectBindWithReuse, (const char *ip, int port, const char *src),
             (ip, port, src), conn_note(c, ip, port))
CONNECT_HOOK(redisAsyncConnectUnix, (const char *path), (path), conn_note(c, path, 0))
CONNECT_HOOK(redisConnectFd, (int fd), (fd), conn_note_fd(c, fd))

/* redisOptions exists only in 1.x; read it only when 1.x is what is loaded. */
static void note_options(void *c, const void *opt, void *sym)
{
	const struct options_v1 *o = opt;
	if (!c || !o || abi(sym) != ABI_V1)
		return;
	if (o->type == 0)
		conn_note(c, o->endpoint.tcp.ip, o->endpoint.tcp.port);
	else if (o->type == 1)
		conn_note(c, o->endpoint.unix_socket, 0);
	else if (o->type == 2)
		conn_note_fd(c, o->endpoint.fd);
	else
		conn_add(c);
}

CONNECT_HOOK(redisConnectWithOptions, (const void *opt), (opt),
             note_options(c, opt, (void *)real_redisConnectWithOptions))
CONNECT_HOOK(redisAsyncConnectWithOptions, (const void *opt), (opt),
             note_options(c, opt, (void *)real_redisAsyncConnectWithOptions))

/* Forget before the real free: once freed, the address may be another
 * thread's new context. */
AT_EXPORT void redisFree(void *c)
{
	if (!RESOLVE(redisFree))
		return;
	int saved = errno;
	if (c)
		conn_forget(c);
	errno = saved;
	real_redisFree(c);
}

AT_EXPORT void redisAsyncFree(void *ac)
{
	if (!RESOLVE(redisAsyncFree))
		return;
	int saved = errno;
	if (ac)
		conn_forget(ac);
	errno = saved;
	real_redisAsyncFree(ac);
}
