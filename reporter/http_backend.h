/* One backend for every destination that takes a POSTed batch over HTTP:
 * OTLP/HTTP, Zipkin, the Jaeger collector. They differ only in the encoder,
 * content type, URL and headers. */
#ifndef AT_HTTP_BACKEND_H
#define AT_HTTP_BACKEND_H

#include "backend.h"
#include "buf.h"

struct at_http_backend_spec {
	const char *name; /* for diagnostics */
	const char *url;
	const char *content_type;
	int (*encode)(struct at_buf *b, struct at_span *const *spans, size_t n);
	const char *headers; /* extra "k: v\r\n" lines, or NULL */
	const char *user;    /* basic auth when non-empty */
	const char *password;
	int gzip; /* Content-Encoding: gzip */
	/* https: CAs, client certificate and key (NULL: conn.h's defaults) */
	const char *ca, *cert, *key;
	/* OTLP: the response's partial_success read, from protobuf (1) or JSON (2) */
	int partial;
};

/* NULL (after a warning) when the URL cannot be used. */
struct at_backend *at_http_backend_new(const struct at_http_backend_spec *spec);

#endif
