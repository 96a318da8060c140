/* Configuration from the environment: defaults, valid and invalid values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../preload/config.h"

static const char *vars[] = {
	"AUTOTRACE_ENABLED", "OTEL_SDK_DISABLED", "JAEGER_DISABLED", "OTEL_SERVICE_NAME",
	"JAEGER_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER",
	"OTEL_TRACES_SAMPLER_ARG", "OTEL_PROPAGATORS", "OTEL_TRACES_EXPORTER",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TIMEOUT",
	"OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
	"TRACEPARENT", "TRACESTATE", "JAEGER_SAMPLER_TYPE", "JAEGER_SAMPLER_PARAM",
	"OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
	"OTEL_EXPORTER_OTLP_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
	"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_KEY",
	"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "SSL_CERT_FILE", "SSL_CERT_DIR", "AUTOTRACE_LIBSSL",
	"AUTOTRACE_DEBUG_FILE_DIRECTORY", NULL};

static int clean(void **state)
{
	for (int i = 0; vars[i]; i++)
		unsetenv(vars[i]);
	return 0;
}

static void defaults(void **state)
{
	assert_int_equal(at_config_load(), 1);
	assert_string_equal(at_cfg.otlp_endpoint, "http://localhost:4318/v1/traces");
	assert_int_equal(at_cfg.otlp_protocol, AT_OTLP_PROTOBUF);
	assert_int_equal(at_cfg.sampler, AT_SAMPLE_ALWAYS_ON);
	assert_int_equal(at_cfg.parent_based, 1);
	assert_int_equal(at_cfg.propagators, AT_PROP_TRACECONTEXT | AT_PROP_BAGGAGE);
	assert_int_equal(at_cfg.exporters, AT_EXP_OTLP);
	assert_int_equal(at_cfg.bsp_queue_size, 2048);
	assert_int_equal(at_cfg.bsp_batch_size, 512);
	assert_int_equal(at_cfg.bsp_delay_ms, 5000);
	assert_int_equal(at_cfg.otlp_timeout_ms, 10000);
	assert_string_equal(at_cfg.service_name, "test_config");
}

static void disabled(void **state)
{
	static const char *off[] = {"0", "false", "off", "OFF", "no"};
	for (int i = 0; i < 5; i++) {
		setenv("AUTOTRACE_ENABLED", off[i], 1);
		assert_int_equal(at_config_load(), 0);
	}
	setenv("AUTOTRACE_ENABLED", "1", 1);
	assert_int_equal(at_config_load(), 1);
	setenv("OTEL_SDK_DISABLED", "true", 1);
	assert_int_equal(at_config_load(), 0);
	unsetenv("OTEL_SDK_DISABLED");
	setenv("JAEGER_DISABLED", "true", 1);
	assert_int_equal(at_config_load(), 0);
	/* empty means unset */
	setenv("JAEGER_DISABLED", "", 1);
	assert_int_equal(at_config_load(), 1);
}

static void endpoints(void **state)
{
	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/", 1);
	at_config_load();
	assert_string_equal(at_cfg.otlp_endpoint, "http://collector:4318/v1/traces");
	setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://other:9999/custom", 1);
	at_config_load();
	assert_string_equal(at_cfg.otlp_endpoint, "http://other:9999/custom");
	setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", 1);
	at_config_load();
	assert_int_equal(at_cfg.otlp_protocol, AT_OTLP_JSON);
	setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon", 1);
	at_config_load();
	assert_int_equal(at_cfg.otlp_protocol, AT_OTLP_PROTOBUF);
}

/* The OTLP endpoint once name is set to value and the configuration
 * loaded again. */
static const char *endpoint_with(const char *name, const char *value)
{
	setenv(name, value, 1);
	at_config_load();
	return at_cfg.otlp_endpoint;
}

/* gRPC: its own default port, no /v1/traces, host:port taken as https://
 * unless OTEL_EXPORTER_OTLP_INSECURE is true (the traces-only one wins) */
