/* OTLP over gRPC (OTEL_EXPORTER_OTLP_PROTOCOL=grpc): the unary call
 * TraceService/Export on an HTTP/2 connection (h2_client.c) to the
 * collector's port 4317. The request is OTLP/HTTP's protobuf in gRPC's
 * length-prefixed message, gzip'd when asked (grpc-encoding). Retried as
 * the OTLP specification says: no answer, CANCELLED, DEADLINE_EXCEEDED,
 * ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS. */
#define _GNU_SOURCE
#include "../preload/clock.h"
#include "../preload/config.h"
#include "../preload/log.h"
#include "backend.h"
#include "exporter.h"
#include "gzip.h"
#include "otlp_partial.h"
#include "h2_client.h"
#include "otlp.h"
#include "retry.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT_PATH "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

/* RFC 7541 Appendix A */
enum { ST_AUTHORITY = 1, ST_METHOD_POST = 3, ST_PATH = 4, ST_SCHEME_HTTP = 6, ST_SCHEME_HTTPS = 7,
       ST_CONTENT_TYPE = 31, ST_USER_AGENT = 58 };

enum { OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT, DEADLINE_EXCEEDED, NOT_FOUND, ALREADY_EXISTS,
       PERMISSION_DENIED, RESOURCE_EXHAUSTED, FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE,
       UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS, UNAUTHENTICATED };

static const char *const code_names[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
};

struct grpc_backend {
	struct at_backend b;
	struct at_buf buf, gz;
	uint8_t fixed[4096]; /* the request's header block but grpc-timeout */
	size_t fixed_len;
	int gzip, warned, partial_warned;
	struct at_h2_response r;
	struct at_h2 h2; /* last: large */
};

/* gRPC's code for a response that is not HTTP 200 (gRPC's "HTTP to gRPC
 * status code mapping"). */
static int from_http(int status)
{
	switch (status) {
	case 400:
		return INTERNAL;
	case 401:
		return UNAUTHENTICATED;
	case 403:
		return PERMISSION_DENIED;
	case 404:
		return UNIMPLEMENTED;
	case 429:
	case 502:
	case 503:
	case 504:
		return UNAVAILABLE;
	default:
		return UNKNOWN;
	}
}

static int retryable(int code)
{
	return code < 0 || code == CANCELLED || code == DEADLINE_EXCEEDED || code == ABORTED ||
	       code == OUT_OF_RANGE || code == UNAVAILABLE || code == DATA_LOSS;
}

struct call {
	struct grpc_backend *g;
	const struct at_buf *msg;
};

/* One call: its gRPC status, or -1 when no answer came. */
static int call_once(void *ctx, uint64_t deadline_ms)
{
	struct call *c = ctx;
	struct grpc_backend *g = c->g;
	uint8_t blk[sizeof g->fixed + 32];
	memcpy(blk, g->fixed, g->fixed_len);
	size_t n = g->fixed_len;
	char timeout[16]; /* at most 8 digits and a unit */
	int ms = at_conn_remaining(deadline_ms);
	snprintf(timeout, sizeof timeout, "%dm", ms > 99999999 ? 99999999 : ms);
	n += at_hpack_put_literal(blk + n, sizeof blk - n, 0, "grpc-timeout", 12, timeout,
	                          strlen(timeout));
	uint8_t prefix[5] = {(uint8_t)g->gzip, (uint8_t)(c->msg->len >> 24),
	                     (uint8_t)(c->msg->len >> 16), (uint8_t)(c->msg->len >> 8),
	                     (uint8_t)c->msg->len};
	struct iovec iov[2] = {{prefix, 5}, {c->msg->data, c->msg->len}};
	if (at_h2_request(&g->h2, blk, n, iov, 2, deadline_ms, &g->r))
		return -1;
	if (g->r.status != 200)
		return g->r.status ? from_http(g->r.status) : INTERNAL;
	if (g->r.grpc_status < 0) {
		snprintf(g->r.grpc_message, sizeof g->r.grpc_message, "no grpc-status in the response");
		return INTERNAL;
	}
	return g->r.grpc_status;
}

/* The response's one gRPC message when it came whole, uncompressed (we
 * accept no encoding) and within what the client keeps of a body: its
 * bytes and *len; else NULL. */
static const uint8_t *reply_message(const struct at_h2_response *r, size_t *len)
{
	const uint8_t *b = r->body;
	if (r->body_len < 5 || r->body_len > sizeof r->body || b[0])
		return NULL;
	*len = (size_t)b[1] << 24 | (size_t)b[2] << 16 | (size_t)b[3] << 8 | b[4];
	return 5 + *len == r->body_len ? b + 5 : NULL;
}

