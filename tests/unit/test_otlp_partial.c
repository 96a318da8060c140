/* partial_success in OTLP responses (reporter/otlp_partial.c), as the OTLP
 * specification's ExportTraceServiceResponse carries it: field 1, an
 * ExportTracePartialSuccess { int64 rejected_spans = 1; string
 * error_message = 2; }, or its proto3 JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "../../reporter/otlp_partial.h"

static int parse(const char *b, size_t n, int json, int64_t *rej, char *msg)
{
	return at_otlp_partial(b, n, json, rej, msg, 64);
}

/* b parses to 1 with rej rejected spans and the message msg */
static void check(const char *b, size_t n, int json, int64_t rej, const char *msg)
{
	int64_t r;
	char m[64];
	assert_int_equal(parse(b, n, json, &r, m), 1);
	assert_int_equal(r, rej);
	if (msg)
		assert_string_equal(m, msg);
}

static void protobuf(void **state)
{
	int64_t rej;
	char msg[64];
	/* {partial_success {rejected_spans: 3, error_message: "too old"}} */
	static const char full[] = "\x0a\x0b\x08\x03\x12\x07too old";
	check(full, sizeof full - 1, 0, 3, "too old");
	/* a message alone is a warning too; rejected_spans 300 (two-byte varint) */
	static const char only_msg[] = "\x0a\x04\x12\x02hi";
	check(only_msg, sizeof only_msg - 1, 0, 0, "hi");
	static const char big[] = "\x0a\x03\x08\xac\x02";
	check(big, sizeof big - 1, 0, 300, NULL);
	/* unknown fields around it are skipped (varint, fixed64, fixed32, bytes) */
	static const char other[] = "\x10\x01\x19" "12345678" "\x25" "1234" "\x0a\x02\x08\x05"
	                            "\x2a\x01z";
	check(other, sizeof other - 1, 0, 5, NULL);
	/* an empty response, an empty partial_success (all accepted): none */
	assert_int_equal(parse("", 0, 0, &rej, msg), 0);
	assert_int_equal(parse("\x0a\x00", 2, 0, &rej, msg), 0);
	/* control characters in the message are not passed on */
	static const char ctl[] = "\x0a\x05\x12\x03" "a\nb";
	check(ctl, sizeof ctl - 1, 0, 0, "a?b");
}

static void protobuf_malformed(void **state)
{
	int64_t rej;
	char msg[64];
	/* cut inside: the length says more than there is, a varint never ends,
	 * a field number 0, a wire type 7 */
	static const char *const bad[] = {"\x0a\x0b\x08\x03", "\x0a\x02\x08\xff", "\x00\x01",
	                                  "\x0f\x01", "\x0a\x03\x12\x05" "ab"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(parse(bad[i], strlen(bad[i]) ? strlen(bad[i]) : 2, 0, &rej, msg), 0);
	/* a message larger than the buffer is cut, not overrun */
	char b[200] = "\x0a\x83\x01\x12\x80\x01";
	memset(b + 6, 'x', 128);
	assert_int_equal(parse(b, 6 + 128, 0, &rej, msg), 1);
	assert_int_equal(strlen(msg), 63);
}

static void json(void **state)
{
	int64_t rej;
	char msg[64];
	static const char j[] =
	    "{\"partialSuccess\": {\"rejectedSpans\": \"7\", \"errorMessage\": \"say \\\"no\\\"\"}}";
	check(j, sizeof j - 1, 1, 7, "say \"no\"");
	static const char num[] = "{\"partial_success\":{\"rejected_spans\":2}}";
	check(num, sizeof num - 1, 1, 2, NULL);
	assert_int_equal(parse("{}", 2, 1, &rej, msg), 0);
	static const char empty[] = "{\"partialSuccess\":{}}";
	assert_int_equal(parse(empty, sizeof empty - 1, 1, &rej, msg), 0);
	/* cut in the middle */
	assert_int_equal(parse(j, 30, 1, &rej, msg), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(protobuf),
		cmocka_unit_test(protobuf_malformed),
		cmocka_unit_test(json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
