/* Thrift writers, the Jaeger encoder and packet splitter, Zipkin JSON,
 * gzip, JAEGER_TAGS expansion. With AT_THRIFT_OUT=dir set, the encoded
 * packets and batches are written there for tests/integration/
 * test_exporters.py to decode with the official Jaeger IDL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../../preload/autotrace.h"
#include "../../preload/config.h"
#include "../../preload/resource.h"
#include "../../preload/sampler.h"
#include "../../reporter/buf.h"
#include "../../reporter/gzip.h"
#include "../../reporter/jaeger.h"
#include "../../reporter/thrift.h"

int at_zipkin_encode(struct at_buf *b, struct at_span *const *spans, size_t n);
int at_console_format(struct at_buf *b, const struct at_span *s);

#define NSPANS 300
static struct at_span spans[NSPANS];
static struct at_span *ptrs[NSPANS];

static void make_spans(void)
{
	for (int i = 0; i < NSPANS; i++) {
		struct at_span *s = &spans[i];
		at_span_start_detached(s, "GET", AT_KIND_CLIENT, NULL);
		s->start_ns = 1700000000000000000ull + (uint64_t)i * 1000;
		s->end_ns = s->start_ns + 1234567;
		at_span_set_int(s, "http.response.status_code", 200 + i);
		at_span_set_str(s, "unicode", "h\xc3\xa9llo \xe2\x9c\x93");
		at_span_set_strn(s, "binary",
		                 "a\xff\xfe"
		                 "b\x00"
		                 "c",
		                 6);
		char big[300];
		memset(big, 'x', sizeof big);
		at_span_set_strn(s, "big", big, sizeof big);
		ptrs[i] = s;
	}
	struct at_span *s = &spans[0];
	memset(s->parent_id, 0xab, 8);
	memcpy(s->ctx.trace_id, "\x01\x02\x03\x04\x05\x06\x07\x08\x90\xa0\xb0\xc0\xd0\xe0\xf0\xff",
	       16);
	memcpy(s->ctx.span_id, "\xff\xee\xdd\xcc\xbb\xaa\x99\x88", 8);
	at_span_set_double(s, "ratio", 0.25);
	at_span_set_bool(s, "flag", 1);
	at_span_set_int(s, "negative", -42);
	at_span_set_error(s, "boom", 4);
	int ev = at_span_add_event(s, "exception");
	at_event_set_strn(s, ev, "exception.type", "SIGSEGV", 7);
	s->dropped_attrs = 3;
	/* the last span: as big as a span gets (the arena full of attributes) */
	s = &spans[NSPANS - 1];
	char huge[1000];
	memset(huge, 'h', sizeof huge);
	at_span_set_strn(s, "huge", huge, sizeof huge);
}

static void write_out(const char *name, const void *p, size_t n)
{
	const char *dir = getenv("AT_THRIFT_OUT");
	if (!dir)
		return;
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fwrite(p, 1, n, f);
	fclose(f);
}

static void encode_small(struct at_buf *b, int compact)
{
	struct at_thrift t;
	thr_init(&t, b, compact);
	thr_struct_begin(&t);
	thr_field_i64(&t, 1, 1);
	thr_field_i32(&t, 2, -1);
	thr_field_string(&t, 20, "ab", 2);
	thr_field_bool(&t, 21, 1);
	thr_field(&t, THR_LIST, 22);
	thr_list_begin(&t, THR_I32, 20);
	for (int i = 0; i < 20; i++)
		thr_i32(&t, i);
	thr_field_double(&t, 23, 1.0);
	thr_struct_end(&t);
	thr_free(&t);
}

