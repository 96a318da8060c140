/* OTLP encoders, the byte buffer and URL helpers. With AT_ENCODE_OUT=dir set,
 * the encoded batches are also written there, for tests/integration/
 * test_encoding.py to decode with the official OTLP definitions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../preload/autotrace.h"
#include "../../preload/config.h"
#include "../../preload/url.h"
#include "../../reporter/buf.h"
#include "../../reporter/otlp.h"
#include "../../reporter/pb.h"

static struct at_span spans[100];
static struct at_span *ptrs[100];

static void make_spans(void)
{
	for (int i = 0; i < 100; i++) {
		struct at_span *s = &spans[i];
		at_span_start_detached(s, "GET", AT_KIND_CLIENT, NULL);
		s->start_ns = 1700000000000000000ull + (uint64_t)i;
		s->end_ns = s->start_ns + 1234567;
		at_span_set_str(s, "http.request.method", "GET");
		at_span_set_int(s, "http.response.status_code", 200 + i);
		at_span_set_int(s, "negative", -42);
		at_span_set_double(s, "ratio", 0.5);
		at_span_set_bool(s, "flag", i & 1);
		at_span_set_str(s, "unicode", "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93");
		at_span_set_strn(s, "binary", "a\xff\xfe" "b\x00" "c\x01\"\\", 9);
		char big[600];
		memset(big, 'x', sizeof big);
		at_span_set_strn(s, "big", big, sizeof big);
		ptrs[i] = s;
	}
	/* one span with everything else */
	struct at_span *s = &spans[0];
	memset(s->parent_id, 0xab, 8);
	s->tracestate = at_span_intern(s, "congo=t61rcWkgMzE", 17);
	at_span_set_error(s, "boom \"quoted\"", 13);
	int ev = at_span_add_event(s, "exception");
	at_event_set_strn(s, ev, "exception.type", "SIGSEGV", 7);
	at_event_set_strn(s, ev, "exception.message", "line1\nline2", 11);
	s->dropped_attrs = 3;
}

static void write_out(const char *name, struct at_buf *b)
{
	const char *dir = getenv("AT_ENCODE_OUT");
	if (!dir)
		return;
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fwrite(b->data, 1, b->len, f);
	fclose(f);
}

static uint64_t read_varint(const unsigned char **p)
{
	uint64_t v = 0;
	int shift = 0;
	while (**p & 0x80) {
		v |= (uint64_t)(**p & 0x7f) << shift;
		shift += 7;
		(*p)++;
	}
	v |= (uint64_t)**p << shift;
	(*p)++;
	return v;
}

static void proto_lengths(void **state)
{
	struct at_buf b = {0};
	assert_int_equal(at_otlp_encode_proto(&b, ptrs, 100), 0);
	/* the outer message: tag 1 (LEN), then a length that spans the rest */
	const unsigned char *p = (const unsigned char *)b.data;
	assert_int_equal(*p++, (1 << 3) | 2);
	uint64_t len = read_varint(&p);
	assert_int_equal(len, b.len - (size_t)(p - (const unsigned char *)b.data));
	assert_true(len > 16384); /* a three-byte length was back-patched */
	write_out("batch.pb", &b);
	at_buf_reset(&b);
	assert_int_equal(at_otlp_encode_proto(&b, ptrs, 1), 0);
	write_out("one.pb", &b);
	at_buf_free(&b);
}

static void json(void **state)
{
	struct at_buf b = {0};
	assert_int_equal(at_otlp_encode_json(&b, ptrs, 100), 0);
	at_buf_addc(&b, 0);
	assert_non_null(strstr(b.data, "\"stringValue\":\"h\xc3\xa9llo"));
	assert_non_null(strstr(b.data, "a\\ufffd\\ufffdb\\u0000c\\u0001\\\"\\\\"));
	assert_non_null(strstr(b.data, "\"intValue\":\"-42\""));
	assert_non_null(strstr(b.data, "\"message\":\"boom \\\"quoted\\\"\""));
	b.len--;
	write_out("batch.json", &b);
	at_buf_free(&b);
}

static void utf8(void **state)
{
	assert_int_equal(at_utf8_valid_prefix("abc", 3), 3);
	assert_int_equal(at_utf8_valid_prefix("a\xc3", 2), 1);         /* cut short */
	assert_int_equal(at_utf8_valid_prefix("a\xc0\xaf", 3), 1);     /* overlong */
	assert_int_equal(at_utf8_valid_prefix("a\xed\xa0\x80", 4), 1); /* surrogate */
	assert_int_equal(at_utf8_valid_prefix("\xf0\x9f\x98\x80", 4), 4);
	struct at_buf b = {0};
	at_buf_add_utf8(&b, "x\xffy", 3);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "x\xef\xbf\xbdy", 5);
	at_buf_free(&b);
}

