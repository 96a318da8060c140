/* The incremental HTTP/1.x parser: framing, events, splits, hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "../../hooks/http_parse.h"

struct seen {
	int n;
	char names[16][64];
	char values[16][128];
	int complete[16];
};

static void on_header(struct at_http_parser *p, int id, const char *n, size_t nl, const char *v,
                      size_t vl, int complete)
{
	struct seen *s = p->ctx;
	if (s->n >= 16)
		return;
	snprintf(s->names[s->n], 64, "%.*s", (int)nl, n);
	snprintf(s->values[s->n], 128, "%.*s", (int)vl, v);
	s->complete[s->n] = complete;
	s->n++;
}

/* Feeds msg in pieces of `piece` bytes; returns the OR of all events and
 * the offset just after the first DONE (or -1). */
static int feed(struct at_http_parser *p, const char *msg, size_t piece, long *done_at)
{
	size_t n = strlen(msg), i = 0;
	int all = 0;
	*done_at = -1;
	while (i < n) {
		size_t k = n - i < piece ? n - i : piece, used = 0;
		int ev = at_http_parse(p, msg + i, k, &used);
		i += used;
		all |= ev;
		if (ev & AT_HTTP_ERROR)
			return all;
		if ((ev & AT_HTTP_DONE) && *done_at < 0) {
			*done_at = (long)i;
			return all;
		}
	}
	return all;
}

