/* db.query.text for Redis commands: argv and hiredis formats, captured
 * (application thread) then rendered (exporter thread). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "../../hooks/redis_cmd.h"

static int fmt(struct at_redis_cmd *c, int show, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	at_redis_cmd_init(c, show);
	int rc = at_redis_cmd_format(c, f, ap);
	va_end(ap);
	return rc;
}

static void argv_key_shown_values_hidden(void **state)
{
	struct at_redis_cmd c;
	const char *argv[] = {"set", "user:1", "secret value"};
	at_redis_cmd_init(&c, 0);
	at_redis_cmd_argv(&c, 3, argv, NULL);
	assert_string_equal(c.op, "SET");
	assert_string_equal(c.text, "SET user:1 ?");
	assert_int_equal(c.argc, 3);
	assert_int_equal(c.kind, AT_REDIS_PLAIN);

	at_redis_cmd_init(&c, 1);
	at_redis_cmd_argv(&c, 3, argv, NULL);
	assert_string_equal(c.text, "SET user:1 \"secret value\"");
}

static void argv_binary_lengths_escaped(void **state)
{
	struct at_redis_cmd c;
	const char *argv[] = {"GET", "a\0b\"\xff"};
	size_t len[] = {3, 5};
	at_redis_cmd_init(&c, 0);
	at_redis_cmd_argv(&c, 2, argv, len);
	assert_string_equal(c.text, "GET \"a\\x00b\\\"\\xff\"");
}

static void format_interpolation(void **state)
{
	struct at_redis_cmd c;
	assert_int_equal(fmt(&c, 1, "hset %s f%d %b", "h:1", 42, "v\0w", (size_t)3), 0);
	assert_string_equal(c.op, "HSET");
	assert_string_equal(c.text, "HSET h:1 f42 \"v\\x00w\"");
	assert_int_equal(c.argc, 4);

	/* an interpolated value with a space stays one argument */
	assert_int_equal(fmt(&c, 1, "SET k%lld %s", 7LL, "a b"), 0);
	assert_string_equal(c.text, "SET k7 \"a b\"");

	assert_int_equal(fmt(&c, 1, "SET %s %.2f%%  %hhd %ld %05u", "k", 1.5, 3, 9L, 12u), 0);
	assert_string_equal(c.text, "SET k 1.50% 3 9 00012");

	/* values beyond the key hidden by default */
	assert_int_equal(fmt(&c, 0, "SET %s %s EX %d", "k", "v", 10), 0);
	assert_string_equal(c.text, "SET k ? ? ?");

	/* an empty interpolated argument is still an argument */
	assert_int_equal(fmt(&c, 1, "SET %s %s", "k", ""), 0);
	assert_string_equal(c.text, "SET k \"\"");
	assert_int_equal(c.argc, 3);
}

static void format_rejected_like_hiredis(void **state)
{
	struct at_redis_cmd c;
	assert_int_equal(fmt(&c, 0, "GET %zu", (size_t)1), -1);
	assert_int_equal(fmt(&c, 0, "GET %p", (void *)&c), -1);
}

static void secrets_and_kinds(void **state)
{
	struct at_redis_cmd c;
	assert_int_equal(fmt(&c, 1, "AUTH %s %s", "user", "pw"), 0);
	assert_string_equal(c.text, "AUTH ? ?");
	assert_int_equal(c.kind, AT_REDIS_AUTH);

	assert_int_equal(fmt(&c, 0, "select %d", 3), 0);
	assert_int_equal(c.kind, AT_REDIS_SELECT);
	assert_int_equal(c.select_db, 3);
	assert_string_equal(c.op, "SELECT");

	assert_int_equal(fmt(&c, 0, "SELECT x"), 0);
	assert_int_equal(c.select_db, -1);

	assert_int_equal(at_redis_fmt_kind("  Subscribe %s"), AT_REDIS_PUBSUB);
	assert_int_equal(at_redis_fmt_kind("MONITOR"), AT_REDIS_PUBSUB);
	assert_int_equal(at_redis_fmt_kind("SELECT %d"), AT_REDIS_SELECT);
	assert_int_equal(at_redis_fmt_kind("%s k"), AT_REDIS_UNKNOWN);
	assert_int_equal(at_redis_fmt_kind("GET k"), AT_REDIS_PLAIN);
	assert_int_equal(at_redis_kind_of("SELECTX", 7), AT_REDIS_PLAIN);
}

