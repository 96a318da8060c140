#ifndef AT_CONFIG_H
#define AT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

enum at_sampler { AT_SAMPLE_ALWAYS_ON, AT_SAMPLE_ALWAYS_OFF, AT_SAMPLE_RATIO, AT_SAMPLE_RATELIMIT };

enum at_otlp_protocol { AT_OTLP_PROTOBUF, AT_OTLP_JSON, AT_OTLP_GRPC };

#define AT_PROP_TRACECONTEXT 0x01
#define AT_PROP_BAGGAGE 0x02
#define AT_PROP_B3 0x04
#define AT_PROP_B3MULTI 0x08
#define AT_PROP_JAEGER 0x10

#define AT_EXP_OTLP 0x01
#define AT_EXP_CONSOLE 0x02
#define AT_EXP_ZIPKIN 0x04
#define AT_EXP_JAEGER 0x08
#define AT_EXP_FILE 0x10

struct at_config {
	/* first, in one cache line: what a traced call reads */
	int sampler;              /* enum at_sampler for roots */
	int parent_based;
	/* AT_FLAG_SAMPLED when spans go somewhere (an exporter), else 0: with
	 * OTEL_TRACES_EXPORTER=none a sampled span is not recorded (its trace
	 * is still propagated as sampled), so nothing is built or queued */
	int record;
	unsigned propagators;     /* AT_PROP_* */
	double ratio;
	double sampler_rate;      /* ratelimiting: root traces per second */
	long attr_value_limit;    /* 0 = none */
	long attr_count_limit;
	long event_count_limit;
	long loop_depth;          /* AUTOTRACE_LOOP_DEPTH: hops before a span is marked */
	/* the rest: read at start-up and by the exporter thread */
	int enabled;
	char service_name[128];
	char *resource_attrs;     /* raw OTEL_RESOURCE_ATTRIBUTES, validated */
	unsigned exporters;       /* AT_EXP_* */
	int otlp_protocol;
	char otlp_endpoint[512];  /* full URL including /v1/traces (gRPC: http://host:port, its path unused) */
	char *otlp_headers;       /* "k: v\r\n" lines ready to send */
	long otlp_timeout_ms;
	long bsp_delay_ms;
	long bsp_export_timeout_ms;
	long bsp_queue_size;
	long bsp_batch_size;
	long exit_timeout_ms;     /* AUTOTRACE_EXIT_TIMEOUT: bound on the exit flush */
	int crash;                /* AUTOTRACE_CRASH: record crashes (crash.c) */
	int callsite;             /* AUTOTRACE_CALLSITE: name the calling function */
	int exporter_process;     /* AUTOTRACE_EXPORTER_MODE=process: export from a helper process */
	/* destinations other than OTLP/HTTP: see config_export.c */
	int otlp_gzip;
	char jaeger_agent_host[256];
	int jaeger_agent_port;
	long jaeger_max_packet;     /* UDP payload bound, 65000 */
	char jaeger_endpoint[512];  /* set: collector over HTTP instead of the agent */
	char jaeger_user[128], jaeger_password[128];
	char zipkin_endpoint[512];
	char file_path[512];        /* AUTOTRACE_FILE */
	char log_file[512];         /* AUTOTRACE_LOG_FILE */
	/* TLS to https endpoints (config_tls.c; absolute paths, "" when unset) */
	char otlp_ca[512];          /* OTEL_EXPORTER_OTLP_CERTIFICATE: CAs for the OTLP collector */
	char otlp_client_cert[512]; /* OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE */
	char otlp_client_key[512];  /* OTEL_EXPORTER_OTLP_CLIENT_KEY */
	char ca_file[512];          /* SSL_CERT_FILE: CAs for every other https endpoint */
	char ca_dir[512];           /* SSL_CERT_DIR */
	char libssl[256];           /* AUTOTRACE_LIBSSL: the OpenSSL 3 libssl to load */
	char debug_dirs[512];       /* AUTOTRACE_DEBUG_FILE_DIRECTORY: where separate debug files are */
	int log_level;
	char traceparent[64];     /* TRACEPARENT at start */
	char tracestate[520];     /* TRACESTATE at start */
};

extern struct at_config at_cfg;

/* Reads the environment; prints one warning for each invalid value. Returns
 * 0 when the shim must stay off. */
int at_config_load(void);
/* The exporter destinations (config_export.c); otel_set: OTEL_TRACES_EXPORTER
 * was given, so JAEGER_* do not pick the exporter. */
void at_config_load_destinations(int otel_set);
/* JAEGER_TAGS value syntax: ${NAME} and ${NAME:default} replaced. */
int at_expand_env_refs(const char *in, size_t n, char *out, size_t outlen);
/* The TLS settings (config_tls.c). */
void at_config_load_tls(void);

/* Helpers exposed for unit tests and other modules. */
int at_parse_bool(const char *s, int *out);
int at_parse_long(const char *s, long min, long max, long *out);
int at_parse_ratio(const char *s, double *out);
int at_otlp_headers_parse(const char *s, char *out, size_t outlen);
const char *at_getenv(const char *name);
/* A path from the environment, a relative one taken from the directory the
 * process started in (it may change directory later); "" if unset or too
 * long (with a warning). */
void at_cfg_path(const char *name, char *dst, size_t n);
/* A ':'-separated list of directories into dst, each relative one made
 * absolute from the working directory now (the program may change it, an
 * exporter process has its own): 0, or -1 when it does not fit. */
int at_cfg_dirs(const char *v, char *dst, size_t n);

#endif
