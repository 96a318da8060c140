/* HPACK (reporter/hpack.c): RFC 7541's own examples (Appendix C: the
 * field representations, requests with and without Huffman strings,
 * responses through a 256-byte table with evictions), checked field by
 * field and entry by entry; what must be refused; and the literals the
 * client writes. */
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
	size_t vlen; /* the last value's length */
};

static int collect(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen)
{
	struct got *g = ctx;
	assert_int_equal(name[nlen], 0);
	assert_int_equal(value[vlen], 0);
	if (g->len < sizeof g->text) /* past it: cut, and no more */
		g->len += (size_t)snprintf(g->text + g->len, sizeof g->text - g->len,
		                           "%.*s: %.*s\n", (int)nlen, name, (int)vlen, value);
	g->vlen = vlen;
	return ++g->fields == g->stop_after;
}

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	unsigned v;
	for (const char *p = hex; *p;) {
		if (*p == ' ') {
			p++;
			continue;
		}
		assert_true(n < cap);
		assert_int_equal(sscanf(p, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		p += 2;
	}
	return n;
}

static int decode_hex(struct at_hpack_dec *d, const char *hex, struct got *g)
{
	uint8_t b[512];
	size_t n = unhex(hex, b, sizeof b);
	memset(g, 0, sizeof *g);
	return at_hpack_decode(d, b, n, collect, g);
}

/* The dynamic table, newest entry first, read back through the decoder
 * itself (indexes 62 on), and nothing past it. */
static void assert_table(struct at_hpack_dec *d, const char *want, size_t size)
{
	uint8_t b[AT_HPACK_TABLE / 32 * 2];
	size_t n = 0;
	struct got g;
	for (size_t i = 0; i < d->n; i++)
		n += at_hpack_put_indexed(b + n, sizeof b - n, (unsigned)(62 + i));
	memset(&g, 0, sizeof g);
	assert_int_equal(at_hpack_decode(d, b, n, collect, &g), 0);
	assert_string_equal(g.text, want);
	assert_int_equal(d->size, size);
	n = at_hpack_put_indexed(b, sizeof b, (unsigned)(62 + d->n));
	assert_int_equal(at_hpack_decode(d, b, n, collect, &g), -1);
}

/* One of Appendix C's blocks: what it decodes to, and the table after. */
struct example {
	const char *hex, *fields, *table;
	size_t size;
};

/* Examples in order through one decoder, as on one connection. */
static void run(size_t max, const struct example *ex, size_t n)
{
	static struct at_hpack_dec d;
	struct got g;
	at_hpack_dec_init(&d);
	at_hpack_dec_set_max(&d, max);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(decode_hex(&d, ex[i].hex, &g), 0);
		assert_string_equal(g.text, ex[i].fields);
		assert_table(&d, ex[i].table, ex[i].size);
	}
}

/* C.2: each representation alone, on a new decoder */
static void rfc_field_representations(void **unused)
{
	static const struct example c21 = {
	    "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
	    "custom-key: custom-header\n", "custom-key: custom-header\n", 55};
	static const struct example c22 = {"040c 2f73 616d 706c 652f 7061 7468",
	                                   ":path: /sample/path\n", "", 0};
	static const struct example c23 = {"1008 7061 7373 776f 7264 0673 6563 7265 74",
	                                   "password: secret\n", "", 0};
	static const struct example c24 = {"82", ":method: GET\n", "", 0};
	run(AT_HPACK_TABLE, &c21, 1);
	run(AT_HPACK_TABLE, &c22, 1);
	run(AT_HPACK_TABLE, &c23, 1);
	run(AT_HPACK_TABLE, &c24, 1);
}

#define REQ1 ":method: GET\n:scheme: http\n:path: /\n:authority: www.example.com\n"
#define REQ2 REQ1 "cache-control: no-cache\n"
#define REQ3                                                                                       \
	":method: GET\n:scheme: https\n:path: /index.html\n:authority: www.example.com\n"          \
	"custom-key: custom-value\n"
#define TAB1 ":authority: www.example.com\n"
#define TAB2 "cache-control: no-cache\n" TAB1
#define TAB3 "custom-key: custom-value\n" TAB2

