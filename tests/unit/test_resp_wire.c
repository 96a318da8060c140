/* Redis read off the wire (hooks/resp_wire.c): commands as a client writes
 * them and replies as it reads them, in pieces of every size, give one span
 * per command, in order, with the reply's outcome; pushes and attributes
 * are not replies; what is not RESP, a reply nobody asked for, an inline
 * command, a full ring, a subscription and a closed connection each end
 * the way resp_wire.h says. Spans are read back from the queue (no
 * exporter) and rendered as the exporter thread would. */
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

#include "../../hooks/resp_wire.h"
#include "../../preload/autotrace.h"
#include "../../reporter/queue.h"

struct got {
	char name[64];
	char text[300];
	char ns[16];
	char code[32]; /* db.response.status_code, error.type */
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
			if (s->attrs[j].type == AT_ATTR_DEFER && s->attrs[j].render == AT_RENDER_REDIS)
				at_redis_render(s, &s->attrs[j]);
		if (k == max)
			continue;
		struct got *o = &g[k++];
		memset(o, 0, sizeof *o);
		size_t nl = s->name.len < sizeof o->name - 1 ? s->name.len : sizeof o->name - 1;
		memcpy(o->name, at_span_str(s, s->name), nl);
		str_attr(s, "db.query.text", o->text, sizeof o->text);
		str_attr(s, "db.namespace", o->ns, sizeof o->ns);
		str_attr(s, "db.response.status_code", o->code, sizeof o->code);
		o->error = s->status == AT_STATUS_ERROR;
		o->start = s->start_ns;
		o->end = s->end_ns;
	}
	at_queue_release(n);
	return k;
}

static struct at_resp *fresh(void)
{
	static struct at_resp r;
	at_resp_init(&r, "10.1.2.3", 8, 6380);
	drain(NULL, 0);
	return &r;
}

/* len bytes of buf, written (out) or read in pieces of `piece` bytes
 * (0: whole), two iovecs a call where the piece allows; the first call's
 * return that is not 0. */
static int feed(struct at_resp *r, int out, const char *buf, size_t len, size_t piece)
{
	if (!piece)
		piece = len;
	for (size_t off = 0; off < len; off += piece) {
		size_t n = len - off < piece ? len - off : piece;
		struct iovec v[2] = {{(void *)(buf + off), n / 2}, {(void *)(buf + off + n / 2), n - n / 2}};
		int rc = out ? at_resp_out(r, v, 2, n, 1000 + off, 0) : at_resp_in(r, v, 2, n);
		if (rc)
			return rc;
	}
	return 0;
}

static const char pipeline_out[] =
    "*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n"
    "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n"
    "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
    "*3\r\n$5\r\nLPUSH\r\n$1\r\nk\r\n$1\r\nx\r\n"
    "*2\r\n$7\r\nHGETALL\r\n$1\r\nh\r\n"
    "*1\r\n$4\r\nPING\r\n"
    "*3\r\n$4\r\nAUTH\r\n$4\r\nuser\r\n$8\r\nsecretpw\r\n"
    "*2\r\n$3\r\nGET\r\n$0\r\n\r\n";
static const char pipeline_in[] =
    "+OK\r\n"
    "+OK\r\n"
    "$5\r\nvalue\r\n"
    "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    /* a push in between: not a reply */
    ">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n"
    "%2\r\n$1\r\na\r\n*2\r\n:1\r\n_\r\n$1\r\nb\r\n$-1\r\n"
    /* an attribute, then the reply */
    "|1\r\n+ttl\r\n:3\r\n+PONG\r\n"
    "!21\r\nWRONGPASS invalid pw\n\r\n"
    "$-1\r\n";

static void check_pipeline(const struct got *g, size_t n)
{
	static const char *names[] = {"SELECT", "SET", "GET", "LPUSH", "HGETALL", "PING", "AUTH", "GET"};
	static const char *texts[] = {"SELECT 2", "SET k ?", "GET k", "LPUSH k ?",
	                              "HGETALL h", "PING", "AUTH ? ?", "GET \"\""};
	assert_int_equal(n, 8);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(g[i].name, names[i]);
		assert_string_equal(g[i].text, texts[i]);
		/* the database a SELECT chose, once its reply said so */
		assert_string_equal(g[i].ns, "2");
		assert_int_equal(g[i].error, i == 3 || i == 6);
		assert_true(g[i].end >= g[i].start);
	}
	assert_string_equal(g[3].code, "WRONGTYPE");
	assert_string_equal(g[6].code, "WRONGPASS");
}

