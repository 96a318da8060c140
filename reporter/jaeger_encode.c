/* Span -> jaeger.thrift. Ids: the 128-bit trace id as two big-endian
 * halves (traceIdHigh, traceIdLow), span ids as big-endian i64. Times in
 * microseconds. OpenTelemetry's mapping to Jaeger gives the extra tags:
 * span.kind, error, otel.status_code/description, otel.scope.*,
 * w3c.tracestate, otel.dropped_attributes_count/events_count. */
#define _GNU_SOURCE
#include "jaeger.h"

#include "../preload/autotrace.h"
#include "../preload/resource.h"

#include <string.h>

_Static_assert(AT_MAX_ATTRS <= 32, "the trimming mask has 32 bits");

enum { TAG_STRING = 0, TAG_DOUBLE = 1, TAG_BOOL = 2, TAG_LONG = 3 };

static int64_t be64id(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return (int64_t)v;
}

static void tag_str(struct at_thrift *t, const char *k, const char *v, size_t n)
{
	thr_struct_begin(t);
	thr_field_string(t, 1, k, strlen(k));
	thr_field_i32(t, 2, TAG_STRING);
	thr_field_string(t, 3, v, n);
	thr_struct_end(t);
}

static void tag_long(struct at_thrift *t, const char *k, int64_t v)
{
	thr_struct_begin(t);
	thr_field_string(t, 1, k, strlen(k));
	thr_field_i32(t, 2, TAG_LONG);
	thr_field_i64(t, 6, v);
	thr_struct_end(t);
}

static void tag_bool(struct at_thrift *t, const char *k, int v)
{
	thr_struct_begin(t);
	thr_field_string(t, 1, k, strlen(k));
	thr_field_i32(t, 2, TAG_BOOL);
	thr_field_bool(t, 5, v);
	thr_struct_end(t);
}

static void tag_attr(struct at_thrift *t, const struct at_span *s, const struct at_attr *a)
{
	switch (a->type) {
	case AT_ATTR_STR:
		tag_str(t, a->key, at_span_str(s, a->v.s), a->v.s.len);
		break;
	case AT_ATTR_INT:
		tag_long(t, a->key, a->v.i);
		break;
	case AT_ATTR_BOOL:
		tag_bool(t, a->key, (int)a->v.i);
		break;
	default:
		thr_struct_begin(t);
		thr_field_string(t, 1, a->key, strlen(a->key));
		thr_field_i32(t, 2, TAG_DOUBLE);
		thr_field_double(t, 4, a->v.d);
		thr_struct_end(t);
		break;
	}
}

static const char *kind_name(int kind)
{
	switch (kind) {
	case AT_KIND_SERVER:
		return "server";
	case AT_KIND_CLIENT:
		return "client";
	case AT_KIND_PRODUCER:
		return "producer";
	case AT_KIND_CONSUMER:
		return "consumer";
	default:
		return NULL;
	}
}