static void compact_bytes(void **state)
{
	struct at_buf b = {0};
	encode_small(&b, 1);
	static const unsigned char want[] = {
	    0x16, 0x02,                 /* field 1 i64 zigzag(1) */
	    0x15, 0x01,                 /* field 2 i32 zigzag(-1) */
	    0x08, 0x28, 0x02, 'a', 'b', /* field 20: long form, zigzag(20) = 40 */
	    0x11,                       /* field 21 bool true in the header */
	    0x19, 0xf5, 0x14,           /* field 22 list, 20 x i32 (long form) */
	};
	assert_memory_equal(b.data, want, sizeof want);
	size_t p = sizeof want + 20;                      /* zigzag(0..19) are one byte each */
	assert_int_equal((unsigned char)b.data[p], 0x17); /* field 23 double */
	double d;
	memcpy(&d, b.data + p + 1, 8); /* compact doubles are little-endian */
	assert_true(d == 1.0);
	assert_int_equal(b.data[p + 9], 0);
	assert_int_equal(b.len, p + 10);
	at_buf_free(&b);
}

static void binary_bytes(void **state)
{
	struct at_buf b = {0};
	encode_small(&b, 0);
	static const unsigned char want[] = {
	    0x0a, 0, 1,  0,    0,    0,    0,    0,   0,   0, 1, /* i64 field 1 */
	    0x08, 0, 2,  0xff, 0xff, 0xff, 0xff,                 /* i32 field 2 */
	    0x0b, 0, 20, 0,    0,    0,    2,    'a', 'b',       /* string field 20 */
	    0x02, 0, 21, 1,                                      /* bool field 21 */
	    0x0f, 0, 22, 0x08, 0,    0,    0,    20,             /* list<i32> field 22 */
	};
	assert_memory_equal(b.data, want, sizeof want);
	size_t p = sizeof want + 20 * 4;
	static const unsigned char dbl[] = {0x04, 0, 23, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0};
	assert_memory_equal(b.data + p, dbl, sizeof dbl);
	assert_int_equal(b.len, p + sizeof dbl + 1);
	at_buf_free(&b);
}

static void invalid_utf8_is_repaired(void **state)
{
	struct at_buf b = {0};
	struct at_thrift t;
	thr_init(&t, &b, 1);
	thr_string(&t, "x\xffy", 3);
	thr_free(&t);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.data, "\x05x\xef\xbf\xbdy", 6);
	at_buf_free(&b);
}

struct sink {
	int npackets;
	size_t max_len;
	char name[32];
};

static int sink_send(void *ctx, const void *pkt, size_t len)
{
	struct sink *k = ctx;
	if (len > k->max_len)
		k->max_len = len;
	char name[64];
	snprintf(name, sizeof name, "%s-%02d.bin", k->name, k->npackets++);
	write_out(name, pkt, len);
	return 0;
}

static void packets_are_split(void **state)
{
	struct at_jaeger_packer p = {0};
	struct sink k = {0, 0, "udp"};
	size_t sent = at_jaeger_pack(&p, ptrs, NSPANS, AT_JAEGER_UDP_MAX, sink_send, &k);
	assert_int_equal(sent, NSPANS);
	assert_true(k.npackets >= 2);
	assert_true(k.max_len <= AT_JAEGER_UDP_MAX);
	assert_int_equal(p.dropped_spans, 0);
	assert_int_equal(p.trimmed_spans, 0);
	at_jaeger_packer_free(&p);
}

static void big_span_is_trimmed(void **state)
{
	struct at_jaeger_packer p = {0};
	struct sink k = {0, 0, "trim"};
	/* the huge span alone does not fit 900 bytes: sent with attributes dropped */
	size_t sent = at_jaeger_pack(&p, &ptrs[NSPANS - 2], 2, 900, sink_send, &k);
	assert_int_equal(sent, 2);
	assert_int_equal(p.trimmed_spans, 1);
	assert_int_equal(p.dropped_spans, 0);
	assert_true(k.max_len <= 900);
	assert_int_equal(k.npackets, 2);
	/* nothing fits in 100 bytes: dropped and counted, never sent oversized */
	struct sink k2 = {0, 0, "none"};
	sent = at_jaeger_pack(&p, ptrs, 3, 100, sink_send, &k2);
	assert_int_equal(sent, 0);
	assert_int_equal(k2.npackets, 0);
	assert_int_equal(p.dropped_spans, 3);
	at_jaeger_packer_free(&p);
}

