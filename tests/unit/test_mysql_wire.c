/* MySQL read off the wire (hooks/mysql_wire.c): a conversation as a client
 * writes and reads it, in pieces of every size, gives one span per
 * statement with the response's outcome and the database the connection
 * is on; result sets with and without their EOF packets, several results
 * to one statement, prepared statements (their text kept for their
 * executions, MariaDB's "the one prepared last", metadata left out), a
 * statement longer than a packet, TLS and compression asked for, packets
 * out of place, a closed connection and a kill each end the way
 * mysql_wire.h says. Spans are read back from the queue (no exporter) and
 * rendered as the exporter thread would. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../../hooks/mysql_wire.h"
#include "../../preload/autotrace.h"
#include "../../reporter/queue.h"

struct got {
	char name[64];
	char text[1100];
	char ns[16];
	char code[32];  /* db.response.status_code */
	char etype[32]; /* error.type */
	char addr[32];
	int error;
	uint64_t start, end;
};

static const char *str_attr(const struct at_span *s, const char *key, char *out, size_t room)
{
	out[0] = 0;
	for (int i = 0; i < s->nattrs; i++) {
		const struct at_attr *a = &s->attrs[i];
		if (strcmp(a->key, key) || a->type != AT_ATTR_STR)
			continue;
		size_t n = a->v.s.len < room - 1 ? a->v.s.len : room - 1;
		memcpy(out, at_span_str(s, a->v.s), n);
		out[n] = 0;
	}
	return out;
}

/* The spans queued since the last call, rendered. */
static size_t drain(struct got *g, size_t max)
{
	struct at_span *sp[256];
	size_t n = at_queue_peek(sp, 256), k = 0;
	for (size_t i = 0; i < n; i++) {
		struct at_span *s = sp[i];
		for (int j = 0; j < s->nattrs; j++)
			if (s->attrs[j].type == AT_ATTR_DEFER && s->attrs[j].render == AT_RENDER_MYSQL)
				at_mysql_render(s, &s->attrs[j]);
		if (k == max)
			continue;
		struct got *o = &g[k++];
		memset(o, 0, sizeof *o);
		size_t nl = s->name.len < sizeof o->name - 1 ? s->name.len : sizeof o->name - 1;
		memcpy(o->name, at_span_str(s, s->name), nl);
		str_attr(s, "db.query.text", o->text, sizeof o->text);
		str_attr(s, "db.namespace", o->ns, sizeof o->ns);
		str_attr(s, "db.response.status_code", o->code, sizeof o->code);
		str_attr(s, "error.type", o->etype, sizeof o->etype);
		str_attr(s, "server.address", o->addr, sizeof o->addr);
		o->error = s->status == AT_STATUS_ERROR;
		o->start = s->start_ns;
		o->end = s->end_ns;
	}
	at_queue_release(n);
	return k;
}

/* ---- packets ---- */

struct buf {
	char b[1 << 16];
	size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof b->b);
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void packet(struct buf *b, int seq, const void *p, size_t n)
{
	uint8_t h[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)seq};
	put(b, h, 4);
	put(b, p, n);
}

/* A packet of the command byte and the text. */
static void command(struct buf *b, uint8_t cmd, const char *text)
{
	char p[4096];
	p[0] = (char)cmd;
	size_t n = strlen(text);
	memcpy(p + 1, text, n);
	packet(b, 0, p, n + 1);
}

static void command_id(struct buf *b, uint8_t cmd, uint32_t id)
{
	uint8_t p[10] = {cmd, (uint8_t)id, (uint8_t)(id >> 8), (uint8_t)(id >> 16), (uint8_t)(id >> 24)};
	packet(b, 0, p, cmd == 0x17 ? 10 : 5);
}

static void ok(struct buf *b, int seq, unsigned status)
{
	uint8_t p[7] = {0, 0, 0, (uint8_t)status, (uint8_t)(status >> 8), 0, 0};
	packet(b, seq, p, 7);
}

static void eof(struct buf *b, int seq, unsigned status)
{
	uint8_t p[5] = {0xfe, 0, 0, (uint8_t)status, (uint8_t)(status >> 8)};
	packet(b, seq, p, 5);
}

/* The OK that ends rows under CLIENT_DEPRECATE_EOF */
static void ok_fe(struct buf *b, int seq, unsigned status)
{
	uint8_t p[7] = {0xfe, 0, 0, (uint8_t)status, (uint8_t)(status >> 8), 0, 0};
	packet(b, seq, p, 7);
}

