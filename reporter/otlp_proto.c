/* OTLP protobuf (opentelemetry/proto/trace/v1/trace.proto, field numbers
 * from the official definitions): one ResourceSpans, one ScopeSpans. */
#define _GNU_SOURCE
#include "otlp.h"

#include "../preload/autotrace.h"
#include "../preload/resource.h"
#include "pb.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

void pb_string(struct at_buf *b, unsigned field, const char *s, size_t n)
{
	size_t ok = at_utf8_valid_prefix(s, n);
	if (ok == n) {
		pb_bytes(b, field, s, n);
		return;
	}
	size_t start = pb_open(b, field);
	at_buf_add_utf8(b, s, n);
	pb_close(b, start);
}

void pb_close_slow(struct at_buf *b, size_t start, size_t k, size_t need)
{
	size_t n = b->len - start;
	if (need > k) {
		if (at_buf_reserve(b, need - k))
			return;
		memmove(b->data + start + (need - k), b->data + start, n);
		b->len += need - k;
	} else {
		memmove(b->data + start - (k - need), b->data + start, n);
		b->len -= k - need;
	}
	pb_put_varint((unsigned char *)b->data + start - k, n);
}

/* AnyValue: the key of its one field; ANY_NONE is an empty AnyValue (an
 * attribute type this encoder does not know). */
enum {
	ANY_NONE = 0,
	ANY_STR = PB_KEY(1, PB_LEN),
	ANY_BOOL = PB_KEY(2, PB_VARINT),
	ANY_INT = PB_KEY(3, PB_VARINT),
	ANY_DOUBLE = PB_KEY(4, PB_I64),
};

/* KeyValue{key, value: AnyValue} (u: the bool/int value, or the double's
 * bits). Every length is known up front, so it is written in one go with
 * one reserve. Returns -1, having written nothing, when the key or a string
 * value is not valid UTF-8: kv_slow then writes it with replacements. */
static inline __attribute__((always_inline)) int kv_fast(struct at_buf *b, unsigned char tag,
                                                         const char *k, size_t kn,
                                                         unsigned char vkey, const char *v,
                                                         size_t vn, uint64_t u)
{
	size_t any;
	switch (vkey) {
	case ANY_STR:
		any = 1 + pb_varint_len(vn) + vn;
		break;
	case ANY_BOOL:
	case ANY_INT:
		any = 1 + pb_varint_len(u);
		break;
	case ANY_DOUBLE:
		any = 9;
		break;
	default:
		any = 0;
	}
	size_t kv = 1 + pb_varint_len(kn) + kn + 1 + pb_varint_len(any) + any;
	if (at_buf_reserve(b, 11 + kv))
		return 0; /* out of memory: the batch fails anyway */
	unsigned char *p = (unsigned char *)b->data + b->len;
	*p++ = tag;
	p = pb_put_varint(p, kv);
	*p++ = PB_KEY(1, PB_LEN);
	p = pb_put_varint(p, kn);
	if (at_utf8_copy((char *)p, k, kn))
		return -1;
	p += kn;
	*p++ = PB_KEY(2, PB_LEN);
	p = pb_put_varint(p, any);
	if (vkey) {
		*p++ = vkey;
		if (vkey == ANY_STR) {
			p = pb_put_varint(p, vn);
			if (at_utf8_copy((char *)p, v, vn))
				return -1;
			p += vn;
		} else if (vkey == ANY_DOUBLE) {
			p = pb_put_fixed64(p, u);
		} else {
			p = pb_put_varint(p, u);
		}
	}
	b->len = (size_t)((char *)p - b->data);
	return 0;
}

static void kv_slow(struct at_buf *b, unsigned field, const char *k, unsigned char vkey,
                    const char *v, size_t vn, uint64_t u)
{
	size_t kv = pb_open(b, field);
	pb_string(b, 1, k, strlen(k));
	size_t any = pb_open(b, 2);
	if (vkey == ANY_STR) {
		pb_string(b, 1, v, vn);
	} else if (vkey == ANY_DOUBLE) {
		pb_fixed64(b, 4, u);
	} else if (vkey) {
		pb_tag(b, vkey >> 3, PB_VARINT);
		pb_varint(b, u);
	}
	pb_close(b, any);
	pb_close(b, kv);
}