static void http_batch(void **state)
{
	struct at_buf b = {0};
	assert_int_equal(at_jaeger_encode_batch(&b, 0, ptrs, 10), 0);
	write_out("batch-binary.bin", b.data, b.len);
	at_buf_free(&b);
}

static void zipkin_json(void **state)
{
	struct at_buf b = {0};
	assert_int_equal(at_zipkin_encode(&b, ptrs, 3), 0);
	write_out("zipkin.json", b.data, b.len);
	at_buf_addc(&b, 0);
	assert_non_null(strstr(b.data, "\"traceId\":\"010203040506070890a0b0c0d0e0f0ff\""));
	assert_non_null(strstr(b.data, "\"binary\":\"a\\ufffd\\ufffdb\\u0000c\""));
	at_buf_free(&b);
}

static void console_line(void **state)
{
	struct at_buf b = {0};
	assert_int_equal(at_console_format(&b, ptrs[0]), 0);
	at_buf_addc(&b, 0);
	/* exactly one line, whatever the attributes hold */
	assert_ptr_equal(strchr(b.data, '\n'), b.data + b.len - 2);
	assert_non_null(strstr(b.data, "trace=0102030405060708"));
	assert_non_null(strstr(b.data, "status=ERROR:\"boom\""));
	at_buf_free(&b);
}

static void gzip_roundtrip(void **state)
{
	struct at_buf in = {0}, out = {0};
	for (int i = 0; i < 1000; i++)
		at_buf_printf(&in, "span %d ", i);
	assert_int_equal(at_gzip(&out, in.data, in.len), 0);
	assert_int_equal((unsigned char)out.data[0], 0x1f); /* gzip magic */
	assert_int_equal((unsigned char)out.data[1], 0x8b);
	assert_true(out.len < in.len);
	char *back = malloc(in.len);
	z_stream z = {0};
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)out.data;
	z.avail_in = (uInt)out.len;
	z.next_out = (Bytef *)back;
	z.avail_out = (uInt)in.len;
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	assert_int_equal(z.total_out, in.len);
	assert_memory_equal(back, in.data, in.len);
	inflateEnd(&z);
	free(back);
	at_buf_free(&in);
	at_buf_free(&out);
}

static void env_refs(void **state)
{
	char out[64];
	setenv("AT_T_REGION", "us-west", 1);
	unsetenv("AT_T_MISSING");
	const char *in = "${AT_T_REGION:eu}/${AT_T_MISSING:dflt}/${AT_T_MISSING}/x";
	assert_int_equal(at_expand_env_refs(in, strlen(in), out, sizeof out), 0);
	assert_string_equal(out, "us-west/dflt//x");
	assert_int_equal(at_expand_env_refs("${unclosed", 10, out, sizeof out), 0);
	assert_string_equal(out, "${unclosed");
	assert_int_equal(at_expand_env_refs(in, strlen(in), out, 8), -1);
}

static void jaeger_tags_in_resource(void **state)
{
	/* from main(): JAEGER_TAGS merged before OTEL_RESOURCE_ATTRIBUTES */
	assert_string_equal(at_resource_get("team"), "core");
	assert_string_equal(at_resource_get("region"), "us-west,1");
	assert_string_equal(at_resource_get("both"), "otel"); /* OTEL_* wins */
}

static void ratelimiting_sampler(void **state)
{
	at_cfg.sampler = AT_SAMPLE_RATELIMIT;
	at_cfg.sampler_rate = 5;
	uint8_t tid[16] = {1};
	int n = 0;
	for (int i = 0; i < 1000; i++)
		n += at_sample(NULL, tid) != 0;
	assert_int_equal(n, 5); /* the bucket's 5; one more every 200 ms */
	struct at_ctx parent = {.valid = 1, .flags = AT_FLAG_SAMPLED};
	assert_int_equal(at_sample(&parent, tid), AT_FLAG_SAMPLED); /* children follow */
	at_cfg.sampler = AT_SAMPLE_ALWAYS_ON;
}