void at_jaeger_span(struct at_thrift *t, const struct at_span *s, uint32_t drop_attrs,
                    int keep_logs)
{
	static const uint8_t zero[8];
	int has_parent = memcmp(s->parent_id, zero, 8) != 0;
	int keep_attrs = 0;
	for (int i = 0; i < s->nattrs; i++)
		keep_attrs += !(drop_attrs >> i & 1);
	if (keep_logs > s->nevents)
		keep_logs = s->nevents;
	uint32_t dropped_attrs = s->dropped_attrs + (uint32_t)(s->nattrs - keep_attrs);
	uint32_t dropped_events = s->dropped_events + (uint32_t)(s->nevents - keep_logs);
	const char *kind = kind_name(s->kind);

	thr_struct_begin(t);
	thr_field_i64(t, 1, be64id(s->ctx.trace_id + 8));
	thr_field_i64(t, 2, be64id(s->ctx.trace_id));
	thr_field_i64(t, 3, be64id(s->ctx.span_id));
	thr_field_i64(t, 4, has_parent ? be64id(s->parent_id) : 0);
	thr_field_string(t, 5, at_span_str(s, s->name), s->name.len);
	if (has_parent) {
		thr_field(t, THR_LIST, 6);
		thr_list_begin(t, THR_STRUCT, 1);
		thr_struct_begin(t);
		thr_field_i32(t, 1, 0); /* CHILD_OF */
		thr_field_i64(t, 2, be64id(s->ctx.trace_id + 8));
		thr_field_i64(t, 3, be64id(s->ctx.trace_id));
		thr_field_i64(t, 4, be64id(s->parent_id));
		thr_struct_end(t);
	}
	thr_field_i32(t, 7, s->ctx.flags & AT_FLAG_SAMPLED);
	thr_field_i64(t, 8, (int64_t)(s->start_ns / 1000));
	uint64_t dur = s->end_ns > s->start_ns ? (s->end_ns - s->start_ns) / 1000 : 0;
	thr_field_i64(t, 9, (int64_t)dur);

	uint32_t ntags = (uint32_t)keep_attrs + 2; /* + otel.scope.name/version */
	ntags += kind != NULL;
	ntags += s->status != AT_STATUS_UNSET;                      /* otel.status_code */
	ntags += s->status == AT_STATUS_ERROR;                      /* error */
	ntags += s->status == AT_STATUS_ERROR && s->status_msg.len; /* description */
	ntags += s->tracestate.len != 0;
	ntags += dropped_attrs != 0;
	ntags += dropped_events != 0;
	thr_field(t, THR_LIST, 10);
	thr_list_begin(t, THR_STRUCT, ntags);
	for (int i = 0; i < s->nattrs; i++)
		if (!(drop_attrs >> i & 1))
			tag_attr(t, s, &s->attrs[i]);
	tag_str(t, "otel.scope.name", AT_SDK_NAME, sizeof AT_SDK_NAME - 1);
	tag_str(t, "otel.scope.version", AT_SDK_VERSION, sizeof AT_SDK_VERSION - 1);
	if (kind)
		tag_str(t, "span.kind", kind, strlen(kind));
	if (s->status == AT_STATUS_ERROR) {
		tag_str(t, "otel.status_code", "ERROR", 5);
		tag_bool(t, "error", 1);
		if (s->status_msg.len)
			tag_str(t, "otel.status_description", at_span_str(s, s->status_msg),
			        s->status_msg.len);
	} else if (s->status == AT_STATUS_OK) {
		tag_str(t, "otel.status_code", "OK", 2);
	}
	if (s->tracestate.len)
		tag_str(t, "w3c.tracestate", at_span_str(s, s->tracestate), s->tracestate.len);
	if (dropped_attrs)
		tag_long(t, "otel.dropped_attributes_count", dropped_attrs);
	if (dropped_events)
		tag_long(t, "otel.dropped_events_count", dropped_events);

	if (keep_logs > 0) {
		thr_field(t, THR_LIST, 11);
		thr_list_begin(t, THR_STRUCT, (uint32_t)keep_logs);
		for (int e = 0; e < keep_logs; e++) {
			const struct at_event *ev = &s->events[e];
			thr_struct_begin(t);
			thr_field_i64(t, 1, (int64_t)(ev->time_ns / 1000));
			thr_field(t, THR_LIST, 2);
			thr_list_begin(t, THR_STRUCT, 1u + ev->nattrs);
			tag_str(t, "event", ev->name, strlen(ev->name));
			for (int i = 0; i < ev->nattrs; i++)
				tag_attr(t, s, &ev->attrs[i]);
			thr_struct_end(t);
		}
	}
	thr_struct_end(t);
}

void at_jaeger_process(struct at_thrift *t)
{
	const char *svc = at_resource_get("service.name");
	if (!svc)
		svc = "unknown_service";
	thr_struct_begin(t);
	thr_field_string(t, 1, svc, strlen(svc));
	uint32_t n = 0;
	for (int i = 0; i < at_resource_n; i++)
		n += strcmp(at_resource[i].key, "service.name") != 0;
	thr_field(t, THR_LIST, 2);
	thr_list_begin(t, THR_STRUCT, n);
	for (int i = 0; i < at_resource_n; i++) {
		const struct at_kv *kv = &at_resource[i];
		if (!strcmp(kv->key, "service.name"))
			continue;
		if (kv->str)
			tag_str(t, kv->key, kv->str, strlen(kv->str));
		else
			tag_long(t, kv->key, kv->i);
	}
	thr_struct_end(t);
}

