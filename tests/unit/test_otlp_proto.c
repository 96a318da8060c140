/* The OTLP protobuf encoder's fast paths against a plain reference encoder
 * written here (every nested message built in its own buffer, lengths
 * prefixed afterwards, strings checked byte by byte): the output must be the
 * same bytes for any span, valid UTF-8 or not, whatever the lengths. */
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
#include "../../preload/resource.h"
#include "../../reporter/buf.h"
#include "../../reporter/otlp.h"
#include "../../reporter/pb.h"

/* ---- the reference ---- */

struct rb {
	unsigned char *d;
	size_t n, cap;
};

static void rb_add(struct rb *r, const void *p, size_t n)
{
	if (r->n + n > r->cap) {
		r->cap = (r->n + n) * 2 + 64;
		r->d = realloc(r->d, r->cap);
		assert_non_null(r->d);
	}
	if (n)
		memcpy(r->d + r->n, p, n);
	r->n += n;
}

static void rb_varint(struct rb *r, uint64_t v)
{
	unsigned char c;
	while (v >= 0x80) {
		c = (unsigned char)(v | 0x80);
		rb_add(r, &c, 1);
		v >>= 7;
	}
	c = (unsigned char)v;
	rb_add(r, &c, 1);
}

static void rb_tag(struct rb *r, unsigned field, unsigned wire)
{
	rb_varint(r, (uint64_t)field << 3 | wire);
}

static void rb_bytes(struct rb *r, unsigned field, const void *p, size_t n)
{
	rb_tag(r, field, 2);
	rb_varint(r, n);
	rb_add(r, p, n);
}

/* Appends sub as field and frees it. */
static void rb_msg(struct rb *r, unsigned field, struct rb *sub)
{
	rb_bytes(r, field, sub->d, sub->n);
	free(sub->d);
	memset(sub, 0, sizeof *sub);
}

static void rb_fixed64(struct rb *r, unsigned field, uint64_t v)
{
	rb_tag(r, field, 1);
	rb_add(r, &v, 8);
}

/* Length of a valid UTF-8 character at s, 0 if none (RFC 3629). */
static size_t ref_char(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	size_t len = c >= 0xc2 && c <= 0xdf   ? 2
	             : c >= 0xe0 && c <= 0xef ? 3
	             : c >= 0xf0 && c <= 0xf4 ? 4
	                                      : 0;
	if (!len || n < len)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if (c == 0xe0 && s[1] < 0xa0) /* overlong */
		return 0;
	if (c == 0xed && s[1] >= 0xa0) /* surrogate */
		return 0;
	if (c == 0xf0 && s[1] < 0x90) /* overlong */
		return 0;
	if (c == 0xf4 && s[1] >= 0x90) /* above U+10FFFF */
		return 0;
	return len;
}

static size_t ref_valid_prefix(const char *s, size_t n)
{
	size_t i = 0, l;
	while (i < n && (l = ref_char((const unsigned char *)s + i, n - i)))
		i += l;
	return i;
}

static void rb_string(struct rb *r, unsigned field, const char *s, size_t n)
{
	struct rb t = {0};
	size_t i = 0;
	while (i < n) {
		size_t l = ref_char((const unsigned char *)s + i, n - i);
		if (l) {
			rb_add(&t, s + i, l);
			i += l;
		} else {
			rb_add(&t, "\xef\xbf\xbd", 3);
			i++;
		}
	}
	rb_msg(r, field, &t);
}

static void rb_attr(struct rb *r, unsigned field, const struct at_span *s, const struct at_attr *a)
{
	struct rb kv = {0}, any = {0};
	rb_string(&kv, 1, a->key, strlen(a->key));
	switch (a->type) {
	case AT_ATTR_STR:
		rb_string(&any, 1, at_span_str(s, a->v.s), a->v.s.len);
		break;
	case AT_ATTR_BOOL:
		rb_tag(&any, 2, 0);
		rb_varint(&any, (uint64_t)a->v.i);
		break;
	case AT_ATTR_INT:
		rb_tag(&any, 3, 0);
		rb_varint(&any, (uint64_t)a->v.i);
		break;
	case AT_ATTR_DOUBLE: {
		uint64_t bits;
		memcpy(&bits, &a->v.d, 8);
		rb_fixed64(&any, 4, bits);
		break;
	}
	}
	rb_msg(&kv, 2, &any);
	rb_msg(r, field, &kv);
}