static void long_text_truncated(void **state)
{
	struct at_redis_cmd c;
	char big[1000];
	memset(big, 'k', sizeof big - 1);
	big[sizeof big - 1] = 0;
	assert_int_equal(fmt(&c, 1, "SET %s %s", big, "v"), 0);
	assert_true(c.full);
	assert_int_equal(c.text_len, AT_REDIS_TEXT_MAX - 1);
	assert_int_equal(strlen(c.text), c.text_len);
	assert_memory_equal(c.text + c.text_len - 3, "...", 3);
	assert_memory_equal(c.text, "SET kkk", 7);

	/* many arguments: the text stops, the parse does not overrun */
	const char *argv[200];
	for (int i = 0; i < 200; i++)
		argv[i] = "value";
	argv[0] = "RPUSH";
	at_redis_cmd_init(&c, 1);
	at_redis_cmd_argv(&c, 200, argv, NULL);
	assert_true(c.full);
	assert_int_equal(strlen(c.text), AT_REDIS_TEXT_MAX - 1);
}

static void resp_formatted(void **state)
{
	struct at_redis_cmd c;
	static const char cmd[] = "*3\r\n$3\r\nset\r\n$3\r\nk:1\r\n$4\r\na\r\nb\r\n";
	at_redis_cmd_init(&c, 1);
	assert_int_equal(at_redis_cmd_resp(&c, cmd, sizeof cmd - 1), 0);
	assert_string_equal(c.op, "SET");
	assert_string_equal(c.text, "SET k:1 \"a\\x0d\\x0ab\"");
	assert_int_equal(c.argc, 3);

	at_redis_cmd_init(&c, 0);
	assert_int_equal(at_redis_cmd_resp(&c, "PING\r\n", 6), -1);
	at_redis_cmd_init(&c, 0);
	assert_int_equal(at_redis_cmd_resp(&c, cmd, 20), -1); /* cut inside an argument */
	at_redis_cmd_init(&c, 0);
	assert_int_equal(at_redis_cmd_resp(&c, "*1\r\n$99\r\nGET\r\n", 15), -1);
}

/* The capture keeps what the text can show: a run of hidden values is one
 * counted entry, a secret never reaches the blob. */
static void capture_hides_values(void **state)
{
	char blob[AT_REDIS_CAP_MAX];
	struct at_redis_cap cap;
	struct at_redis_cmd c;
	struct at_redis_conninfo ci;
	const char *argv[1000];
	for (int i = 0; i < 1000; i++)
		argv[i] = "a-long-value-that-is-never-shown";
	argv[0] = "rpush";
	argv[1] = "list:1";
	assert_int_equal(at_redis_cap_init(&cap, blob, sizeof blob, 0, "db.local", 8, 6380, 4), 0);
	at_redis_cap_argv(&cap, 1000, argv, NULL);
	assert_true(cap.len < 64); /* head, address, two arguments and one run */
	assert_int_equal(at_redis_blob_read(&c, &ci, blob, cap.len), 0);
	assert_memory_equal(c.text, "RPUSH list:1 ? ? ?", 18);
	assert_true(c.full);
	assert_int_equal(c.text_len, AT_REDIS_TEXT_MAX - 1);
	assert_memory_equal(c.text + c.text_len - 3, "...", 3);
	assert_int_equal(ci.addr_len, 8);
	assert_memory_equal(ci.addr, "db.local", 8);
	assert_int_equal(ci.port, 6380);
	assert_int_equal(ci.db, 4);
	at_redis_cap_set_db(blob, 11);
	assert_int_equal(at_redis_blob_read(&c, &ci, blob, cap.len), 0);
	assert_int_equal(ci.db, 11);
	at_redis_cap_set_db(blob, -1);
	assert_int_equal(at_redis_blob_read(&c, &ci, blob, cap.len), 0);
	assert_int_equal(ci.db, -1);

	/* AUTH's arguments are not copied, whatever AUTOTRACE_REDIS_ARGS says */
	const char *auth[] = {"AUTH", "admin", "hunter2"};
	at_redis_cap_init(&cap, blob, sizeof blob, 1, NULL, 0, 0, -1);
	at_redis_cap_argv(&cap, 3, auth, NULL);
	assert_null(memmem(blob, cap.len, "hunter2", 7));
	assert_null(memmem(blob, cap.len, "admin", 5));
	assert_int_equal(cap.kind, AT_REDIS_AUTH);
	at_redis_blob_read(&c, &ci, blob, cap.len);
	assert_string_equal(c.text, "AUTH ? ?");
	assert_int_equal(ci.addr_len, 0);
	assert_int_equal(ci.port, 0);
}