static void grpc_endpoints(void **state)
{
	assert_string_equal(endpoint_with("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
	                    "http://localhost:4317");
	assert_int_equal(at_cfg.otlp_protocol, AT_OTLP_GRPC);
	assert_string_equal(endpoint_with("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317/"),
	                    "http://collector:4317/");
	assert_string_equal(endpoint_with("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
	                    "https://collector:4317");
	assert_string_equal(endpoint_with("OTEL_EXPORTER_OTLP_INSECURE", "true"),
	                    "http://collector:4317");
	assert_string_equal(endpoint_with("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "false"),
	                    "https://collector:4317");
	unsetenv("OTEL_EXPORTER_OTLP_TRACES_INSECURE");
	/* a scheme given is kept */
	assert_string_equal(endpoint_with("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317"),
	                    "https://collector:4317");
	assert_string_equal(endpoint_with("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "other:1234"),
	                    "http://other:1234");
	/* the traces-only protocol wins over the generic one */
	unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
	setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf", 1);
	assert_string_equal(endpoint_with("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
	                    "http://collector:4318/v1/traces");
	assert_int_equal(at_cfg.otlp_protocol, AT_OTLP_PROTOBUF);
	unsetenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL");
}

/* TLS files: the traces-only variable first, relative paths made
 * absolute, a client certificate without its key dropped */
static void tls_files(void **state)
{
	at_config_load();
	assert_string_equal(at_cfg.otlp_ca, "");
	assert_string_equal(at_cfg.libssl, "libssl.so.3");
	setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/generic.pem", 1);
	setenv("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "/etc/traces.pem", 1);
	setenv("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "client.pem", 1);
	setenv("SSL_CERT_DIR", "/a:/b", 1);
	setenv("AUTOTRACE_LIBSSL", "/opt/ssl/libssl.so.3", 1);
	at_config_load();
	assert_string_equal(at_cfg.otlp_ca, "/etc/traces.pem");
	assert_string_equal(at_cfg.otlp_client_cert, ""); /* no key */
	assert_string_equal(at_cfg.ca_dir, "/a:/b");
	assert_string_equal(at_cfg.libssl, "/opt/ssl/libssl.so.3");
	setenv("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "/k.pem", 1);
	at_config_load();
	char want[600];
	assert_non_null(getcwd(want, 256));
	strcat(want, "/client.pem");
	assert_string_equal(at_cfg.otlp_client_cert, want);
	assert_string_equal(at_cfg.otlp_client_key, "/k.pem");
}

/* where separate debug files are: gdb's default, a list, one too long for
 * the configuration (the default then, with a warning) */
static void debug_file_directory(void **state)
{
	at_config_load();
	assert_string_equal(at_cfg.debug_dirs, "/usr/lib/debug");
	setenv("AUTOTRACE_DEBUG_FILE_DIRECTORY", "/opt/debug:/usr/lib/debug", 1);
	at_config_load();
	assert_string_equal(at_cfg.debug_dirs, "/opt/debug:/usr/lib/debug");
	setenv("AUTOTRACE_DEBUG_FILE_DIRECTORY", "", 1); /* empty is unset, as every variable */
	at_config_load();
	assert_string_equal(at_cfg.debug_dirs, "/usr/lib/debug");
	char longer[sizeof at_cfg.debug_dirs + 8];
	memset(longer, 'd', sizeof longer - 1);
	longer[0] = '/';
	longer[sizeof longer - 1] = 0;
	setenv("AUTOTRACE_DEBUG_FILE_DIRECTORY", longer, 1);
	at_config_load();
	assert_string_equal(at_cfg.debug_dirs, "/usr/lib/debug");
	/* relative directories are the start directory's; so are SSL_CERT_DIR's */
	char cwd[256];
	assert_non_null(getcwd(cwd, sizeof cwd));
	assert_int_equal(chdir("/tmp"), 0);
	setenv("AUTOTRACE_DEBUG_FILE_DIRECTORY", "debug::/opt/debug:../x", 1);
	setenv("SSL_CERT_DIR", "certs:/etc/ssl/certs", 1);
	at_config_load();
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(at_cfg.debug_dirs, "/tmp/debug::/opt/debug:/tmp/../x");
	assert_string_equal(at_cfg.ca_dir, "/tmp/certs:/etc/ssl/certs");
	/* one that fits only before it is made absolute: the default */
	memset(longer, 'd', sizeof at_cfg.debug_dirs - 3);
	longer[sizeof at_cfg.debug_dirs - 3] = 0;
	setenv("AUTOTRACE_DEBUG_FILE_DIRECTORY", longer, 1);
	at_config_load();
	assert_string_equal(at_cfg.debug_dirs, "/usr/lib/debug");
}

static void invalid_numbers_fall_back(void **state)
{
	setenv("OTEL_BSP_SCHEDULE_DELAY", "soon", 1);
	setenv("OTEL_BSP_MAX_QUEUE_SIZE", "-5", 1);
	setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "99999999999999999999", 1);
	at_config_load();
	assert_int_equal(at_cfg.bsp_delay_ms, 5000);
	assert_int_equal(at_cfg.bsp_queue_size, 2048);
	assert_int_equal(at_cfg.otlp_timeout_ms, 10000);
	setenv("OTEL_BSP_MAX_QUEUE_SIZE", "100", 1);
	setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "500", 1); /* larger than the queue */
	at_config_load();
	assert_int_equal(at_cfg.bsp_queue_size, 100);
	assert_int_equal(at_cfg.bsp_batch_size, 100);
}

static void samplers(void **state)
{
	setenv("OTEL_TRACES_SAMPLER", "traceidratio", 1);
	setenv("OTEL_TRACES_SAMPLER_ARG", "0.25", 1);
	at_config_load();
	assert_int_equal(at_cfg.sampler, AT_SAMPLE_RATIO);
	assert_int_equal(at_cfg.parent_based, 0);
	assert_true(at_cfg.ratio == 0.25);
	setenv("OTEL_TRACES_SAMPLER_ARG", "1.5", 1);
	at_config_load();
	assert_true(at_cfg.ratio == 1.0);
	setenv("OTEL_TRACES_SAMPLER", "parentbased_always_off", 1);
	at_config_load();
	assert_int_equal(at_cfg.sampler, AT_SAMPLE_ALWAYS_OFF);
	assert_int_equal(at_cfg.parent_based, 1);
	setenv("OTEL_TRACES_SAMPLER", "sometimes", 1);
	at_config_load();
	assert_int_equal(at_cfg.sampler, AT_SAMPLE_ALWAYS_ON);
	assert_int_equal(at_cfg.parent_based, 1);
	/* Jaeger names apply only when no OTEL sampler is set */
	unsetenv("OTEL_TRACES_SAMPLER");
	setenv("JAEGER_SAMPLER_TYPE", "probabilistic", 1);
	setenv("JAEGER_SAMPLER_PARAM", "0.5", 1);
	at_config_load();
	assert_int_equal(at_cfg.sampler, AT_SAMPLE_RATIO);
	assert_true(at_cfg.ratio == 0.5);
	setenv("OTEL_TRACES_SAMPLER", "always_off", 1);
	at_config_load();
	assert_int_equal(at_cfg.sampler, AT_SAMPLE_ALWAYS_OFF);
}

static void propagators_and_exporters(void **state)
{
	setenv("OTEL_PROPAGATORS", "b3multi, jaeger,bogus", 1);
	setenv("OTEL_TRACES_EXPORTER", "none", 1);
	at_config_load();
	assert_int_equal(at_cfg.propagators, AT_PROP_B3MULTI | AT_PROP_JAEGER);
	assert_int_equal(at_cfg.exporters, 0);
	setenv("OTEL_PROPAGATORS", "none", 1);
	at_config_load();
	assert_int_equal(at_cfg.propagators, 0);
}

static void headers(void **state)
{
	char out[256];
	assert_int_equal(at_otlp_headers_parse("api-key=secret,x-tenant = a%20b", out, sizeof out), 0);
	assert_string_equal(out, "api-key: secret\r\nx-tenant: a b\r\n");
	/* nothing that could split the request */
	assert_int_equal(at_otlp_headers_parse("a=b%0d%0aEvil: 1", out, sizeof out), -1);
	assert_int_equal(at_otlp_headers_parse("noequals", out, sizeof out), -1);
	assert_int_equal(at_otlp_headers_parse("bad key=v", out, sizeof out), -1);
	setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20xyz", 1);
	at_config_load();
	assert_non_null(at_cfg.otlp_headers);
	assert_string_equal(at_cfg.otlp_headers, "Authorization: Bearer xyz\r\n");
}

static void service_name(void **state)
{
	setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod,service.name=fromres", 1);
	at_config_load();
	assert_string_equal(at_cfg.service_name, "fromres");
	setenv("JAEGER_SERVICE_NAME", "jaeger-name", 1);
	at_config_load();
	assert_string_equal(at_cfg.service_name, "jaeger-name");
	setenv("OTEL_SERVICE_NAME", "otel-name", 1);
	at_config_load();
	assert_string_equal(at_cfg.service_name, "otel-name");
	setenv("OTEL_RESOURCE_ATTRIBUTES", "novalue,x", 1);
	at_config_load();
	assert_null(at_cfg.resource_attrs);
}

static void parsers(void **state)
{
	long v;
	double d;
	int b;
	assert_int_equal(at_parse_long("42", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(at_parse_long("42x", 0, 100, &v), -1);
	assert_int_equal(at_parse_long("101", 0, 100, &v), -1);
	assert_int_equal(at_parse_ratio("0", &d), 0);
	assert_int_equal(at_parse_ratio("nan", &d), -1);
	assert_int_equal(at_parse_bool("TRUE", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(at_parse_bool("maybe", &b), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(defaults, clean),
		cmocka_unit_test_setup(disabled, clean),
		cmocka_unit_test_setup(endpoints, clean),
		cmocka_unit_test_setup(grpc_endpoints, clean),
		cmocka_unit_test_setup(tls_files, clean),
		cmocka_unit_test_setup(debug_file_directory, clean),
		cmocka_unit_test_setup(invalid_numbers_fall_back, clean),
		cmocka_unit_test_setup(samplers, clean),
		cmocka_unit_test_setup(propagators_and_exporters, clean),
		cmocka_unit_test_setup(headers, clean),
		cmocka_unit_test_setup(service_name, clean),
		cmocka_unit_test(parsers),
	};
	return cmocka_run_group_tests_name("config", tests, clean, NULL);
}