static void rb_span(struct rb *r, const struct at_span *s)
{
	struct rb sp = {0};
	static const uint8_t zero[8];
	rb_bytes(&sp, 1, s->ctx.trace_id, 16);
	rb_bytes(&sp, 2, s->ctx.span_id, 8);
	if (s->tracestate.len)
		rb_string(&sp, 3, at_span_str(s, s->tracestate), s->tracestate.len);
	if (memcmp(s->parent_id, zero, 8))
		rb_bytes(&sp, 4, s->parent_id, 8);
	rb_string(&sp, 5, at_span_str(s, s->name), s->name.len);
	rb_tag(&sp, 6, 0);
	rb_varint(&sp, s->kind);
	rb_fixed64(&sp, 7, s->start_ns);
	rb_fixed64(&sp, 8, s->end_ns);
	for (int i = 0; i < s->nattrs; i++)
		rb_attr(&sp, 9, s, &s->attrs[i]);
	if (s->dropped_attrs) {
		rb_tag(&sp, 10, 0);
		rb_varint(&sp, s->dropped_attrs);
	}
	for (int e = 0; e < s->nevents; e++) {
		const struct at_event *ev = &s->events[e];
		struct rb em = {0};
		rb_fixed64(&em, 1, ev->time_ns);
		rb_string(&em, 2, ev->name, strlen(ev->name));
		for (int i = 0; i < ev->nattrs; i++)
			rb_attr(&em, 3, s, &ev->attrs[i]);
		rb_msg(&sp, 11, &em);
	}
	if (s->dropped_events) {
		rb_tag(&sp, 12, 0);
		rb_varint(&sp, s->dropped_events);
	}
	if (s->status) {
		struct rb st = {0};
		if (s->status == AT_STATUS_ERROR && s->status_msg.len)
			rb_string(&st, 2, at_span_str(s, s->status_msg), s->status_msg.len);
		rb_tag(&st, 3, 0);
		rb_varint(&st, s->status);
		rb_msg(&sp, 15, &st);
	}
	rb_msg(r, 2, &sp);
}

static void rb_request(struct rb *out, struct at_span *const *spans, size_t n)
{
	struct rb rs = {0}, res = {0}, ss = {0}, scope = {0};
	for (int i = 0; i < at_resource_n; i++) {
		const struct at_kv *kv = &at_resource[i];
		struct rb m = {0}, any = {0};
		rb_string(&m, 1, kv->key, strlen(kv->key));
		if (kv->str) {
			rb_string(&any, 1, kv->str, strlen(kv->str));
		} else {
			rb_tag(&any, 3, 0);
			rb_varint(&any, (uint64_t)kv->i);
		}
		rb_msg(&m, 2, &any);
		rb_msg(&res, 1, &m);
	}
	rb_msg(&rs, 1, &res);
	rb_string(&scope, 1, AT_SDK_NAME, sizeof AT_SDK_NAME - 1);
	rb_string(&scope, 2, AT_SDK_VERSION, sizeof AT_SDK_VERSION - 1);
	rb_msg(&ss, 1, &scope);
	for (size_t i = 0; i < n; i++)
		rb_span(&ss, spans[i]);
	rb_msg(&rs, 2, &ss);
	rb_msg(out, 1, &rs);
}

/* ---- span building, by hand: any bytes, any length ---- */

static uint64_t rng = 88172645463325252ull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return n ? (uint32_t)(rng % n) : 0;
}

static struct at_str put(struct at_span *s, const char *p, size_t n)
{
	struct at_str r = {s->arena_used, (uint16_t)n};
	assert_true(s->arena_used + n <= AT_ARENA_SIZE);
	memcpy(s->arena + s->arena_used, p, n);
	s->arena_used = (uint16_t)(s->arena_used + n);
	return r;
}

