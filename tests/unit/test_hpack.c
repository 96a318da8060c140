/* HPACK (reporter/hpack.c): RFC 7541's own examples (Appendix C: requests
 * with Huffman strings, responses through a 256-byte table with
 * evictions), what must be refused, and the literals the client writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "../../reporter/hpack.h"

/* The fields of a block as "name: value\n" lines. */
struct got {
	char text[4096];
	size_t len;
	int stop_after; /* stop decoding after this many fields (0: never) */
	int fields;
};

static int collect(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen)
{
	struct got *g = ctx;
	assert_int_equal(name[nlen], 0);
	assert_int_equal(value[vlen], 0);
	g->len += (size_t)snprintf(g->text + g->len, sizeof g->text - g->len, "%.*s: %.*s\n",
	                           (int)nlen, name, (int)vlen, value);
	return ++g->fields == g->stop_after;
}

static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;
	unsigned v;
	for (const char *p = hex; *p;) {
		if (*p == ' ') {
			p++;
			continue;
		}
		sscanf(p, "%2x", &v);
		out[n++] = (uint8_t)v;
		p += 2;
	}
	return n;
}

static int decode_hex(struct at_hpack_dec *d, const char *hex, struct got *g)
{
	uint8_t b[512];
	size_t n = unhex(hex, b);
	memset(g, 0, sizeof *g);
	return at_hpack_decode(d, b, n, collect, g);
}

/* C.4: three requests on one connection, Huffman-coded */
static void rfc_requests_with_huffman(void **unused)
{
	static struct at_hpack_dec d;
	struct got g;
	at_hpack_dec_init(&d);
	assert_int_equal(decode_hex(&d, "828684418cf1e3c2e5f23a6ba0ab90f4ff", &g), 0);
	assert_string_equal(g.text, ":method: GET\n:scheme: http\n:path: /\n"
	                            ":authority: www.example.com\n");
	assert_int_equal(d.size, 57);
	assert_int_equal(decode_hex(&d, "828684be5886a8eb10649cbf", &g), 0);
	assert_string_equal(g.text, ":method: GET\n:scheme: http\n:path: /\n"
	                            ":authority: www.example.com\ncache-control: no-cache\n");
	assert_int_equal(d.size, 110);
	assert_int_equal(
	    decode_hex(&d, "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf", &g), 0);
	assert_string_equal(g.text, ":method: GET\n:scheme: https\n:path: /index.html\n"
	                            ":authority: www.example.com\ncustom-key: custom-value\n");
	assert_int_equal(d.size, 164);
	assert_int_equal(d.n, 3);
}

/* C.6: three responses through a 256-byte table: each evicts */
static void rfc_responses_evict(void **unused)
{
	static struct at_hpack_dec d;
	struct got g;
	at_hpack_dec_init(&d);
	at_hpack_dec_set_max(&d, 256);
	assert_int_equal(decode_hex(&d,
	                            "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082"
	                            "a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
	                            &g),
	                 0);
	assert_string_equal(g.text, ":status: 302\ncache-control: private\n"
	                            "date: Mon, 21 Oct 2013 20:13:21 GMT\n"
	                            "location: https://www.example.com\n");
	assert_int_equal(d.size, 222);
	assert_int_equal(decode_hex(&d, "4883640effc1c0bf", &g), 0);
	assert_string_equal(g.text, ":status: 307\ncache-control: private\n"
	                            "date: Mon, 21 Oct 2013 20:13:21 GMT\n"
	                            "location: https://www.example.com\n");
	assert_int_equal(d.size, 222);
	assert_int_equal(decode_hex(&d,
	                            "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab"
	                            "77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f"
	                            "9587316065c003ed4ee5b1063d5007",
	                            &g),
	                 0);
	assert_string_equal(g.text, ":status: 200\ncache-control: private\n"
	                            "date: Mon, 21 Oct 2013 20:13:22 GMT\n"
	                            "location: https://www.example.com\ncontent-encoding: gzip\n"
	                            "set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; "
	                            "version=1\n");
	assert_int_equal(d.size, 215);
	assert_int_equal(d.n, 3);
}

/* C.2: one of each literal, and an indexed field */
static void rfc_field_representations(void **unused)
{
	static struct at_hpack_dec d;
	struct got g;
	at_hpack_dec_init(&d);
	/* C.2.1 with indexing: custom-key: custom-header */
	assert_int_equal(decode_hex(&d, "400a637573746f6d2d6b65790d637573746f6d2d686561646572", &g),
	                 0);
	assert_string_equal(g.text, "custom-key: custom-header\n");
	assert_int_equal(d.size, 55);
	/* C.2.2 without indexing, C.2.3 never indexed: the table unchanged */
	assert_int_equal(decode_hex(&d, "040c2f73616d706c652f70617468", &g), 0);
	assert_string_equal(g.text, ":path: /sample/path\n");
	assert_int_equal(decode_hex(&d, "100870617373776f726406736563726574", &g), 0);
	assert_string_equal(g.text, "password: secret\n");
	assert_int_equal(d.size, 55);
	/* C.2.4 indexed, and the dynamic entry by its index (62) */
	assert_int_equal(decode_hex(&d, "82be", &g), 0);
	assert_string_equal(g.text, ":method: GET\ncustom-key: custom-header\n");
}