static void request_with_headers_any_split(void **state)
{
	const char *msg =
	    "POST /a/b?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n"
	    "TraceParent:  00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 \r\n"
	    "Content-Length: 5\r\n\r\nhelloGET";
	for (size_t piece = 1; piece <= strlen(msg); piece++) {
		struct at_http_parser p;
		struct seen s = {0};
		char v[128];
		long done;
		at_http_parser_init(&p, AT_HTTP_REQUEST, AT_HTTP_F_STRICT, v, sizeof v, on_header,
		                    AT_HTTP_REPORT_ALL, &s);
		int ev = feed(&p, msg, piece, &done);
		assert_true(ev & AT_HTTP_HEADERS);
		assert_true(ev & AT_HTTP_DONE);
		assert_int_equal(done, (long)strlen(msg) - 3);
		assert_string_equal(p.method, "POST");
		assert_string_equal(p.target, "/a/b?x=1");
		assert_int_equal(p.version_minor, 1);
		assert_int_equal(s.n, 3);
		assert_string_equal(s.names[1], "traceparent");
		assert_string_equal(s.values[1],
		                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
		assert_int_equal(p.content_length, 5);
	}
}

static void stop_before_blank_line(void **state)
{
	const char *msg = "GET / HTTP/1.0\nHost: x\n\n";
	struct at_http_parser p;
	size_t used;
	at_http_parser_init(&p, AT_HTTP_REQUEST, AT_HTTP_F_STOP_BLANK, NULL, 0, NULL, 0, NULL);
	int ev = at_http_parse(&p, msg, strlen(msg), &used);
	assert_int_equal(ev, AT_HTTP_HEAD_END);
	assert_int_equal(used, strlen(msg) - 1); /* stopped before the empty line */
	ev = at_http_parse(&p, msg + used, strlen(msg) - used, &used);
	assert_int_equal(ev, AT_HTTP_HEADERS | AT_HTTP_DONE);
	assert_int_equal(used, 1);
	assert_int_equal(p.version_minor, 0);
}

static void responses(void **state)
{
	static const struct {
		const char *msg;
		unsigned flags;
		int status;
		long done_at; /* -1: ends at close */
	} cases[] = {
	    {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokXX", 0, 200, 40},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
	     "5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\nXX",
	     0, 200, 86},
	    {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nXX", 0, 204, 52},
	    {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", AT_HTTP_F_HEAD, 200, 39},
	    {"HTTP/1.0 500 Oops\r\n\r\nbody until close", 0, 500, -1},
	    {"HTTP/1.1 304\r\n\r\n", 0, 304, 16},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (size_t piece = 1; piece < 8; piece++) {
			struct at_http_parser p;
			long done;
			at_http_parser_init(&p, AT_HTTP_RESPONSE, cases[i].flags, NULL, 0, NULL, 0,
			                    NULL);
			int ev = feed(&p, cases[i].msg, piece, &done);
			assert_false(ev & AT_HTTP_ERROR);
			assert_int_equal(p.status, cases[i].status);
			assert_int_equal(done, cases[i].done_at);
			if (cases[i].done_at < 0)
				assert_int_equal(at_http_parse_eof(&p), AT_HTTP_DONE);
		}
	}
}

static void not_http(void **state)
{
	static const char *bad[] = {
	    "*1\r\n$4\r\nPING\r\n",          /* Redis */
	    "\x16\x03\x01\x00\xa5\x01",      /* TLS */
	    "get / HTTP/1.1\r\n",            /* lowercase method (strict) */
	    "PRI * HTTP/2.0\r\n\r\n",        /* HTTP/2 */
	    "GET / HTTP/1.1\r\n folded\r\n", /* obsolete line folding */
	    "GET / HTTP/1.1\r\nBad Name: x\r\n",
	    "GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
	    "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	    "GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
	    "GET  / HTTP/1.1\r\n",
	    "GET /\x01 HTTP/1.1\r\n",
	    "VERYLONGMETHODNAMEXX / HTTP/1.1\r\n",
	    "GET / HTTP/1.1\r\nA: b\0c\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct at_http_parser p;
		char v[32];
		size_t used;
		at_http_parser_init(&p, AT_HTTP_REQUEST, AT_HTTP_F_STRICT, v, sizeof v, NULL, 0,
		                    NULL);
		size_t n = strlen(bad[i]);
		if (i == sizeof bad / sizeof bad[0] - 1)
			n = 24; /* includes the NUL */
		int ev = at_http_parse(&p, bad[i], n, &used);
		assert_true(ev & AT_HTTP_ERROR);
		/* and it stays in error */
		assert_int_equal(at_http_parse(&p, "GET", 3, &used), AT_HTTP_ERROR);
	}
	struct at_http_parser p;
	size_t used;
	at_http_parser_init(&p, AT_HTTP_RESPONSE, 0, NULL, 0, NULL, 0, NULL);
	assert_true(at_http_parse(&p, "HTTP/1.1 2x0 OK\r\n", 17, &used) & AT_HTTP_ERROR);
	at_http_parser_init(&p, AT_HTTP_RESPONSE, 0, NULL, 0, NULL, 0, NULL);
	const char *bad_chunk = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
	assert_int_equal(at_http_parse(&p, bad_chunk, strlen(bad_chunk), &used), AT_HTTP_HEADERS);
	assert_true(at_http_parse(&p, bad_chunk + used, strlen(bad_chunk) - used, &used) &
	            AT_HTTP_ERROR);
}

static void oversized_values_are_cut_and_flagged(void **state)
{
	char msg[20100];
	int n = snprintf(msg, sizeof msg, "GET / HTTP/1.1\r\nX-Big: ");
	memset(msg + n, 'a', 20000);
	n += 20000;
	n += snprintf(msg + n, sizeof msg - (size_t)n, "\r\nHost: h\r\n\r\n");
	struct at_http_parser p;
	struct seen s = {0};
	char v[100];
	long done;
	at_http_parser_init(&p, AT_HTTP_REQUEST, 0, v, sizeof v, on_header, AT_HTTP_REPORT_ALL, &s);
	int ev = feed(&p, msg, 977, &done);
	assert_true(ev & AT_HTTP_DONE);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.names[0], "x-big");
	assert_int_equal(s.complete[0], 0);
	assert_int_equal(strlen(s.values[0]), 100);
	assert_string_equal(s.values[1], "h");
	assert_int_equal(s.complete[1], 1);
}

static void keep_alive_reset(void **state)
{
	const char *two = "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n";
	struct at_http_parser p;
	size_t used;
	at_http_parser_init(&p, AT_HTTP_REQUEST, AT_HTTP_F_STRICT, NULL, 0, NULL, 0, NULL);
	int ev = at_http_parse(&p, two, strlen(two), &used);
	assert_true(ev & AT_HTTP_DONE);
	assert_string_equal(p.target, "/1");
	at_http_parser_reset(&p, AT_HTTP_F_STRICT);
	ev = at_http_parse(&p, two + used, strlen(two) - used, &used);
	assert_true(ev & AT_HTTP_DONE);
	assert_string_equal(p.target, "/2");
}

static void only_asked_headers_are_reported(void **state)
{
	const char *msg = "POST / HTTP/1.1\r\nX-Other: 1\r\nHost: h:81\r\nUser-Agent: ua\r\n"
	                  "Content-Length: 3\r\nTraceparent: tp\r\nUberctx-K: v\r\n"
	                  "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
	for (size_t piece = 1; piece <= strlen(msg); piece++) {
		struct at_http_parser p;
		struct seen s = {0};
		char v[64];
		long done;
		at_http_parser_init(&p, AT_HTTP_REQUEST, AT_HTTP_F_STRICT, v, sizeof v, on_header,
		                    AT_HTTP_H_BIT(AT_HTTP_H_HOST) | AT_HTTP_REPORT_CARRIER, &s);
		int ev = feed(&p, msg, piece, &done);
		assert_false(ev & AT_HTTP_ERROR);
		assert_int_equal(done, (long)strlen(msg));
		/* framing read although not reported: chunked wins over the length */
		assert_true(p.flags & AT_HTTP_F_CHUNKED);
		assert_int_equal(p.content_length, 3);
		assert_int_equal(s.n, 3);
		assert_string_equal(s.names[0], "host");
		assert_string_equal(s.values[0], "h:81");
		assert_string_equal(s.names[1], "traceparent");
		assert_string_equal(s.values[1], "tp");
		assert_string_equal(s.names[2], "uberctx-k");
		assert_string_equal(s.values[2], "v");
	}
}

static void header_ids(void **state)
{
	static const struct {
		const char *name;
		int id;
	} cases[] = {
	    {"host", AT_HTTP_H_HOST},
	    {"user-agent", AT_HTTP_H_USER_AGENT},
	    {"content-length", AT_HTTP_H_CONTENT_LENGTH},
	    {"transfer-encoding", AT_HTTP_H_TRANSFER_ENCODING},
	    {"connection", AT_HTTP_H_CONNECTION},
	    {"traceparent", AT_HTTP_H_TRACEPARENT},
	    {"tracestate", AT_HTTP_H_TRACESTATE},
	    {"baggage", AT_HTTP_H_BAGGAGE},
	    {"b3", AT_HTTP_H_B3},
	    {"x-b3-traceid", AT_HTTP_H_X_B3_TRACEID},
	    {"x-b3-spanid", AT_HTTP_H_X_B3_SPANID},
	    {"x-b3-sampled", AT_HTTP_H_X_B3_SAMPLED},
	    {"x-b3-flags", AT_HTTP_H_X_B3_FLAGS},
	    {"uber-trace-id", AT_HTTP_H_UBER_TRACE_ID},
	    {"uberctx-x", AT_HTTP_H_UBERCTX},
	    {"uberctx-", AT_HTTP_H_OTHER},
	    {"upgrade", AT_HTTP_H_UPGRADE},
	    {"expect", AT_HTTP_H_EXPECT},
	    /* names of a known length, not known */
	    {"accept", AT_HTTP_H_OTHER},
	    {"cookie", AT_HTTP_H_OTHER},
	    {"expecT", AT_HTTP_H_EXPECT},
	    {"upgrades", AT_HTTP_H_OTHER},
	    /* names as they come, in any case */
	    {"CONTENT-LENGTH", AT_HTTP_H_CONTENT_LENGTH},
	    {"X-B3-TraceId", AT_HTTP_H_X_B3_TRACEID},
	    {"UberCtx-Key", AT_HTTP_H_UBERCTX},
	    {"hoSt", AT_HTTP_H_HOST},
	    {"x_b3-traceid", AT_HTTP_H_OTHER},
	    {"content_length", AT_HTTP_H_OTHER},
	    {"h0st", AT_HTTP_H_OTHER},
	    {"hos", AT_HTTP_H_OTHER},
	    {"hosts", AT_HTTP_H_OTHER},
	    {"b", AT_HTTP_H_OTHER},
	    {"x-b3-parentspanid", AT_HTTP_H_OTHER},
	    {"", AT_HTTP_H_OTHER},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_int_equal(at_http_header_id(cases[i].name, strlen(cases[i].name)),
		                 cases[i].id);
}

/* Values and targets are scanned several bytes at a time: a forbidden byte
 * must be found wherever it is, and a harmless control byte (a tab) must
 * not end the value. */
static void stop_bytes_at_every_offset(void **state)
{
	for (size_t off = 0; off < 40; off++) {
		for (int k = 0; k < 4; k++) {
			char msg[200];
			char val[64];
			memset(val, 'v', sizeof val);
			val[off] = k == 0 ? '\0' : k == 1 ? '\r' : k == 2 ? '\t' : '\x7f';
			int n = snprintf(msg, sizeof msg, "GET / HTTP/1.1\r\nX-A: ");
			memcpy(msg + n, val, 48);
			n += 48;
			n += snprintf(msg + n, sizeof msg - (size_t)n, "\r\nHost: h\r\n\r\n");
			struct at_http_parser p;
			struct seen s = {0};
			char v[128];
			size_t used;
			at_http_parser_init(&p, AT_HTTP_REQUEST, AT_HTTP_F_STRICT, v, sizeof v,
			                    on_header, AT_HTTP_REPORT_ALL, &s);
			int ev = at_http_parse(&p, msg, (size_t)n, &used);
			if (k < 2) { /* NUL, or a CR not followed by LF */
				assert_true(ev & AT_HTTP_ERROR);
				assert_int_equal(used, 21 + off + (k == 1));
			} else {
				assert_int_equal(ev, AT_HTTP_HEADERS | AT_HTTP_DONE);
				assert_int_equal(s.n, 2);
				/* a tab first is leading whitespace */
				assert_int_equal(strlen(s.values[0]), off == 0 && k == 2 ? 47 : 48);
			}
			/* the same byte in the target */
			char req[100];
			n = snprintf(req, sizeof req, "GET /");
			memset(req + n, 'a', 48);
			req[n + off] = val[off];
			n += 48;
			n += snprintf(req + n, sizeof req - (size_t)n, " HTTP/1.1\r\n\r\n");
			at_http_parser_init(&p, AT_HTTP_REQUEST, AT_HTTP_F_STRICT, NULL, 0, NULL, 0,
			                    NULL);
			ev = at_http_parse(&p, req, (size_t)n, &used);
			assert_true(ev & AT_HTTP_ERROR);
			assert_int_equal(used, 5 + off);
		}
	}
}

/* ---- whole buffers against pieces ---- */

/* Everything a run shows the owner: events with where they happened, the
 * headers reported, and what the parser kept. */
struct outcome {
	int nev;
	int ev[8];
	size_t at[8];
	struct seen seen;
	char method[AT_HTTP_METHOD_MAX];
	char target[64];
	int status, flags, minor;
	unsigned long long clen;
};

/* Feeds msg[0..n) cut at the offsets in cuts (ascending, then 0), as the
 * hooks do: after an event the rest is offered again (HEAD_END), or the
 * parser is reset (DONE), or the run stops (ERROR). */
static void run_cut(const char *msg, size_t n, int type, unsigned flags, uint32_t report,
                    size_t vcap, const size_t *cuts, struct outcome *o)
{
	struct at_http_parser p;
	char v[256];
	memset(o, 0, sizeof *o);
	memset(&p, 0, sizeof p); /* the method and target are not cleared by init */
	at_http_parser_init(&p, type, flags, v, vcap, on_header, report, &o->seen);
	size_t pos = 0, end;
	for (int c = 0; pos < n; c++) {
		end = cuts[c] && cuts[c] < n ? cuts[c] : n;
		while (pos < end) {
			size_t used = 99999;
			int ev = at_http_parse(&p, msg + pos, end - pos, &used);
			assert_true(used <= end - pos);
			pos += used;
			if (!ev) {
				assert_int_equal(used, end - pos + used); /* all consumed */
				continue;
			}
			if (o->nev < 8) {
				o->ev[o->nev] = ev;
				o->at[o->nev++] = pos;
			}
			if (ev & AT_HTTP_ERROR)
				goto out;
			if (ev & AT_HTTP_DONE) {
				snprintf(o->target, sizeof o->target, "%.63s", p.target);
				at_http_parser_reset(&p, flags);
			}
		}
	}
out:
	memcpy(o->method, p.method, sizeof o->method);
	if (!o->target[0])
		snprintf(o->target, sizeof o->target, "%.63s", p.target);
	o->status = p.status;
	o->flags = p.flags;
	o->minor = p.version_minor;
	o->clen = p.content_length;
}

static void same_outcome(const struct outcome *a, const struct outcome *b)
{
	assert_int_equal(a->nev, b->nev);
	for (int i = 0; i < a->nev; i++) {
		assert_int_equal(a->ev[i], b->ev[i]);
		assert_int_equal(a->at[i], b->at[i]);
	}
	assert_int_equal(a->seen.n, b->seen.n);
	for (int i = 0; i < a->seen.n && i < 16; i++) {
		assert_string_equal(a->seen.names[i], b->seen.names[i]);
		assert_string_equal(a->seen.values[i], b->seen.values[i]);
		assert_int_equal(a->seen.complete[i], b->seen.complete[i]);
	}
	assert_string_equal(a->method, b->method);
	assert_string_equal(a->target, b->target);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->minor, b->minor);
	assert_int_equal(a->clen, b->clen);
}

/* The whole message in one buffer (the line-at-once paths) against every
 * cut in two, every cut in three around each line end, and one byte at a
 * time (the state-at-a-time paths). */
static void whole_equals_pieces(const char *msg, size_t n, int type, unsigned flags,
                                uint32_t report, size_t vcap, struct outcome *whole)
{
	static const size_t none[] = {0};
	struct outcome o;
	run_cut(msg, n, type, flags, report, vcap, none, whole);
	for (size_t k = 1; k < n; k++) {
		size_t cuts[] = {k, 0};
		run_cut(msg, n, type, flags, report, vcap, cuts, &o);
		same_outcome(whole, &o);
		size_t cuts3[] = {k, k + 1, 0};
		run_cut(msg, n, type, flags, report, vcap, cuts3, &o);
		same_outcome(whole, &o);
	}
	size_t ones[600];
	size_t m = n < 599 ? n : 599;
	for (size_t k = 0; k < m; k++)
		ones[k] = k + 1;
	ones[m] = 0;
	run_cut(msg, n, type, flags, report, vcap, ones, &o);
	same_outcome(whole, &o);
}

#define NAME63 "X-Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static void split_at_every_offset_as_whole(void **state)
{
	static const struct {
		const char *msg;
		int type;
		unsigned flags;
		int nev;      /* events in the whole run */
		int last;     /* the last of them */
		int reported; /* headers reported (REPORT_ALL, 16-byte values) */
	} cases[] = {
	    /* request line and headers, every kind of line end */
	    {"GET /bench HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\n\r\n", AT_HTTP_REQUEST,
	     AT_HTTP_F_STRICT, 1, AT_HTTP_HEADERS | AT_HTTP_DONE, 2},
	    {"GET / HTTP/1.1\nHost: h\nX-B3-TraceId:\t 1 \t\nContent-Length: 2\n\nokPUT /x "
	     "HTTP/1.0\n\n",
	     AT_HTTP_REQUEST, 0, 3, AT_HTTP_HEADERS | AT_HTTP_DONE, 3},
	    {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", AT_HTTP_REQUEST,
	     AT_HTTP_F_STRICT | AT_HTTP_F_STOP_BLANK, 2, AT_HTTP_HEADERS | AT_HTTP_DONE, 1},
	    /* names at the limit: 63 bytes are reported, 64 are not */
	    {"GET / HTTP/1.1\r\n" NAME63 ": v\r\n" NAME63 "b: w\r\nB3: x\r\n\r\n", AT_HTTP_REQUEST,
	     0, 1, AT_HTTP_HEADERS | AT_HTTP_DONE, 2},
	    /* values at the value buffer's size (16), and one byte over */
	    {"GET / HTTP/1.1\r\nA: 0123456789abcdef\r\nB: 0123456789abcdefg\r\n"
	     "C: 0123456789abcdef   \r\n\r\n",
	     AT_HTTP_REQUEST, 0, 1, AT_HTTP_HEADERS | AT_HTTP_DONE, 3},
	    /* tokens other than letters, digits and '-' */
	    {"GET / HTTP/1.1\r\nX_y.z!#$%&'*+^`|~: 1\r\nUBERCTX-k_1: 2\r\n\r\n", AT_HTTP_REQUEST, 0,
	     1, AT_HTTP_HEADERS | AT_HTTP_DONE, 2},
	    /* responses: an interim one, chunked, trailers */
	    {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	     "Connection: close\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n",
	     AT_HTTP_RESPONSE, 0, 2, AT_HTTP_DONE, 2},
	    {"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
	     AT_HTTP_RESPONSE, 0, 2, AT_HTTP_DONE, 2},
	    /* errors, found at the same byte however the bytes come */
	    {"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", AT_HTTP_REQUEST, 0, 1, AT_HTTP_ERROR,
	     1},
	    {"GET / HTTP/1.1\r\nHost: h\r\n\tfolded\r\n\r\n", AT_HTTP_REQUEST, 0, 1, AT_HTTP_ERROR,
	     1},
	    {"GET / HTTP/1.1\r\nHost: h\rX: 1\r\n\r\n", AT_HTTP_REQUEST, 0, 1, AT_HTTP_ERROR, 0},
	    {"GET / HTTP/1.1\r\nHost: h\0\r\n\r\n", AT_HTTP_REQUEST, 0, 1, AT_HTTP_ERROR, 0},
	    {"GET / HTTP/1.1\r\nHo\0st: h\r\n\r\n", AT_HTTP_REQUEST, 0, 1, AT_HTTP_ERROR, 0},
	    {"GET / HTTP/1.1\r\nHost h\r\n\r\n", AT_HTTP_REQUEST, 0, 1, AT_HTTP_ERROR, 0},
	    {"GET / HTTP/1.1\r\n: h\r\n\r\n", AT_HTTP_REQUEST, 0, 1, AT_HTTP_ERROR, 0},
	    {"GET / HTTP/1.1\r\nContent-Length: 2 \r\ncontent-length: 3\r\n\r\n", AT_HTTP_REQUEST,
	     0, 1, AT_HTTP_ERROR, 1},
	    {"GET / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", AT_HTTP_REQUEST, 0, 1,
	     AT_HTTP_ERROR, 0},
	    {"GETS\0 / HTTP/1.1\r\n\r\n", AT_HTTP_REQUEST, 0, 1, AT_HTTP_ERROR, 0},
	    {"ABCDEFGHIJKLMNO / HTTP/1.1\r\n\r\n", AT_HTTP_REQUEST, AT_HTTP_F_STRICT, 1,
	     AT_HTTP_HEADERS | AT_HTTP_DONE, 0},
	    {"ABCDEFGHIJKLMNOP / HTTP/1.1\r\n\r\n", AT_HTTP_REQUEST, AT_HTTP_F_STRICT, 1,
	     AT_HTTP_ERROR, 0},
	    {"GeT / HTTP/1.1\r\n\r\n", AT_HTTP_REQUEST, AT_HTTP_F_STRICT, 1, AT_HTTP_ERROR, 0},
	};
	/* the sizes of the C strings above: some hold NULs */
	static const size_t len[] = {0,  0,  0, 0, 0, 0, 0, 0, 0, 0, 0,
	                             25, 18, 0, 0, 0, 0, 5, 0, 0, 0};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = strlen(cases[i].msg);
		if (len[i]) { /* the message goes on after its NUL */
			n = len[i] + 1 + strlen(cases[i].msg + len[i] + 1);
		}
		struct outcome whole;
		whole_equals_pieces(cases[i].msg, n, cases[i].type, cases[i].flags,
		                    AT_HTTP_REPORT_ALL, 16, &whole);
		assert_int_equal(whole.nev, cases[i].nev);
		assert_int_equal(whole.ev[whole.nev - 1], cases[i].last);
		assert_int_equal(whole.seen.n, cases[i].reported);
		/* and with only some headers asked for, and no value buffer */
		whole_equals_pieces(cases[i].msg, n, cases[i].type, cases[i].flags,
		                    AT_HTTP_REPORT_CARRIER | AT_HTTP_H_BIT(AT_HTTP_H_HOST), 16,
		                    &whole);
		whole_equals_pieces(cases[i].msg, n, cases[i].type, cases[i].flags,
		                    AT_HTTP_H_BIT(AT_HTTP_H_OTHER), 0, &whole);
	}
}

/* What the line-at-once paths must give, spelled out. */
static void whole_line_edges(void **state)
{
	struct outcome o;
	static const size_t none[] = {0};
	/* names at the limit: 63 bytes reported whole and lowercased; 64 not */
	const char *lim = "GET / HTTP/1.1\r\n" NAME63 ": v\r\n" NAME63 "b: w\r\nB3: x\r\n\r\n";
	run_cut(lim, strlen(lim), AT_HTTP_REQUEST, 0, AT_HTTP_REPORT_ALL, 16, none, &o);
	assert_int_equal(o.seen.n, 2);
	assert_int_equal(strlen(o.seen.names[0]), 63);
	assert_memory_equal(o.seen.names[0], "x-aaaa", 6);
	assert_string_equal(o.seen.values[0], "v");
	assert_string_equal(o.seen.names[1], "b3");
	assert_string_equal(o.seen.values[1], "x");
	/* values at the buffer's size are complete; one more byte is cut */
	const char *val = "GET / HTTP/1.1\r\nA: 0123456789abcdef\r\nB: 0123456789abcdefg\r\n"
	                  "C: 0123456789abcdef   \r\n\r\n";
	run_cut(val, strlen(val), AT_HTTP_REQUEST, 0, AT_HTTP_REPORT_ALL, 16, none, &o);
	assert_int_equal(o.seen.n, 3);
	assert_string_equal(o.seen.values[0], "0123456789abcdef");
	assert_int_equal(o.seen.complete[0], 1);
	assert_string_equal(o.seen.values[1], "0123456789abcdef");
	assert_int_equal(o.seen.complete[1], 0);
	/* trailing whitespace beyond the buffer: cut, not complete */
	assert_string_equal(o.seen.values[2], "0123456789abcdef");
	assert_int_equal(o.seen.complete[2], 0);
	/* known names come lowercased whatever their case */
	const char *kn = "GET / HTTP/1.1\r\nHOST: a\r\nX-B3-TRACEID: b\r\nUber-Trace-Id: c\r\n"
	                 "UberCtx-Key: d\r\nAccept: e\r\n\r\n";
	run_cut(kn, strlen(kn), AT_HTTP_REQUEST, 0, AT_HTTP_REPORT_ALL, 16, none, &o);
	assert_int_equal(o.seen.n, 5);
	assert_string_equal(o.seen.names[0], "host");
	assert_string_equal(o.seen.names[1], "x-b3-traceid");
	assert_string_equal(o.seen.names[2], "uber-trace-id");
	assert_string_equal(o.seen.names[3], "uberctx-key");
	assert_string_equal(o.seen.names[4], "accept");
	assert_string_equal(o.seen.values[4], "e");
	/* a line that ends exactly at the buffer's end, then the blank line */
	struct at_http_parser p;
	struct seen s = {0};
	char v[16];
	size_t used;
	const char *head = "GET / HTTP/1.1\r\nHost: h\r\n";
	at_http_parser_init(&p, AT_HTTP_REQUEST, 0, v, sizeof v, on_header, AT_HTTP_REPORT_ALL, &s);
	assert_int_equal(at_http_parse(&p, head, strlen(head), &used), 0);
	assert_int_equal(used, strlen(head));
	assert_int_equal(s.n, 1);
	assert_int_equal(at_http_parse(&p, "\r\n", 2, &used), AT_HTTP_HEADERS | AT_HTTP_DONE);
	/* CR at the end of one piece, LF at the start of the next */
	memset(&s, 0, sizeof s);
	at_http_parser_init(&p, AT_HTTP_REQUEST, 0, v, sizeof v, on_header, AT_HTTP_REPORT_ALL, &s);
	head = "GET / HTTP/1.1\r\nHost: h\r";
	assert_int_equal(at_http_parse(&p, head, strlen(head), &used), 0);
	assert_int_equal(used, strlen(head));
	assert_int_equal(s.n, 0); /* not yet: the line has not ended */
	head = "\nX: 1\r\n\r\n";
	assert_int_equal(at_http_parse(&p, head, strlen(head), &used),
	                 AT_HTTP_HEADERS | AT_HTTP_DONE);
	assert_int_equal(used, strlen(head));
	assert_int_equal(s.n, 2);
	assert_string_equal(s.values[0], "h");
	assert_string_equal(s.names[1], "x");
	/* errors: where */
	static const struct {
		const char *msg;
		size_t n, at;
	} bad[] = {
	    {"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 36, 25}, /* obs-fold */
	    {"GET / HTTP/1.1\r\nHost: h\rX: 1\r\n\r\n", 32, 24},      /* bare CR */
	    {"GET / HTTP/1.1\r\nHost: h\0\r\n\r\n", 27, 23},          /* NUL in a value */
	    {"GET / HTTP/1.1\r\nHo\0st: h\r\n\r\n", 27, 18},          /* NUL in a name */
	    {"GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 38, 35}, /* at the LF */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		at_http_parser_init(&p, AT_HTTP_REQUEST, 0, v, sizeof v, NULL, 0, NULL);
		assert_int_equal(at_http_parse(&p, bad[i].msg, bad[i].n, &used), AT_HTTP_ERROR);
		assert_int_equal(used, bad[i].at);
	}
	/* bare LF line ends are accepted */
	const char *lf = "GET / HTTP/1.1\nHost: h\nX: 1\n\n";
	run_cut(lf, strlen(lf), AT_HTTP_REQUEST, 0, AT_HTTP_REPORT_ALL, 16, none, &o);
	assert_int_equal(o.nev, 1);
	assert_int_equal(o.ev[0], AT_HTTP_HEADERS | AT_HTTP_DONE);
	assert_int_equal(o.seen.n, 2);
	assert_string_equal(o.seen.values[1], "1");
}

/* Parse the whole of msg, on past the events; all the events. */
static int parse_all(struct at_http_parser *p, const char *msg)
{
	size_t n = strlen(msg), i = 0, used;
	int all = 0;
	do {
		int ev = at_http_parse(p, msg + i, n - i, &used);
		all |= ev;
		i += used;
		assert_false(ev & AT_HTTP_ERROR);
	} while (i < n && used);
	assert_int_equal(i, n);
	return all;
}

/* Body bytes that went by unseen (sendfile, splice) are counted; any other
 * byte cannot be, and the parser stops. */
static void unseen_body_bytes(void **state)
{
	struct at_http_parser p;
	/* a length: counted to its end, the next message parsed after it */
	at_http_parser_init(&p, AT_HTTP_RESPONSE, 0, NULL, 0, NULL, 0, NULL);
	assert_int_equal(parse_all(&p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab"),
	                 AT_HTTP_HEADERS);
	assert_int_equal(at_http_skip(&p, 0), 0);
	assert_int_equal(at_http_skip(&p, 5), 0);
	assert_int_equal(at_http_skip(&p, 3), AT_HTTP_DONE);
	assert_true(at_http_is_done(&p));
	at_http_parser_reset(&p, 0);
	assert_int_equal(parse_all(&p, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
	                 AT_HTTP_HEADERS | AT_HTTP_DONE);
	assert_int_equal(p.status, 404);

	/* past the end of the body: the next message's bytes went unseen */
	at_http_parser_init(&p, AT_HTTP_RESPONSE, 0, NULL, 0, NULL, 0, NULL);
	parse_all(&p, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n");
	assert_int_equal(at_http_skip(&p, 5), AT_HTTP_ERROR);
	assert_int_equal(at_http_skip(&p, 0), AT_HTTP_ERROR);
	size_t used;
	assert_int_equal(at_http_parse(&p, "x", 1, &used), AT_HTTP_ERROR);

	/* a chunk's data: counted, its framing then read as it comes */
	at_http_parser_init(&p, AT_HTTP_RESPONSE, 0, NULL, 0, NULL, 0, NULL);
	parse_all(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n");
	assert_int_equal(at_http_skip(&p, 16), 0);
	assert_false(at_http_is_done(&p));
	assert_int_equal(parse_all(&p, "\r\n3\r\nabc\r\n0\r\n\r\n"), AT_HTTP_DONE);
	/* a chunk's size cannot be counted */
	at_http_parser_init(&p, AT_HTTP_RESPONSE, 0, NULL, 0, NULL, 0, NULL);
	parse_all(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab");
	assert_int_equal(at_http_skip(&p, 4), AT_HTTP_ERROR);

	/* a body to the close: anything */
	at_http_parser_init(&p, AT_HTTP_RESPONSE, 0, NULL, 0, NULL, 0, NULL);
	parse_all(&p, "HTTP/1.0 200 OK\r\n\r\n");
	assert_int_equal(at_http_skip(&p, 1u << 30), 0);
	assert_int_equal(at_http_parse_eof(&p), AT_HTTP_DONE);

	/* a head, or bytes after a complete message: not countable */
	at_http_parser_init(&p, AT_HTTP_REQUEST, AT_HTTP_F_STRICT, NULL, 0, NULL, 0, NULL);
	parse_all(&p, "POST / HTTP/1.1\r\nContent-Len");
	assert_int_equal(at_http_skip(&p, 3), AT_HTTP_ERROR);
	at_http_parser_init(&p, AT_HTTP_REQUEST, AT_HTTP_F_STRICT, NULL, 0, NULL, 0, NULL);
	assert_int_equal(at_http_skip(&p, 1), AT_HTTP_ERROR);
	at_http_parser_init(&p, AT_HTTP_REQUEST, AT_HTTP_F_STRICT, NULL, 0, NULL, 0, NULL);
	assert_int_equal(parse_all(&p, "GET / HTTP/1.1\r\n\r\n"), AT_HTTP_HEADERS | AT_HTTP_DONE);
	assert_int_equal(at_http_skip(&p, 1), AT_HTTP_ERROR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(request_with_headers_any_split),
	    cmocka_unit_test(stop_before_blank_line),
	    cmocka_unit_test(responses),
	    cmocka_unit_test(not_http),
	    cmocka_unit_test(oversized_values_are_cut_and_flagged),
	    cmocka_unit_test(keep_alive_reset),
	    cmocka_unit_test(only_asked_headers_are_reported),
	    cmocka_unit_test(header_ids),
	    cmocka_unit_test(stop_bytes_at_every_offset),
	    cmocka_unit_test(split_at_every_offset_as_whole),
	    cmocka_unit_test(whole_line_edges),
	    cmocka_unit_test(unseen_body_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