static void init_span(struct at_span *s, const char *name, size_t n)
{
	memset(s, 0, sizeof *s);
	for (int i = 0; i < 16; i++)
		s->ctx.trace_id[i] = (uint8_t)rnd(256);
	for (int i = 0; i < 8; i++)
		s->ctx.span_id[i] = (uint8_t)rnd(256);
	s->kind = AT_KIND_CLIENT;
	s->start_ns = 1700000000000000000ull + rnd(1000000);
	s->end_ns = s->start_ns + rnd(100000);
	s->name = put(s, name, n);
}

static void add_str(struct at_span *s, const char *key, const char *v, size_t n)
{
	struct at_attr *a = &s->attrs[s->nattrs++];
	a->key = key;
	a->type = AT_ATTR_STR;
	a->v.s = put(s, v, n);
}

static void add_int(struct at_span *s, const char *key, int type, int64_t v)
{
	struct at_attr *a = &s->attrs[s->nattrs++];
	a->key = key;
	a->type = (uint8_t)type;
	a->v.i = v;
}

static struct at_buf out;
static struct rb ref;

static void check(struct at_span *const *spans, size_t n)
{
	at_buf_reset(&out);
	ref.n = 0;
	assert_int_equal(at_otlp_encode_proto(&out, spans, n), 0);
	rb_request(&ref, spans, n);
	assert_int_equal(out.len, ref.n);
	assert_memory_equal(out.data, ref.d, ref.n);
}

/* Strings made to hit the fast paths' edges: lengths around 4, 8, 127, 128
 * and 16 KiB; invalid bytes at the start, middle and end of an 8-byte word;
 * valid multi-byte characters across word boundaries. */
static const char *const bad_bytes[] = {
    "\xff", "\x80", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82",
};
static const char *const good_chars[] = {"\xc3\xa9", "\xe2\x9c\x93", "\xf0\x9f\x98\x80", "\x7f"};

static size_t make_str(char *d, size_t n)
{
	int style = (int)rnd(4);
	for (size_t i = 0; i < n; i++)
		d[i] = (char)('a' + rnd(26));
	if (style == 0 || !n)
		return n; /* ASCII */
	const char *ins = style == 1 ? good_chars[rnd(4)] : bad_bytes[rnd(7)];
	size_t l = strlen(ins);
	if (l > n)
		return n;
	size_t at = style == 3 ? n - l : rnd((uint32_t)(n - l + 1));
	memcpy(d + at, ins, l);
	if (style == 2 && rnd(2)) { /* and a second one */
		const char *g = good_chars[rnd(4)];
		size_t gl = strlen(g);
		if (gl <= n)
			memcpy(d + rnd((uint32_t)(n - gl + 1)), g, gl);
	}
	return n;
}

static size_t pick_len(void)
{
	static const size_t edges[] = {0,   1,   2,   3,   4,   5,   7,   8,   9,   15,  16,  17,
	                               63,  64,  100, 109, 110, 111, 112, 113, 114, 115, 116, 117,
	                               118, 119, 120, 125, 126, 127, 128, 129, 130, 200, 255, 256};
	return rnd(3) ? edges[rnd(sizeof edges / sizeof *edges)] : rnd(300);
}

/* Keys are static strings; some long (a span over 16 KiB), some not UTF-8. */
static char keys[24][800];

