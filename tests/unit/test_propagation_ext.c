/* B3 (single and multi), Jaeger, extraction from a request's headers, and
 * injection by OTEL_PROPAGATORS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "../../preload/autotrace.h"
#include "../../preload/config.h"
#include "../../preload/propagation.h"

#define TID "0af7651916cd43dd8448eb211c80319c"
#define SID "b7ad6b7169203331"

static void hex(const uint8_t *b, size_t n, char *out)
{
	at_hex_encode(b, n, out);
	out[2 * n] = 0;
}

static void b3_single(void **state)
{
	struct at_ctx c;
	char t[33], s[17];
	const char *ok[] = {TID "-" SID "-1", TID "-" SID, TID "-" SID "-d-" SID,
	                    "8448eb211c80319c-" SID "-0"};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(at_b3_parse(ok[i], strlen(ok[i]), &c), 0);
		assert_true(c.valid && c.remote);
		hex(c.span_id, 8, s);
		assert_string_equal(s, SID);
	}
	hex(c.trace_id, 16, t);
	assert_string_equal(t, "00000000000000008448eb211c80319c"); /* 64-bit widened */
	assert_int_equal(c.flags, 0);
	const char *bad[] = {"1",
	                     "0",
	                     "d",
	                     TID,
	                     TID "-" SID "-x",
	                     TID "-" SID "-1-",
	                     TID "-" SID "-1-" SID "-1",
	                     "0AF7651916CD43DD8448EB211C80319C-" SID "-1",
	                     "00000000000000000000000000000000-" SID "-1",
	                     TID "-0000000000000000-1",
	                     TID "a-" SID "-1",
	                     TID "-" SID "a-1",
	                     ""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(at_b3_parse(bad[i], strlen(bad[i]), &c), -1);
}

static void b3_multi(void **state)
{
	struct at_ctx c;
	assert_int_equal(at_b3multi_parse(TID, 32, SID, 16, "1", 1, NULL, 0, &c), 0);
	assert_int_equal(c.flags, 1);
	assert_int_equal(at_b3multi_parse(TID, 32, SID, 16, "false", 5, NULL, 0, &c), 0);
	assert_int_equal(c.flags, 0);
	assert_int_equal(at_b3multi_parse(TID, 32, SID, 16, "0", 1, "1", 1, &c), 0);
	assert_int_equal(c.flags, 1); /* debug */
	assert_int_equal(at_b3multi_parse(TID, 32, SID, 16, "yes", 3, NULL, 0, &c), -1);
	assert_int_equal(at_b3multi_parse(TID, 31, SID, 16, NULL, 0, NULL, 0, &c), -1);
	assert_int_equal(at_b3multi_parse(NULL, 0, SID, 16, NULL, 0, NULL, 0, &c), -1);
}

