/* Zipkin v2 JSON (zipkin2-api.yaml: ListOfSpans) POSTed to
 * OTEL_EXPORTER_ZIPKIN_ENDPOINT. Mapping from the OpenTelemetry
 * specification's Zipkin exporter: tags are strings, events become
 * annotations, status in otel.status_code / error. */
#define _GNU_SOURCE
#include "http_backend.h"

#include "../preload/autotrace.h"
#include "../preload/config.h"
#include "../preload/log.h"
#include "../preload/propagation.h"
#include "../preload/resource.h"
#include "buf.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

int at_zipkin_encode(struct at_buf *b, struct at_span *const *spans, size_t n);

/* An attribute value as the string Zipkin wants (quoted). */
static void value_str(struct at_buf *b, const struct at_span *s, const struct at_attr *a)
{
	switch (a->type) {
	case AT_ATTR_STR:
		at_buf_add_json_quoted(b, at_span_str(s, a->v.s), a->v.s.len);
		break;
	case AT_ATTR_INT:
		at_buf_printf(b, "\"%" PRId64 "\"", a->v.i);
		break;
	case AT_ATTR_BOOL:
		at_buf_adds(b, a->v.i ? "\"true\"" : "\"false\"");
		break;
	default:
		at_buf_printf(b, "\"%.17g\"", a->v.d);
		break;
	}
}

static void tag(struct at_buf *b, int *first, const char *k, const char *v, size_t vn)
{
	at_buf_adds(b, *first ? "" : ",");
	*first = 0;
	at_buf_add_json_quoted(b, k, strlen(k));
	at_buf_addc(b, ':');
	at_buf_add_json_quoted(b, v, vn);
}

static const struct at_attr *find(const struct at_span *s, const char *key)
{
	for (int i = 0; i < s->nattrs; i++)
		if (!strcmp(s->attrs[i].key, key))
			return &s->attrs[i];
	return NULL;
}

static void remote_endpoint(struct at_buf *b, const struct at_span *s)
{
	const struct at_attr *addr = find(s, "server.address");
	const struct at_attr *port = find(s, "server.port");
	if (!addr || addr->type != AT_ATTR_STR || addr->v.s.len >= 256)
		return;
	char host[256];
	memcpy(host, at_span_str(s, addr->v.s), addr->v.s.len);
	host[addr->v.s.len] = 0;
	unsigned char tmp[16];
	at_buf_adds(b, ",\"remoteEndpoint\":{");
	if (inet_pton(AF_INET, host, tmp) == 1)
		at_buf_adds(b, "\"ipv4\":");
	else if (inet_pton(AF_INET6, host, tmp) == 1)
		at_buf_adds(b, "\"ipv6\":");
	else
		at_buf_adds(b, "\"serviceName\":");
	at_buf_add_json_quoted(b, host, strlen(host));
	if (port && port->type == AT_ATTR_INT && port->v.i > 0 && port->v.i < 65536)
		at_buf_printf(b, ",\"port\":%d", (int)port->v.i);
	at_buf_addc(b, '}');
}

