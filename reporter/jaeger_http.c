/* Jaeger collector: POST a thrift binary Batch to JAEGER_ENDPOINT
 * (http://host:14268/api/traces), with JAEGER_USER/JAEGER_PASSWORD. */
#define _GNU_SOURCE
#include "http_backend.h"

#include "../preload/config.h"
#include "jaeger.h"


static int encode(struct at_buf *b, struct at_span *const *spans, size_t n)
{
	return at_jaeger_encode_batch(b, 0, spans, n);
}

struct at_backend *at_backend_jaeger_http_new(void)
{
	struct at_http_backend_spec spec = {
		.name = "jaeger-collector",
		.url = at_cfg.jaeger_endpoint,
		.content_type = "application/x-thrift",
		.encode = encode,
		.user = at_cfg.jaeger_user,
		.password = at_cfg.jaeger_password,
	};
	return at_http_backend_new(&spec);
}