static void jaeger(void **state)
{
	struct at_ctx c;
	char t[33];
	const char *v = TID ":" SID ":0:1";
	assert_int_equal(at_uber_parse(v, strlen(v), &c), 0);
	assert_int_equal(c.flags, 1);
	v = "abc:def:0:0"; /* leading zeros may be left out */
	assert_int_equal(at_uber_parse(v, strlen(v), &c), 0);
	hex(c.trace_id, 16, t);
	assert_string_equal(t, "00000000000000000000000000000abc");
	assert_int_equal(c.flags, 0);
	v = TID "%3A" SID "%3a" SID "%3A3";
	assert_int_equal(at_uber_parse(v, strlen(v), &c), 0);
	assert_int_equal(c.flags, 1);
	const char *bad[] = {TID ":" SID ":0",     TID ":" SID ":0:1:2",
	                     "0:" SID ":0:1",      TID ":0:0:1",
	                     TID ":" SID "::1",    TID ":" SID ":0:",
	                     TID ":" SID ":0:xyz", TID "0:" SID ":0:1",
	                     "ABC:" SID ":0:1",    ""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(at_uber_parse(bad[i], strlen(bad[i]), &c), -1);
}

static void add(struct at_carrier *c, const char *n, const char *v)
{
	at_carrier_add(c, n, strlen(n), v, strlen(v), 1);
}

static void extraction(void **state)
{
	struct at_carrier car;
	struct at_ctx c;
	const char *ts;
	size_t tsl;
	char s[17];
	unsigned all =
	    AT_PROP_TRACECONTEXT | AT_PROP_BAGGAGE | AT_PROP_B3 | AT_PROP_B3MULTI | AT_PROP_JAEGER;

	/* traceparent first, with its tracestate (two headers are one list) */
	at_carrier_reset(&car);
	add(&car, "b3", TID "-1111111111111111-1");
	add(&car, "traceparent", "00-" TID "-" SID "-01");
	add(&car, "tracestate", "a=1");
	add(&car, "tracestate", "b=2");
	assert_int_equal(at_extract(&car, all, &c, &ts, &tsl), 0);
	hex(c.span_id, 8, s);
	assert_string_equal(s, SID);
	assert_int_equal(tsl, 7);
	assert_memory_equal(ts, "a=1,b=2", 7);

	/* an invalid traceparent: its tracestate is dropped, b3 is next */
	at_carrier_reset(&car);
	add(&car, "traceparent", "00-" TID "-" SID "-0X");
	add(&car, "tracestate", "a=1");
	add(&car, "b3", TID "-1111111111111111-1");
	assert_int_equal(at_extract(&car, all, &c, &ts, &tsl), 0);
	hex(c.span_id, 8, s);
	assert_string_equal(s, "1111111111111111");
	assert_null(ts);
	/* ...but only when b3 is configured */
	assert_int_equal(at_extract(&car, AT_PROP_TRACECONTEXT, &c, &ts, &tsl), -1);
	assert_false(c.valid);

	/* two traceparent headers: invalid */
	at_carrier_reset(&car);
	add(&car, "traceparent", "00-" TID "-" SID "-01");
	add(&car, "traceparent", "00-" TID "-" SID "-01");
	assert_int_equal(at_extract(&car, AT_PROP_TRACECONTEXT, &c, &ts, &tsl), -1);

	/* a cut (oversized) value is never used */
	at_carrier_reset(&car);
	at_carrier_add(&car, "traceparent", 11, "00-" TID "-" SID "-01", 55, 0);
	assert_int_equal(at_extract(&car, all, &c, &ts, &tsl), -1);

	/* b3multi and jaeger */
	at_carrier_reset(&car);
	add(&car, "x-b3-traceid", TID);
	add(&car, "x-b3-spanid", SID);
	add(&car, "x-b3-sampled", "0");
	assert_int_equal(at_extract(&car, AT_PROP_B3MULTI, &c, &ts, &tsl), 0);
	assert_int_equal(c.flags, 0);
	at_carrier_reset(&car);
	add(&car, "uber-trace-id", TID ":" SID ":0:1");
	add(&car, "uberctx-user", "alice");
	add(&car, "uberctx-bad", "a,b");
	assert_int_equal(at_extract(&car, AT_PROP_JAEGER, &c, &ts, &tsl), 0);
	assert_string_equal(at_carrier_baggage(&car, AT_PROP_JAEGER), "user=alice");

	/* baggage: merged headers, validated */
	at_carrier_reset(&car);
	add(&car, "baggage", "a=1");
	add(&car, "baggage", "b=2;p");
	assert_string_equal(at_carrier_baggage(&car, AT_PROP_BAGGAGE), "a=1,b=2;p");
	assert_null(at_carrier_baggage(&car, AT_PROP_TRACECONTEXT));
	at_carrier_reset(&car);
	add(&car, "baggage", "a=\"quoted\"");
	assert_null(at_carrier_baggage(&car, AT_PROP_BAGGAGE));
}

static void injection(void **state)
{
	struct at_ctx c;
	memset(&c, 0, sizeof c);
	at_hex_decode(TID, 16, c.trace_id);
	at_hex_decode(SID, 8, c.span_id);
	c.valid = 1;
	c.flags = 1;
	struct at_inject inj;
	at_tls.baggage = NULL;
	at_cfg.propagators = AT_PROP_B3 | AT_PROP_B3MULTI | AT_PROP_JAEGER;
	assert_int_equal(at_inject_build(&inj, &c, NULL, 0), 5);
	assert_string_equal(inj.lines[0], "b3: " TID "-" SID "-1");
	assert_string_equal(inj.lines[1], "x-b3-traceid: " TID);
	assert_string_equal(inj.lines[2], "x-b3-spanid: " SID);
	assert_string_equal(inj.lines[3], "x-b3-sampled: 1");
	assert_string_equal(inj.lines[4], "uber-trace-id: " TID ":" SID ":0:1");
	c.flags = 0;
	at_cfg.propagators = AT_PROP_TRACECONTEXT | AT_PROP_JAEGER;
	assert_int_equal(at_inject_build(&inj, &c, "k=v", 3), 3);
	assert_string_equal(inj.lines[0], "traceparent: 00-" TID "-" SID "-00");
	assert_string_equal(inj.lines[1], "tracestate: k=v");
	assert_string_equal(inj.lines[2], "uber-trace-id: " TID ":" SID ":0:0");
	at_cfg.propagators = 0;
	assert_int_equal(at_inject_build(&inj, &c, NULL, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(b3_single),  cmocka_unit_test(b3_multi),  cmocka_unit_test(jaeger),
	    cmocka_unit_test(extraction), cmocka_unit_test(injection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