/* C.3: three requests on one connection, raw strings */
static void rfc_requests(void **unused)
{
	static const struct example ex[] = {
	    {"8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", REQ1, TAB1, 57},
	    {"8286 84be 5808 6e6f 2d63 6163 6865", REQ2, TAB2, 110},
	    {"8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65", REQ3, TAB3,
	     164},
	};
	run(AT_HPACK_TABLE, ex, 3);
}

/* C.4: the same requests, Huffman-coded */
static void rfc_requests_with_huffman(void **unused)
{
	static const struct example ex[] = {
	    {"8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", REQ1, TAB1, 57},
	    {"8286 84be 5886 a8eb 1064 9cbf", REQ2, TAB2, 110},
	    {"8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf", REQ3, TAB3, 164},
	};
	run(AT_HPACK_TABLE, ex, 3);
}

#define LOC "location: https://www.example.com\n"
#define DATE1 "date: Mon, 21 Oct 2013 20:13:21 GMT\n"
#define DATE2 "date: Mon, 21 Oct 2013 20:13:22 GMT\n"
#define PRIV "cache-control: private\n"
#define COOKIE "set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1\n"
#define RESP1 ":status: 302\n" PRIV DATE1 LOC
#define RESP2 ":status: 307\n" PRIV DATE1 LOC
#define RESP3 ":status: 200\n" PRIV DATE2 LOC "content-encoding: gzip\n" COOKIE
/* The second response evicts ":status: 302" for ":status: 307"; the third
 * evicts all but one, the first date */
#define RTAB1 LOC DATE1 PRIV ":status: 302\n"
#define RTAB2 ":status: 307\n" LOC DATE1 PRIV
#define RTAB3 COOKIE "content-encoding: gzip\n" DATE2

/* C.5: three responses through a 256-byte table, raw strings */
static void rfc_responses_evict(void **unused)
{
	static const struct example ex[] = {
	    {"4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133"
	     "2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70"
	     "6c65 2e63 6f6d",
	     RESP1, RTAB1, 222},
	    {"4803 3330 37c1 c0bf", RESP2, RTAB2, 222},
	    {"88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d"
	     "54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049"
	     "5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e"
	     "3d31",
	     RESP3, RTAB3, 215},
	};
	run(256, ex, 3);
}

/* C.6: the same responses, Huffman-coded */
static void rfc_responses_evict_with_huffman(void **unused)
{
	static const struct example ex[] = {
	    {"4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6"
	     "2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
	     RESP1, RTAB1, 222},
	    {"4883 640e ffc1 c0bf", RESP2, RTAB2, 222},
	    {"88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab"
	     "77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f"
	     "9587 3160 65c0 03ed 4ee5 b106 3d50 07",
	     RESP3, RTAB3, 215},
	};
	run(256, ex, 3);
}

#define C21 "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"

static void size_updates(void **unused)
{
	static struct at_hpack_dec d;
	struct got g;
	at_hpack_dec_init(&d);
	assert_int_equal(decode_hex(&d, C21, &g), 0);
	/* to 0 and back, at the block's start: the entry is gone */
	assert_int_equal(decode_hex(&d, "20 3fe11f 82", &g), 0);
	assert_string_equal(g.text, ":method: GET\n");
	assert_int_equal(d.max, 4096);
	assert_table(&d, "", 0);
	/* lowered to 110 with the C.3 requests in: the oldest goes */
	at_hpack_dec_init(&d);
	assert_int_equal(decode_hex(&d, "828684410f7777772e6578616d706c652e636f6d", &g), 0);
	assert_int_equal(decode_hex(&d, "828684be58086e6f2d6361636865", &g), 0);
	assert_int_equal(
	    decode_hex(&d, "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565", &g), 0);
	assert_int_equal(decode_hex(&d, "3f4f", &g), 0);
	assert_int_equal(g.fields, 0);
	assert_int_equal(d.max, 110);
	assert_table(&d, "custom-key: custom-value\ncache-control: no-cache\n", 107);
	/* an entry bigger than the table empties it and is not added: at 60,
	 * custom-key with 20 bytes (62) */
	at_hpack_dec_set_max(&d, 60);
	assert_table(&d, "custom-key: custom-value\n", 54);
	assert_int_equal(
	    decode_hex(&d, "400a 637573746f6d2d6b6579 14 7878787878787878787878787878787878787878",
	               &g),
	    0);
	assert_string_equal(g.text, "custom-key: xxxxxxxxxxxxxxxxxxxx\n");
	assert_table(&d, "", 0);
	/* as does a lower limit (55 over 40 at once) */
	at_hpack_dec_set_max(&d, 4096);
	assert_int_equal(decode_hex(&d, C21, &g), 0);
	at_hpack_dec_set_max(&d, 40);
	assert_table(&d, "", 0);
}