static void err(struct buf *b, int seq, unsigned code, const char *msg)
{
	char p[512];
	p[0] = (char)0xff;
	p[1] = (char)(code & 0xff);
	p[2] = (char)(code >> 8);
	memcpy(p + 3, "#42S02", 6);
	size_t n = strlen(msg);
	memcpy(p + 9, msg, n);
	packet(b, seq, p, 9 + n);
}

static void coldef(struct buf *b, int seq)
{
	static const char def[] = "\3def\3app\1t\1t\1v\1v\x0c\x21\0\x50\0\0\0\xfd\0\0\0\0\0";
	packet(b, seq, def, sizeof def - 1);
}

/* A result set of one column and `rows` text rows; eofs: the EOF packet
 * after the definitions and the EOF that ends the rows (else the OK). */
static int result(struct buf *b, int seq, int rows, int eofs, unsigned status)
{
	uint8_t one = 1;
	packet(b, seq++, &one, 1);
	coldef(b, seq++);
	if (eofs)
		eof(b, seq++, 0);
	for (int i = 0; i < rows; i++) {
		char row[8] = {5, 'v', 'a', 'l', '0' + (char)(i % 10), 'x'};
		packet(b, seq++, row, 6);
	}
	if (eofs)
		eof(b, seq++, status);
	else
		ok_fe(b, seq++, status);
	return seq;
}

#define CLIENT_LONG_PASSWORD 0x1u
#define CLIENT_CONNECT_WITH_DB 0x8u
#define CLIENT_COMPRESS 0x20u
#define CLIENT_PROTOCOL_41 0x200u
#define CLIENT_SSL 0x800u
#define CLIENT_SECURE_CONNECTION 0x8000u
#define CLIENT_MULTI_RESULTS 0x20000u
#define CLIENT_PLUGIN_AUTH 0x80000u
#define CLIENT_DEPRECATE_EOF 0x1000000u
#define BASE_CAPS                                                                             \
	(CLIENT_LONG_PASSWORD | CLIENT_CONNECT_WITH_DB | CLIENT_PROTOCOL_41 |                \
	 CLIENT_SECURE_CONNECTION | CLIENT_MULTI_RESULTS | CLIENT_PLUGIN_AUTH)

/* A MariaDB server's greeting offering srv caps (and ext, MariaDB's). */
static void greeting(struct buf *b, uint32_t srv, uint32_t ext)
{
	char p[128];
	size_t n = 0;
	p[n++] = 10;
	static const char v[] = "5.5.5-10.11.6-MariaDB-0+deb12u1";
	memcpy(p + n, v, sizeof v); /* with its NUL */
	n += sizeof v;
	memset(p + n, 7, 4 + 8); /* thread id, scramble */
	n += 12;
	p[n++] = 0;
	p[n++] = (char)(srv & 0xff);
	p[n++] = (char)(srv >> 8 & 0xff);
	p[n++] = 45; /* character set */
	p[n++] = 2;  /* status */
	p[n++] = 0;
	p[n++] = (char)(srv >> 16 & 0xff);
	p[n++] = (char)(srv >> 24 & 0xff);
	p[n++] = 21;
	memset(p + n, 0, 6);
	n += 6;
	memcpy(p + n, &ext, 4);
	n += 4;
	memset(p + n, 9, 12);
	n += 12;
	p[n++] = 0;
	memcpy(p + n, "mysql_native_password", 22);
	n += 22;
	packet(b, 0, p, n);
}

/* The client's handshake response: caps, the user, a 20-byte auth
 * response, the database. */
static void handshake(struct buf *b, uint32_t caps, uint32_t ext, const char *db)
{
	char p[256];
	memset(p, 0, 32);
	memcpy(p, &caps, 4);
	p[4] = 0; /* max packet */
	p[8] = 45;
	memcpy(p + 28, &ext, 4);
	size_t n = 32;
	memcpy(p + n, "root", 5);
	n += 5;
	p[n++] = 20;
	memset(p + n, 0x41, 20);
	n += 20;
	size_t dl = strlen(db) + 1;
	memcpy(p + n, db, dl);
	n += dl;
	memcpy(p + n, "mysql_native_password", 22);
	n += 22;
	packet(b, 1, p, n);
}

