/* Configuration from the environment: OpenTelemetry SDK names first, the
 * classic Jaeger client names where they mean the same, AUTOTRACE_* for what
 * is ours. Empty means unset; an invalid value is reported once and the
 * default is used. */
#define _GNU_SOURCE
#include "config.h"

#include "autotrace.h"
#include "log.h"
#include "span.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/auxv.h>

_Alignas(64) struct at_config at_cfg; /* its first line: what a traced call reads */

const char *at_getenv(const char *name)
{
	/* secure_getenv: under /etc/ld.so.preload we are loaded into setuid
	 * programs, whose environment is the attacker's. */
	const char *v = secure_getenv(name);
	return (v && *v) ? v : NULL;
}

int at_parse_bool(const char *s, int *out)
{
	static const char *yes[] = {"1", "true", "on", "yes"};
	static const char *no[] = {"0", "false", "off", "no"};
	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = 1;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int at_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	while (*end == ' ')
		end++;
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int at_parse_ratio(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= 0.0 && v <= 1.0))
		return -1;
	*out = v;
	return 0;
}

static void env_long(const char *name, long min, long max, long *out)
{
	const char *v = at_getenv(name);
	if (v && at_parse_long(v, min, max, out))
		at_warn("%s=\"%.64s\" is not a whole number in [%ld, %ld]; using %ld", name, v,
			min, max, *out);
}

static int env_bool(const char *name, int dflt)
{
	const char *v = at_getenv(name);
	int b = dflt;
	if (v && at_parse_bool(v, &b)) {
		at_warn("%s=\"%.64s\" is not a boolean; using %s", name, v, dflt ? "true" : "false");
		b = dflt;
	}
	return b;
}

/* "k=v,k2=v2" (W3C baggage style, values may be percent-encoded) into
 * "k: v\r\n" lines; rejects anything that would break the request. */
