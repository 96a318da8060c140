/* Describing a Redis command for a span: its name and db.query.text, built
 * from hiredis's argv form or from its printf-like format and arguments.
 * No allocation: everything lives in the caller's struct (on the stack). */
#ifndef AT_REDIS_CMD_H
#define AT_REDIS_CMD_H

#include "../preload/span.h" /* at_copy_small */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define AT_REDIS_TEXT_MAX 256 /* db.query.text, "..." appended when cut */
#define AT_REDIS_OP_MAX 32

/* What a command means to the hook, beyond its text. */
enum at_redis_kind {
	AT_REDIS_PLAIN = 0,
	AT_REDIS_SELECT,  /* changes the connection's database */
	AT_REDIS_PUBSUB,  /* (p|s)(un)subscribe, monitor: callbacks run many times */
	AT_REDIS_AUTH,    /* arguments are secrets, never shown */
	AT_REDIS_UNKNOWN, /* the name is interpolated: format it to know */
};

struct at_redis_cmd {
	char text[AT_REDIS_TEXT_MAX]; /* NUL-terminated */
	size_t text_len;
	char op[AT_REDIS_OP_MAX]; /* the command name, upper case */
	size_t op_len;
	int argc;
	int kind;       /* enum at_redis_kind, known once argument 0 is complete */
	long select_db; /* SELECT n: n, else -1 */
	int show_args;  /* AUTOTRACE_REDIS_ARGS: values beyond the key shown */
	int full;       /* text cut: later arguments are ignored */
};

void at_redis_cmd_init(struct at_redis_cmd *c, int show_args);
/* hiredis's argv form; argvlen NULL means NUL-terminated strings. */
void at_redis_cmd_argv(struct at_redis_cmd *c, int argc, const char *const *argv,
                       const size_t *argvlen);
/* hiredis's format: arguments split on spaces of the format; %s, %b
 * (pointer, size_t) and %% interpolate; printf conversions of integers and
 * doubles are formatted the way hiredis does. Consumes ap (pass a copy).
 * Returns -1 on a format hiredis rejects (the text then ends there). */
int at_redis_cmd_format(struct at_redis_cmd *c, const char *fmt, va_list ap);

/* A command already in the protocol ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), as
 * redisAppendFormattedCommand takes it. Returns -1 if it is not one. */
int at_redis_cmd_resp(struct at_redis_cmd *c, const char *buf, size_t len);

/* The kind of a command from its name (case-insensitive). */
int at_redis_kind_of(const char *name, size_t len);
/* The kind from a format's first word, without formatting; AT_REDIS_UNKNOWN
 * when that word is interpolated. */
int at_redis_fmt_kind(const char *fmt);

/* ---- capture on the application thread, text on the exporter's ----
 *
 * The hook does not build the text: it copies the command's arguments as
 * they are (what the text can show of them: the name, the key, the values
 * only when AUTOTRACE_REDIS_ARGS asks, no secrets; a format without
 * conversions whole, its words being the program's own constants) and the
 * connection's facts into a blob in the span's arena; reporter/finalize.c renders it
 * (at_redis_render). The at_redis_cmd_* functions above are capture and
 * rendering one after the other. */

#define AT_REDIS_CAP_MAX 640 /* a blob's bytes at most */
#define AT_REDIS_CAP_HEAD 8  /* flags, address length, port, database */

struct at_redis_cap {
	char *buf; /* the blob */
	size_t room, len;
	size_t arg; /* offset of the open argument's entry */
	int argc;   /* arguments begun */
	int kind;   /* enum at_redis_kind, known once argument 0 ends */
	long select_db;
	int show_args, in_arg, skip, full;
	int hidden_run; /* the last entry is a run of hidden arguments */
	size_t text;    /* what the text will hold at least: past the limit nothing shows */
};

#define AT_REDIS_CAP_SHOW_ARGS 1 /* the head's flags: values shown */

/* The database as the head holds it: all ones for none. */
static inline uint32_t at_redis_db32(long db)
{
	return (uint32_t)(db < 0 || db > INT32_MAX ? -1 : db);
}

/* The head's 8 bytes, in one word: flags, address length, port (0: none),
 * database (-1: none). */
static inline uint64_t at_redis_cap_head(int show_args, size_t addr_len, int port, long db)
{
	return (uint64_t)(show_args ? AT_REDIS_CAP_SHOW_ARGS : 0) | (uint64_t)addr_len << 8 |
	       (uint64_t)(port > 0 && port < 65536 ? port : 0) << 16 |
	       (uint64_t)at_redis_db32(db) << 32;
}