/* A blob with little room (the span's arena nearly full) is cut, marked so,
 * and the text says so; nothing is written past the room. */
static void capture_in_little_room(void **state)
{
	char blob[64];
	struct at_redis_cap cap;
	struct at_redis_cmd c;
	struct at_redis_conninfo ci;
	memset(blob, 0x5a, sizeof blob);
	const char *argv[] = {"SET", "a-key-longer-than-the-room-left-for-it", "v"};
	assert_int_equal(at_redis_cap_init(&cap, blob, 30, 1, "h", 1, 1, -1), 0);
	at_redis_cap_argv(&cap, 3, argv, NULL);
	assert_true(cap.len <= 30);
	for (size_t i = 30; i < sizeof blob; i++)
		assert_int_equal(blob[i], 0x5a);
	assert_int_equal(at_redis_blob_read(&c, &ci, blob, cap.len), 0);
	assert_memory_equal(c.text, "SET a-key", 9);
	assert_memory_equal(c.text + c.text_len - 3, "...", 3);
	/* no room even for the head and the address */
	assert_int_equal(at_redis_cap_init(&cap, blob, 9, 0, "host", 4, 1, -1), -1);
}

/* The exporter reads blobs it did not write only if they are well formed. */
static void corrupt_blob_rejected(void **state)
{
	char blob[AT_REDIS_CAP_MAX];
	struct at_redis_cap cap;
	struct at_redis_cmd c;
	struct at_redis_conninfo ci;
	const char *argv[] = {"GET", "k"};
	at_redis_cap_init(&cap, blob, sizeof blob, 0, "host", 4, 1, -1);
	at_redis_cap_argv(&cap, 2, argv, NULL);
	for (size_t n = 0; n < cap.len; n++) {
		int rc = at_redis_blob_read(&c, &ci, blob, n);
		if (rc == 0) /* only cuts between whole entries read */
			assert_true(n == AT_REDIS_CAP_HEAD + 4 || n == AT_REDIS_CAP_HEAD + 4 + 6);
	}
	blob[AT_REDIS_CAP_HEAD + 4 + 1] = 100; /* an entry longer than the blob */
	assert_int_equal(at_redis_blob_read(&c, &ci, blob, cap.len), -1);
	blob[1] = (char)200; /* an address longer than the blob */
	assert_int_equal(at_redis_blob_read(&c, &ci, blob, cap.len), -1);
}

/* ---- the rendering against a plain reference: byte by byte, every piece
 * through one bounded append (what the text shows when cut) ---- */

struct ref_text {
	char t[AT_REDIS_TEXT_MAX];
	size_t n;
	int full;
};

static void ref_put(struct ref_text *r, const char *s, size_t n)
{
	if (r->full)
		return;
	size_t room = AT_REDIS_TEXT_MAX - 4 - r->n;
	if (n > room) {
		memcpy(r->t + r->n, s, room);
		memcpy(r->t + r->n + room, "...", 3);
		r->n += room + 3;
		r->full = 1;
		return;
	}
	memcpy(r->t + r->n, s, n);
	r->n += n;
}

