/* W3C traceparent / tracestate / baggage parsing and formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "../../preload/propagation.h"

static int parse(const char *s, struct at_ctx *c)
{
	return at_traceparent_parse(s, strlen(s), c);
}

static void valid_traceparent(void **state)
{
	struct at_ctx c;
	assert_int_equal(parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &c), 0);
	assert_true(c.valid);
	assert_true(c.remote);
	assert_int_equal(c.flags, 1);
	assert_int_equal(c.trace_id[0], 0x0a);
	assert_int_equal(c.trace_id[15], 0x9c);
	assert_int_equal(c.span_id[7], 0x31);
	char out[56];
	at_traceparent_format(&c, out);
	assert_string_equal(out, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
	/* not sampled; optional whitespace around the value */
	assert_int_equal(parse(" 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00\t", &c), 0);
	assert_int_equal(c.flags, 0);
	/* unknown flags are accepted but not propagated */
	assert_int_equal(parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff", &c), 0);
	assert_int_equal(c.flags, 1);
}

static void invalid_traceparent(void **state)
{
	static const char *bad[] = {
		"",
		"00",
		"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", /* version ff */
		"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", /* uppercase */
		"00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01",
		"00-00000000000000000000000000000000-b7ad6b7169203331-01", /* zero trace */
		"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", /* zero span */
		"00-0af7651916cd43dd8448eb211c80319-cb7ad6b7169203331-01", /* misplaced dash */
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",  /* short */
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-00", /* v00 with more */
		"00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01", /* non-hex */
		"00_0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331_01",
		"0x-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct at_ctx c = {.valid = 7};
		assert_int_equal(parse(bad[i], &c), -1);
		assert_int_equal(c.valid, 7); /* untouched on failure */
	}
}

static void future_version(void **state)
{
	struct at_ctx c;
	/* a later version may append fields after a dash */
	assert_int_equal(parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-abcd", &c), 0);
	assert_int_equal(parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &c), 0);
	assert_int_equal(parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x", &c), -1);
}

static void tracestate(void **state)
{
	assert_true(at_tracestate_valid("congo=t61rcWkgMzE", 17));
	const char *two = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
	assert_true(at_tracestate_valid(two, strlen(two)));
	const char *tenant = "fw529a3039@dt=FfAyjHh7", *upper = "Rojo=1";
	assert_true(at_tracestate_valid(tenant, strlen(tenant)));
	assert_false(at_tracestate_valid(upper, strlen(upper)));
	assert_false(at_tracestate_valid("a=", 2));
	assert_false(at_tracestate_valid("=b", 2));
	assert_false(at_tracestate_valid("a=b\r\nX: y", 10));
	char many[33 * 6 + 1];
	size_t n = 0;
	for (int i = 0; i < 33; i++)
		n += (size_t)snprintf(many + n, sizeof many - n, "%sk%02d=v", i ? "," : "", i);
	assert_false(at_tracestate_valid(many, n)); /* 33 members */
	assert_true(at_tracestate_valid(many, n - 6)); /* 32: drop ",k32=v" */
}

static void baggage(void **state)
{
	assert_true(at_baggage_valid("userId=alice,serverNode=DF%2028", 31));
	assert_false(at_baggage_valid("a=b\nc", 5));
	assert_false(at_baggage_valid("", 0));
}

static void hex(void **state)
{
	uint8_t b[4];
	assert_int_equal(at_hex_decode("00ff7a10", 4, b), 0);
	assert_int_equal(b[1], 0xff);
	assert_int_equal(at_hex_decode("00FF7a10", 4, b), -1);
	char out[9] = {0};
	at_hex_encode(b, 4, out);
	assert_string_equal(out, "00ff7a10");
}

/* Every byte value, at every position of the 8-byte blocks and the tail,
 * for every length up to 40: the digits printf gives, and not one byte
 * written past 2n. */
static void hex_encode_all(void **state)
{
	uint8_t in[40];
	char out[96], want[96];
	for (int round = 0; round < 256; round++) {
		for (int i = 0; i < 40; i++)
			in[i] = (uint8_t)(round + i * 37);
		for (size_t n = 0; n <= 40; n++) {
			memset(out, '#', sizeof out);
			at_hex_encode(in, n, out);
			for (size_t i = 0; i < n; i++)
				snprintf(want + 2 * i, 3, "%02x", in[i]);
			assert_memory_equal(out, want, 2 * n);
			for (size_t i = 2 * n; i < sizeof out; i++)
				assert_int_equal(out[i], '#');
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_traceparent), cmocka_unit_test(invalid_traceparent),
		cmocka_unit_test(future_version),    cmocka_unit_test(tracestate),
		cmocka_unit_test(baggage),           cmocka_unit_test(hex), cmocka_unit_test(hex_encode_all),
	};
	return cmocka_run_group_tests_name("propagation", tests, NULL, NULL);
}