/* The head at the start of a blob, little-endian. */
static inline void at_redis_cap_put_h(char *buf, uint64_t h)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(buf, &h, sizeof h);
#else
	for (int i = 0; i < AT_REDIS_CAP_HEAD; i++)
		buf[i] = (char)(h >> (8 * i) & 0xff);
#endif
}

/* The head and the address (addr_len <= 255). */
static inline void at_redis_cap_put_head(char *buf, uint64_t h, const char *addr, size_t addr_len)
{
	at_redis_cap_put_h(buf, h);
	at_copy_small(buf + AT_REDIS_CAP_HEAD, addr, addr_len); /* no call for a short address */
}

/* Starts a blob in buf (room bytes, at least AT_REDIS_CAP_HEAD + addr_len,
 * else returns -1): the connection's server address (addr_len 0: none), port
 * (0: none) and database (-1: none). */
static inline int at_redis_cap_init(struct at_redis_cap *c, char *buf, size_t room, int show_args,
                                    const char *addr, size_t addr_len, int port, long db)
{
	if (addr_len > 255 || room < AT_REDIS_CAP_HEAD + addr_len)
		return -1;
	*c = (struct at_redis_cap){
	    .buf = buf,
	    .room = room < AT_REDIS_CAP_MAX ? room : AT_REDIS_CAP_MAX,
	    .len = AT_REDIS_CAP_HEAD + addr_len,
	    .kind = AT_REDIS_PLAIN,
	    .select_db = -1,
	    .show_args = show_args,
	};
	at_redis_cap_put_head(buf, at_redis_cap_head(show_args, addr_len, port, db), addr,
	                      addr_len);
	return 0;
}
void at_redis_cap_argv(struct at_redis_cap *c, int argc, const char *const *argv,
                       const size_t *argvlen);
int at_redis_cap_format(struct at_redis_cap *c, const char *fmt, va_list ap);
/* A format without conversions, most of them ("PING", "GET key"), as one
 * entry of its words that the rendering splits on spaces: the whole blob
 * in buf (room bytes), head h (at_redis_cap_head) and address first.
 * Returns its length, or 0 when the format needs at_redis_cap_format: a
 * '%', a command other than plain (secrets, a database, a subscription),
 * more than AT_REDIS_WORDS_MAX bytes, too little room. The words hidden
 * from the text (values) are copied with the rest: they are the program's
 * own constants, and the text shows "?" for them all the same. */
#define AT_REDIS_WORDS_MAX 200 /* < AT_REDIS_TEXT_MAX: the text is never cut */
size_t at_redis_cap_words(char *buf, size_t room, uint64_t h, const char *addr, size_t addr_len,
                          const char *fmt);
int at_redis_cap_resp(struct at_redis_cap *c, const char *buf, size_t len);
/* One argument in pieces (hooks/resp_wire.c: a command as it is written):
 * begin, its bytes in as many puts as they come, end. */
void at_redis_cap_arg_begin(struct at_redis_cap *c);
void at_redis_cap_arg_put(struct at_redis_cap *c, const char *s, size_t n);
void at_redis_cap_arg_end(struct at_redis_cap *c);
/* The database once the reply is in (a SELECT changes it; -1: none). */
void at_redis_cap_set_db(char *blob, long db);

/* The exporter's side: the text into c, the connection's facts out.
 * Returns -1 on a blob it cannot read. */
struct at_redis_conninfo {
	const char *addr;
	size_t addr_len;
	int port;
	long db;
};
int at_redis_blob_read(struct at_redis_cmd *c, struct at_redis_conninfo *ci, const char *blob,
                       size_t len);

/* AUTOTRACE_REDIS_ARGS: values beyond the key shown in db.query.text
 * (hooks/redis.c, as the next). */
int at_redis_show_args(void);

/* The span's AT_RENDER_REDIS attribute a (hooks/redis_render.c). */
struct at_span;
struct at_attr;
/* An error reply's text (len bytes at str) on the span: Error, and its
 * prefix ("WRONGTYPE", "ERR") as error.type and db.response.status_code. */
void at_redis_fail_reply(struct at_span *s, const char *str, size_t len);
void at_redis_render(struct at_span *s, struct at_attr *a);

#endif