static void ref_arg(struct ref_text *r, const unsigned char *a, size_t n)
{
	int quote = !n;
	for (size_t i = 0; i < n; i++)
		if (a[i] <= ' ' || a[i] >= 0x7f || a[i] == '"' || a[i] == '\\')
			quote = 1;
	if (!quote) {
		ref_put(r, (const char *)a, n);
		return;
	}
	ref_put(r, "\"", 1);
	for (size_t i = 0; i < n && !r->full; i++) {
		char e[8];
		if (a[i] == '"' || a[i] == '\\')
			snprintf(e, sizeof e, "\\%c", a[i]);
		else if (a[i] < ' ' || a[i] >= 0x7f)
			snprintf(e, sizeof e, "\\x%02x", a[i]);
		else
			snprintf(e, sizeof e, "%c", a[i]);
		ref_put(r, e, strlen(e));
	}
	ref_put(r, "\"", 1);
}

static uint64_t seed = 0x2545f4914f6cdd1dull;

static unsigned rnd(unsigned n)
{
	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	return (unsigned)(seed % n);
}

/* Random commands with every argument shown, read back from their blob:
 * names in any case with bytes that need quotes, arguments with and
 * without, lengths up to and past what the text holds. */
static void render_matches_reference(void **state)
{
	static const char pool[] = "abcxyzABCXYZ019:_-.\" \\\x01\x7f\x80\xff";
	for (int round = 0; round < 20000; round++) {
		char args[6][300];
		const char *argv[6];
		size_t len[6];
		int argc = 1 + (int)rnd(5);
		for (int i = 0; i < argc; i++) {
			size_t n = rnd(4) ? rnd(12) : rnd(i ? 300 : 40);
			int plain = rnd(3) != 0;
			for (size_t k = 0; k < n; k++)
				args[i][k] = plain ? pool[rnd(12)] : pool[rnd(sizeof pool - 1)];
			argv[i] = args[i];
			len[i] = n;
		}
		if (argc && len[0] && !rnd(8))
			memcpy(args[0], "auth", len[0] < 4 ? len[0] : 4);
		char blob[AT_REDIS_CAP_MAX];
		struct at_redis_cap cap;
		at_redis_cap_init(&cap, blob, sizeof blob, 1, "host", 4, 6379, 0);
		at_redis_cap_argv(&cap, argc, argv, len);
		struct at_redis_cmd c;
		struct at_redis_conninfo ci;
		assert_int_equal(at_redis_blob_read(&c, &ci, blob, cap.len), 0);
		/* the reference reads the same blob's entries */
		struct ref_text r = {{0}, 0, 0};
		char op[AT_REDIS_OP_MAX];
		size_t opn = 0;
		const char *p = blob + AT_REDIS_CAP_HEAD + 4, *end = blob + cap.len;
		for (int i = 0; end - p >= 3 && !r.full; i++) {
			unsigned f = (unsigned char)p[0];
			size_t n = (size_t)(unsigned char)p[1] | (size_t)(unsigned char)p[2] << 8;
			p += 3;
			if (f & 2) { /* hidden: n of them */
				for (size_t k = 0; k < n && !r.full; k++)
					ref_put(&r, " ?", 2);
				continue;
			}
			if (i == 0) {
				opn = n < AT_REDIS_OP_MAX - 1 ? n : AT_REDIS_OP_MAX - 1;
				for (size_t k = 0; k < opn; k++)
					op[k] =
					    p[k] >= 'a' && p[k] <= 'z' ? (char)(p[k] - 32) : p[k];
				ref_arg(&r, (const unsigned char *)op, opn);
			} else {
				ref_put(&r, " ", 1);
				ref_arg(&r, (const unsigned char *)p, n);
				if (f & 1)
					ref_put(&r, "...", 3);
			}
			p += n;
		}
		if ((blob[0] & 2) && !r.full)
			ref_put(&r, "...", 3);
		assert_int_equal(c.op_len, opn);
		assert_memory_equal(c.op, op, opn);
		assert_int_equal(c.op[opn], 0);
		assert_int_equal(c.text_len, r.n);
		assert_memory_equal(c.text, r.t, r.n);
		assert_int_equal(c.text[c.text_len], 0);
		assert_int_equal(c.full, r.full);
	}
}