static size_t grpc_export(struct at_backend *b, struct at_span *const *spans, size_t n,
                          uint64_t deadline_ms)
{
	struct grpc_backend *g = (struct grpc_backend *)b;
	uint64_t t0 = at_thread_cpu_ns();
	at_buf_reset(&g->buf);
	if (at_otlp_encode_proto(&g->buf, spans, n)) {
		at_error("otlp (grpc): out of memory encoding %zu spans", n);
		return 0;
	}
	struct at_buf *msg = &g->buf;
	if (g->gzip) {
		if (at_gzip(&g->gz, g->buf.data, g->buf.len)) {
			at_error("otlp (grpc): gzip of %zu bytes failed", g->buf.len);
			return 0;
		}
		msg = &g->gz;
	}
	atomic_fetch_add_explicit(&at_stat_encode_ns, at_thread_cpu_ns() - t0, memory_order_relaxed);
	struct call c = {g, msg};
	int code = at_retry(call_once, retryable, &c, deadline_ms);
	if (code == OK) {
		g->warned = 0;
		size_t len = 0;
		const uint8_t *m = reply_message(&g->r, &len);
		return n - at_partial_success("otlp (grpc)", at_cfg.otlp_endpoint, m ? 1 : 0, m, len,
		                              n, &g->partial_warned);
	}
	if (!g->warned++) {
		if (code < 0)
			at_log(AT_LOG_WARN, "otlp (grpc): export of %zu spans to %s failed: %s", n,
			       at_cfg.otlp_endpoint, g->h2.c.why);
		else if (g->r.status != 200)
			at_log(AT_LOG_WARN,
			       "otlp (grpc): export of %zu spans to %s failed: HTTP %d (gRPC %s)%s", n,
			       at_cfg.otlp_endpoint, g->r.status, code_names[code],
			       g->r.status ? "" : ": no valid :status in the response");
		else
			at_log(AT_LOG_WARN,
			       "otlp (grpc): export of %zu spans to %s failed: gRPC status %d %s%s%s", n,
			       at_cfg.otlp_endpoint, code,
			       code <= UNAUTHENTICATED ? code_names[code] : "(unknown)",
			       g->r.grpc_message[0] ? ": " : "", g->r.grpc_message);
	}
	return 0;
}

static void grpc_close(struct at_backend *b)
{
	struct grpc_backend *g = (struct grpc_backend *)b;
	at_h2_close(&g->h2);
	at_buf_free(&g->buf);
	at_buf_free(&g->gz);
	free(g);
}

/* Names that mean something only to HTTP/1.1: HTTP/2 forbids them. */
static int connection_specific(const char *name, size_t n)
{
	static const char *const names[] = {"connection", "keep-alive", "proxy-connection",
	                                    "transfer-encoding", "upgrade", "te", "host"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (strlen(names[i]) == n && !strncmp(names[i], name, n))
			return 1;
	return 0;
}

/* The fields every call sends, and OTEL_EXPORTER_OTLP_HEADERS ("k: v\r\n"
 * lines, config.c) with their names in lower case, as HTTP/2 wants them. */
static int fixed_block(struct grpc_backend *g)
{
	uint8_t *o = g->fixed;
	size_t cap = sizeof g->fixed, n = 0, k;
#define PUT(expr)                                                                                  \
	do {                                                                                       \
		if (!(k = (expr)))                                                                 \
			return -1;                                                                 \
		n += k;                                                                            \
	} while (0)
	PUT(at_hpack_put_indexed(o + n, cap - n, ST_METHOD_POST));
	PUT(at_hpack_put_indexed(o + n, cap - n, g->h2.c.tls ? ST_SCHEME_HTTPS : ST_SCHEME_HTTP));
	PUT(at_hpack_put_literal(o + n, cap - n, ST_PATH, NULL, 0, EXPORT_PATH,
	                         sizeof EXPORT_PATH - 1));
	PUT(at_hpack_put_literal(o + n, cap - n, ST_AUTHORITY, NULL, 0, g->h2.authority,
	                         strlen(g->h2.authority)));
	PUT(at_hpack_put_literal(o + n, cap - n, ST_CONTENT_TYPE, NULL, 0, "application/grpc", 16));
	PUT(at_hpack_put_literal(o + n, cap - n, 0, "te", 2, "trailers", 8));
	PUT(at_hpack_put_literal(o + n, cap - n, ST_USER_AGENT, NULL, 0, "autotrace/0.1", 13));
	if (g->gzip)
		PUT(at_hpack_put_literal(o + n, cap - n, 0, "grpc-encoding", 13, "gzip", 4));
	for (const char *l = at_cfg.otlp_headers; l && *l;) {
		const char *colon = strchr(l, ':'), *end = strstr(l, "\r\n");
		if (!colon || !end || colon > end)
			break;
		char name[256];
		size_t nl = (size_t)(colon - l);
		const char *v = colon + 1;
		while (v < end && *v == ' ')
			v++;
		if (nl < sizeof name) {
			for (size_t i = 0; i < nl; i++)
				name[i] = (char)tolower((unsigned char)l[i]);
			if (!connection_specific(name, nl))
				PUT(at_hpack_put_literal(o + n, cap - n, 0, name, nl, v, (size_t)(end - v)));
		}
		l = end + 2;
	}
#undef PUT
	g->fixed_len = n;
	return 0;
}

static void grpc_open(struct at_backend *b, uint64_t deadline_ms)
{
	struct grpc_backend *g = (struct grpc_backend *)b;
	if (at_h2_open(&g->h2, deadline_ms))
		at_debug("otlp-grpc: %s not connected ahead: %s", at_cfg.otlp_endpoint, g->h2.c.why);
}

static void grpc_drop(struct at_backend *b)
{
	at_conn_drop(&((struct grpc_backend *)b)->h2.c);
}

struct at_backend *at_backend_otlp_grpc_new(void)
{
	struct grpc_backend *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	if (at_h2_init(&g->h2, at_cfg.otlp_endpoint)) {
		free(g);
		return NULL;
	}
	at_conn_tls_files(&g->h2.c, at_cfg.otlp_ca, at_cfg.otlp_client_cert, at_cfg.otlp_client_key);
	g->gzip = at_cfg.otlp_gzip && at_gzip_available();
	if (fixed_block(g)) {
		at_warn("OTEL_EXPORTER_OTLP_HEADERS: over %zu bytes with the request's own; "
		        "spans will not be sent over gRPC",
		        sizeof g->fixed);
		free(g);
		return NULL;
	}
	g->b.name = "otlp-grpc";
	g->b.export_batch = grpc_export;
	g->b.close = grpc_close;
	g->b.open = grpc_open;
	g->b.drop = grpc_drop;
	return &g->b;
}