static void kv(struct at_buf *b, unsigned char tag, const char *k, unsigned char vkey,
               const char *v, size_t vn, uint64_t u)
{
	if (__builtin_expect(kv_fast(b, tag, k, strlen(k), vkey, v, vn, u), 0))
		kv_slow(b, tag >> 3, k, vkey, v, vn, u);
}

/* ---- keys: the encoded key field, cached by the key's address ----
 *
 * An attribute's key is a literal (or a string that lives forever), compared
 * by address: its field (tag, length, bytes) is the same in every span, so it
 * is written once into a small cache and then copied, without strlen or a
 * UTF-8 check per attribute. Only the exporter thread encodes (like
 * callsite.c's cache, no lock). A key that is long or not valid UTF-8 is
 * never cached: it goes the uncached way every time.
 *
 * Two ways per set: where the literals land depends on the build, and in a
 * direct-mapped cache two keys of every span that met in one slot evicted
 * each other in every span (measured: ~230 instructions a span more for a
 * Redis span in one build than in another). Three hot keys in one set of
 * 128 is rare. */

#define KEY_CACHE 256 /* 128 sets of 2 */
#define KEY_ENC_MAX 48 /* copied whole: three 16-byte moves */

struct key_enc {
	char enc[KEY_ENC_MAX]; /* PB_KEY(1, PB_LEN), the length (< 128), the key */
	const char *key;       /* NULL: empty */
	size_t n;              /* bytes of enc in use */
};

static struct key_enc key_cache[KEY_CACHE];

/* Literals sit close together: a multiplicative hash spreads them. The
 * set's first way. */
static inline struct key_enc *key_set(const char *k)
{
	return &key_cache[((uint64_t)(uintptr_t)k * 0x9e3779b97f4a7c15ull >> 57) * 2];
}

static __attribute__((noinline)) const struct key_enc *key_fill(struct key_enc *e, const char *k)
{
	size_t n = strlen(k);
	if (n > KEY_ENC_MAX - 2 || at_utf8_valid_prefix(k, n) != n)
		return NULL;
	e->enc[0] = (char)PB_KEY(1, PB_LEN);
	e->enc[1] = (char)n;
	memcpy(e->enc + 2, k, n);
	e->n = n + 2;
	e->key = k;
	return e;
}

/* A miss: the second way, else fill an empty way, else replace the
 * second (the first keeps the key that settled there first). */
static __attribute__((noinline)) const struct key_enc *key_miss(struct key_enc *set,
                                                                const char *k)
{
	if (set[1].key == k)
		return &set[1];
	return key_fill(set[0].key ? &set[1] : &set[0], k);
}

/* The key's cached field, or NULL when it cannot be cached. */
static inline const struct key_enc *key_enc(const char *k)
{
	struct key_enc *set = key_set(k);
	if (__builtin_expect(set[0].key == k, 1))
		return &set[0];
	return key_miss(set, k);
}

/* ---- values: most are short ASCII in the span's arena ----
 *
 * A value of at most 32 (64) bytes whose 32 (64) bytes from its start are
 * still in the arena is copied in two (four) 16-byte moves, the high bits of
 * its own bytes checked at once: up to 32 bytes past its end are written too
 * (the caller has reserved VAL_COPY). Returns 0 when it was ASCII; else
 * (longer, near the arena's end, not ASCII) at_utf8_copy decides, 0 when
 * valid. */
#define VAL_COPY 64

