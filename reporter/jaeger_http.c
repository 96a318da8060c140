/* Jaeger collector: POST a thrift binary Batch to JAEGER_ENDPOINT
 * (http://host:14268/api/traces), with JAEGER_USER/JAEGER_PASSWORD. */
#define _GNU_SOURCE
#include "backend.h"

#include "../preload/config.h"
#include "../preload/log.h"
#include "http_client.h"
#include "jaeger.h"

#include <stdlib.h>

struct jaeger_http {
	struct at_backend b;
	struct at_http http;
	struct at_buf buf;
	int warned;
};

static size_t jh_export(struct at_backend *b, struct at_span *const *spans, size_t n,
                        uint64_t deadline_ms)
{
	struct jaeger_http *j = (struct jaeger_http *)b;
	at_buf_reset(&j->buf);
	if (at_jaeger_encode_batch(&j->buf, 0, spans, n)) {
		at_error("jaeger: out of memory encoding %zu spans", n);
		return 0;
	}
	int status = at_http_post_retry(&j->http, "application/x-thrift", NULL, j->buf.data,
	                                j->buf.len, deadline_ms);
	if (status >= 200 && status < 300) {
		j->warned = 0;
		return n;
	}
	if (!j->warned++)
		at_info("jaeger: export of %zu spans to %s failed (%s %d)", n,
		        at_cfg.jaeger_endpoint, status < 0 ? "no response," : "HTTP", status);
	return 0;
}

static void jh_close(struct at_backend *b)
{
	struct jaeger_http *j = (struct jaeger_http *)b;
	at_http_close(&j->http);
	at_buf_free(&j->buf);
	free(j);
}

struct at_backend *at_backend_jaeger_http_new(void)
{
	struct jaeger_http *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	if (at_http_init(&j->http, at_cfg.jaeger_endpoint)) {
		free(j);
		return NULL;
	}
	if (at_cfg.jaeger_user[0])
		at_http_set_basic_auth(&j->http, at_cfg.jaeger_user, at_cfg.jaeger_password);
	j->b.name = "jaeger-collector";
	j->b.export_batch = jh_export;
	j->b.close = jh_close;
	return &j->b;
}
