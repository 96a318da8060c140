#ifndef AT_CONFIG_H
#define AT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum at_sampler { AT_SAMPLE_ALWAYS_ON, AT_SAMPLE_ALWAYS_OFF, AT_SAMPLE_RATIO };

enum at_otlp_protocol { AT_OTLP_PROTOBUF, AT_OTLP_JSON };

#define AT_PROP_TRACECONTEXT 0x01
#define AT_PROP_BAGGAGE 0x02
#define AT_PROP_B3 0x04
#define AT_PROP_B3MULTI 0x08
#define AT_PROP_JAEGER 0x10

#define AT_EXP_OTLP 0x01
#define AT_EXP_CONSOLE 0x02
#define AT_EXP_ZIPKIN 0x04
#define AT_EXP_JAEGER 0x08

struct at_config {
	int enabled;
	char service_name[128];
	char *resource_attrs;     /* raw OTEL_RESOURCE_ATTRIBUTES, validated */
	int sampler;              /* enum at_sampler for roots */
	int parent_based;
	double ratio;
	unsigned propagators;     /* AT_PROP_* */
	unsigned exporters;       /* AT_EXP_* */
	int otlp_protocol;
	char otlp_endpoint[512];  /* full URL including /v1/traces */
	char *otlp_headers;       /* "k: v\r\n" lines ready to send */
	long otlp_timeout_ms;
	long bsp_delay_ms;
	long bsp_export_timeout_ms;
	long bsp_queue_size;
	long bsp_batch_size;
	long exit_timeout_ms;     /* AUTOTRACE_EXIT_TIMEOUT: bound on the exit flush */
	long attr_value_limit;    /* 0 = none */
	long attr_count_limit;
	long event_count_limit;
	int log_level;
	char traceparent[64];     /* TRACEPARENT at start */
	char tracestate[520];     /* TRACESTATE at start */
};

extern struct at_config at_cfg;

/* Reads the environment; prints one warning for each invalid value. Returns
 * 0 when the shim must stay off. */
int at_config_load(void);

/* Helpers exposed for unit tests and other modules. */
int at_parse_bool(const char *s, int *out);
int at_parse_long(const char *s, long min, long max, long *out);
int at_parse_ratio(const char *s, double *out);
int at_otlp_headers_parse(const char *s, char *out, size_t outlen);
const char *at_getenv(const char *name);

#endif