static struct at_myw *fresh(void)
{
	static struct at_myw m;
	at_myw_init(&m, "10.1.2.3", 8, 3307);
	drain(NULL, 0);
	return &m;
}

/* len bytes of buf, written (out) or read in pieces of `piece` bytes
 * (0: whole), two iovecs a call; the first call's return that is not 0. */
static int feed(struct at_myw *m, int out, const char *buf, size_t len, size_t piece)
{
	if (!piece)
		piece = len;
	for (size_t off = 0; off < len; off += piece) {
		size_t n = len - off < piece ? len - off : piece;
		struct iovec v[2] = {{(void *)(buf + off), n / 2}, {(void *)(buf + off + n / 2), n - n / 2}};
		int rc = out ? at_myw_out(m, v, 2, n, 1000 + off, 0) : at_myw_in(m, v, 2, n);
		if (rc)
			return rc;
	}
	return 0;
}

/* A connection up to its first command: greeting, handshake, OK. */
static struct at_myw *connected(uint32_t caps, uint32_t ext, size_t piece)
{
	struct at_myw *m = fresh();
	struct buf *b = calloc(1, sizeof *b);
	greeting(b, 0xffffffff & ~1u, 0x1f);
	assert_true(at_myw_looks(b->b, 5));
	assert_int_equal(feed(m, 0, b->b, b->n, piece), 0);
	b->n = 0;
	handshake(b, caps, ext, "app");
	assert_int_equal(feed(m, 1, b->b, b->n, piece), 0);
	b->n = 0;
	ok(b, 2, 2);
	assert_int_equal(feed(m, 0, b->b, b->n, piece), 0);
	free(b);
	return m;
}

/* One command and its response, each in pieces. */
static void turn(struct at_myw *m, const struct buf *out, const struct buf *in, size_t po, size_t pi)
{
	assert_int_equal(feed(m, 1, out->b, out->n, po), 0);
	assert_int_equal(feed(m, 0, in->b, in->n, pi), 0);
}

/* The conversation of the first test, command by command; eofs: the
 * server sends EOF packets (no CLIENT_DEPRECATE_EOF). */
static void conversation(struct at_myw *m, int eofs, size_t po, size_t pi)
{
	struct buf *o = calloc(1, sizeof *o), *i = calloc(1, sizeof *i);
#define TURN()                                                                                \
	do {                                                                                  \
		turn(m, o, i, po, pi);                                                        \
		o->n = i->n = 0;                                                              \
	} while (0)
	command(o, 0x03, "SELECT * FROM t WHERE id = 1");
	result(i, 1, 3, eofs, 2);
	TURN();
	command(o, 0x03, "INSERT INTO t VALUES (3, 'x')");
	ok(i, 1, 2);
	TURN();
	/* LOAD DATA LOCAL: the server asks for the file, the client sends it
	 * (packets numbered on, an empty one last), then the OK; a MariaDB
	 * progress report before it */
	command(o, 0x03, "LOAD DATA LOCAL INFILE 'f' INTO TABLE t");
	packet(i, 1, "\xfb" "f", 2);
	assert_int_equal(feed(m, 1, o->b, o->n, po), 0);
	assert_int_equal(feed(m, 0, i->b, i->n, pi), 0);
	o->n = i->n = 0;
	packet(o, 2, "4\tz\n", 4);
	packet(o, 3, "", 0);
	packet(i, 4, "\xff\xff\xff\x01\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00", 16);
	ok(i, 5, 2);
	TURN();
	command(o, 0x03, "SELECT nope FROM t");
	err(i, 1, 1054, "Unknown column 'nope'");
	TURN();
	command(o, 0x02, "other");
	ok(i, 1, 2);
	TURN();
	/* two results, then the OK of the procedure */
	command(o, 0x03, "CALL p(1)");
	int seq = result(i, 1, 2, eofs, 2 | 0x0008);
	seq = result(i, seq, 1, eofs, 2 | 0x0008);
	ok(i, seq, 2);
	TURN();
	/* prepared: its id 7, a parameter and a column */
	command(o, 0x16, "SELECT v FROM t WHERE id = ?");
	uint8_t pok[12] = {0, 7, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0};
	packet(i, 1, pok, 12);
	coldef(i, 2);
	if (eofs)
		eof(i, 3, 2);
	coldef(i, eofs ? 4 : 3);
	if (eofs)
		eof(i, 5, 2);
	TURN();
	command_id(o, 0x17, 7);
	result(i, 1, 2, eofs, 2);
	TURN();
	command_id(o, 0x19, 7); /* closed: no response */
	command(o, 0x0e, "");   /* ping */
	ok(i, 1, 2);
	TURN();
	command(o, 0x16, "SELECT * FROM missing");
	err(i, 1, 1146, "Table 'app.missing' doesn't exist");
	TURN();
	/* the closed statement's id: executed, no text known */
	command_id(o, 0x17, 7);
	err(i, 1, 1243, "Unknown prepared statement handler");
	TURN();
#undef TURN
	free(o);
	free(i);
}

