/* OTLP protobuf (opentelemetry/proto/trace/v1/trace.proto, field numbers
 * from the official definitions): one ResourceSpans, one ScopeSpans. */
#define _GNU_SOURCE
#include "otlp.h"

#include "../preload/autotrace.h"
#include "../preload/resource.h"
#include "pb.h"

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

/* kv_fast is inlined per value type, so each copy is straight-line code;
 * and into the span's loop over its attributes. */
static inline __attribute__((always_inline)) void
attr_inline(struct at_buf *b, unsigned char tag, const struct at_span *s, const struct at_attr *a)
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
		if (kv_fast(b, tag, k, kn, ANY_INT, NULL, 0, (uint64_t)a->v.i))
			kv_slow(b, tag >> 3, k, ANY_INT, NULL, 0, (uint64_t)a->v.i);
		break;
	case AT_ATTR_BOOL:
		if (kv_fast(b, tag, k, kn, ANY_BOOL, NULL, 0, (uint64_t)a->v.i))
			kv_slow(b, tag >> 3, k, ANY_BOOL, NULL, 0, (uint64_t)a->v.i);
		break;
	case AT_ATTR_DOUBLE: {
		uint64_t u;
		memcpy(&u, &a->v.d, 8);
		if (kv_fast(b, tag, k, kn, ANY_DOUBLE, NULL, 0, u))
			kv_slow(b, tag >> 3, k, ANY_DOUBLE, NULL, 0, u);
		break;
	}
	default: /* not rendered: an empty value */
		kv(b, tag, k, ANY_NONE, NULL, 0, 0);
	}
}

/* Events' attributes (rare): one out-of-line copy. */
static __attribute__((noinline)) void attr(struct at_buf *b, unsigned char tag,
                                           const struct at_span *s, const struct at_attr *a)
{
	attr_inline(b, tag, s, a);
}

static void span(struct at_buf *b, const struct at_span *s)
{
	size_t sp = pb_open_n(b, 2, 2); /* ScopeSpans.spans; most take 128 B to 16 KiB */
	if (at_buf_reserve(b, 28))
		return;
	unsigned char *p = (unsigned char *)b->data + b->len;
	*p++ = PB_KEY(1, PB_LEN);
	*p++ = 16;
	memcpy(p, s->ctx.trace_id, 16);
	p += 16;
	*p++ = PB_KEY(2, PB_LEN);
	*p++ = 8;
	memcpy(p, s->ctx.span_id, 8);
	p += 8;
	b->len = (size_t)((char *)p - b->data);
	if (s->tracestate.len)
		pb_string_fast(b, PB_KEY(3, PB_LEN), at_span_str(s, s->tracestate),
		               s->tracestate.len);
	uint64_t parent;
	memcpy(&parent, s->parent_id, 8);
	if (parent)
		pb_bytes(b, 4, s->parent_id, 8);
	pb_string_fast(b, PB_KEY(5, PB_LEN), at_span_str(s, s->name), s->name.len);
	if (at_buf_reserve(b, 29))
		return;
	p = (unsigned char *)b->data + b->len;
	*p++ = PB_KEY(6, PB_VARINT);
	p = pb_put_varint(p, s->kind);
	*p++ = PB_KEY(7, PB_I64);
	p = pb_put_fixed64(p, s->start_ns);
	*p++ = PB_KEY(8, PB_I64);
	p = pb_put_fixed64(p, s->end_ns);
	b->len = (size_t)((char *)p - b->data);
	for (int i = 0; i < s->nattrs; i++)
		attr_inline(b, PB_KEY(9, PB_LEN), s, &s->attrs[i]);
	if (s->dropped_attrs) {
		pb_tag(b, 10, PB_VARINT);
		pb_varint(b, s->dropped_attrs);
	}
	for (int e = 0; e < s->nevents; e++) {
		const struct at_event *ev = &s->events[e];
		size_t em = pb_open_n(b, 11, 2);
		pb_fixed64(b, 1, ev->time_ns);
		pb_string_fast(b, PB_KEY(2, PB_LEN), ev->name, strlen(ev->name));
		for (int i = 0; i < ev->nattrs; i++)
			attr(b, PB_KEY(3, PB_LEN), s, &ev->attrs[i]);
		pb_close_n(b, em, 2);
	}
	if (s->dropped_events) {
		pb_tag(b, 12, PB_VARINT);
		pb_varint(b, s->dropped_events);
	}
	if (s->status) {
		size_t st = pb_open(b, 15);
		if (s->status == AT_STATUS_ERROR && s->status_msg.len)
			pb_string_fast(b, PB_KEY(2, PB_LEN), at_span_str(s, s->status_msg),
			               s->status_msg.len);
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