/* An argument longer than the text shows, in a blob with less room than
 * that: the text is cut once, with one "..." (it used to get the
 * argument's and the blob's, "......"). */
static void cut_shows_once(void **state)
{
	char big[300];
	memset(big, 'a', sizeof big);
	const char *argv[] = {"set", big};
	size_t len[] = {3, sizeof big};
	char blob[AT_REDIS_CAP_MAX];
	struct at_redis_cap cap;
	at_redis_cap_init(&cap, blob, 100, 1, "host", 4, 6379, 0);
	at_redis_cap_argv(&cap, 2, argv, len);
	struct at_redis_cmd c;
	struct at_redis_conninfo ci;
	assert_int_equal(at_redis_blob_read(&c, &ci, blob, cap.len), 0);
	assert_true(c.text_len > 10);
	assert_memory_equal(c.text, "SET aaaa", 8);
	assert_string_equal(c.text + c.text_len - 4, "a...");
}

/* A format and the argv it stands for capture the same blob: random
 * commands of literal words, %s (values with spaces too), %b (any bytes)
 * and %%, shown or hidden, in any room. The hook captures formats (its
 * fast path) and the argv form (the reference here) by different code. */
static int cap_fmt_call(struct at_redis_cap *cap, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int rc = at_redis_cap_format(cap, f, ap);
	va_end(ap);
	return rc;
}

/* Two blobs render the same: text, name, argument count, connection. */
static void assert_same_rendering(const char *b1, size_t n1, const char *b2, size_t n2)
{
	struct at_redis_cmd c1, c2;
	struct at_redis_conninfo i1, i2;
	assert_int_equal(at_redis_blob_read(&c1, &i1, b1, n1), 0);
	assert_int_equal(at_redis_blob_read(&c2, &i2, b2, n2), 0);
	assert_int_equal(c1.text_len, c2.text_len);
	assert_string_equal(c1.text, c2.text);
	assert_string_equal(c1.op, c2.op);
	assert_int_equal(c1.argc, c2.argc);
	assert_int_equal(i1.addr_len, i2.addr_len);
	assert_memory_equal(i1.addr, i2.addr, i1.addr_len);
	assert_int_equal(i1.port, i2.port);
	assert_int_equal(i1.db, i2.db);
}