/* 4.4: a new entry may evict the one its name is taken from; the name
 * must survive that. */
static void a_name_from_an_evicted_entry(void **unused)
{
	static struct at_hpack_dec d;
	struct got g;
	at_hpack_dec_init(&d);
	at_hpack_dec_set_max(&d, 90);
	assert_int_equal(decode_hex(&d, C21, &g), 0);
	/* custom-key (62) with "abc": 45 bytes, 55 + 45 over 90 */
	assert_int_equal(decode_hex(&d, "7e 03 616263", &g), 0);
	assert_string_equal(g.text, "custom-key: abc\n");
	assert_table(&d, "custom-key: abc\n", 45);
}

/* 5.2: padding up to 7 bits of ones; an empty Huffman string */
static void huffman_edges(void **unused)
{
	static struct at_hpack_dec d;
	struct got g;
	at_hpack_dec_init(&d);
	assert_int_equal(decode_hex(&d, "0001 61 84 18c631ff", &g), 0);
	assert_string_equal(g.text, "a: aaaaa\n");
	assert_int_equal(decode_hex(&d, "0001 61 80", &g), 0);
	assert_string_equal(g.text, "a: \n");
	/* '0' is 00000: with 3 bits of padding, 0x07 */
	assert_int_equal(decode_hex(&d, "0001 61 81 07", &g), 0);
	assert_string_equal(g.text, "a: 0\n");
}

static void malformed_blocks_are_refused(void **unused)
{
	static struct at_hpack_dec d;
	struct got g;
	const char *bad[] = {
	    "80",                     /* index 0 */
	    "be",                     /* index 62, the dynamic table empty */
	    "0f2f0161",               /* a literal's name index 62, the same */
	    "7f000161",               /* the same, with incremental indexing */
	    "ff",                     /* an integer running off the end */
	    "ff80",                   /* the same, in its continuation */
	    "ffffffffff0f",           /* an integer over 2^31 */
	    "ff81ffffff07",           /* 2^31 */
	    "ff83ffffff0f",           /* 2^32 + 2, which would wrap to 2 */
	    "ff80808080808080808001", /* an integer of too many bytes */
	    "4005616263",             /* a name running off the end */
	    "0003616263",             /* a value missing */
	    "000161",                 /* the same */
	    "00016103616263ff",       /* a field cut after its first byte */
	    "40016181ff",             /* Huffman: padding of 8 bits */
	    "4001618100",             /* Huffman: '0', then padding not all ones */
	    "0001618418c631fe",       /* Huffman: 'aaaaa', 7 bits not all ones */
	    "4001618200fe",           /* Huffman: '0', then a long code cut short */
	    "4084ffffffff0161",       /* Huffman: EOS inside the string */
	    "000161851fffffffff",     /* Huffman: 'a' (00011), then EOS */
	    "82 3fe11f",              /* a size update after a field */
	    "3fe21f",                 /* a size update over 4096 */
	    "20 82 20",               /* one after a field, after one at the start */
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

/* A name or value up to AT_HPACK_STRING bytes is taken, one longer not,
 * raw or Huffman-coded. */
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
		assert_int_equal(g.vlen, len == AT_HPACK_STRING ? len : 0);
	}
	/* '0' is 5 zero bits: 8192 of them are 5120 zero bytes; one more
	 * takes a byte of 5 zeros and 3 ones of padding. The length is
	 * 5120 or 5121 in a 7-bit prefix: 127, then 4993 or 4994 in two
	 * bytes of 7 bits. */
	for (size_t syms = AT_HPACK_STRING; syms <= AT_HPACK_STRING + 1; syms++) {
		size_t hl = syms == AT_HPACK_STRING ? 5120 : 5121, n = 0;
		struct got g;
		memset(&g, 0, sizeof g);
		b[n++] = 0x00; /* without indexing, a literal name */
		b[n++] = 0x01;
		b[n++] = 'k';
		b[n++] = 0x80 | 0x7f; /* Huffman */
		b[n++] = (uint8_t)(0x80 | ((hl - 127) & 0x7f));
		b[n++] = (uint8_t)((hl - 127) >> 7);
		memset(b + n, 0, hl);
		if (syms * 5 % 8)
			b[n + hl - 1] = 0x07;
		n += hl;
		at_hpack_dec_init(&d);
		g.stop_after = 1;
		assert_int_equal(at_hpack_decode(&d, b, n, collect, &g), -1);
		assert_int_equal(g.fields, syms == AT_HPACK_STRING ? 1 : 0);
		assert_int_equal(g.vlen, syms == AT_HPACK_STRING ? syms : 0);
	}
}

