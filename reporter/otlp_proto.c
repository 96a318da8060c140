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

static void kv_str(struct at_buf *b, unsigned field, const char *k, const char *v, size_t vn)
{
	size_t kv = pb_open(b, field);
	pb_string(b, 1, k, strlen(k));
	size_t any = pb_open(b, 2);
	pb_string(b, 1, v, vn);
	pb_close(b, any);
	pb_close(b, kv);
}

static void attr(struct at_buf *b, unsigned field, const struct at_span *s, const struct at_attr *a)
{
	size_t kv = pb_open(b, field);
	pb_string(b, 1, a->key, strlen(a->key));
	size_t any = pb_open(b, 2);
	switch (a->type) {
	case AT_ATTR_STR:
		pb_string(b, 1, at_span_str(s, a->v.s), a->v.s.len);
		break;
	case AT_ATTR_BOOL:
		pb_tag(b, 2, PB_VARINT);
		pb_varint(b, (uint64_t)a->v.i);
		break;
	case AT_ATTR_INT:
		pb_tag(b, 3, PB_VARINT);
		pb_varint(b, (uint64_t)a->v.i);
		break;
	case AT_ATTR_DOUBLE: {
		uint64_t bits;
		memcpy(&bits, &a->v.d, 8);
		pb_fixed64(b, 4, bits);
		break;
	}
	}
	pb_close(b, any);
	pb_close(b, kv);
}

static void span(struct at_buf *b, const struct at_span *s)
{
	size_t sp = pb_open(b, 2); /* ScopeSpans.spans */
	pb_bytes(b, 1, s->ctx.trace_id, 16);
	pb_bytes(b, 2, s->ctx.span_id, 8);
	if (s->tracestate.len)
		pb_string(b, 3, at_span_str(s, s->tracestate), s->tracestate.len);
	static const uint8_t zero[8];
	if (memcmp(s->parent_id, zero, 8))
		pb_bytes(b, 4, s->parent_id, 8);
	pb_string(b, 5, at_span_str(s, s->name), s->name.len);
	pb_tag(b, 6, PB_VARINT);
	pb_varint(b, s->kind);
	pb_fixed64(b, 7, s->start_ns);
	pb_fixed64(b, 8, s->end_ns);
	for (int i = 0; i < s->nattrs; i++)
		attr(b, 9, s, &s->attrs[i]);
	if (s->dropped_attrs) {
		pb_tag(b, 10, PB_VARINT);
		pb_varint(b, s->dropped_attrs);
	}
	for (int e = 0; e < s->nevents; e++) {
		const struct at_event *ev = &s->events[e];
		size_t em = pb_open(b, 11);
		pb_fixed64(b, 1, ev->time_ns);
		pb_string(b, 2, ev->name, strlen(ev->name));
		for (int i = 0; i < ev->nattrs; i++)
			attr(b, 3, s, &ev->attrs[i]);
		pb_close(b, em);
	}
	if (s->dropped_events) {
		pb_tag(b, 12, PB_VARINT);
		pb_varint(b, s->dropped_events);
	}
	if (s->status) {
		size_t st = pb_open(b, 15);
		if (s->status == AT_STATUS_ERROR && s->status_msg.len)
			pb_string(b, 2, at_span_str(s, s->status_msg), s->status_msg.len);
		pb_tag(b, 3, PB_VARINT);
		pb_varint(b, s->status);
		pb_close(b, st);
	}
	pb_close(b, sp);
}

int at_otlp_encode_proto(struct at_buf *b, struct at_span *const *spans, size_t n)
{
	size_t rs = pb_open(b, 1); /* ExportTraceServiceRequest.resource_spans */
	size_t res = pb_open(b, 1); /* ResourceSpans.resource */
	for (int i = 0; i < at_resource_n; i++) {
		const struct at_kv *kv = &at_resource[i];
		if (kv->str) {
			kv_str(b, 1, kv->key, kv->str, strlen(kv->str));
		} else {
			size_t m = pb_open(b, 1);
			pb_string(b, 1, kv->key, strlen(kv->key));
			size_t any = pb_open(b, 2);
			pb_tag(b, 3, PB_VARINT);
			pb_varint(b, (uint64_t)kv->i);
			pb_close(b, any);
			pb_close(b, m);
		}
	}
	pb_close(b, res);
	size_t ss = pb_open(b, 2); /* ResourceSpans.scope_spans */
	size_t scope = pb_open(b, 1);
	pb_string(b, 1, AT_SDK_NAME, sizeof AT_SDK_NAME - 1);
	pb_string(b, 2, AT_SDK_VERSION, sizeof AT_SDK_VERSION - 1);
	pb_close(b, scope);
	for (size_t i = 0; i < n; i++)
		span(b, spans[i]);
	pb_close(b, ss);
	pb_close(b, rs);
	return b->oom ? -1 : 0;
}