static void random_span(struct at_span *s)
{
	char tmp[400];
	size_t n = make_str(tmp, rnd(4) ? rnd(20) : pick_len());
	init_span(s, tmp, n);
	if (!rnd(4)) {
		n = make_str(tmp, rnd(60));
		s->tracestate = put(s, tmp, n);
	}
	if (rnd(2))
		memset(s->parent_id, (int)rnd(255) + 1, 8);
	int nattrs = (int)rnd(AT_MAX_ATTRS + 1);
	for (int i = 0; i < nattrs; i++) {
		const char *key = keys[rnd(24)];
		switch (rnd(6)) {
		case 0:
			add_int(s, key, AT_ATTR_INT, (int64_t)rng >> rnd(64));
			break;
		case 1:
			add_int(s, key, AT_ATTR_BOOL, rnd(2));
			break;
		case 2: {
			double d = (double)(int64_t)rng / 7.0;
			add_int(s, key, AT_ATTR_DOUBLE, 0);
			s->attrs[s->nattrs - 1].v.d = d;
			break;
		}
		case 3:
			add_int(s, key, AT_ATTR_DEFER, 0);
			break;
		default:
			n = pick_len();
			if (s->arena_used + n > AT_ARENA_SIZE)
				n = 0;
			make_str(tmp, n);
			add_str(s, key, tmp, n);
		}
	}
	s->dropped_attrs = rnd(3) ? 0 : rnd(1000);
	int nev = (int)rnd(AT_MAX_EVENTS + 1);
	for (int e = 0; e < nev; e++) {
		struct at_event *ev = &s->events[s->nevents++];
		ev->name = rnd(2) ? "exception" : keys[rnd(24)];
		ev->time_ns = s->start_ns + rnd(1000);
		ev->nattrs = (uint8_t)rnd(AT_EVENT_ATTRS + 1);
		for (int i = 0; i < ev->nattrs; i++) {
			n = pick_len();
			if (s->arena_used + n > AT_ARENA_SIZE)
				n = 0;
			make_str(tmp, n);
			ev->attrs[i].key = keys[rnd(24)];
			ev->attrs[i].type = AT_ATTR_STR;
			ev->attrs[i].v.s = put(s, tmp, n);
		}
	}
	s->dropped_events = rnd(4) ? 0 : rnd(5);
	s->status = (uint8_t)rnd(3);
	if (rnd(2)) {
		n = pick_len();
		if (s->arena_used + n > AT_ARENA_SIZE)
			n = 0;
		make_str(tmp, n);
		s->status_msg = put(s, tmp, n);
	}
}

static struct at_span spans[600];
static struct at_span *ptrs[600];

static void setup_keys(void)
{
	for (int k = 0; k < 24; k++) {
		size_t n = k < 16 ? 1 + rnd(30) : k < 20 ? pick_len() : 700 + rnd(90);
		make_str(keys[k], n);
		keys[k][n] = 0;
		for (size_t i = 0; i < n; i++) /* strlen must see all of it */
			if (!keys[k][i])
				keys[k][i] = 'z';
	}
	for (int i = 0; i < 600; i++)
		ptrs[i] = &spans[i];
}

static void random_batches(void **state)
{
	for (int round = 0; round < 300; round++) {
		size_t n = rnd(4) ? rnd(8) : rnd(600);
		for (size_t i = 0; i < n; i++)
			random_span(&spans[i]);
		check(ptrs, n);
	}
}

/* Lengths that need 1, 2 and 3 bytes at every level, guessed right and
 * wrong: a tiny span (< 128 B), an attribute value of 127 and 128 bytes
 * (the KeyValue/AnyValue lengths cross 127), a span over 16 KiB. */
static void length_edges(void **state)
{
	char v[300];
	memset(v, 'v', sizeof v);
	init_span(&spans[0], "x", 1);
	check(ptrs, 0);
	check(ptrs, 1);
	for (size_t n = 100; n <= 260; n++) {
		init_span(&spans[0], "GET", 3);
		add_str(&spans[0], "k", v, n);
		add_str(&spans[0], "db.query.text", v, n);
		check(ptrs, 1);
		v[n / 2] = (char)0xff; /* the same, replaced: 2 bytes longer */
		init_span(&spans[0], "GET", 3);
		add_str(&spans[0], "k", v, n);
		check(ptrs, 1);
		v[n / 2] = 'v';
	}
	/* over 16 KiB: 24 keys of 700+ bytes */
	init_span(&spans[0], "big", 3);
	for (int i = 0; i < AT_MAX_ATTRS; i++)
		add_str(&spans[0], keys[20 + i % 4], v, 50);
	check(ptrs, 1);
	at_buf_reset(&out);
	assert_int_equal(at_otlp_encode_proto(&out, ptrs, 1), 0);
	assert_true(out.len > 16384);
	/* many tiny spans: the guessed batch length is too long */
	for (int i = 0; i < 100; i++)
		init_span(&spans[i], "", 0);
	check(ptrs, 100);
}