static inline int arena_copy(unsigned char *d, const struct at_span *s, struct at_str r)
{
	const char *v = at_span_str(s, r);
	size_t n = r.len;
#ifdef __SSE2__
	if (__builtin_expect(n <= 32 && r.off <= AT_ARENA_SIZE - 32, 1)) {
		__m128i a = _mm_loadu_si128((const __m128i *)v);
		__m128i z = _mm_loadu_si128((const __m128i *)(v + 16));
		uint32_t hi = (uint32_t)_mm_movemask_epi8(a) | (uint32_t)_mm_movemask_epi8(z) << 16;
		if (__builtin_expect(!(hi & (uint32_t)((1ull << n) - 1)), 1)) {
			_mm_storeu_si128((__m128i *)d, a);
			_mm_storeu_si128((__m128i *)(d + 16), z);
			return 0;
		}
	} else if (n <= 64 && r.off <= AT_ARENA_SIZE - 64) {
		__m128i a = _mm_loadu_si128((const __m128i *)v);
		__m128i b = _mm_loadu_si128((const __m128i *)(v + 16));
		__m128i c = _mm_loadu_si128((const __m128i *)(v + 32));
		__m128i z = _mm_loadu_si128((const __m128i *)(v + 48));
		uint64_t lo = (uint32_t)_mm_movemask_epi8(a) | (uint32_t)_mm_movemask_epi8(b) << 16;
		uint64_t hi = (uint32_t)_mm_movemask_epi8(c) | (uint32_t)_mm_movemask_epi8(z) << 16;
		if (!((lo | hi << 32) & (~0ull >> (64 - n)))) { /* n > 32 here */
			_mm_storeu_si128((__m128i *)d, a);
			_mm_storeu_si128((__m128i *)(d + 16), b);
			_mm_storeu_si128((__m128i *)(d + 32), c);
			_mm_storeu_si128((__m128i *)(d + 48), z);
			return 0;
		}
	}
#endif
	return at_utf8_copy((char *)d, v, n);
}

/* ---- a span's attributes ----
 *
 * The common attribute (a cached key; a number, or a string whose KeyValue
 * is under 128 bytes so that every length takes one byte, valid UTF-8) is
 * written through a local pointer, with one reserve for all of the span's
 * attributes: ATTR_FAST bytes each covers the 2 + 127 bytes written and the
 * whole moves past them (the key's 48 bytes from its third byte, the value's
 * up to 32 past its end). Any other goes to attr_general. */
#define ATTR_FAST (2 + 127 + 32)

static inline unsigned char *key_copy(unsigned char *p, const struct key_enc *e)
{
	memcpy(p, e->enc, KEY_ENC_MAX);
	return p + e->n;
}

/* Writes the attribute at p and returns its end, or NULL (nothing that
 * counts written) when it is not the common case. */
static inline __attribute__((always_inline)) unsigned char *
attr_fast(unsigned char *p, unsigned char tag, const struct at_span *s, const struct at_attr *a)
{
	const struct key_enc *e = key_enc(a->key);
	if (__builtin_expect(!e, 0))
		return NULL;
	uint64_t u;
	unsigned char vkey;
	size_t any;
	if (__builtin_expect(a->type == AT_ATTR_STR, 1)) {
		struct at_str r = a->v.s;
		size_t kv = e->n + 4 + r.len;
		if (__builtin_expect(kv >= 0x80, 0))
			return NULL;
		/* tag, length; the key; AnyValue's tag and length, its string's
		 * tag and length: little-endian stores of 2 and 4 bytes */
		uint16_t h = (uint16_t)(tag | kv << 8);
		uint32_t v = PB_KEY(2, PB_LEN) | (uint32_t)(r.len + 2) << 8 |
		             (uint32_t)ANY_STR << 16 | (uint32_t)r.len << 24;
		memcpy(p, &h, 2);
		p = key_copy(p + 2, e);
		memcpy(p, &v, 4);
		if (__builtin_expect(arena_copy(p + 4, s, r), 0))
			return NULL;
		return p + 4 + r.len;
	}
	switch (a->type) {
	case AT_ATTR_INT:
	case AT_ATTR_BOOL:
		u = (uint64_t)a->v.i;
		vkey = a->type == AT_ATTR_INT ? ANY_INT : ANY_BOOL;
		any = 1 + pb_varint_len(u);
		break;
	case AT_ATTR_DOUBLE:
		memcpy(&u, &a->v.d, 8);
		vkey = ANY_DOUBLE;
		any = 9;
		break;
	default:
		return NULL;
	}
	/* at most 2 + 48 + 2 + 11 bytes: every length takes one byte */
	p[0] = tag;
	p[1] = (unsigned char)(e->n + 2 + any);
	p = key_copy(p + 2, e);
	p[0] = PB_KEY(2, PB_LEN);
	p[1] = (unsigned char)any;
	p[2] = vkey;
	if (vkey == ANY_DOUBLE)
		return pb_put_fixed64(p + 3, u);
	return pb_put_varint(p + 3, u);
}

