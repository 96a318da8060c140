/* OTLP/JSON: the protobuf JSON mapping with the OTLP exceptions (ids as
 * lowercase hex, enums as integers, 64-bit integers as strings). */
#define _GNU_SOURCE
#include "otlp.h"

#include "../preload/autotrace.h"
#include "../preload/propagation.h"
#include "../preload/resource.h"

#include <inttypes.h>
#include <string.h>

static void attr(struct at_buf *b, const struct at_span *s, const struct at_attr *a)
{
	at_buf_adds(b, "{\"key\":");
	at_buf_add_json_quoted(b, a->key, strlen(a->key));
	at_buf_adds(b, ",\"value\":{");
	switch (a->type) {
	case AT_ATTR_STR:
		at_buf_adds(b, "\"stringValue\":");
		at_buf_add_json_quoted(b, at_span_str(s, a->v.s), a->v.s.len);
		break;
	case AT_ATTR_BOOL:
		at_buf_adds(b, a->v.i ? "\"boolValue\":true" : "\"boolValue\":false");
		break;
	case AT_ATTR_INT:
		at_buf_printf(b, "\"intValue\":\"%" PRId64 "\"", a->v.i);
		break;
	case AT_ATTR_DOUBLE:
		if (a->v.d != a->v.d)
			at_buf_adds(b, "\"doubleValue\":\"NaN\"");
		else
			at_buf_printf(b, "\"doubleValue\":%.17g", a->v.d);
		break;
	}
	at_buf_adds(b, "}}");
}

static void span(struct at_buf *b, const struct at_span *s)
{
	at_buf_adds(b, "{\"traceId\":");
	at_buf_add_hex_quoted(b, s->ctx.trace_id, 16);
	at_buf_adds(b, ",\"spanId\":");
	at_buf_add_hex_quoted(b, s->ctx.span_id, 8);
	if (s->tracestate.len) {
		at_buf_adds(b, ",\"traceState\":");
		at_buf_add_json_quoted(b, at_span_str(s, s->tracestate), s->tracestate.len);
	}
	static const uint8_t zero[8];
	if (memcmp(s->parent_id, zero, 8)) {
		at_buf_adds(b, ",\"parentSpanId\":");
		at_buf_add_hex_quoted(b, s->parent_id, 8);
	}
	at_buf_adds(b, ",\"name\":");
	at_buf_add_json_quoted(b, at_span_str(s, s->name), s->name.len);
	at_buf_printf(b,
		      ",\"kind\":%d,\"startTimeUnixNano\":\"%" PRIu64 "\",\"endTimeUnixNano\":\"%" PRIu64
		      "\",\"attributes\":[",
		      s->kind, s->start_ns, s->end_ns);
	for (int i = 0; i < s->nattrs; i++) {
		if (i)
			at_buf_addc(b, ',');
		attr(b, s, &s->attrs[i]);
	}
	at_buf_addc(b, ']');
	if (s->dropped_attrs)
		at_buf_printf(b, ",\"droppedAttributesCount\":%u", s->dropped_attrs);
	if (s->nevents) {
		at_buf_adds(b, ",\"events\":[");
		for (int e = 0; e < s->nevents; e++) {
			const struct at_event *ev = &s->events[e];
			at_buf_printf(b, "%s{\"timeUnixNano\":\"%" PRIu64 "\",\"name\":", e ? "," : "",
				      ev->time_ns);
			at_buf_add_json_quoted(b, ev->name, strlen(ev->name));
			at_buf_adds(b, ",\"attributes\":[");
			for (int i = 0; i < ev->nattrs; i++) {
				if (i)
					at_buf_addc(b, ',');
				attr(b, s, &ev->attrs[i]);
			}
			at_buf_adds(b, "]}");
		}
		at_buf_addc(b, ']');
	}
	if (s->dropped_events)
		at_buf_printf(b, ",\"droppedEventsCount\":%u", s->dropped_events);
	at_buf_printf(b, ",\"status\":{\"code\":%d", s->status);
	if (s->status == AT_STATUS_ERROR && s->status_msg.len) {
		at_buf_adds(b, ",\"message\":");
		at_buf_add_json_quoted(b, at_span_str(s, s->status_msg), s->status_msg.len);
	}
	at_buf_adds(b, "}}");
}

int at_otlp_encode_json(struct at_buf *b, struct at_span *const *spans, size_t n)
{
	at_buf_adds(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
	for (int i = 0; i < at_resource_n; i++) {
		const struct at_kv *kv = &at_resource[i];
		if (i)
			at_buf_addc(b, ',');
		at_buf_adds(b, "{\"key\":");
		at_buf_add_json_quoted(b, kv->key, strlen(kv->key));
		if (kv->str) {
			at_buf_adds(b, ",\"value\":{\"stringValue\":");
			at_buf_add_json_quoted(b, kv->str, strlen(kv->str));
			at_buf_adds(b, "}}");
		} else {
			at_buf_printf(b, ",\"value\":{\"intValue\":\"%" PRId64 "\"}}", kv->i);
		}
	}
	at_buf_adds(b, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"" AT_SDK_NAME
		       "\",\"version\":\"" AT_SDK_VERSION "\"},\"spans\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			at_buf_addc(b, ',');
		span(b, spans[i]);
	}
	at_buf_adds(b, "]}]}]}");
	return b->oom ? -1 : 0;
}
