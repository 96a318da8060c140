/* MySQL statements read off a plain socket (mysql_wire.h): the packets of
 * both directions framed, the greeting and the handshake read for the
 * server's flavour, the agreed capabilities and the database, and each
 * command's response followed to its last packet. */
#define _GNU_SOURCE
#include "mysql_wire.h"

#include "../preload/autotrace.h"
#include "../preload/log.h"
#include "../preload/utf8.h"

#include <stdio.h>
#include <string.h>

/* the connection's phase */
enum { PH_GREET = 0, PH_AUTH, PH_AUTH_SENT, PH_CMD };
/* the state of the oldest command's response */
enum {
	RS_FIRST = 0, /* a result: OK, ERR, a local file asked for, or a column count */
	RS_COLS,      /* column definitions, up to their EOF (or counted) */
	RS_ROWS,      /* rows, up to the EOF or OK that ends them */
	RS_PREP,      /* a prepare's OK, then its parameters and columns */
	RS_SKIP,      /* m->left packets, then done */
	RS_ONE,       /* one packet */
	RS_FIELDS,    /* COM_FIELD_LIST's definitions, up to an EOF */
	RS_AUTH       /* COM_CHANGE_USER: an authentication, up to OK or ERR */
};

/* commands (the first byte of a packet numbered 0) */
enum {
	COM_QUIT = 0x01,
	COM_INIT_DB = 0x02,
	COM_QUERY = 0x03,
	COM_FIELD_LIST = 0x04,
	COM_CHANGE_USER = 0x11,
	COM_STMT_PREPARE = 0x16,
	COM_STMT_EXECUTE = 0x17,
	COM_STMT_SEND_LONG_DATA = 0x18,
	COM_STMT_CLOSE = 0x19,
	COM_STMT_FETCH = 0x1c,
	COM_STMT_BULK_EXECUTE = 0xfa /* MariaDB */
};

/* capabilities */
#define CLIENT_MYSQL 0x1u /* (the server's bit 0: not a MariaDB extended server) */
#define CLIENT_CONNECT_WITH_DB 0x8u
#define CLIENT_COMPRESS 0x20u
#define CLIENT_PROTOCOL_41 0x200u
#define CLIENT_SSL 0x800u
#define CLIENT_SECURE_CONNECTION 0x8000u
#define CLIENT_PLUGIN_AUTH_LENENC 0x200000u
#define CLIENT_DEPRECATE_EOF 0x1000000u
#define CLIENT_OPTIONAL_METADATA 0x2000000u
#define CLIENT_ZSTD 0x4000000u
#define MARIADB_CACHE_METADATA (1u << 4) /* bit 36, of the extended ones */
/* server status */
#define MORE_RESULTS 0x0008u
#define CURSOR_EXISTS 0x0040u

#define MAX_PACKET 0xffffffu

int at_myw_looks(const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;
	if (n >= 3) {
		uint32_t len = u[0] | u[1] << 8 | (uint32_t)u[2] << 16;
		if (len < 16 || len > 4096)
			return 0;
	}
	return n && (n < 4 || u[3] == 0) && (n < 5 || u[4] == 10);
}

void at_myw_init(struct at_myw *m, const char *addr, size_t addr_len, int port)
{
	/* everything but the commands and the statements, set as they are taken */
	memset(m, 0, offsetof(struct at_myw, cmd));
	m->stmt_next = 0;
	for (int i = 0; i < AT_MYW_STMTS; i++)
		m->stmt[i].used = 0;
	if (addr_len >= sizeof m->addr)
		addr_len = 0;
	memcpy(m->addr, addr, addr_len);
	m->addr_len = (uint8_t)addr_len;
	m->port = port;
	m->keep = (uint8_t)at_sql_keep_literals();
}