static void format_matches_argv(void **state)
{
	int literal = 0; /* formats the words capture took */
	static const char lit[] = "abcxyzABCXYZ019:_-.\"\\\x01\x7f\x80\xff";
	static const char val[] = "abcXYZ 09:_\"\\\x01\x7f\x80\xff";
	for (int round = 0; round < 20000; round++) {
		char f[512], args[8][320], vals[16][300];
		const char *argv[8];
		size_t len[8];
		uintptr_t va[16] = {0};
		size_t fn = 0, nv = 0;
		int argc = 1 + (int)rnd(6);
		for (int i = 0; i < argc; i++) {
			len[i] = 0;
			argv[i] = args[i];
			if (i) /* one space or more between arguments */
				for (unsigned sp = 1 + (rnd(4) ? 0 : rnd(3)); sp; sp--)
					f[fn++] = ' ';
			static const char *const named[] = {"auth", "AUTH", "select", "Hello",
			                                    "monitor"};
			if (!i && !rnd(6)) { /* secrets, a database, a subscription */
				const char *w = named[rnd(5)];
				len[0] = strlen(w);
				memcpy(args[0], w, len[0]);
				memcpy(f, w, len[0]);
				fn = len[0];
				continue;
			}
			if (i == 1 && len[0] == 6 && !rnd(2)) { /* SELECT's database */
				int n = sprintf(args[1], "%u", rnd(20));
				memcpy(f + fn, args[1], (size_t)n);
				fn += (size_t)n;
				len[1] = (size_t)n;
				continue;
			}
			int pieces = 1 + (int)rnd(3);
			for (int k = 0; k < pieces; k++) {
				unsigned what = rnd(i ? 4 : 2);
				if (what == 0 || (nv >= 14 && what >= 2)) { /* literal bytes */
					size_t n = 1 + rnd(k ? 6 : 10);
					for (size_t j = 0; j < n; j++) {
						char ch = lit[rnd(sizeof lit - 1)];
						f[fn++] = args[i][len[i]++] = ch;
					}
				} else if (what == 1) { /* %% */
					f[fn++] = '%';
					f[fn++] = '%';
					args[i][len[i]++] = '%';
				} else if (what == 2) { /* %s: no NUL, spaces allowed */
					size_t n = rnd(4) ? rnd(12) : rnd(280);
					char *v = vals[nv];
					for (size_t j = 0; j < n; j++)
						v[j] = val[rnd(sizeof val - 1)];
					v[n] = 0;
					if (len[i] + n > sizeof args[i])
						n = 0, v[0] = 0;
					memcpy(args[i] + len[i], v, n);
					len[i] += n;
					va[nv++] = (uintptr_t)v;
					f[fn++] = '%';
					f[fn++] = 's';
				} else { /* %b: any bytes, NUL included */
					size_t n = rnd(4) ? rnd(12) : rnd(280);
					if (len[i] + n > sizeof args[i])
						n = 0;
					char *v = vals[nv];
					for (size_t j = 0; j < n; j++)
						v[j] = (char)rnd(256);
					memcpy(args[i] + len[i], v, n);
					len[i] += n;
					va[nv++] = (uintptr_t)v;
					va[nv++] = (uintptr_t)n;
					f[fn++] = '%';
					f[fn++] = 'b';
				}
			}
		}
		f[fn] = 0;
		int show = (int)rnd(2);
		size_t room = rnd(3) ? AT_REDIS_CAP_MAX : AT_REDIS_CAP_HEAD + 4 + rnd(200);
		char b1[AT_REDIS_CAP_MAX], b2[AT_REDIS_CAP_MAX];
		struct at_redis_cap c1, c2;
		at_redis_cap_init(&c1, b1, room, show, "host", 4, 6379, 3);
		at_redis_cap_init(&c2, b2, room, show, "host", 4, 6379, 3);
		assert_int_equal(cap_fmt_call(&c1, f, va[0], va[1], va[2], va[3], va[4], va[5],
		                              va[6], va[7], va[8], va[9], va[10], va[11], va[12],
		                              va[13], va[14], va[15]),
		                 0);
		at_redis_cap_argv(&c2, argc, argv, len);
		assert_int_equal(c1.len, c2.len);
		assert_memory_equal(b1, b2, c1.len);
		assert_int_equal(c1.kind, c2.kind);
		assert_int_equal(c1.select_db, c2.select_db);
		/* a format without conversions: the words capture, when it takes
		 * it, makes another blob (the words as they are) that renders the
		 * same text, name and connection facts */
		char b3[AT_REDIS_CAP_MAX];
		size_t n3 =
		    at_redis_cap_words(b3, room, at_redis_cap_head(show, 4, 6379, 3), "host", 4, f);
		if (n3) {
			assert_null(strchr(f, '%'));
			assert_int_equal(c2.kind, AT_REDIS_PLAIN);
			assert_true(n3 <= room);
			assert_same_rendering(b3, n3, b2, c2.len);
			literal++;
		}
	}
	assert_true(literal > 500);
}

/* Which formats the words capture takes, and which it leaves to
 * cap_format: secrets, a database, a subscription, a name that may be one
 * of those (its letter and length match one: HMGET), a conversion, a text
 * that could be cut, too little room. What it takes renders as cap_format's
 * capture does. */