int at_otlp_headers_parse(const char *s, char *out, size_t outlen)
{
	size_t o = 0;
	while (*s) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		const char *eq = memchr(s, '=', len);
		if (!eq)
			return -1;
		const char *k = s, *ke = eq, *v = eq + 1, *ve = s + len;
		while (k < ke && *k == ' ')
			k++;
		while (ke > k && ke[-1] == ' ')
			ke--;
		while (v < ve && *v == ' ')
			v++;
		while (ve > v && ve[-1] == ' ')
			ve--;
		if (k == ke)
			return -1;
		for (const char *p = k; p < ke; p++)
			if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-.^_`|~", *p))
				return -1;
		if (o + (size_t)(ke - k) + 2 >= outlen)
			return -1;
		memcpy(out + o, k, (size_t)(ke - k));
		o += (size_t)(ke - k);
		out[o++] = ':';
		out[o++] = ' ';
		for (const char *p = v; p < ve; p++) {
			int c = (unsigned char)*p;
			if (c == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
				char hex[3] = {p[1], p[2], 0};
				c = (int)strtol(hex, NULL, 16);
				p += 2;
			}
			if (c < 0x20 || c == 0x7f)
				return -1;
			if (o + 3 >= outlen)
				return -1;
			out[o++] = (char)c;
		}
		out[o++] = '\r';
		out[o++] = '\n';
		s += len;
		if (*s == ',')
			s++;
	}
	out[o] = 0;
	return 0;
}

static void load_sampler(void)
{
	const char *v = at_getenv("OTEL_TRACES_SAMPLER");
	const char *arg = at_getenv("OTEL_TRACES_SAMPLER_ARG");
	at_cfg.sampler = AT_SAMPLE_ALWAYS_ON;
	at_cfg.parent_based = 1;
	at_cfg.ratio = 1.0;
	if (!v) {
		/* JAEGER_SAMPLER_TYPE const|probabilistic|ratelimiting; OTEL_* wins when both are set */
		const char *jt = at_getenv("JAEGER_SAMPLER_TYPE");
		const char *jp = at_getenv("JAEGER_SAMPLER_PARAM");
		if (!jt)
			return;
		if (!strcmp(jt, "const")) {
			at_cfg.sampler = (jp && !strcmp(jp, "0")) ? AT_SAMPLE_ALWAYS_OFF : AT_SAMPLE_ALWAYS_ON;
		} else if (!strcmp(jt, "probabilistic")) {
			at_cfg.sampler = AT_SAMPLE_RATIO;
			if (!jp || at_parse_ratio(jp, &at_cfg.ratio)) {
				at_warn("JAEGER_SAMPLER_PARAM=\"%.64s\" is not a ratio in [0, 1]; using 1",
					jp ? jp : "");
				at_cfg.ratio = 1.0;
			}
		} else if (!strcmp(jt, "ratelimiting")) {
			/* N root traces per second in this process (sampler.c) */
			char *end = NULL;
			at_cfg.sampler = AT_SAMPLE_RATELIMIT;
			at_cfg.sampler_rate = jp ? strtod(jp, &end) : -1;
			if (!jp || *end || !(at_cfg.sampler_rate >= 0 && at_cfg.sampler_rate <= 1e6)) {
				at_warn("JAEGER_SAMPLER_PARAM=\"%.64s\" is not a rate in [0, 1e6]; "
					"using 1 trace per second",
					jp ? jp : "");
				at_cfg.sampler_rate = 1;
			}
		} else {
			at_warn("JAEGER_SAMPLER_TYPE=\"%.64s\" is not supported; sampling everything", jt);
		}
		return;
	}
	static const struct {
		const char *name;
		int sampler, parent;
	} table[] = {
		{"always_on", AT_SAMPLE_ALWAYS_ON, 0},
		{"always_off", AT_SAMPLE_ALWAYS_OFF, 0},
		{"traceidratio", AT_SAMPLE_RATIO, 0},
		{"parentbased_always_on", AT_SAMPLE_ALWAYS_ON, 1},
		{"parentbased_always_off", AT_SAMPLE_ALWAYS_OFF, 1},
		{"parentbased_traceidratio", AT_SAMPLE_RATIO, 1},
	};
	size_t i;
	for (i = 0; i < sizeof table / sizeof table[0]; i++)
		if (!strcmp(v, table[i].name))
			break;
	if (i == sizeof table / sizeof table[0]) {
		at_warn("OTEL_TRACES_SAMPLER=\"%.64s\" is not a known sampler; using "
			"parentbased_always_on",
			v);
		return;
	}
	at_cfg.sampler = table[i].sampler;
	at_cfg.parent_based = table[i].parent;
	if (at_cfg.sampler == AT_SAMPLE_RATIO && arg && at_parse_ratio(arg, &at_cfg.ratio)) {
		at_warn("OTEL_TRACES_SAMPLER_ARG=\"%.64s\" is not a ratio in [0, 1]; using 1", arg);
		at_cfg.ratio = 1.0;
	}
}

static void load_propagators(void)
{
	const char *v = at_getenv("OTEL_PROPAGATORS");
	at_cfg.propagators = AT_PROP_TRACECONTEXT | AT_PROP_BAGGAGE;
	if (!v)
		return;
	static const struct {
		const char *name;
		unsigned bit;
	} table[] = {
		{"tracecontext", AT_PROP_TRACECONTEXT},
		{"baggage", AT_PROP_BAGGAGE},
		{"b3", AT_PROP_B3},
		{"b3multi", AT_PROP_B3MULTI},
		{"jaeger", AT_PROP_JAEGER},
		{"none", 0},
	};
	unsigned bits = 0;
	char buf[256];
	snprintf(buf, sizeof buf, "%s", v);
	for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		size_t l = strlen(tok);
		while (l && tok[l - 1] == ' ')
			tok[--l] = 0;
		size_t i;
		for (i = 0; i < sizeof table / sizeof table[0]; i++)
			if (!strcmp(tok, table[i].name))
				break;
		if (i == sizeof table / sizeof table[0])
			at_warn("OTEL_PROPAGATORS: \"%.32s\" is not a known propagator; ignored", tok);
		else
			bits |= table[i].bit;
	}
	at_cfg.propagators = bits;
}

static void load_exporters(void)
{
	const char *v = at_getenv("OTEL_TRACES_EXPORTER");
	at_cfg.exporters = AT_EXP_OTLP;
	if (!v)
		return;
	unsigned bits = 0;
	char buf[256];
	snprintf(buf, sizeof buf, "%s", v);
	for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if (!strcmp(tok, "otlp"))
			bits |= AT_EXP_OTLP;
		else if (!strcmp(tok, "console"))
			bits |= AT_EXP_CONSOLE;
		else if (!strcmp(tok, "zipkin"))
			bits |= AT_EXP_ZIPKIN;
		else if (!strcmp(tok, "jaeger"))
			bits |= AT_EXP_JAEGER;
		else if (!strcmp(tok, "none"))
			;
		else
			at_warn("OTEL_TRACES_EXPORTER: \"%.32s\" is not a known exporter; ignored", tok);
	}
	at_cfg.exporters = bits;
}

static void load_otlp(void)
{
	const char *p = at_getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL");
	if (!p)
		p = at_getenv("OTEL_EXPORTER_OTLP_PROTOCOL");
	at_cfg.otlp_protocol = AT_OTLP_PROTOBUF;
	if (p) {
		if (!strcmp(p, "http/json"))
			at_cfg.otlp_protocol = AT_OTLP_JSON;
		else if (!strcmp(p, "grpc"))
			at_cfg.otlp_protocol = AT_OTLP_GRPC;
		else if (strcmp(p, "http/protobuf"))
			at_warn("OTEL_EXPORTER_OTLP_PROTOCOL=\"%.32s\" is not known; using http/protobuf",
				p);
	}

	/* OTLP/HTTP appends its path to the generic endpoint; gRPC has its
	 * own (its method's). An endpoint given as host:port alone, as gRPC
	 * users write it, is https:// unless OTEL_EXPORTER_OTLP_INSECURE is
	 * true (the specification's default is a secure connection). */
	int grpc = at_cfg.otlp_protocol == AT_OTLP_GRPC;
	const char *v = at_getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
	int generic = !v;
	if (!v)
		v = at_getenv("OTEL_EXPORTER_OTLP_ENDPOINT");
	if (!v)
		v = grpc ? "http://localhost:4317" : "http://localhost:4318";
	size_t l = strlen(v);
	while (generic && !grpc && l && v[l - 1] == '/')
		l--;
	int insecure = env_bool("OTEL_EXPORTER_OTLP_INSECURE", 0);
	insecure = env_bool("OTEL_EXPORTER_OTLP_TRACES_INSECURE", insecure);
	snprintf(at_cfg.otlp_endpoint, sizeof at_cfg.otlp_endpoint, "%s%.*s%s",
		 !grpc || strstr(v, "://") ? "" : insecure ? "http://" : "https://", (int)l, v,
		 generic && !grpc ? "/v1/traces" : "");

	const char *h = at_getenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS");
	if (!h)
		h = at_getenv("OTEL_EXPORTER_OTLP_HEADERS");
	if (h) {
		char *out = malloc(strlen(h) * 2 + 16);
		if (out && at_otlp_headers_parse(h, out, strlen(h) * 2 + 16) == 0) {
			at_cfg.otlp_headers = out;
		} else {
			free(out);
			at_warn("OTEL_EXPORTER_OTLP_HEADERS is not a list of key=value pairs; ignored");
		}
	}
	at_cfg.otlp_timeout_ms = 10000;
	env_long("OTEL_EXPORTER_OTLP_TIMEOUT", 1, 3600000, &at_cfg.otlp_timeout_ms);
	env_long("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", 1, 3600000, &at_cfg.otlp_timeout_ms);
}

static void load_service_name(void)
{
	const char *v = at_getenv("OTEL_SERVICE_NAME");
	if (!v)
		v = at_getenv("JAEGER_SERVICE_NAME");
	if (!v && at_cfg.resource_attrs) {
		/* service.name inside OTEL_RESOURCE_ATTRIBUTES */
		const char *p = strstr(at_cfg.resource_attrs, "service.name=");
		if (p && (p == at_cfg.resource_attrs || p[-1] == ',')) {
			p += strlen("service.name=");
			size_t l = strcspn(p, ",");
			snprintf(at_cfg.service_name, sizeof at_cfg.service_name, "%.*s", (int)l, p);
			return;
		}
	}
	if (!v) {
		extern char *program_invocation_short_name;
		v = program_invocation_short_name;
	}
	snprintf(at_cfg.service_name, sizeof at_cfg.service_name, "%s", v ? v : "unknown_service");
}

static void load_resource_attrs(void)
{
	const char *v = at_getenv("OTEL_RESOURCE_ATTRIBUTES");
	if (!v)
		return;
	/* every member must be k=v with a non-empty key */
	const char *s = v;
	while (*s) {
		size_t len = strcspn(s, ",");
		const char *eq = memchr(s, '=', len);
		if (!eq || eq == s) {
			at_warn("OTEL_RESOURCE_ATTRIBUTES=\"%.64s\" is not a list of key=value; ignored", v);
			return;
		}
		s += len;
		if (*s)
			s++;
	}
	at_cfg.resource_attrs = strdup(v);
}

int at_config_load(void)
{
	memset(&at_cfg, 0, sizeof at_cfg);
	at_cfg.enabled = 1;

	/* secure-execution (setuid, file capabilities): stay off */
	if (getauxval(AT_SECURE))
		return 0;

	const char *lvl = at_getenv("AUTOTRACE_LOG_LEVEL");
	if (lvl) {
		static const char *names[] = {"off", "error", "warn", "info", "debug"};
		long n;
		at_log_level = -1;
		for (int i = 0; i < 5; i++)
			if (!strcasecmp(lvl, names[i]))
				at_log_level = i;
		if (at_log_level < 0)
			at_log_level = at_parse_long(lvl, 0, 4, &n) ? AT_LOG_OFF : (int)n;
	}
	at_cfg.log_level = at_log_level;
	at_cfg_path("AUTOTRACE_LOG_FILE", at_cfg.log_file, sizeof at_cfg.log_file);
	at_log_file = at_cfg.log_file[0] ? at_cfg.log_file : NULL;

	if (!env_bool("AUTOTRACE_ENABLED", 1) || env_bool("OTEL_SDK_DISABLED", 0) ||
	    env_bool("JAEGER_DISABLED", 0))
		return 0;

	load_resource_attrs();
	load_service_name();
	load_sampler();
	load_propagators();
	load_exporters();
	load_otlp();
	at_config_load_destinations(at_getenv("OTEL_TRACES_EXPORTER") != NULL);
	at_cfg.record = at_cfg.exporters ? AT_FLAG_SAMPLED : 0;

	at_cfg.bsp_delay_ms = 5000;
	at_cfg.bsp_export_timeout_ms = 30000;
	at_cfg.bsp_queue_size = 2048;
	at_cfg.bsp_batch_size = 512;
	at_cfg.exit_timeout_ms = 500;
	at_cfg.attr_value_limit = 0;
	at_cfg.attr_count_limit = 128;
	at_cfg.event_count_limit = 128;
	env_long("OTEL_BSP_SCHEDULE_DELAY", 1, 3600000, &at_cfg.bsp_delay_ms);
	env_long("OTEL_BSP_EXPORT_TIMEOUT", 1, 3600000, &at_cfg.bsp_export_timeout_ms);
	env_long("OTEL_BSP_MAX_QUEUE_SIZE", 2, 1 << 20, &at_cfg.bsp_queue_size);
	env_long("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 1, 1 << 20, &at_cfg.bsp_batch_size);
	if (at_cfg.bsp_batch_size > at_cfg.bsp_queue_size) {
		at_warn("OTEL_BSP_MAX_EXPORT_BATCH_SIZE (%ld) exceeds OTEL_BSP_MAX_QUEUE_SIZE (%ld); "
			"using %ld",
			at_cfg.bsp_batch_size, at_cfg.bsp_queue_size, at_cfg.bsp_queue_size);
		at_cfg.bsp_batch_size = at_cfg.bsp_queue_size;
	}
	env_long("AUTOTRACE_EXIT_TIMEOUT", 0, 60000, &at_cfg.exit_timeout_ms);
	at_cfg.crash = env_bool("AUTOTRACE_CRASH", 1);
	at_cfg.callsite = env_bool("AUTOTRACE_CALLSITE", 1);
	/* as gdb's debug-file-directory: directories of separate debug files
	 * (.build-id/xx/yyyy.debug, a .gnu_debuglink's file), ':' between */
	const char *dd = at_getenv("AUTOTRACE_DEBUG_FILE_DIRECTORY");
	if (dd && at_cfg_dirs(dd, at_cfg.debug_dirs, sizeof at_cfg.debug_dirs)) {
		at_warn("AUTOTRACE_DEBUG_FILE_DIRECTORY is too long (%zu bytes, with its relative "
		        "directories made absolute); using /usr/lib/debug",
		        strlen(dd));
		dd = NULL;
	}
	if (!dd)
		snprintf(at_cfg.debug_dirs, sizeof at_cfg.debug_dirs, "/usr/lib/debug");
	const char *mode = at_getenv("AUTOTRACE_EXPORTER_MODE");
	at_cfg.exporter_process = 0;
	if (mode && !strcasecmp(mode, "process"))
		at_cfg.exporter_process = 1;
	else if (mode && strcasecmp(mode, "thread"))
		at_warn("AUTOTRACE_EXPORTER_MODE=\"%.32s\" is neither thread nor process; using thread",
			mode);
	at_cfg.loop_depth = 8;
	env_long("AUTOTRACE_LOOP_DEPTH", 1, 1000000, &at_cfg.loop_depth);
	env_long("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", 0, 1 << 20, &at_cfg.attr_value_limit);
	env_long("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", 0, 1 << 20, &at_cfg.attr_value_limit);
	env_long("OTEL_ATTRIBUTE_COUNT_LIMIT", 0, 1 << 20, &at_cfg.attr_count_limit);
	env_long("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", 0, 1 << 20, &at_cfg.attr_count_limit);
	env_long("OTEL_SPAN_EVENT_COUNT_LIMIT", 0, 1 << 20, &at_cfg.event_count_limit);

	const char *tp = at_getenv("TRACEPARENT");
	if (tp)
		snprintf(at_cfg.traceparent, sizeof at_cfg.traceparent, "%.63s", tp);
	const char *ts = at_getenv("TRACESTATE");
	if (ts && strlen(ts) < sizeof at_cfg.tracestate)
		snprintf(at_cfg.tracestate, sizeof at_cfg.tracestate, "%s", ts);
	return 1;
}