static void pipeline_in_pieces_of_every_size(void **state)
{
	static const size_t pieces[] = {0, 1, 2, 3, 5, 8, 13};
	for (size_t a = 0; a < sizeof pieces / sizeof pieces[0]; a++)
		for (size_t b = 0; b < sizeof pieces / sizeof pieces[0]; b++) {
			struct at_resp *r = fresh();
			assert_int_equal(feed(r, 1, pipeline_out, sizeof pipeline_out - 1, pieces[a]), 0);
			assert_int_equal(r->sent, 8);
			assert_int_equal(feed(r, 0, pipeline_in, sizeof pipeline_in - 1, pieces[b]), 0);
			assert_int_equal(r->replied, 8);
			assert_false(at_resp_pending(r));
			struct got g[16];
			check_pipeline(g, drain(g, 16));
		}
	/* the secret never reached the capture */
	struct at_resp *r = fresh();
	feed(r, 1, pipeline_out, sizeof pipeline_out - 1, 0);
	for (unsigned i = 0; i < r->count; i++) {
		const struct at_resp_slot *sl = &r->slot[(r->head + i) % AT_RESP_SLOTS];
		assert_null(memmem(sl->blob, sl->len, "secretpw", 8));
		assert_null(memmem(sl->blob, sl->len, "value", 5));
	}
	at_resp_desync(r);
	drain(NULL, 0);
}

/* One command at a time, each reply before the next command: a span's
 * start is its write's, its end after the reply. */
static void request_reply_in_turn(void **state)
{
	struct at_resp *r = fresh();
	for (int i = 0; i < 3; i++) {
		static const char get[] = "*2\r\n$3\r\nGET\r\n$3\r\nabc\r\n";
		assert_int_equal(feed(r, 1, get, sizeof get - 1, 4), 0);
		assert_true(at_resp_pending(r));
		assert_int_equal(feed(r, 0, "$3\r\nxyz\r\n", 9, 1), 0);
		assert_false(at_resp_pending(r));
	}
	struct got g[4];
	assert_int_equal(drain(g, 4), 3);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(g[i].text, "GET abc");
		assert_string_equal(g[i].ns, "0");
		assert_int_equal(g[i].start, 1000); /* the first piece's t0 */
	}
}

static void garbage_ends_what_is_under_way(void **state)
{
	struct at_resp *r = fresh();
	static const char two[] = "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n";
	assert_int_equal(feed(r, 1, two, sizeof two - 1, 0), 0);
	assert_int_equal(feed(r, 0, "+PONG\r\n?what\r\n", 14, 0), -1);
	struct got g[4];
	assert_int_equal(drain(g, 4), 2);
	assert_int_equal(g[0].error, 0);
	assert_int_equal(g[1].error, 0); /* ended with no status: out of step */
	assert_false(at_resp_pending(r));
}

static void reply_nobody_asked_for(void **state)
{
	struct at_resp *r = fresh();
	assert_int_equal(feed(r, 1, "*1\r\n$4\r\nPING\r\n", 14, 0), 0);
	assert_int_equal(feed(r, 0, "+PONG\r\n+PONG\r\n", 14, 0), -1);
	struct got g[4];
	assert_int_equal(drain(g, 4), 1);
}

static void not_a_command(void **state)
{
	struct at_resp *r = fresh();
	/* "*0": nothing is answered, the next command is */
	assert_int_equal(feed(r, 1, "*0\r\n*1\r\n$4\r\nPING\r\n", 18, 0), 0);
	assert_int_equal(r->sent, 1);
	assert_int_equal(feed(r, 0, "+PONG\r\n", 7, 0), 0);
	/* an inline command cannot be followed */
	assert_int_equal(feed(r, 1, "PING\r\n", 6, 0), -1);
	struct got g[4];
	assert_int_equal(drain(g, 4), 1);
	/* nor a bulk whose length is not a number: the command begun is not
	 * one, no span */
	r = fresh();
	assert_int_equal(feed(r, 1, "*1\r\n$x\r\n", 8, 0), -1);
	assert_int_equal(drain(g, 4), 0);
	assert_true(at_resp_looks("*1\r\n$4\r\nPING\r\n", 14));
	assert_true(at_resp_looks("*12\r\n$", 6));
	assert_true(at_resp_looks("*1\r\n", 4));
	assert_true(at_resp_looks("*", 1)); /* one byte a write */
	assert_false(at_resp_looks("*\r\n$", 4));
	assert_false(at_resp_looks("*1\n", 3));
	assert_false(at_resp_looks("*\x00\x00\x01", 4)); /* a MySQL packet of 42 bytes */
	assert_false(at_resp_looks("GET / HTTP/1.1\r\n", 16));
	assert_false(at_resp_looks("*1\r\n*", 5));
	assert_false(at_resp_looks("*99999999\r\n$", 12));
}