/* The resource too goes through the fast path: an invalid value there. */
static void resource_edges(void **state)
{
	int saved = at_resource_n;
	assert_true(saved + 2 <= AT_RESOURCE_MAX);
	static char longval[200];
	memset(longval, 'r', sizeof longval - 1);
	longval[100] = (char)0xc3; /* a lone lead byte */
	at_resource[at_resource_n++] = (struct at_kv){"bad.value", longval, 0};
	at_resource[at_resource_n++] = (struct at_kv){"neg", NULL, -5};
	init_span(&spans[0], "GET", 3);
	check(ptrs, 1);
	at_resource_n = saved;
}

/* at_utf8_valid_prefix and at_utf8_copy against the byte-by-byte reference,
 * for every length up to 40 and every position of a bad or multi-byte
 * sequence in and across 8-byte words. */
static void utf8_words(void **state)
{
	const char *ins[11];
	for (int i = 0; i < 7; i++)
		ins[i] = bad_bytes[i];
	for (int i = 0; i < 4; i++)
		ins[7 + i] = good_chars[i];
	char s[48], d[48];
	for (size_t n = 0; n <= 40; n++) {
		for (int k = 0; k < 11; k++) {
			size_t l = strlen(ins[k]);
			for (size_t at = 0; at + l <= n; at++) {
				memset(s, 'a', n);
				memcpy(s + at, ins[k], l);
				size_t want = ref_valid_prefix(s, n);
				assert_int_equal(at_utf8_valid_prefix(s, n), want);
				memset(d, '#', sizeof d);
				int rc = at_utf8_copy(d, s, n);
				assert_int_equal(rc, want == n ? 0 : -1);
				if (!rc)
					assert_memory_equal(d, s, n);
				assert_int_equal(d[n], '#'); /* nothing written past n */
			}
		}
		memset(s, 'a', n);
		memset(d, '#', sizeof d);
		assert_int_equal(at_utf8_copy(d, s, n), 0);
		assert_memory_equal(d, s, n);
		assert_int_equal(d[n], '#');
		assert_int_equal(at_utf8_valid_prefix(s, n), n);
	}
	for (uint64_t v = 0; v < 1u << 20; v = v * 3 + 1) {
		unsigned char b[10];
		assert_int_equal(pb_varint_len(v), (size_t)(pb_put_varint(b, v) - b));
	}
	unsigned char b[10];
	assert_int_equal(pb_varint_len(UINT64_MAX), (size_t)(pb_put_varint(b, UINT64_MAX) - b));
	assert_int_equal(pb_varint_len(1ull << 63), 10);
	assert_int_equal(pb_varint_len(127), 1);
	assert_int_equal(pb_varint_len(128), 2);
	assert_int_equal(pb_varint_len(16383), 2);
	assert_int_equal(pb_varint_len(16384), 3);
}

/* The encoder's cache of encoded keys (by address, 256 slots): a key twice
 * in a span and again in later batches; keys never cached (not valid
 * UTF-8, longer than 46 bytes) at every use; 2048 keys that evict one
 * another; one text at two addresses. Always the reference's bytes. */
static char many_keys[2048][32];