static void size_updates(void **unused)
{
	static struct at_hpack_dec d;
	struct got g;
	at_hpack_dec_init(&d);
	assert_int_equal(decode_hex(&d, "400a637573746f6d2d6b65790d637573746f6d2d686561646572", &g),
	                 0);
	/* to 0 and back, at the block's start: the entry is gone */
	assert_int_equal(decode_hex(&d, "20 3fe11f 82", &g), 0);
	assert_int_equal(d.size, 0);
	assert_int_equal(d.max, 4096);
	assert_int_equal(decode_hex(&d, "be", &g), -1);
	/* an entry bigger than the table empties it and is not added */
	at_hpack_dec_set_max(&d, 40);
	assert_int_equal(decode_hex(&d, "400a637573746f6d2d6b65790d637573746f6d2d686561646572", &g),
	                 0);
	assert_string_equal(g.text, "custom-key: custom-header\n");
	assert_int_equal(d.n, 0);
	assert_int_equal(d.size, 0);
}

static void malformed_blocks_are_refused(void **unused)
{
	static struct at_hpack_dec d;
	struct got g;
	const char *bad[] = {
	    "80",                     /* index 0 */
	    "be",                     /* index 62, the dynamic table empty */
	    "ff",                     /* an integer running off the end */
	    "ffffffffff0f",           /* an integer over 2^31 */
	    "ff80808080808080808001", /* an integer of too many bytes */
	    "4005616263",             /* a name running off the end */
	    "0003616263",             /* a value missing */
	    "40016181ff",             /* Huffman: padding of 8 bits */
	    "4001618100",             /* Huffman: '0', then padding not all ones */
	    "4084ffffffff0161",       /* Huffman: EOS inside the string */
	    "82 3fe11f",              /* a size update after a field */
	    "3fe21f",                 /* a size update over 4096 */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		at_hpack_dec_init(&d);
		if (decode_hex(&d, bad[i], &g) != -1)
			fail_msg("accepted: %s", bad[i]);
	}
}

static void a_callback_stops_decoding(void **unused)
{
	static struct at_hpack_dec d;
	struct got g;
	uint8_t b[] = {0x82, 0x86, 0x84};
	at_hpack_dec_init(&d);
	memset(&g, 0, sizeof g);
	g.stop_after = 2;
	assert_int_equal(at_hpack_decode(&d, b, sizeof b, collect, &g), -1);
	assert_int_equal(g.fields, 2);
}

/* A name or value up to AT_HPACK_STRING bytes is taken, one longer not. */
static void the_string_bound(void **unused)
{
	static struct at_hpack_dec d;
	static uint8_t b[AT_HPACK_STRING + 64];
	static char v[AT_HPACK_STRING + 1];
	memset(v, 'x', sizeof v);
	for (size_t len = AT_HPACK_STRING; len <= AT_HPACK_STRING + 1; len++) {
		struct got g;
		memset(&g, 0, sizeof g);
		size_t n = at_hpack_put_literal(b, sizeof b, 0, "k", 1, v, len);
		assert_true(n > len);
		at_hpack_dec_init(&d);
		g.stop_after = 1;
		int rc = at_hpack_decode(&d, b, n, collect, &g);
		assert_int_equal(rc, -1); /* stopped by the callback, or refused */
		assert_int_equal(g.fields, len == AT_HPACK_STRING ? 1 : 0);
	}
}

/* What the gRPC client writes decodes to what it meant, and a block that
 * does not fit is refused, not cut. */
static void the_clients_literals_round_trip(void **unused)
{
	static struct at_hpack_dec d;
	uint8_t b[400];
	char big[200];
	size_t n = 0;
	memset(big, 'v', sizeof big);
	n += at_hpack_put_indexed(b + n, sizeof b - n, 3);
	n += at_hpack_put_literal(b + n, sizeof b - n, 4, NULL, 0, "/a/B", 4);
	n += at_hpack_put_literal(b + n, sizeof b - n, 0, "te", 2, "trailers", 8);
	n += at_hpack_put_literal(b + n, sizeof b - n, 0, "x-big", 5, big, sizeof big);
	n += at_hpack_put_literal(b + n, sizeof b - n, 0, "x-empty", 7, "", 0);
	struct got g;
	memset(&g, 0, sizeof g);
	at_hpack_dec_init(&d);
	assert_int_equal(at_hpack_decode(&d, b, n, collect, &g), 0);
	char want[400];
	snprintf(want, sizeof want, ":method: POST\n:path: /a/B\nte: trailers\nx-big: %.200s\nx-empty: \n",
	         big);
	assert_string_equal(g.text, want);
	assert_int_equal(d.size, 0); /* nothing indexed */
	assert_int_equal(at_hpack_put_literal(b, 100, 0, "x-big", 5, big, sizeof big), 0);
	assert_int_equal(at_hpack_put_indexed(b, 0, 3), 0);
	/* an index over the prefix: 5.1's continuation bytes */
	assert_int_equal(at_hpack_put_indexed(b, sizeof b, 300), 3);
	assert_int_equal(b[0], 0xff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(rfc_requests_with_huffman),
	    cmocka_unit_test(rfc_responses_evict),
	    cmocka_unit_test(rfc_field_representations),
	    cmocka_unit_test(size_updates),
	    cmocka_unit_test(malformed_blocks_are_refused),
	    cmocka_unit_test(a_callback_stops_decoding),
	    cmocka_unit_test(the_string_bound),
	    cmocka_unit_test(the_clients_literals_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