/* Any attribute: the key measured and checked, the value checked. */
static __attribute__((noinline)) void attr_general(struct at_buf *b, unsigned char tag,
                                                   const struct at_span *s, const struct at_attr *a)
{
	const char *k = a->key;
	size_t kn = strlen(k);
	switch (a->type) {
	case AT_ATTR_STR: {
		const char *v = at_span_str(s, a->v.s);
		if (kv_fast(b, tag, k, kn, ANY_STR, v, a->v.s.len, 0))
			kv_slow(b, tag >> 3, k, ANY_STR, v, a->v.s.len, 0);
		break;
	}
	case AT_ATTR_INT:
		kv(b, tag, k, ANY_INT, NULL, 0, (uint64_t)a->v.i);
		break;
	case AT_ATTR_BOOL:
		kv(b, tag, k, ANY_BOOL, NULL, 0, (uint64_t)a->v.i);
		break;
	case AT_ATTR_DOUBLE: {
		uint64_t u;
		memcpy(&u, &a->v.d, 8);
		kv(b, tag, k, ANY_DOUBLE, NULL, 0, u);
		break;
	}
	default: /* not rendered: an empty value */
		kv(b, tag, k, ANY_NONE, NULL, 0, 0);
	}
}

/* n attributes, each a field tag (Span.attributes, Event.attributes), at
 * p with n * ATTR_FAST bytes reserved there; returns the end (b->len not
 * updated), NULL when out of memory. */
static unsigned char *attrs_at(struct at_buf *b, unsigned char *p, unsigned char tag,
                               const struct at_span *s, const struct at_attr *as, int n)
{
	for (int i = 0; i < n; i++) {
		unsigned char *q = attr_fast(p, tag, s, &as[i]);
		if (__builtin_expect(q != NULL, 1)) {
			p = q;
			continue;
		}
		b->len = (size_t)((char *)p - b->data);
		attr_general(b, tag, s, &as[i]);
		if (at_buf_reserve(b, (size_t)(n - i - 1) * ATTR_FAST))
			return NULL;
		p = (unsigned char *)b->data + b->len;
	}
	return p;
}

/* A string field from the arena (the tracestate, the name) at p, where
 * 11 + r.len + VAL_COPY bytes are reserved; returns the end. Not valid
 * UTF-8: written by pb_string, then more bytes reserved again (NULL when
 * out of memory). */
static unsigned char *arena_field(struct at_buf *b, unsigned char *p, unsigned char tag,
                                  const struct at_span *s, struct at_str r, size_t more)
{
	unsigned char *q = pb_put_varint(p + 1, r.len);
	*p = tag;
	if (__builtin_expect(!arena_copy(q, s, r), 1))
		return q + r.len;
	b->len = (size_t)((char *)p - b->data);
	pb_string(b, tag >> 3, at_span_str(s, r), r.len);
	if (at_buf_reserve(b, more))
		return NULL;
	return (unsigned char *)b->data + b->len;
}

/* A string field from the arena (the status message): pb_string_fast with
 * arena_copy. */
static void arena_string(struct at_buf *b, unsigned char tag, const struct at_span *s,
                         struct at_str r)
{
	if (at_buf_reserve(b, 11 + r.len + VAL_COPY))
		return;
	unsigned char *p = (unsigned char *)b->data + b->len;
	p = arena_field(b, p, tag, s, r, 0);
	if (p)
		b->len = (size_t)((char *)p - b->data);
}