static struct at_myw_cmd *cmd_at(struct at_myw *m, unsigned i)
{
	return &m->cmd[(m->head + i) % AT_MYW_PENDING];
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A length-encoded integer at p[*i] within n bytes; -1 when it is not
 * whole there (or is a NULL's 0xfb, or 0xff). */
static int64_t lenenc(const uint8_t *p, size_t n, size_t *i)
{
	if (*i >= n)
		return -1;
	uint8_t c = p[(*i)++];
	size_t w = c < 0xfb ? 0 : c == 0xfc ? 2 : c == 0xfd ? 3 : c == 0xfe ? 8 : 9;
	if (w == 9 || *i + w > n)
		return -1;
	if (!w)
		return c;
	uint64_t v = 0;
	for (size_t k = 0; k < w; k++)
		v |= (uint64_t)p[*i + k] << (8 * k);
	*i += w;
	return (int64_t)(v & INT64_MAX);
}

static uint8_t copy_name(char *dst, const uint8_t *src, size_t n)
{
	if (n > AT_MYW_DB)
		n = 0; /* a name longer than any the server allows: not one */
	memcpy(dst, src, n);
	return (uint8_t)n;
}

/* ---- statements kept for their executions ---- */

static int stmt_find(struct at_myw *m, uint32_t id)
{
	if (id == UINT32_MAX) { /* MariaDB: "the statement prepared last" */
		int last = (m->stmt_next + AT_MYW_STMTS - 1) % AT_MYW_STMTS;
		return m->stmt[last].used ? last : -1;
	}
	for (int i = 0; i < AT_MYW_STMTS; i++)
		if (m->stmt[i].used && m->stmt[i].known && m->stmt[i].id == id)
			return i;
	return -1;
}

/* ---- commands written ---- */

/* The facts of the connection at the head of a command's blob. */
static size_t facts(struct at_myw *m, char *b)
{
	b[0] = (char)m->sysn;
	b[1] = (char)m->keep;
	b[2] = (char)(m->port & 0xff);
	b[3] = (char)(m->port >> 8 & 0xff);
	b[4] = (char)m->db_sent_len;
	b[5] = (char)m->addr_len;
	b[6] = b[7] = 0;
	memcpy(b + AT_MYSQL_HEAD, m->db_sent, m->db_sent_len);
	memcpy(b + AT_MYSQL_HEAD + m->db_sent_len, m->addr, m->addr_len);
	return AT_MYSQL_HEAD + m->db_sent_len + m->addr_len;
}

static int traced(uint8_t cmd)
{
	return cmd == COM_QUERY || cmd == COM_STMT_EXECUTE || cmd == COM_STMT_PREPARE ||
	       cmd == COM_STMT_BULK_EXECUTE;
}

/* A command's first payload byte went out: its span begins when it is one
 * that has one. -1: too many awaiting their responses. */
static int command_begin(struct at_myw *m, uint8_t cmd, uintptr_t caller)
{
	if (m->count == AT_MYW_PENDING) {
		at_debug("mysql on the wire: more than %d commands awaiting their responses",
		         AT_MYW_PENDING);
		return -1;
	}
	struct at_myw_cmd *c = cmd_at(m, m->count);
	c->cmd = cmd;
	c->rec = 0;
	c->stmt = -1;
	c->cut = 0;
	c->elide = c->lex = 0;
	c->quote = 0;
	c->len = c->text = 0;
	c->sets_db = 0;
	m->writing = 1;
	if (!traced(cmd))
		return 0;
	struct at_leaf *l = &c->leaf;
	if (!at_leaf_begin(l, AT_KIND_CLIENT, caller))
		return 0;
	at_tls.leaf = NULL; /* it outlives this call: not the thread's */
	l->start = m->out_t0;
	if (l->parent) { /* copied: its span may end first */
		c->parent = *l->parent;
		l->parent = &c->parent;
	}
	l->pspan = NULL;
	c->rec = 1;
	c->len = c->text = (uint16_t)facts(m, c->blob);
	return 0;
}

/* Statement bytes of a COM_QUERY or COM_STMT_PREPARE: up to one byte more
 * than a statement kept whole, so that a cut one is seen as cut. */
static void text_put(struct at_myw_cmd *c, const uint8_t *p, size_t n)
{
	size_t room = (size_t)c->text + AT_SQL_MAX - c->len;
	if (n > room) {
		n = room;
		c->cut = 1;
	}
	memcpy(c->blob + c->len, p, n);
	c->len = (uint16_t)(c->len + n);
}

/* Bytes of a statement too long to keep whole: a quoted string's contents
 * are left out as they go by, so that what is kept (the first 1 KiB) holds
 * the statement's shape (its FROM past a long literal, say), which the
 * renderer then sanitizes as the hook sanitizes a long one. A backslash
 * escapes, a doubled quote stays within; back-quoted names are kept. With
 * AUTOTRACE_SQL_LITERALS=1 the text is kept as sent (c->elide 0). */
enum { LX_TEXT = 0, LX_STR, LX_ESC, LX_END };

static void text_put_long(struct at_myw_cmd *c, const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n && !c->cut) {
		uint8_t ch = p[i++];
		switch (c->lex) {
		case LX_END:
			if (ch == (uint8_t)c->quote) { /* doubled: still within */
				c->lex = LX_STR;
				continue;
			}
			c->lex = LX_TEXT;
			text_put(c, (const uint8_t *)&c->quote, 1);
			__attribute__((fallthrough)); /* ch is the statement's */
		case LX_TEXT:
			text_put(c, &ch, 1);
			if (ch == '\'' || ch == '"') {
				c->quote = (char)ch;
				c->lex = LX_STR;
			}
			continue;
		case LX_STR:
			if (ch == '\\')
				c->lex = LX_ESC;
			else if (ch == (uint8_t)c->quote)
				c->lex = LX_END;
			continue;
		case LX_ESC:
			c->lex = LX_STR;
			continue;
		}
	}
}

/* The prepare's statement, kept for its executions (the server's id comes
 * with its response). */
static void stmt_keep(struct at_myw *m, struct at_myw_cmd *c)
{
	int i = m->stmt_next;
	m->stmt_next = (uint8_t)((i + 1) % AT_MYW_STMTS);
	struct at_myw_stmt *s = &m->stmt[i];
	s->used = 1;
	s->known = 0;
	s->len = (uint16_t)(c->len - c->text);
	memcpy(s->text, c->blob + c->text, s->len);
	c->stmt = (int8_t)i;
}

/* The command's packet is written whole: it awaits its response, or has
 * none. */
static int command_end(struct at_myw *m)
{
	struct at_myw_cmd *c = cmd_at(m, m->count);
	const uint8_t *h = m->out.head;
	size_t n = m->out.kept;
	m->writing = 0;
	if (c->lex == LX_END && !c->cut) /* the literal its last quote ended */
		text_put(c, (const uint8_t *)&c->quote, 1);
	size_t tl = (size_t)(c->len - c->text);
	if (c->cut || tl >= AT_SQL_MAX) { /* cut, not within a UTF-8 sequence */
		c->cut = 1;
		c->len = (uint16_t)(c->text + at_utf8_cut(c->blob + c->text, tl, AT_SQL_MAX - 1));
	}
	switch (c->cmd) {
	case COM_QUIT:
	case COM_STMT_SEND_LONG_DATA:
		return 0;
	case COM_STMT_CLOSE: {
		int i = n >= 5 ? stmt_find(m, le32(h + 1)) : -1;
		if (i >= 0)
			m->stmt[i].used = 0;
		return 0;
	}
	case COM_INIT_DB:
		c->new_db_len = copy_name(c->new_db, h + 1, n - 1);
		c->sets_db = 1;
		break;
	case COM_QUERY:
		/* "USE name": a COM_INIT_DB in a statement (the whole packet is
		 * in h: a short one) */
		if (m->out.len == n && at_sql_maybe_use((const char *)h + 1, n - 1)) {
			c->new_db_len = (uint8_t)at_sql_use_db((const char *)h + 1, n - 1, c->new_db,
			                                       sizeof c->new_db);
			c->sets_db = c->new_db_len != 0;
		}
		break;
	case COM_STMT_PREPARE:
		stmt_keep(m, c);
		break;
	case COM_STMT_EXECUTE:
	case COM_STMT_BULK_EXECUTE: {
		int i = n >= 5 ? stmt_find(m, le32(h + 1)) : -1;
		c->stmt = (int8_t)i;
		if (c->rec && i >= 0) {
			struct at_myw_stmt *s = &m->stmt[i];
			memcpy(c->blob + c->text, s->text, s->len);
			c->len = (uint16_t)(c->text + s->len);
		}
		break;
	}
	case COM_CHANGE_USER: {
		/* user NUL, the auth response (1-byte length, or NUL-ended), the
		 * database NUL */
		const uint8_t *z = memchr(h + 1, 0, n - 1);
		size_t i = z ? (size_t)(z - h) + 1 : n;
		if (i < n && (m->caps & CLIENT_SECURE_CONNECTION)) {
			i += 1 + h[i];
		} else if (i < n) {
			z = memchr(h + i, 0, n - i);
			i = z ? (size_t)(z - h) + 1 : n;
		}
		z = i < n ? memchr(h + i, 0, n - i) : NULL;
		c->new_db_len = z ? copy_name(c->new_db, h + i, (size_t)(z - (h + i))) : 0;
		c->sets_db = 1;
		break;
	}
	}
	if (c->sets_db) { /* the commands written after it are in that database */
		memcpy(m->db_sent, c->new_db, c->new_db_len);
		m->db_sent_len = c->new_db_len;
	}
	if (c->rec)
		at_leaf_raw(&c->leaf, "db.query.text", AT_RENDER_MYSQL, c->blob, c->len);
	m->count++;
	return 0;
}

/* The client's handshake response (or its request for TLS) is whole. */
static int handshake_response(struct at_myw *m)
{
	const uint8_t *h = m->out.head;
	size_t n = m->out.kept;
	if (n < 32)
		return -1;
	uint32_t caps = le32(h);
	if (caps & CLIENT_SSL) {
		at_debug("mysql on the wire: TLS; no longer followed");
		return 1;
	}
	m->caps = caps & m->srv_caps;
	if (m->caps & (CLIENT_COMPRESS | CLIENT_ZSTD)) {
		at_debug("mysql on the wire: compressed; no longer followed");
		return 1;
	}
	if (!(m->caps & CLIENT_PROTOCOL_41))
		return -1;
	if (!(m->srv_caps & CLIENT_MYSQL))
		m->ext = le32(h + 28) & m->srv_ext;
	/* the user NUL-ended, the auth response, then the database */
	size_t i = 32;
	const uint8_t *z = memchr(h + i, 0, n - i);
	if (!z)
		return 0;
	i = (size_t)(z - h) + 1;
	if (m->caps & CLIENT_PLUGIN_AUTH_LENENC) {
		int64_t a = lenenc(h, n, &i);
		if (a < 0)
			return 0;
		i += (size_t)a;
	} else if (m->caps & CLIENT_SECURE_CONNECTION) {
		if (i >= n)
			return 0;
		i += 1 + h[i];
	} else {
		z = memchr(h + i, 0, n - i);
		if (!z)
			return 0;
		i = (size_t)(z - h) + 1;
	}
	if (!(m->caps & CLIENT_CONNECT_WITH_DB) || i >= n)
		return 0;
	z = memchr(h + i, 0, n - i);
	if (z) {
		m->db_len = copy_name(m->db, h + i, (size_t)(z - (h + i)));
		memcpy(m->db_sent, m->db, m->db_len);
		m->db_sent_len = m->db_len;
	}
	return 0;
}

/* A client packet is whole. */
static int out_packet_end(struct at_myw *m)
{
	switch (m->phase) {
	case PH_AUTH:
		if (m->out.seq != 1)
			return -1;
		m->phase = PH_AUTH_SENT;
		return handshake_response(m);
	case PH_CMD:
		if (m->out.seq == 0)
			return command_end(m);
		return 0; /* a local file's contents, an authentication's next step */
	default:
		return 0;
	}
}

/* A packet's payload bytes: the first cap (at most AT_MYW_HEAD) kept, all
 * counted. */
static AT_ALWAYS_INLINE void keep(struct at_myw_dir *d, const uint8_t *p, size_t n, size_t cap)
{
	if (d->kept < cap) {
		size_t k = cap - d->kept;
		if (k > n)
			k = n;
		at_copy_small((char *)d->head + d->kept, (const char *)p, k);
		d->kept = (uint16_t)(d->kept + k);
	}
	d->len += n;
}

/* Payload bytes of the client's packet under way. */
static int out_payload(struct at_myw *m, const uint8_t *p, size_t n, uintptr_t caller)
{
	struct at_myw_dir *d = &m->out;
	if (m->phase == PH_CMD && d->seq == 0) {
		struct at_myw_cmd *c = cmd_at(m, m->count);
		if (!d->len) {
			if (command_begin(m, p[0], caller) < 0)
				return -1;
			/* the packet's length says whether the statement fits whole
			 * (d->left: the payload not yet framed, this piece's too) */
			if ((d->more || d->left - 1 >= AT_SQL_MAX) && !m->keep)
				c->elide = 1;
		}
		/* a prepare's text is kept for its executions, sampled or not */
		if ((c->rec && c->cmd == COM_QUERY) || c->cmd == COM_STMT_PREPARE) {
			size_t skip = d->len ? 0 : 1; /* the command byte */
			if (n <= skip)
				;
			else if (c->elide)
				text_put_long(c, p + skip, n - skip);
			else
				text_put(c, p + skip, n - skip);
		}
	}
	keep(d, p, n, AT_MYW_HEAD);
	return 0;
}

/* Packets of one direction: header bytes, then payload; start takes the
 * first header of a logical packet, payload each piece of it, end the
 * packet whole (a 2^24-1 one continued by the next). */
struct framer {
	int (*payload)(struct at_myw *m, const uint8_t *p, size_t n, uintptr_t caller);
	int (*start)(struct at_myw *m, uint64_t t0);
	int (*end)(struct at_myw *m);
};

/* Inlined into each direction's at_myw_out/at_myw_in: f is a constant
 * there, its callbacks direct calls. A header whole in the piece is taken
 * at once, one split between reads byte by byte. */
static AT_ALWAYS_INLINE int frame(struct at_myw *m, struct at_myw_dir *d, const struct framer *f,
                                  const uint8_t *p, size_t n, uint64_t t0, uintptr_t caller)
{
	size_t i = 0;
	while (i < n) {
		if (d->hn < 4) {
			if (!d->hn && n - i >= 4) {
				memcpy(d->hdr, p + i, 4);
				d->hn = 4;
				i += 4;
			} else {
				d->hdr[d->hn++] = p[i++];
				if (d->hn < 4)
					continue;
			}
			d->left = d->hdr[0] | d->hdr[1] << 8 | (uint32_t)d->hdr[2] << 16;
			if (!d->started) {
				d->started = 1;
				d->seq = d->hdr[3];
				d->len = 0;
				d->kept = 0;
				int rc = f->start ? f->start(m, t0) : 0;
				if (rc)
					return rc;
			}
			d->more = d->left == MAX_PACKET;
		} else {
			size_t k = n - i < d->left ? n - i : d->left;
			int rc = f->payload(m, p + i, k, caller);
			if (rc)
				return rc;
			d->left -= (uint32_t)k;
			i += k;
		}
		if (d->hn == 4 && !d->left) {
			d->hn = 0;
			if (!d->more) {
				d->started = 0;
				int rc = f->end(m);
				if (rc)
					return rc;
			}
		}
	}
	return 0;
}

static int out_start(struct at_myw *m, uint64_t t0)
{
	if (m->phase == PH_GREET)
		return -1; /* the client speaks first: not MySQL */
	m->out_t0 = t0;
	return 0;
}

static int out_end(struct at_myw *m)
{
	/* a command packet with no command byte */
	if (m->phase == PH_CMD && m->out.seq == 0 && !m->out.len)
		return -1;
	return out_packet_end(m);
}

static const struct framer out_framer = {out_payload, out_start, out_end};

/* n bytes of iov, one direction's: framed piece by piece. */
static AT_ALWAYS_INLINE int frame_iov(struct at_myw *m, struct at_myw_dir *d,
                                      const struct framer *f, const struct iovec *iov, int cnt,
                                      size_t n, uint64_t t0, uintptr_t caller)
{
	for (int k = 0; k < cnt && n; k++) {
		size_t len = iov[k].iov_len < n ? iov[k].iov_len : n;
		int rc = len ? frame(m, d, f, iov[k].iov_base, len, t0, caller) : 0;
		n -= len;
		if (rc < 0) {
			at_debug("mysql on the wire: a %s out of place; no longer followed",
			         d == &m->out ? "packet written" : "packet read");
			at_myw_desync(m);
		}
		if (rc)
			return rc;
	}
	return 0;
}

int at_myw_out(struct at_myw *m, const struct iovec *iov, int cnt, size_t n, uint64_t t0,
               uintptr_t caller)
{
	return frame_iov(m, &m->out, &out_framer, iov, cnt, n, t0, caller);
}

/* ---- responses read ---- */

/* The oldest command's response is whole: ok, or an ERR packet (its head
 * in h, n bytes). */
static void command_done(struct at_myw *m, int err, const uint8_t *h, size_t n)
{
	struct at_myw_cmd *c = &m->cmd[m->head];
	m->head = (uint8_t)((m->head + 1) % AT_MYW_PENDING);
	m->count--;
	m->rs = RS_FIRST;
	if (c->sets_db) {
		if (!err) {
			memcpy(m->db, c->new_db, c->new_db_len);
			m->db_len = c->new_db_len;
		}
		memcpy(m->db_sent, m->db, m->db_len); /* what the server has now */
		m->db_sent_len = m->db_len;
	}
	switch (c->cmd) {
	case COM_STMT_PREPARE:
		if (err && c->stmt >= 0)
			m->stmt[c->stmt].used = 0;
		if (!err)
			return; /* a prepare that worked has no span of its own */
		break;
	}
	if (!c->rec)
		return;
	if (!err) {
		at_leaf_end(&c->leaf);
		return;
	}
	/* ERR: 0xff, the error number, '#' and the SQL state, the message */
	unsigned code = n >= 3 ? le16(h + 1) : 2000;
	size_t mo = n >= 9 && h[3] == '#' ? 9 : 3;
	char num[16];
	int nl = snprintf(num, sizeof num, "%u", code);
	size_t ml = n > mo ? n - mo : 0;
	struct at_leaf_failure f = {num, ml ? (const char *)h + mo : num, (size_t)nl,
	                            ml ? ml : (size_t)nl, 1};
	at_leaf_end_as(&c->leaf, &f);
}

/* The status flags of an OK packet (0x00 or 0xfe) or an EOF packet. */
static unsigned status_of(const uint8_t *h, size_t n, int eof)
{
	if (eof)
		return n >= 5 ? le16(h + 3) : 0;
	size_t i = 1;
	if (lenenc(h, n, &i) < 0 || lenenc(h, n, &i) < 0 || i + 2 > n)
		return 0;
	return le16(h + i);
}

/* Whether a packet ends rows or definitions: an EOF packet, or the OK that
 * replaces it under CLIENT_DEPRECATE_EOF (a row's first byte is never
 * 0xfe unless it is at least 2^24-1 long). */
static int is_end(const struct at_myw *m, const uint8_t *h, uint64_t len)
{
	if (!len || h[0] != 0xfe)
		return 0;
	return (m->caps & CLIENT_DEPRECATE_EOF) ? len < MAX_PACKET : len < 9;
}

/* A result set's end or an OK: more results follow, or the command is done. */
static void result_end(struct at_myw *m, unsigned status, const uint8_t *h, size_t n)
{
	if (status & MORE_RESULTS)
		m->rs = RS_FIRST;
	else
		command_done(m, 0, h, n);
}

/* A server packet of the oldest command's response is whole. */
static int response_packet(struct at_myw *m)
{
	const uint8_t *h = m->in.head;
	size_t n = m->in.kept;
	uint64_t len = m->in.len;
	int deprecate = (m->caps & CLIENT_DEPRECATE_EOF) != 0;
	if (!m->count)
		return -1; /* nobody asked */
	struct at_myw_cmd *c = &m->cmd[m->head];
	if (m->rs == RS_FIRST) {
		switch (c->cmd) {
		case COM_STMT_PREPARE:
			m->rs = RS_PREP;
			break;
		case COM_FIELD_LIST:
			m->rs = RS_FIELDS;
			break;
		case COM_CHANGE_USER:
			m->rs = RS_AUTH;
			break;
		case COM_STMT_FETCH:
			m->rs = RS_ROWS;
			break;
		case COM_QUERY:
		case COM_STMT_EXECUTE:
		case COM_STMT_BULK_EXECUTE:
		case 0x0a: /* COM_PROCESS_INFO: a result set */
			break;
		default:
			m->rs = RS_ONE;
		}
	}
	if (!len)
		return -1;
	if (h[0] == 0xff && n >= 3 && le16(h + 1) == 0xffff && m->rs != RS_ONE)
		return 0; /* MariaDB's progress report */
	switch (m->rs) {
	case RS_FIRST:
		if (h[0] == 0x00) {
			result_end(m, status_of(h, n, 0), h, n);
		} else if (h[0] == 0xff) {
			command_done(m, 1, h, n);
		} else if (h[0] == 0xfb) {
			/* LOCAL INFILE: the client sends the file, then an OK or ERR */
		} else {
			size_t i = 0;
			int64_t cols = lenenc(h, n, &i);
			if (cols <= 0)
				return -1;
			/* MariaDB's cached metadata, MySQL's optional metadata: a
			 * byte after the count says whether definitions follow */
			int meta_flag = (m->caps & CLIENT_OPTIONAL_METADATA) ||
			                ((m->ext & MARIADB_CACHE_METADATA) &&
			                 (c->cmd == COM_STMT_EXECUTE || c->cmd == COM_STMT_BULK_EXECUTE));
			if (meta_flag && i < n && h[i] == 0)
				cols = 0;
			m->left = (uint64_t)cols;
			m->rs = RS_COLS;
			if (deprecate && !cols)
				m->rs = RS_ROWS;
		}
		return 0;
	case RS_COLS:
		if (h[0] == 0xff) {
			command_done(m, 1, h, n);
		} else if (!deprecate) {
			if (h[0] == 0xfe && len < 9) {
				/* an execution with a cursor: the rows come by COM_STMT_FETCH */
				if (c->cmd != COM_QUERY && (status_of(h, n, 1) & CURSOR_EXISTS))
					command_done(m, 0, h, n);
				else
					m->rs = RS_ROWS;
			}
		} else if (!--m->left) {
			m->rs = RS_ROWS;
		}
		return 0;
	case RS_ROWS:
		if (h[0] == 0xff)
			command_done(m, 1, h, n);
		else if (is_end(m, h, len))
			result_end(m, status_of(h, n, !deprecate), h, n);
		return 0;
	case RS_PREP:
		if (h[0] == 0xff) {
			command_done(m, 1, h, n);
		} else if (h[0] == 0x00 && n >= 9) {
			unsigned cols = le16(h + 5), params = le16(h + 7);
			m->left = (uint64_t)params + cols;
			if (!deprecate)
				m->left += (params > 0) + (cols > 0);
			if (!m->left)
				command_done(m, 0, h, n);
			else
				m->rs = RS_SKIP;
			/* the statement's id, before the definitions */
			if (c->stmt >= 0)
				m->stmt[c->stmt].id = le32(h + 1), m->stmt[c->stmt].known = 1;
		} else {
			return -1;
		}
		return 0;
	case RS_SKIP:
		if (!--m->left)
			command_done(m, 0, h, n);
		return 0;
	case RS_ONE:
		command_done(m, h[0] == 0xff, h, n);
		return 0;
	case RS_FIELDS:
		if (h[0] == 0xff)
			command_done(m, 1, h, n);
		else if (is_end(m, h, len))
			command_done(m, 0, h, n);
		return 0;
	case RS_AUTH:
		if (h[0] == 0x00 || h[0] == 0xff)
			command_done(m, h[0] == 0xff, h, n);
		return 0;
	}
	return -1;
}

/* The server's greeting: protocol 10, its version (MariaDB's say so), and
 * its capabilities. */
static int greeting(struct at_myw *m)
{
	const uint8_t *h = m->in.head;
	size_t n = m->in.kept;
	if (m->in.seq != 0 || !n)
		return -1;
	if (h[0] == 0xff) { /* refused: too many connections, a host blocked */
		at_debug("mysql on the wire: the server refused the connection");
		return 1;
	}
	const uint8_t *z = h[0] == 10 ? memchr(h + 1, 0, n - 1) : NULL;
	if (!z)
		return -1;
	size_t v = (size_t)(z - h); /* the version: h[1..v) */
	m->sysn = memmem(h + 1, v - 1, "MariaDB", 7) ? AT_MYSQL_SYS_MARIADB : AT_MYSQL_SYS_MYSQL;
	/* NUL, thread id 4, scramble 8, filler 1, capabilities' low 2 */
	size_t i = v + 1 + 4 + 8 + 1;
	if (i + 2 > n)
		return -1;
	m->srv_caps = le16(h + i);
	i += 2;
	/* character set 1, status 2, capabilities' high 2, scramble length
	 * 1, 6 reserved, MariaDB's extended capabilities 4 */
	if (i + 5 <= n)
		m->srv_caps |= (uint32_t)le16(h + i + 3) << 16;
	if (i + 16 <= n && !(m->srv_caps & CLIENT_MYSQL))
		m->srv_ext = le32(h + i + 12);
	m->phase = PH_AUTH;
	return 0;
}

/* A server packet is whole. */
static int in_packet_end(struct at_myw *m)
{
	const uint8_t *h = m->in.head;
	switch (m->phase) {
	case PH_GREET:
		return greeting(m);
	case PH_AUTH:
		return -1; /* the server speaks twice */
	case PH_AUTH_SENT:
		if (!m->in.len)
			return -1;
		if (h[0] == 0x00) {
			m->phase = PH_CMD;
		} else if (h[0] == 0xff) {
			at_debug("mysql on the wire: authentication failed");
			return 1;
		}
		return 0; /* an authentication's next step */
	default:
		return response_packet(m);
	}
}

/* A response's packet: its first RESP_HEAD bytes say what it is (an OK's
 * or EOF's status, a column count and its metadata flag, a prepare's
 * counts); an ERR's message and the greeting are kept whole (AT_MYW_HEAD). */
#define RESP_HEAD 32
static int in_payload(struct at_myw *m, const uint8_t *p, size_t n, uintptr_t caller)
{
	struct at_myw_dir *d = &m->in;
	size_t cap = AT_MYW_HEAD;
	if (m->phase == PH_CMD && (d->kept ? d->head[0] : p[0]) != 0xff)
		cap = RESP_HEAD;
	keep(d, p, n, cap);
	return 0;
}

static const struct framer in_framer = {in_payload, NULL, in_packet_end};

int at_myw_in(struct at_myw *m, const struct iovec *iov, int cnt, size_t n)
{
	return frame_iov(m, &m->in, &in_framer, iov, cnt, n, 0, 0);
}

/* ---- endings ---- */

/* Every command under way (and one being written) ends: failed (f), or
 * with no status (f NULL; a prepare's then has no span, as one that
 * worked). */
static void end_each(struct at_myw *m, const struct at_leaf_failure *f)
{
	unsigned n = m->count + m->writing;
	for (unsigned i = 0; i < n; i++) {
		struct at_myw_cmd *c = cmd_at(m, i);
		if (c->rec && (f || c->cmd != COM_STMT_PREPARE)) {
			if (i == m->count) /* written in part: what it has */
				at_leaf_raw(&c->leaf, "db.query.text", AT_RENDER_MYSQL, c->blob, c->len);
			at_leaf_end_as(&c->leaf, f);
		}
	}
	m->count = 0;
	m->writing = 0;
	m->head = 0;
}

void at_myw_desync(struct at_myw *m)
{
	end_each(m, NULL);
}

void at_myw_closed(struct at_myw *m, int server)
{
	static const char eof[] = "Lost connection to server during query";
	static const char gone[] = "the connection was closed before the response was read";
	/* 2013: CR_SERVER_LOST, what the client library reports */
	const char *type = server ? "2013" : "MYSQL_NO_RESPONSE";
	struct at_leaf_failure f = {type, server ? eof : gone, strlen(type),
	                            server ? sizeof eof - 1 : sizeof gone - 1, server};
	end_each(m, &f);
}

void at_myw_killed(struct at_myw *m, const char *type, const char *msg, size_t mlen)
{
	struct at_leaf_failure f = {type, msg, strlen(type), mlen, 0};
	end_each(m, &f);
}
