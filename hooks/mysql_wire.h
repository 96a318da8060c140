/* MySQL and MariaDB on a plain socket: a client that speaks the protocol
 * with no client library the hooks can see (Debian's mariadb CLI and
 * mariadb-dump, programs linked with libmariadb.a, PyMySQL, PHP's mysqlnd,
 * Node's mysql2). net.c hands over a TCP client connection whose first
 * bytes read are a server greeting (a packet numbered 0, protocol 10); from
 * then on the packets are framed both ways and every statement the
 * application sends becomes a CLIENT span, with the same name and
 * attributes as the libmariadb hook's (the connection's facts and the
 * statement as one raw attribute, hooks/mysql_render.h, rendered on the
 * exporter thread):
 *   COM_QUERY                a span for the statement
 *   COM_STMT_EXECUTE         a span with the text of its COM_STMT_PREPARE
 *   COM_STMT_PREPARE         a span only when it fails
 *   COM_INIT_DB, CHANGE_USER no span; db.namespace follows them (and a
 *                            COM_QUERY "USE name")
 *   others                   followed, no span
 * A span begins at the write that started its command and ends when the
 * whole response (every result set, every row) has been read; an ERR
 * packet makes it an error (db.response.status_code, error.type: the
 * server's error number).
 *
 * Parsing only: no byte is changed, added or held back. What cannot be
 * followed (a packet out of place, a command not known, TLS or
 * compression asked for) leaves the connection alone from then on. The
 * state lives in the connection's slot (fdstate.h), under its lock. */
#ifndef AT_MYSQL_WIRE_H
#define AT_MYSQL_WIRE_H

#include "../preload/leaf.h"
#include "mysql_render.h"
#include "sql_sanitize.h"

#include <stdint.h>
#include <sys/uio.h>

#define AT_MYW_PENDING 4 /* commands awaiting their responses */
#define AT_MYW_DB 64     /* a database name kept */
#define AT_MYW_BLOB (AT_MYSQL_HEAD + AT_MYW_DB + AT_ADDR_MAX + AT_SQL_MAX)
#define AT_MYW_STMTS 8   /* prepared statements whose text is kept */
#define AT_MYW_HEAD 320  /* a packet's first bytes kept */

/* A command written, its response not in yet. */
struct at_myw_cmd {
	struct at_leaf leaf;
	struct at_ctx parent;
	uint8_t cmd;   /* the command byte */
	uint8_t rec;   /* its span records */
	int8_t stmt;   /* a prepare's or execute's entry in the statement table, or -1 */
	uint8_t cut;   /* the statement did not fit: captured in part */
	uint8_t elide; /* a long statement: its quoted literals left out (mysql_wire.c) */
	uint8_t lex;   /* where the statement is: in a literal, after its quote... */
	char quote;    /* the quote of the literal being left out, or 0 */
	uint16_t len;  /* blob bytes */
	uint16_t text; /* where the statement starts in the blob */
	/* COM_INIT_DB, COM_CHANGE_USER, a COM_QUERY "USE name": new_db is the
	 * connection's database once the server says OK */
	uint8_t sets_db, new_db_len;
	char new_db[AT_MYW_DB];
	char blob[AT_MYW_BLOB];
};

/* A prepared statement's text, for its executions. */
struct at_myw_stmt {
	uint32_t id;
	uint8_t used, known; /* known: the server gave its id */
	uint16_t len;
	char text[AT_SQL_MAX];
};

/* One direction's packets: header, then payload, the first AT_MYW_HEAD
 * bytes of which are kept. */
struct at_myw_dir {
	uint8_t hdr[4], hn; /* header bytes in so far */
	uint8_t more;       /* the packet is 2^24-1 long: the next one continues it */
	uint8_t seq;        /* the logical packet's first number */
	uint8_t started;    /* a logical packet is under way */
	uint32_t left;      /* payload bytes of the physical packet still to come */
	uint64_t len;       /* payload bytes of the logical packet so far */
	uint16_t kept;
	uint8_t head[AT_MYW_HEAD];
};

struct at_myw {
	uint8_t phase, rs; /* the connection's phase; the oldest response's state */
	uint8_t sysn;      /* AT_MYSQL_SYS_* */
	uint8_t db_len, db_sent_len, addr_len, keep;
	uint8_t head, count; /* the ring of commands awaiting responses */
	uint8_t writing;     /* a command's packet is being written: slot head+count */
	uint32_t srv_caps, caps; /* the server's; the ones both sides agreed on */
	uint32_t srv_ext, ext;   /* MariaDB's extended ones (bits 32..63) */
	uint64_t left;           /* packets still to skip in the response */
	uint64_t out_t0;         /* when the client packet's first byte was written */
	int port;
	char db[AT_MYW_DB], db_sent[AT_MYW_DB]; /* confirmed; as the commands written leave it */
	char addr[AT_ADDR_MAX];
	struct at_myw_dir out, in;
	struct at_myw_cmd cmd[AT_MYW_PENDING];
	uint8_t stmt_next;
	struct at_myw_stmt stmt[AT_MYW_STMTS];
};

/* Whether the n bytes at p (the first a client connection reads) may begin
 * a server's greeting: as much of a length, packet number 0 and protocol
 * version 10 as they hold. The parser decides on the rest. */
int at_myw_looks(const char *p, size_t n);
/* A connection to addr (addr_len 0: unknown), port. */
void at_myw_init(struct at_myw *m, const char *addr, size_t addr_len, int port);
/* n bytes of iov went out, written by a call that began at t0 (at_stamp)
 * from caller. Returns 0; 1 when the connection stops being followed
 * quietly (TLS or compression asked for); -1 when it cannot be followed
 * any more (its commands under way ended: at_myw_desync). */
int at_myw_out(struct at_myw *m, const struct iovec *iov, int cnt, size_t n, uint64_t t0,
               uintptr_t caller);
/* n bytes of iov came in. Returns as at_myw_out. */
int at_myw_in(struct at_myw *m, const struct iovec *iov, int cnt, size_t n);
/* The commands under way end now, with no status (out of step). */
void at_myw_desync(struct at_myw *m);
/* The connection is gone (server: the peer closed it; else the application
 * closed it or the process exits): the commands under way end as failed. */
void at_myw_closed(struct at_myw *m, int server);
/* A signal kills the process: the commands under way end as killed. */
void at_myw_killed(struct at_myw *m, const char *type, const char *msg, size_t mlen);
static inline int at_myw_pending(const struct at_myw *m)
{
	return m->count != 0 || m->writing;
}

#endif
