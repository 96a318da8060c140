/* OTLP over HTTP: POST /v1/traces, protobuf or JSON. */
#define _GNU_SOURCE
#include "backend.h"

#include "../preload/config.h"
#include "../preload/log.h"
#include "buf.h"
#include "http_client.h"
#include "gzip.h"
#include "otlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct otlp {
	struct at_backend b;
	struct at_http http;
	struct at_buf buf;
	struct at_buf gz;     /* OTEL_EXPORTER_OTLP_COMPRESSION=gzip */
	char *headers;        /* user headers plus Content-Encoding when compressing */
	int warned;
};

static size_t otlp_export(struct at_backend *b, struct at_span *const *spans, size_t n,
			  uint64_t deadline_ms)
{
	struct otlp *o = (struct otlp *)b;
	at_buf_reset(&o->buf);
	int json = at_cfg.otlp_protocol == AT_OTLP_JSON;
	if ((json ? at_otlp_encode_json : at_otlp_encode_proto)(&o->buf, spans, n)) {
		at_error("otlp: out of memory encoding %zu spans", n);
		return 0;
	}
	struct at_buf *body = &o->buf;
	if (at_cfg.otlp_gzip) {
		if (at_gzip(&o->gz, o->buf.data, o->buf.len)) {
			at_error("otlp: gzip of %zu bytes failed", o->buf.len);
			return 0;
		}
		body = &o->gz;
	}
	int status = at_http_post_retry(&o->http, json ? "application/json" : "application/x-protobuf",
					o->headers, body->data, body->len, deadline_ms);
	if (status >= 200 && status < 300) {
		o->warned = 0;
		return n;
	}
	if (!o->warned++)
		at_info("otlp: export of %zu spans to %s failed (%s %d)", n, at_cfg.otlp_endpoint,
			status < 0 ? "no response," : "HTTP", status);
	return 0;
}

static void otlp_close(struct at_backend *b)
{
	struct otlp *o = (struct otlp *)b;
	at_http_close(&o->http);
	at_buf_free(&o->buf);
	at_buf_free(&o->gz);
	free(o->headers);
	free(o);
}

struct at_backend *at_backend_otlp_new(void)
{
	struct otlp *o = calloc(1, sizeof *o);
	if (!o)
		return NULL;
	if (at_http_init(&o->http, at_cfg.otlp_endpoint)) {
		free(o);
		return NULL;
	}
	const char *h = at_cfg.otlp_headers ? at_cfg.otlp_headers : "";
	if (asprintf(&o->headers, "%s%s", h, at_cfg.otlp_gzip ? "Content-Encoding: gzip\r\n" : "") < 0)
		o->headers = NULL;
	o->b.name = "otlp";
	o->b.export_batch = otlp_export;
	o->b.close = otlp_close;
	return &o->b;
}