int at_jaeger_encode_batch(struct at_buf *b, int compact, struct at_span *const *spans, size_t n)
{
	struct at_thrift t;
	thr_init(&t, b, compact);
	thr_struct_begin(&t);
	thr_field(&t, THR_STRUCT, 1);
	at_jaeger_process(&t);
	thr_field(&t, THR_LIST, 2);
	thr_list_begin(&t, THR_STRUCT, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		at_jaeger_span(&t, spans[i], 0, AT_MAX_EVENTS);
	thr_struct_end(&t);
	thr_free(&t);
	return b->oom ? -1 : 0;
}

/* ---- Agent.emitBatch packets ---- */

/* Everything before the spans list header: message, args.batch, process. */
static void packet_head(struct at_jaeger_packer *p)
{
	struct at_thrift t;
	at_buf_reset(&p->head);
	thr_init(&t, &p->head, 1);
	thr_message_begin(&t, "emitBatch", THR_ONEWAY, ++p->seqid);
	thr_struct_begin(&t); /* emitBatch_args */
	thr_field(&t, THR_STRUCT, 1);
	thr_struct_begin(&t); /* Batch */
	thr_field(&t, THR_STRUCT, 1);
	at_jaeger_process(&t);
	thr_field(&t, THR_LIST, 2);
	thr_free(&t);
}

static size_t list_hdr(uint32_t n)
{
	struct at_thrift t = {.compact = 1};
	return thr_list_header_size(&t, n);
}

static int flush(struct at_jaeger_packer *p, uint32_t count,
                 int (*send)(void *, const void *, size_t), void *ctx)
{
	struct at_thrift t;
	at_buf_reset(&p->pkt);
	at_buf_add(&p->pkt, p->head.data, p->head.len);
	thr_init(&t, &p->pkt, 1);
	thr_list_begin(&t, THR_STRUCT, count);
	at_buf_add(&p->pkt, p->spans.data, p->spans.len);
	at_buf_add(&p->pkt, "\0\0", 2); /* STOP of Batch, STOP of args */
	thr_free(&t);
	at_buf_reset(&p->spans);
	if (p->pkt.oom)
		return -1;
	return send(ctx, p->pkt.data, p->pkt.len);
}

static void encode_one(struct at_jaeger_packer *p, const struct at_span *s, uint32_t drop, int logs)
{
	struct at_thrift t;
	at_buf_reset(&p->one);
	thr_init(&t, &p->one, 1);
	at_jaeger_span(&t, s, drop, logs);
	thr_free(&t);
}

/* The kept attribute that costs the most bytes: the one to drop next. */
static int largest_attr(const struct at_span *s, uint32_t drop)
{
	int best = -1;
	size_t best_size = 0;
	for (int i = 0; i < s->nattrs; i++) {
		if (drop >> i & 1)
			continue;
		size_t size = strlen(s->attrs[i].key) + 10;
		if (s->attrs[i].type == AT_ATTR_STR)
			size += s->attrs[i].v.s.len;
		if (best < 0 || size > best_size) {
			best = i;
			best_size = size;
		}
	}
	return best;
}

size_t at_jaeger_pack(struct at_jaeger_packer *p, struct at_span *const *spans, size_t n,
                      size_t max_bytes, int (*send)(void *ctx, const void *pkt, size_t len),
                      void *ctx)
{
	packet_head(p);
	if (p->head.oom)
		return 0;
	/* + the two STOPs, + 4: the next packet's seqid may take more bytes */
	size_t fixed = p->head.len + 2 + 4;
	size_t sent = 0;
	uint32_t count = 0;
	at_buf_reset(&p->spans);
	for (size_t i = 0; i < n; i++) {
		const struct at_span *s = spans[i];
		uint32_t drop = 0;
		int logs = s->nevents, victim;
		encode_one(p, s, drop, logs);
		/* alone in a packet it must fit: trim events, then the largest attributes */
		while (fixed + list_hdr(1) + p->one.len > max_bytes) {
			if (logs > 0)
				logs--;
			else if ((victim = largest_attr(s, drop)) >= 0)
				drop |= 1u << victim;
			else
				break;
			encode_one(p, s, drop, logs);
		}
		if (drop || logs != s->nevents)
			p->trimmed_spans++;
		if (p->one.oom || fixed + list_hdr(1) + p->one.len > max_bytes) {
			p->dropped_spans++;
			continue;
		}
		if (count && fixed + list_hdr(count + 1) + p->spans.len + p->one.len > max_bytes) {
			if (flush(p, count, send, ctx) == 0)
				sent += count;
			else
				p->dropped_spans += count;
			count = 0;
			packet_head(p); /* a new seqid */
			fixed = p->head.len + 2 + 4;
		}
		at_buf_add(&p->spans, p->one.data, p->one.len);
		count++;
	}
	if (count) {
		if (flush(p, count, send, ctx) == 0)
			sent += count;
		else
			p->dropped_spans += count;
	}
	return sent;
}

void at_jaeger_packer_free(struct at_jaeger_packer *p)
{
	at_buf_free(&p->head);
	at_buf_free(&p->spans);
	at_buf_free(&p->one);
	at_buf_free(&p->pkt);
}