static void span(struct at_buf *b, const struct at_span *s, const char *svc)
{
	static const char *kinds[] = {NULL, NULL, "SERVER", "CLIENT", "PRODUCER", "CONSUMER"};
	static const uint8_t zero[8];
	at_buf_adds(b, "{\"traceId\":");
	at_buf_add_hex_quoted(b, s->ctx.trace_id, 16);
	at_buf_adds(b, ",\"id\":");
	at_buf_add_hex_quoted(b, s->ctx.span_id, 8);
	if (memcmp(s->parent_id, zero, 8)) {
		at_buf_adds(b, ",\"parentId\":");
		at_buf_add_hex_quoted(b, s->parent_id, 8);
	}
	at_buf_adds(b, ",\"name\":");
	at_buf_add_json_quoted(b, at_span_str(s, s->name), s->name.len);
	if (s->kind < 6 && kinds[s->kind])
		at_buf_printf(b, ",\"kind\":\"%s\"", kinds[s->kind]);
	uint64_t dur = s->end_ns > s->start_ns ? (s->end_ns - s->start_ns) / 1000 : 0;
	at_buf_printf(b, ",\"timestamp\":%" PRIu64 ",\"duration\":%" PRIu64, s->start_ns / 1000,
	              dur ? dur : 1);
	at_buf_adds(b, ",\"localEndpoint\":{\"serviceName\":");
	at_buf_add_json_quoted(b, svc, strlen(svc));
	at_buf_addc(b, '}');
	if (s->kind == AT_KIND_CLIENT || s->kind == AT_KIND_PRODUCER)
		remote_endpoint(b, s);
	if (s->nevents) {
		at_buf_adds(b, ",\"annotations\":[");
		for (int e = 0; e < s->nevents; e++) {
			const struct at_event *ev = &s->events[e];
			at_buf_printf(b, "%s{\"timestamp\":%" PRIu64 ",\"value\":", e ? "," : "",
			              ev->time_ns / 1000);
			if (!ev->nattrs) {
				at_buf_add_json_quoted(b, ev->name, strlen(ev->name));
			} else {
				/* "name": {attributes} as one JSON string, as the spec asks */
				struct at_buf inner = {0};
				at_buf_adds(&inner, "{");
				at_buf_addc(&inner, '"');
				at_buf_add_json_str(&inner, ev->name, strlen(ev->name));
				at_buf_adds(&inner, "\":{");
				for (int i = 0; i < ev->nattrs; i++) {
					if (i)
						at_buf_addc(&inner, ',');
					at_buf_addc(&inner, '"');
					at_buf_add_json_str(&inner, ev->attrs[i].key,
					                    strlen(ev->attrs[i].key));
					at_buf_adds(&inner, "\":");
					value_str(&inner, s, &ev->attrs[i]);
				}
				at_buf_adds(&inner, "}}");
				if (inner.oom)
					b->oom = 1;
				else
					at_buf_add_json_quoted(b, inner.data, inner.len);
				at_buf_free(&inner);
			}
			at_buf_addc(b, '}');
		}
		at_buf_addc(b, ']');
	}
	at_buf_adds(b, ",\"tags\":{");
	int first = 1;
	for (int i = 0; i < s->nattrs; i++) {
		at_buf_adds(b, first ? "" : ",");
		first = 0;
		at_buf_add_json_quoted(b, s->attrs[i].key, strlen(s->attrs[i].key));
		at_buf_addc(b, ':');
		value_str(b, s, &s->attrs[i]);
	}
	tag(b, &first, "otel.scope.name", AT_SDK_NAME, sizeof AT_SDK_NAME - 1);
	tag(b, &first, "otel.scope.version", AT_SDK_VERSION, sizeof AT_SDK_VERSION - 1);
	if (s->status == AT_STATUS_ERROR) {
		tag(b, &first, "otel.status_code", "ERROR", 5);
		tag(b, &first, "error", at_span_str(s, s->status_msg), s->status_msg.len);
	} else if (s->status == AT_STATUS_OK) {
		tag(b, &first, "otel.status_code", "OK", 2);
	}
	if (s->dropped_attrs)
		at_buf_printf(b, ",\"otel.dropped_attributes_count\":\"%u\"", s->dropped_attrs);
	if (s->dropped_events)
		at_buf_printf(b, ",\"otel.dropped_events_count\":\"%u\"", s->dropped_events);
	at_buf_adds(b, "}}");
}

int at_zipkin_encode(struct at_buf *b, struct at_span *const *spans, size_t n)
{
	const char *svc = at_resource_get("service.name");
	if (!svc)
		svc = "unknown_service";
	at_buf_addc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			at_buf_addc(b, ',');
		span(b, spans[i], svc);
	}
	at_buf_addc(b, ']');
	return b->oom ? -1 : 0;
}

struct at_backend *at_backend_zipkin_new(void)
{
	struct at_http_backend_spec spec = {
		.name = "zipkin",
		.url = at_cfg.zipkin_endpoint,
		.content_type = "application/json",
		.encode = at_zipkin_encode,
	};
	return at_http_backend_new(&spec);
}
