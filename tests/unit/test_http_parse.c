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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