static void urls(void **state)
{
	struct at_url u;
	assert_int_equal(at_url_parse("http://collector:4318/v1/traces", &u), 0);
	assert_string_equal(u.host, "collector");
	assert_int_equal(u.port, 4318);
	assert_string_equal(u.path, "/v1/traces");
	assert_int_equal(at_url_parse("https://user:pw@[::1]/x?y", &u), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 443);
	assert_true(u.has_userinfo);
	assert_int_equal(at_url_parse("http://h:0/", &u), -1);
	assert_int_equal(at_url_parse("http://h:99999/", &u), -1);
	assert_int_equal(at_url_parse("ftp://h/", &u), -1);
	assert_int_equal(at_url_parse("localhost:4318", &u), -1);
	assert_int_equal(at_url_parse("http://h", &u), 0);
	assert_string_equal(u.path, "/");
	char out[128];
	at_url_redact("http://bob:secret@example.com:8080/p?q=1", out, sizeof out);
	assert_string_equal(out, "http://REDACTED:REDACTED@example.com:8080/p?q=1");
	at_url_redact("http://example.com/a@b", out, sizeof out);
	assert_string_equal(out, "http://example.com/a@b");
}

/* What the hooks' plain-URL paths make of s must be what at_url_parse and
 * at_url_redact make of it: url.full s itself, the same host and port.
 * Returns whether s took the plain path. */
static int same_as_parse(const char *s)
{
	const char *host;
	size_t hl;
	int port;
	if (!at_url_split_plain(s, &host, &hl, &port))
		return 0;
	struct at_url u;
	assert_int_equal(at_url_parse(s, &u), 0);
	assert_int_equal(strlen(u.host), hl);
	assert_memory_equal(u.host, host, hl);
	assert_int_equal(u.port, port);
	assert_false(u.has_userinfo);
	char red[1024];
	at_url_redact(s, red, sizeof red);
	assert_string_equal(red, s);
	/* and net.c's Host header, the same authority */
	size_t n = strcspn(host, "/?#"), name;
	int p2;
	assert_true(at_url_host_plain(host, n, !strncmp(s, "https", 5) ? 443 : 80, &name, &p2));
	assert_int_equal(name, hl);
	assert_int_equal(p2, port);
	return 1;
}

static void plain_urls(void **state)
{
	static const char *plain[] = {
	    "http://127.0.0.1:36775/bench", "http://h", "https://h", "http://h:/x",
	    "http://h?q=1", "http://h#f", "https://example.com:8443/a/b?c#d", "http://h:00080/",
	    "http://h:65535", "http://h/a@b:c[]",
	};
	for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
		assert_true(same_as_parse(plain[i]));
	/* what takes the general parse: userinfo, IPv6, an odd port, an odd
	 * scheme, no host, a host too long for at_url_parse */
	static const char *other[] = {
	    "http://a:b@h/",  "http://[::1]:80/", "http://h:0/", "http://h:65536/",
	    "http://h:80:90/", "http://h:+80/",   "HTTP://h/",   "ftp://h/",
	    "http://:80/",    "http:///x",        "http:/h",     "http",
	    "",               "htt",              "http://h:123456/",
	};
	for (size_t i = 0; i < sizeof other / sizeof *other; i++)
		assert_false(same_as_parse(other[i]));
	char longhost[300] = "http://";
	memset(longhost + 7, 'a', 255);
	assert_true(same_as_parse(longhost));
	longhost[7 + 255] = 'a';
	assert_false(same_as_parse(longhost));
	/* random strings over the characters that matter: plain or not, never
	 * a different answer from the general parse */
	static const char alpha[] = "h:/?#@[]019s.";
	unsigned x = 12345, plain_n = 0;
	for (int it = 0; it < 200000; it++) {
		char u[40];
		size_t pre = it & 1 ? 8 : 7;
		memcpy(u, it & 1 ? "https://" : "http://", pre);
		size_t len = pre + (x % 24);
		for (size_t j = pre; j < len; j++) {
			x = x * 1103515245u + 12345u;
			u[j] = alpha[(x >> 16) % (sizeof alpha - 1)];
		}
		u[len] = 0;
		x = x * 1103515245u + 12345u;
		plain_n += (unsigned)same_as_parse(u);
	}
	assert_true(plain_n > 1000); /* the plain path was taken, and checked */
}

int main(void)
{
	setenv("OTEL_TRACES_EXPORTER", "none", 1);
	at_config_load();
	at_cfg.record = AT_FLAG_SAMPLED; /* recorded with no exporter: the test reads them */
	make_spans();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(proto_lengths),
		cmocka_unit_test(json),
		cmocka_unit_test(utf8),
		cmocka_unit_test(urls),
		cmocka_unit_test(plain_urls),
	};
	return cmocka_run_group_tests_name("encode", tests, NULL, NULL);
}