static void check_conversation(const struct got *g, size_t n)
{
	static const char *names[] = {"SELECT t", "INSERT t", "LOAD",     "SELECT t",
	                              "CALL",     "SELECT t", "SELECT missing", "mariadb"};
	static const char *texts[] = {"SELECT * FROM t WHERE id = ?",
	                              "INSERT INTO t VALUES (?, ?)",
	                              "LOAD DATA LOCAL INFILE ? INTO TABLE t",
	                              "SELECT nope FROM t",
	                              "CALL p(?)",
	                              "SELECT v FROM t WHERE id = ?",
	                              "SELECT * FROM missing",
	                              ""};
	static const char *ns[] = {"app", "app", "app", "app", "other", "other", "other", "other"};
	static const char *codes[] = {"", "", "", "1054", "", "", "1146", "1243"};
	assert_int_equal(n, 8);
	for (size_t k = 0; k < n; k++) {
		assert_string_equal(g[k].name, names[k]);
		assert_string_equal(g[k].text, texts[k]);
		assert_string_equal(g[k].ns, ns[k]);
		assert_string_equal(g[k].code, codes[k]);
		assert_string_equal(g[k].etype, codes[k]);
		assert_int_equal(g[k].error, codes[k][0] != 0);
		assert_string_equal(g[k].addr, "10.1.2.3");
		assert_true(g[k].end >= g[k].start);
	}
}

static void conversation_in_pieces_of_every_size(void **state)
{
	static const size_t pieces[] = {0, 1, 2, 3, 4, 5, 7, 13};
	for (int eofs = 0; eofs < 2; eofs++)
		for (size_t a = 0; a < sizeof pieces / sizeof pieces[0]; a++)
			for (size_t b = 0; b < sizeof pieces / sizeof pieces[0]; b++) {
				uint32_t caps = BASE_CAPS | (eofs ? 0 : CLIENT_DEPRECATE_EOF);
				struct at_myw *m = connected(caps, 0, pieces[a]);
				conversation(m, eofs, pieces[a], pieces[b]);
				assert_false(at_myw_pending(m));
				struct got g[16];
				check_conversation(g, drain(g, 16));
			}
}

/* MariaDB's execute-direct: PREPARE and EXECUTE of "the statement prepared
 * last" (id 0xffffffff) written together; its cached metadata: the
 * second execution's result has none. */