/* What the gRPC client writes decodes to what it meant, and what does not
 * fit is refused, not cut. */
static void the_clients_literals_round_trip(void **unused)
{
	static struct at_hpack_dec d;
	uint8_t b[400];
	char big[200];
	size_t n = 0;
	memset(big, 'v', sizeof big);
	n += at_hpack_put_indexed(b + n, sizeof b - n, 3);
	n += at_hpack_put_indexed(b + n, sizeof b - n, 6);
	n += at_hpack_put_literal(b + n, sizeof b - n, 4, NULL, 0, "/a/B", 4);
	n += at_hpack_put_literal(b + n, sizeof b - n, 0, "te", 2, "trailers", 8);
	n += at_hpack_put_literal(b + n, sizeof b - n, 58, NULL, 0, "ua/1", 4); /* over 15 */
	n += at_hpack_put_literal(b + n, sizeof b - n, 0, "x-big", 5, big, sizeof big);
	n += at_hpack_put_literal(b + n, sizeof b - n, 0, "x-empty", 7, "", 0);
	struct got g;
	memset(&g, 0, sizeof g);
	at_hpack_dec_init(&d);
	assert_int_equal(at_hpack_decode(&d, b, n, collect, &g), 0);
	char want[400];
	snprintf(want, sizeof want,
	         ":method: POST\n:scheme: http\n:path: /a/B\nte: trailers\nuser-agent: ua/1\n"
	         "x-big: %.200s\nx-empty: \n",
	         big);
	assert_string_equal(g.text, want);
	assert_int_equal(d.size, 0); /* nothing indexed */
	/* every cap short of a field's length writes nothing */
	uint8_t one[300];
	size_t full = at_hpack_put_literal(one, sizeof one, 0, "x-big", 5, big, sizeof big);
	assert_int_equal(full, 1 + 1 + 5 + 2 + sizeof big);
	for (size_t cap = 0; cap < full; cap++)
		assert_int_equal(at_hpack_put_literal(one, cap, 0, "x-big", 5, big, sizeof big), 0);
	assert_int_equal(at_hpack_put_literal(one, full, 0, "x-big", 5, big, sizeof big), full);
	assert_int_equal(at_hpack_put_indexed(b, 0, 3), 0);
	/* an index over the prefix: 5.1's continuation bytes */
	assert_int_equal(at_hpack_put_indexed(b, 2, 300), 0);
	assert_int_equal(at_hpack_put_indexed(b, sizeof b, 300), 3);
	assert_memory_equal(b, "\xff\xad\x01", 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(rfc_field_representations),
	    cmocka_unit_test(rfc_requests),
	    cmocka_unit_test(rfc_requests_with_huffman),
	    cmocka_unit_test(rfc_responses_evict),
	    cmocka_unit_test(rfc_responses_evict_with_huffman),
	    cmocka_unit_test(size_updates),
	    cmocka_unit_test(a_name_from_an_evicted_entry),
	    cmocka_unit_test(huffman_edges),
	    cmocka_unit_test(malformed_blocks_are_refused),
	    cmocka_unit_test(a_callback_stops_decoding),
	    cmocka_unit_test(the_string_bound),
	    cmocka_unit_test(the_clients_literals_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