static void words_formats(void **state)
{
	static const struct {
		const char *fmt;
		int show, taken;
	} cases[] = {
	    {"PING", 0, 1},          {"  GET   key  ", 0, 1},      {"SET k v1 v2 v3", 0, 1},
	    {"SET k v1 v2 v3", 1, 1}, {"MSET a 1 b 2 c", 0, 1},   {"get \"q\" \x01\x80", 0, 1},
	    {"AUTH secret", 0, 0},   {"auth user pw", 1, 0},      {"HELLO 3 AUTH u p", 0, 0},
	    {"SELECT 2", 0, 0},      {"SUBSCRIBE ch", 0, 0},      {"HMGET h a b", 0, 0},
	    {"GET %s", 0, 0},        {"SET k 100%", 1, 0},        {"", 0, 0},
	    {"   ", 0, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char b1[AT_REDIS_CAP_MAX], b2[AT_REDIS_CAP_MAX];
		struct at_redis_cap c2;
		size_t n1 = at_redis_cap_words(b1, sizeof b1, at_redis_cap_head(cases[i].show, 1, 1, 7),
		                               "h", 1, cases[i].fmt);
		assert_int_equal(n1 != 0, cases[i].taken);
		if (!n1)
			continue;
		at_redis_cap_init(&c2, b2, sizeof b2, cases[i].show, "h", 1, 1, 7);
		assert_int_equal(cap_fmt_call(&c2, cases[i].fmt), 0);
		assert_same_rendering(b1, n1, b2, c2.len);
	}
	/* the text a PING of hidden values renders */
	char b[AT_REDIS_CAP_MAX];
	struct at_redis_cmd c;
	struct at_redis_conninfo ci;
	size_t n = at_redis_cap_words(b, sizeof b, at_redis_cap_head(0, 0, 0, -1), NULL, 0,
	                              " rpush  list:1 a  b c ");
	assert_int_equal(at_redis_blob_read(&c, &ci, b, n), 0);
	assert_string_equal(c.text, "RPUSH list:1 ? ? ?");
	assert_string_equal(c.op, "RPUSH");
	assert_int_equal(ci.addr_len, 0);
	assert_int_equal(ci.db, -1);
	/* a long text, or too little room for it: cap_format, which cuts */
	char f[AT_REDIS_WORDS_MAX + 2];
	memset(f, 'x', sizeof f - 1);
	f[sizeof f - 1] = 0;
	memcpy(f, "GET ", 4);
	uint64_t h = at_redis_cap_head(1, 1, 1, -1);
	assert_int_equal(at_redis_cap_words(b, sizeof b, h, "h", 1, f), 0);
	f[sizeof f - 2] = 0; /* AT_REDIS_WORDS_MAX bytes: taken */
	assert_int_equal(at_redis_cap_words(b, sizeof b, h, "h", 1, f),
	                 AT_REDIS_CAP_HEAD + 1 + 3 + AT_REDIS_WORDS_MAX);
	memset(b, 0x5a, sizeof b);
	assert_int_equal(at_redis_cap_words(b, AT_REDIS_CAP_HEAD + 1 + 3 + 12, h, "h", 1,
	                                    "GET keykeykey"),
	                 0);
	assert_int_equal(at_redis_cap_words(b, AT_REDIS_CAP_HEAD + 1 + 3 + 13, h, "h", 1,
	                                    "GET keykeykey"),
	                 AT_REDIS_CAP_HEAD + 1 + 3 + 13);
	assert_int_equal((unsigned char)b[AT_REDIS_CAP_HEAD + 1 + 3 + 13], 0x5a); /* not past it */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(argv_key_shown_values_hidden),
	    cmocka_unit_test(argv_binary_lengths_escaped),
	    cmocka_unit_test(format_interpolation),
	    cmocka_unit_test(format_rejected_like_hiredis),
	    cmocka_unit_test(secrets_and_kinds),
	    cmocka_unit_test(long_text_truncated),
	    cmocka_unit_test(resp_formatted),
	    cmocka_unit_test(capture_hides_values),
	    cmocka_unit_test(capture_in_little_room),
	    cmocka_unit_test(corrupt_blob_rejected),
	    cmocka_unit_test(render_matches_reference),
	    cmocka_unit_test(format_matches_argv),
	    cmocka_unit_test(words_formats),
	    cmocka_unit_test(cut_shows_once),
	};
	return cmocka_run_group_tests_name("redis_cmd", tests, NULL, NULL);
}
