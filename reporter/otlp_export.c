/* OTLP over HTTP: POST /v1/traces, protobuf or JSON, optionally gzip; or
 * over gRPC (otlp_grpc.c). */
#include "http_backend.h"

#include "../preload/config.h"
#include "otlp.h"

struct at_backend *at_backend_otlp_new(void)
{
	if (at_cfg.otlp_protocol == AT_OTLP_GRPC)
		return at_backend_otlp_grpc_new();
	int json = at_cfg.otlp_protocol == AT_OTLP_JSON;
	struct at_http_backend_spec spec = {
		.name = "otlp",
		.url = at_cfg.otlp_endpoint,
		.content_type = json ? "application/json" : "application/x-protobuf",
		.encode = json ? at_otlp_encode_json : at_otlp_encode_proto,
		.headers = at_cfg.otlp_headers,
		.gzip = at_cfg.otlp_gzip,
		.ca = at_cfg.otlp_ca,
		.cert = at_cfg.otlp_client_cert,
		.key = at_cfg.otlp_client_key,
		.partial = json ? 2 : 1,
	};
	return at_http_backend_new(&spec);
}
