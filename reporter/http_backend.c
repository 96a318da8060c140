/* Encode the batch, compress it if asked, POST it with retries until the
 * deadline; warn once per run of failures. */
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
	int status = at_http_post_retry(&h->http, h->spec.content_type, h->headers, body->data,
					body->len, deadline_ms);
	if (status >= 200 && status < 300) {
		h->warned = 0;
		return n;
	}
	if (!h->warned++)
		at_info("%s: export of %zu spans to %s failed (%s %d)", h->spec.name, n, h->spec.url,
			status < 0 ? "no response," : "HTTP", status);
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
