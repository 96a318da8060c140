/* Encode the batch, compress it if asked, POST it with retries until the
 * deadline; warn once per run of failures, saying what failed. */
#define _GNU_SOURCE
#include "http_backend.h"

#include "../preload/clock.h"
#include "../preload/log.h"
#include "exporter.h"
#include "gzip.h"
#include "http_client.h"

#include <stdio.h>
#include <stdlib.h>

struct http_backend {
	struct at_backend b;
	struct at_http_backend_spec spec;
	struct at_http http;
	struct at_buf buf, gz;
	char *headers;
	int warned;
};

static int retryable(int status)
{
	return status < 0 || status == 429 || status == 502 || status == 503 || status == 504;
}

/* POST, and again after 100, 200, 400 … 2000 ms while what came back may
 * change (no response; 429, 502, 503, 504) and the deadline allows. While
 * the program waits for this export (its exit, a crash) every pause is its
 * time: then only the collector's own "later" is waited for; a collector
 * that did not answer (refused, reset, not HTTP) is not asked again. */
static int post(struct http_backend *h, const struct at_buf *body, uint64_t deadline_ms)
{
	int backoff = 100;
	for (;;) {
		int status = at_http_post(&h->http, h->spec.content_type, h->headers, body->data,
					  body->len, deadline_ms);
		if (!retryable(status) || (status < 0 && at_exporter_app_waits()))
			return status;
		uint64_t now = at_mono_ms();
		if (now + (uint64_t)backoff >= deadline_ms)
			return status;
		if (at_exporter_pause(backoff) && status < 0)
			return status;
		backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
	}
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
	int status = post(h, body, deadline_ms);
	if (status >= 200 && status < 300) {
		h->warned = 0;
		return n;
	}
	if (!h->warned++) {
		if (status < 0)
			at_log(AT_LOG_WARN, "%s: export of %zu spans to %s failed: %s", h->spec.name,
			       n, h->spec.url, h->http.why);
		else
			at_log(AT_LOG_WARN, "%s: export of %zu spans to %s failed: HTTP %d",
			       h->spec.name, n, h->spec.url, status);
	}
	return 0;
}

static void http_close(struct at_backend *b)
{
	struct http_backend *h = (struct http_backend *)b;
	at_http_close(&h->http);
	at_buf_free(&h->buf);
	at_buf_free(&h->gz);
	free(h->headers);
	free(h);
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
	if (spec->user && spec->user[0])
		at_http_set_basic_auth(&h->http, spec->user, spec->password);
	if (asprintf(&h->headers, "%s%s", spec->headers ? spec->headers : "",
		     h->spec.gzip ? "Content-Encoding: gzip\r\n" : "") < 0)
		h->headers = NULL;
	h->b.name = spec->name;
	h->b.export_batch = http_export;
	h->b.close = http_close;
	return &h->b;
}