/* More commands under way than the ring holds: the rest are counted, not
 * traced, and the replies still go to the right commands. */
static void ring_full(void **state)
{
	struct at_resp *r = fresh();
	static const char ping[] = "*1\r\n$4\r\nPING\r\n";
	for (int i = 0; i < AT_RESP_SLOTS + 8; i++)
		assert_int_equal(feed(r, 1, ping, sizeof ping - 1, 0), 0);
	assert_int_equal(r->count, AT_RESP_SLOTS);
	assert_int_equal(r->untraced, 8);
	for (int i = 0; i < 20; i++)
		assert_int_equal(feed(r, 0, "+PONG\r\n", 7, 0), 0);
	/* room again: the next command is traced, behind 8 that are not */
	static const char get[] = "*2\r\n$3\r\nGET\r\n$1\r\nq\r\n";
	assert_int_equal(feed(r, 1, get, sizeof get - 1, 0), 0);
	assert_int_equal(r->count, AT_RESP_SLOTS - 20 + 1);
	for (int i = 20; i < AT_RESP_SLOTS + 8; i++)
		assert_int_equal(feed(r, 0, "+PONG\r\n", 7, 0), 0);
	assert_int_equal(feed(r, 0, "-ERR nope\r\n", 11, 0), 0);
	struct got g[64];
	size_t n = drain(g, 64);
	assert_int_equal(n, AT_RESP_SLOTS + 1);
	assert_string_equal(g[n - 1].text, "GET q");
	assert_int_equal(g[n - 1].error, 1);
	assert_string_equal(g[n - 1].code, "ERR");
}

static void subscription_stops_following(void **state)
{
	for (int resp3 = 0; resp3 < 2; resp3++) {
		struct at_resp *r = fresh();
		static const char sub[] = "*1\r\n$4\r\nPING\r\n"
		                          "*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$1\r\nb\r\n"
		                          "*1\r\n$4\r\nPING\r\n";
		assert_int_equal(feed(r, 1, sub, sizeof sub - 1, 0), 0);
		const char *in = resp3 ? "+PONG\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
		                       : "+PONG\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n";
		assert_int_equal(feed(r, 0, in, strlen(in), 0), 1);
		struct got g[4];
		assert_int_equal(drain(g, 4), 2);
		assert_string_equal(g[1].name, "SUBSCRIBE");
		assert_int_equal(g[1].error, 0);
		assert_false(at_resp_pending(r)); /* the PING after it: dropped */
	}
}

static void closed_and_killed(void **state)
{
	static const char two[] = "*2\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n*1\r\n$4\r\nPING\r\n";
	struct got g[4];
	struct at_resp *r = fresh();
	feed(r, 1, two, sizeof two - 1, 0);
	at_resp_closed(r, 1);
	assert_int_equal(drain(g, 4), 2);
	assert_int_equal(g[0].error, 1);
	assert_int_equal(g[1].error, 1);
	r = fresh();
	feed(r, 1, two, sizeof two - 1, 0);
	at_resp_killed(r, "SIGTERM", "Terminated", 10);
	assert_int_equal(drain(g, 4), 2);
	assert_int_equal(g[0].error, 1);
	assert_false(at_resp_pending(r));
}

/* Aggregates nested deeper than the parser keeps: out of step, not a
 * write past its stack. */
static void deep_nesting(void **state)
{
	struct at_resp *r = fresh();
	assert_int_equal(feed(r, 1, "*1\r\n$4\r\nPING\r\n", 14, 0), 0);
	char in[4 * (AT_RESP_DEPTH + 2) + 1];
	for (int i = 0; i < AT_RESP_DEPTH + 2; i++)
		memcpy(in + 4 * i, "*1\r\n", 4);
	assert_int_equal(feed(r, 0, in, sizeof in - 1, 0), -1);
	drain(NULL, 0);
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
	    cmocka_unit_test(pipeline_in_pieces_of_every_size),
	    cmocka_unit_test(request_reply_in_turn),
	    cmocka_unit_test(garbage_ends_what_is_under_way),
	    cmocka_unit_test(reply_nobody_asked_for),
	    cmocka_unit_test(not_a_command),
	    cmocka_unit_test(ring_full),
	    cmocka_unit_test(subscription_stops_following),
	    cmocka_unit_test(closed_and_killed),
	    cmocka_unit_test(deep_nesting),
	};
	return cmocka_run_group_tests_name("resp_wire", tests, NULL, NULL);
}