static unsigned exporters_with(const char *const *env)
{
	static const char *names[] = {"OTEL_TRACES_EXPORTER", "JAEGER_AGENT_HOST",
	                              "JAEGER_ENDPOINT",      "AUTOTRACE_FILE",
	                              "JAEGER_TAGS",          "OTEL_RESOURCE_ATTRIBUTES"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		unsetenv(names[i]);
	for (; *env; env += 2)
		setenv(env[0], env[1], 1);
	at_config_load();
	return at_cfg.exporters;
}

static void exporter_selection(void **state)
{
	assert_int_equal(exporters_with((const char *[]){NULL}), AT_EXP_OTLP);
	assert_int_equal(exporters_with((const char *[]){"JAEGER_AGENT_HOST", "h", NULL}),
	                 AT_EXP_JAEGER);
	assert_string_equal(at_cfg.jaeger_agent_host, "h");
	assert_int_equal(
	    exporters_with((const char *[]){"JAEGER_ENDPOINT", "http://c/api/traces", NULL}),
	    AT_EXP_JAEGER);
	assert_string_equal(at_cfg.jaeger_endpoint, "http://c/api/traces");
	/* OTEL_TRACES_EXPORTER wins over the implicit Jaeger selection */
	assert_int_equal(exporters_with((const char *[]){"OTEL_TRACES_EXPORTER", "zipkin",
	                                                 "JAEGER_AGENT_HOST", "h", NULL}),
	                 AT_EXP_ZIPKIN);
	/* the file alone is the only destination; with others it is added */
	assert_int_equal(exporters_with((const char *[]){"AUTOTRACE_FILE", "/tmp/x", NULL}),
	                 AT_EXP_FILE);
	assert_int_equal(
	    exporters_with((const char *[]){"AUTOTRACE_FILE", "/tmp/x", "OTEL_TRACES_EXPORTER",
	                                    "otlp,console", NULL}),
	    AT_EXP_FILE | AT_EXP_OTLP | AT_EXP_CONSOLE);
	assert_int_equal(exporters_with((const char *[]){"OTEL_TRACES_EXPORTER", "none", NULL}), 0);
	assert_int_equal(at_cfg.jaeger_agent_port, 6831);
	assert_string_equal(at_cfg.zipkin_endpoint, "http://localhost:9411/api/v2/spans");
}

int main(void)
{
	setenv("OTEL_TRACES_EXPORTER", "none", 1);
	setenv("OTEL_SERVICE_NAME", "svc-\xc3\xbc", 1);
	setenv("AT_T_REGION2", "us-west,1", 1);
	setenv("JAEGER_TAGS", "team=core,region=${AT_T_REGION2:eu},both=jaeger,bad", 1);
	setenv("OTEL_RESOURCE_ATTRIBUTES", "both=otel,bin=%FF%FEz", 1);
	at_config_load();
	at_cfg.record = AT_FLAG_SAMPLED; /* recorded with no exporter: the test reads them */
	at_resource_init();
	make_spans();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(compact_bytes),
	    cmocka_unit_test(binary_bytes),
	    cmocka_unit_test(invalid_utf8_is_repaired),
	    cmocka_unit_test(packets_are_split),
	    cmocka_unit_test(big_span_is_trimmed),
	    cmocka_unit_test(http_batch),
	    cmocka_unit_test(zipkin_json),
	    cmocka_unit_test(console_line),
	    cmocka_unit_test(gzip_roundtrip),
	    cmocka_unit_test(env_refs),
	    cmocka_unit_test(jaeger_tags_in_resource),
	    cmocka_unit_test(ratelimiting_sampler),
	    cmocka_unit_test(exporter_selection), /* last: reloads the configuration */
	};
	return cmocka_run_group_tests_name("thrift", tests, NULL, NULL);
}