static void key_cache(void **state)
{
	static const char bad_key[] = "bad\xff.key";
	static const char twin_a[] = "twin.key", twin_b[] = "twin.key";
	static char edge[4][64];
	for (int i = 0; i < 4; i++) { /* 45 to 48 bytes: the last two are not cached */
		memset(edge[i], 'e', 45 + (size_t)i);
		edge[i][45 + i] = 0;
	}
	for (int k = 0; k < 2048; k++)
		snprintf(many_keys[k], sizeof many_keys[k], "key.%d.%.*s", k, k % 13,
		         "abcdefghijklm");
	for (int round = 0; round < 400; round++) {
		init_span(&spans[0], "k", 1);
		add_str(&spans[0], "dup", "one", 3);
		add_str(&spans[0], "dup", "two", 3);
		add_str(&spans[0], bad_key, "v", 1);
		add_int(&spans[0], bad_key, AT_ATTR_INT, round);
		add_str(&spans[0], edge[round % 4], "v", 1);
		add_int(&spans[0], edge[(round + 1) % 4], AT_ATTR_BOOL, 1);
		add_str(&spans[0], (const char *)twin_a, "a", 1);
		add_str(&spans[0], (const char *)twin_b, "b", 1);
		while (spans[0].nattrs < AT_MAX_ATTRS) {
			const char *k = many_keys[rnd(round < 200 ? 300 : 2048)];
			if (rnd(2))
				add_int(&spans[0], k, AT_ATTR_INT,
				        (int64_t)rnd(1u << 31) << rnd(32));
			else
				add_str(&spans[0], k, "value", rnd(6));
		}
		check(ptrs, 1);
	}
}

/* Values copied in whole 16-byte moves and checked by a mask: the bytes
 * after a value in the arena (not ASCII here) do not count; a value that
 * ends at the arena's end or near it; lengths 0 to 80. */
static void value_blocks(void **state)
{
	char v[96], junk[96];
	memset(junk, 0xff, sizeof junk);
	for (size_t n = 0; n <= 80; n++) {
		for (int kind = 0; kind < 3; kind++) {
			for (size_t i = 0; i < n; i++)
				v[i] = (char)('a' + (i % 26));
			if (kind == 1 && n)
				v[n - 1] = (char)0x80; /* invalid, last */
			if (kind == 2 && n >= 2)
				memcpy(v + n - 2, "\xc3\xa9", 2); /* valid, last */
			/* followed by junk */
			init_span(&spans[0], "x", 1);
			add_str(&spans[0], "k", v, n);
			put(&spans[0], junk, sizeof junk);
			add_str(&spans[0], "k2", v, n);
			put(&spans[0], junk, sizeof junk);
			check(ptrs, 1);
			/* at the arena's end, and 1 to 70 bytes before it */
			for (size_t gap = 0; gap <= 70; gap += 5) {
				init_span(&spans[0], v, n);
				size_t fill = AT_ARENA_SIZE - spans[0].arena_used - n - gap;
				while (fill) {
					size_t f = fill < sizeof junk ? fill : sizeof junk;
					put(&spans[0], junk, f);
					fill -= f;
				}
				add_str(&spans[0], "end", v, n);
				spans[0].name = (struct at_str){(uint16_t)(AT_ARENA_SIZE - gap - n),
				                                (uint16_t)n};
				spans[0].status = AT_STATUS_ERROR;
				spans[0].status_msg = spans[0].name;
				check(ptrs, 1);
			}
		}
	}
}

/* Out of memory on the way: the encoder fails, it does not crash. */
static void buf_oom(void **state)
{
	struct at_buf b = {0};
	b.oom = 1;
	init_span(&spans[0], "GET", 3);
	add_str(&spans[0], "k", "v", 1);
	assert_int_equal(at_otlp_encode_proto(&b, ptrs, 1), -1);
	assert_int_equal(at_buf_reserve(&b, 1), -1);
	at_buf_free(&b);
	assert_int_equal(at_buf_reserve(&b, 1), 0);
	assert_true(b.cap >= 1);
	at_buf_free(&b);
}

int main(void)
{
	setenv("OTEL_TRACES_EXPORTER", "none", 1);
	at_config_load();
	at_cfg.record = AT_FLAG_SAMPLED; /* recorded with no exporter: the test reads them */
	at_resource_init();
	setup_keys();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(utf8_words),     cmocka_unit_test(length_edges),
	    cmocka_unit_test(resource_edges), cmocka_unit_test(random_batches),
	    cmocka_unit_test(buf_oom),        cmocka_unit_test(key_cache),
	    cmocka_unit_test(value_blocks),
	};
	int rc = cmocka_run_group_tests_name("otlp_proto", tests, NULL, NULL);
	at_buf_free(&out);
	free(ref.d);
	return rc;
}