static void prepare_and_execute_together(void **state)
{
	struct at_myw *m = connected(BASE_CAPS, 0x10, 0);
	struct buf *o = calloc(1, sizeof *o), *i = calloc(1, sizeof *i);
	command(o, 0x16, "SELECT v FROM t");
	command_id(o, 0x17, 0xffffffff);
	assert_int_equal(feed(m, 1, o->b, o->n, 0), 0);
	assert_int_equal(m->count, 2);
	uint8_t pok[12] = {0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
	packet(i, 1, pok, 12);
	coldef(i, 2);
	eof(i, 3, 2);
	result(i, 1, 1, 1, 2);
	assert_int_equal(feed(m, 0, i->b, i->n, 3), 0);
	/* executed again by its id: the column count says no metadata */
	o->n = i->n = 0;
	command_id(o, 0x17, 9);
	uint8_t cc[2] = {1, 0};
	packet(i, 1, cc, 2);
	eof(i, 2, 2);
	char row[4] = {0, 0, 1, 'z'};
	packet(i, 3, row, 4);
	eof(i, 4, 2);
	turn(m, o, i, 0, 1);
	assert_false(at_myw_pending(m));
	struct got g[4];
	assert_int_equal(drain(g, 4), 2);
	assert_string_equal(g[0].text, "SELECT v FROM t");
	assert_string_equal(g[1].text, "SELECT v FROM t");
	assert_false(g[0].error || g[1].error);
	free(o);
	free(i);
}

/* TLS or compression asked for: no longer followed, quietly. */
static void tls_and_compression(void **state)
{
	for (int k = 0; k < 2; k++) {
		struct at_myw *m = fresh();
		struct buf *b = calloc(1, sizeof *b);
		greeting(b, 0xffffffff & ~1u, 0);
		assert_int_equal(feed(m, 0, b->b, b->n, 0), 0);
		b->n = 0;
		if (k == 0) { /* the SSL request: 32 bytes */
			char p[32] = {0};
			uint32_t caps = BASE_CAPS | CLIENT_SSL;
			memcpy(p, &caps, 4);
			packet(b, 1, p, 32);
		} else {
			handshake(b, BASE_CAPS | CLIENT_COMPRESS, 0, "app");
		}
		assert_int_equal(feed(m, 1, b->b, b->n, 0), 1);
		free(b);
	}
	assert_int_equal(drain(NULL, 0), 0);
}

/* Out of place: the client speaks first; a response nobody asked for
 * ends the statement under way with no status. */
static void out_of_place(void **state)
{
	struct at_myw *m = fresh();
	struct buf *b = calloc(1, sizeof *b);
	command(b, 0x03, "SELECT 1");
	assert_int_equal(feed(m, 1, b->b, b->n, 0), -1);
	/* not a greeting: protocol 9 */
	m = fresh();
	assert_false(at_myw_looks("\x30\0\0\0\x09", 5));
	assert_false(at_myw_looks("220 ", 4));
	b->n = 0;
	packet(b, 0, "\x09" "5.0\0", 5);
	assert_int_equal(feed(m, 0, b->b, b->n, 0), -1);
	/* two responses to one statement */
	m = connected(BASE_CAPS, 0, 0);
	b->n = 0;
	command(b, 0x03, "SELECT 1");
	assert_int_equal(feed(m, 1, b->b, b->n, 0), 0);
	b->n = 0;
	ok(b, 1, 2);
	ok(b, 1, 2);
	assert_int_equal(feed(m, 0, b->b, b->n, 0), -1);
	struct got g[4];
	assert_int_equal(drain(g, 4), 1);
	assert_false(g[0].error);
	/* a statement under way when the response goes wrong: ends unset */
	m = connected(BASE_CAPS, 0, 0);
	b->n = 0;
	command(b, 0x03, "SELECT 2");
	command(b, 0x03, "SELECT 3");
	assert_int_equal(feed(m, 1, b->b, b->n, 0), 0);
	b->n = 0;
	ok(b, 1, 2);
	packet(b, 1, "", 0); /* empty */
	assert_int_equal(feed(m, 0, b->b, b->n, 0), -1);
	assert_false(at_myw_pending(m));
	assert_int_equal(drain(g, 4), 2);
	assert_string_equal(g[1].text, "SELECT ?");
	assert_false(g[1].error);
	free(b);
}

/* The connection closed by the server, by the application; a kill. */
static void closed_and_killed(void **state)
{
	struct buf *b = calloc(1, sizeof *b);
	command(b, 0x03, "SELECT SLEEP(5)");
	struct got g[4];
	for (int k = 0; k < 3; k++) {
		struct at_myw *m = connected(BASE_CAPS, 0, 0);
		assert_int_equal(feed(m, 1, b->b, b->n, 0), 0);
		assert_true(at_myw_pending(m));
		if (k == 2)
			at_myw_killed(m, "SIGTERM", "killed", 6);
		else
			at_myw_closed(m, k == 0);
		assert_false(at_myw_pending(m));
		assert_int_equal(drain(g, 4), 1);
		assert_true(g[0].error);
		static const char *types[] = {"2013", "MYSQL_NO_RESPONSE", "SIGTERM"};
		assert_string_equal(g[0].etype, types[k]);
		assert_string_equal(g[0].code, k == 0 ? "2013" : "");
		assert_string_equal(g[0].text, "SELECT SLEEP(?)");
	}
	/* a statement written in part when the connection goes */
	struct at_myw *m = connected(BASE_CAPS, 0, 0);
	assert_int_equal(feed(m, 1, b->b, 10, 0), 0);
	assert_true(at_myw_pending(m));
	at_myw_closed(m, 1);
	assert_int_equal(drain(g, 4), 1);
	assert_true(g[0].error);
	free(b);
}

/* A statement longer than a packet (2^24-1 bytes, then the rest), and a
 * row as long: framed across packets; the statement cut, its literals
 * still replaced. */
static void longer_than_a_packet(void **state)
{
	struct at_myw *m = connected(BASE_CAPS, 0, 0);
	size_t total = 0xffffff + 100;
	char *q = malloc(total + 8);
	static const char head[] = "INSERT INTO big VALUES ('";
	memcpy(q, head, sizeof head - 1);
	memset(q + sizeof head - 1, 's', total - (sizeof head - 1) - 2);
	memcpy(q + total - 2, "')", 2);
	/* command byte + text: the first packet 2^24-1 bytes, the next the rest */
	char *w = malloc(total + 16);
	size_t wn = 0;
	uint8_t h1[4] = {0xff, 0xff, 0xff, 0};
	memcpy(w, h1, 4);
	w[4] = 0x03;
	memcpy(w + 5, q, 0xffffff - 1);
	wn = 4 + 0xffffff;
	size_t rest = total - (0xffffff - 1);
	uint8_t h2[4] = {(uint8_t)rest, (uint8_t)(rest >> 8), 0, 1};
	memcpy(w + wn, h2, 4);
	memcpy(w + wn + 4, q + 0xffffff - 1, rest);
	wn += 4 + rest;
	assert_int_equal(feed(m, 1, w, wn, 65536), 0);
	/* a row as long, then the end */
	struct buf *b = calloc(1, sizeof *b);
	uint8_t one = 1;
	packet(b, 1, &one, 1);
	coldef(b, 2);
	eof(b, 3, 2);
	assert_int_equal(feed(m, 0, b->b, b->n, 0), 0);
	memset(w, 0xfe, 4 + 0xffffff); /* a row starting 0xfe: not an end */
	memcpy(w, (uint8_t[]){0xff, 0xff, 0xff, 4}, 4);
	assert_int_equal(feed(m, 0, w, 4 + 0xffffff, 100000), 0);
	b->n = 0;
	packet(b, 5, "abc", 3);
	eof(b, 6, 2);
	assert_true(at_myw_pending(m));
	assert_int_equal(feed(m, 0, b->b, b->n, 0), 0);
	assert_false(at_myw_pending(m));
	struct got g[4];
	assert_int_equal(drain(g, 4), 1);
	assert_string_equal(g[0].name, "INSERT big");
	assert_string_equal(g[0].text, "INSERT INTO big VALUES (?)");
	free(q);
	free(w);
	free(b);
}

/* A statement over 1 KiB in one packet, its table past a long literal
 * (with a doubled quote and an escaped one in it): the literal is left
 * out as it goes by, so the kept text still names the table. */
static void long_literal_before_the_table(void **state)
{
	struct at_myw *m = connected(BASE_CAPS, 0, 0);
	struct buf *o = calloc(1, sizeof *o), *i = calloc(1, sizeof *i);
	char q[8192];
	int n = snprintf(q, sizeof q, "SELECT 'it''s \\' %0*d', \"x\" AS b FROM users WHERE id = 1",
	                 5000, 7);
	assert_true(n > 5000);
	command(o, 0x03, q);
	ok(i, 1, 2);
	turn(m, o, i, 1000, 0);
	struct got g[2];
	assert_int_equal(drain(g, 2), 1);
	assert_string_equal(g[0].name, "SELECT users");
	assert_string_equal(g[0].text, "SELECT ?, ? AS b FROM users WHERE id = ?");
	free(o);
	free(i);
}

int main(int argc, char **argv)
{
	/* the runtime reads its configuration in a constructor: set it, start again */
	if (!getenv("OTEL_BSP_MAX_QUEUE_SIZE")) {
		setenv("OTEL_TRACES_EXPORTER", "none", 1);
		setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4096", 1);
		setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000", 1);
		execv("/proc/self/exe", argv);
		return 1;
	}
	at_cfg.record = AT_FLAG_SAMPLED; /* recorded with no exporter: the test reads them */
	assert_true(at_on());
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(conversation_in_pieces_of_every_size),
	    cmocka_unit_test(prepare_and_execute_together),
	    cmocka_unit_test(tls_and_compression),
	    cmocka_unit_test(out_of_place),
	    cmocka_unit_test(closed_and_killed),
	    cmocka_unit_test(longer_than_a_packet),
	    cmocka_unit_test(long_literal_before_the_table),
	};
	return cmocka_run_group_tests_name("mysql_wire", tests, NULL, NULL);
}