static void span(struct at_buf *b, const struct at_span *s)
{
	/* the head up to the attributes and the common attributes with one
	 * reserve, written through p: ScopeSpans.spans with a 2-byte length
	 * (most spans take 128 B to 16 KiB), ids, tracestate, parent, name,
	 * kind, times */
	size_t need = 3 + 28 + 2 * (11 + VAL_COPY) + s->tracestate.len + 10 + s->name.len + 29 +
	              (size_t)s->nattrs * ATTR_FAST;
	if (at_buf_reserve(b, need))
		return;
	unsigned char *p = (unsigned char *)b->data + b->len;
	*p++ = PB_KEY(2, PB_LEN);
	p += 2;
	size_t sp = (size_t)((char *)p - b->data);
	*p++ = PB_KEY(1, PB_LEN);
	*p++ = 16;
	memcpy(p, s->ctx.trace_id, 16);
	p += 16;
	*p++ = PB_KEY(2, PB_LEN);
	*p++ = 8;
	memcpy(p, s->ctx.span_id, 8);
	p += 8;
	if (s->tracestate.len &&
	    !(p = arena_field(b, p, PB_KEY(3, PB_LEN), s, s->tracestate, need)))
		return;
	uint64_t parent;
	memcpy(&parent, s->parent_id, 8);
	if (parent) {
		*p++ = PB_KEY(4, PB_LEN);
		*p++ = 8;
		memcpy(p, &parent, 8);
		p += 8;
	}
	if (!(p = arena_field(b, p, PB_KEY(5, PB_LEN), s, s->name, need)))
		return;
	*p++ = PB_KEY(6, PB_VARINT);
	p = pb_put_varint(p, s->kind);
	*p++ = PB_KEY(7, PB_I64);
	p = pb_put_fixed64(p, s->start_ns);
	*p++ = PB_KEY(8, PB_I64);
	p = pb_put_fixed64(p, s->end_ns);
	if (!(p = attrs_at(b, p, PB_KEY(9, PB_LEN), s, s->attrs, s->nattrs)))
		return;
	b->len = (size_t)((char *)p - b->data);
	if (s->dropped_attrs) {
		pb_tag(b, 10, PB_VARINT);
		pb_varint(b, s->dropped_attrs);
	}
	for (int e = 0; e < s->nevents; e++) {
		const struct at_event *ev = &s->events[e];
		size_t em = pb_open_n(b, 11, 2);
		pb_fixed64(b, 1, ev->time_ns);
		pb_string_fast(b, PB_KEY(2, PB_LEN), ev->name, strlen(ev->name));
		if (at_buf_reserve(b, (size_t)ev->nattrs * ATTR_FAST))
			return;
		p = attrs_at(b, (unsigned char *)b->data + b->len, PB_KEY(3, PB_LEN), s, ev->attrs,
		             ev->nattrs);
		if (!p)
			return;
		b->len = (size_t)((char *)p - b->data);
		pb_close_n(b, em, 2);
	}
	if (s->dropped_events) {
		pb_tag(b, 12, PB_VARINT);
		pb_varint(b, s->dropped_events);
	}
	if (s->status) {
		size_t st = pb_open(b, 15);
		if (s->status == AT_STATUS_ERROR && s->status_msg.len)
			arena_string(b, PB_KEY(2, PB_LEN), s, s->status_msg);
		pb_tag(b, 3, PB_VARINT);
		pb_varint(b, s->status);
		pb_close(b, st);
	}
	pb_close_n(b, sp, 2);
}

int at_otlp_encode_proto(struct at_buf *b, struct at_span *const *spans, size_t n)
{
	/* The two outer lengths cover the whole batch: guess their size from
	 * the span count so that the batch is normally not moved. */
	size_t k = pb_varint_len((uint64_t)n * 300 + 512);
	size_t rs = pb_open_n(b, 1, k);  /* ExportTraceServiceRequest.resource_spans */
	size_t res = pb_open_n(b, 1, 2); /* ResourceSpans.resource */
	/* kv, not the key cache: resource keys may live on the heap
	 * (OTEL_RESOURCE_ATTRIBUTES, decoded), and there are few */
	for (int i = 0; i < at_resource_n; i++) {
		const struct at_kv *r = &at_resource[i];
		if (r->str)
			kv(b, PB_KEY(1, PB_LEN), r->key, ANY_STR, r->str, strlen(r->str), 0);
		else
			kv(b, PB_KEY(1, PB_LEN), r->key, ANY_INT, NULL, 0, (uint64_t)r->i);
	}
	pb_close_n(b, res, 2);
	size_t ss = pb_open_n(b, 2, k); /* ResourceSpans.scope_spans */
	size_t scope = pb_open(b, 1);
	pb_string(b, 1, AT_SDK_NAME, sizeof AT_SDK_NAME - 1);
	pb_string(b, 2, AT_SDK_VERSION, sizeof AT_SDK_VERSION - 1);
	pb_close(b, scope);
	for (size_t i = 0; i < n; i++)
		span(b, spans[i]);
	pb_close_n(b, ss, k);
	pb_close_n(b, rs, k);
	return b->oom ? -1 : 0;
}
