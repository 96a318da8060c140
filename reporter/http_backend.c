/* Encode the batch, compress it if asked, POST it with retries until the
 * deadline; warn once per run of failures, saying what failed. */
#define _GNU_SOURCE
#include "http_backend.h"

#include "../preload/clock.h"
#include "../preload/log.h"
#include "exporter.h"
#include "gzip.h"
#include "otlp_partial.h"
#include "http_client.h"
#include "retry.h"

#include <stdio.h>
#include <stdlib.h>

struct http_backend {
	struct at_backend b;
	struct at_http_backend_spec spec;
	struct at_http http;
	struct at_buf buf, gz;
	char *headers;
	int warned, partial_warned;
};

static int retryable(int status)
{
	return status < 0 || status == 429 || status == 502 || status == 503 || status == 504;
}

struct post_ctx {
	struct http_backend *h;
	const struct at_buf *body;
};

static int post_once(void *ctx, uint64_t deadline_ms)
{
	struct post_ctx *p = ctx;
	return at_http_post(&p->h->http, p->h->spec.content_type, p->h->headers, p->body->data,
			    p->body->len, deadline_ms);
}

static size_t http_export(struct at_backend *b, struct at_span *const *spans, size_t n,
			  uint64_t deadline_ms)
{
	struct http_backend *h = (struct http_backend *)b;
	uint64_t t0 = at_thread_cpu_ns();
	at_buf_reset(&h->buf);
	if (h->spec.encode(&h->buf, spans, n)) {
		at_error("%s: out of memory encoding %zu spans", h->spec.name, n);
		return 0;
	}
	struct at_buf *body = &h->buf;
	if (h->spec.gzip) {
		if (at_gzip(&h->gz, h->buf.data, h->buf.len)) {
			at_error("%s: gzip of %zu bytes failed", h->spec.name, h->buf.len);
			return 0;
		}
		body = &h->gz;
	}
	atomic_fetch_add_explicit(&at_stat_encode_ns, at_thread_cpu_ns() - t0, memory_order_relaxed);
	struct post_ctx pc = {h, body};
	int status = at_retry(post_once, retryable, &pc, deadline_ms);
	if (status >= 200 && status < 300) {
		h->warned = 0;
		return n - at_partial_success(h->spec.name, h->spec.url, h->spec.partial,
		                              h->http.body, h->http.body_len, n, &h->partial_warned);
	}
	if (!h->warned++) {
		if (status < 0)
			at_log(AT_LOG_WARN, "%s: export of %zu spans to %s failed: %s", h->spec.name,
			       n, h->spec.url, h->http.c.why);
		else
			at_log(AT_LOG_WARN, "%s: export of %zu spans to %s failed: HTTP %d",
			       h->spec.name, n, h->spec.url, status);
	}
	return 0;
}

static void http_close(struct at_backend *b)
{
	struct http_backend *h = (struct http_backend *)b;
	at_conn_release(&h->http.c);
	at_buf_free(&h->buf);
	at_buf_free(&h->gz);
	free(h->headers);
	free(h);
}

static void http_open(struct at_backend *b, uint64_t deadline_ms)
{
	struct http_backend *h = (struct http_backend *)b;
	if (at_http_open(&h->http, deadline_ms))
		at_debug("%s: %s not connected ahead: %s", h->spec.name, h->spec.url, h->http.c.why);
}

static void http_drop(struct at_backend *b)
{
	at_conn_drop(&((struct http_backend *)b)->http.c);
}

struct at_backend *at_http_backend_new(const struct at_http_backend_spec *spec)
{
	struct http_backend *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->spec = *spec;
	if (h->spec.gzip && !at_gzip_available())
		h->spec.gzip = 0;
	if (at_http_init(&h->http, spec->url)) {
		free(h);
		return NULL;
	}
	at_conn_tls_files(&h->http.c, spec->ca, spec->cert, spec->key);
	if (spec->user && spec->user[0])
		at_http_set_basic_auth(&h->http, spec->user, spec->password);
	if (asprintf(&h->headers, "%s%s", spec->headers ? spec->headers : "",
		     h->spec.gzip ? "Content-Encoding: gzip\r\n" : "") < 0)
		h->headers = NULL;
	h->b.name = spec->name;
	h->b.export_batch = http_export;
	h->b.close = http_close;
	h->b.open = http_open;
	h->b.drop = http_drop;
	return &h->b;
}
