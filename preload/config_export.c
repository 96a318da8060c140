/* Where spans go: which exporters, and their destinations. OTEL_* names
 * win over the classic JAEGER_* ones when both are set; JAEGER_AGENT_HOST or
 * JAEGER_ENDPOINT alone select the Jaeger exporter, AUTOTRACE_FILE alone the
 * file (so a user of either is not also sending to a missing localhost:4318). */
#define _GNU_SOURCE
#include "config.h"

#include "log.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int at_expand_env_refs(const char *in, size_t n, char *out, size_t outlen)
{
	size_t o = 0;
	if (!outlen)
		return -1;
	for (size_t i = 0; i < n;) {
		const char *close;
		if (in[i] == '$' && i + 1 < n && in[i + 1] == '{' &&
		    (close = memchr(in + i + 2, '}', n - i - 2))) {
			const char *name = in + i + 2;
			size_t len = (size_t)(close - name);
			const char *colon = memchr(name, ':', len);
			size_t nlen = colon ? (size_t)(colon - name) : len;
			char key[128];
			snprintf(key, sizeof key, "%.*s", (int)nlen, name);
			const char *v = nlen < sizeof key ? at_getenv(key) : NULL;
			size_t vl = v ? strlen(v) : 0;
			if (!v && colon) {
				v = colon + 1;
				vl = len - nlen - 1;
			}
			if (o + vl >= outlen)
				return -1;
			if (v)
				memcpy(out + o, v, vl);
			o += vl;
			i = (size_t)(close - in) + 1;
			continue;
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = in[i++];
	}
	out[o] = 0;
	return 0;
}

/* JAEGER_TAGS "k=v,k2=${ENV:default}" become resource attributes placed
 * before OTEL_RESOURCE_ATTRIBUTES (later entries win there). Values are
 * percent-encoded where the resource syntax needs it. */
static void load_jaeger_tags(void)
{
	const char *v = at_getenv("JAEGER_TAGS");
	if (!v)
		return;
	size_t cap =
	    strlen(v) * 3 + 4096 + (at_cfg.resource_attrs ? strlen(at_cfg.resource_attrs) : 0);
	char *out = malloc(cap), val[2048];
	if (!out)
		return;
	size_t o = 0;
	for (const char *s = v; *s;) {
		size_t len = strcspn(s, ",");
		const char *eq = memchr(s, '=', len);
		if (!eq || eq == s) {
			at_warn("JAEGER_TAGS: \"%.*s\" is not key=value; ignored",
			        (int)(len > 64 ? 64 : len), s);
		} else if (at_expand_env_refs(eq + 1, len - (size_t)(eq - s) - 1, val,
		                              sizeof val)) {
			at_warn("JAEGER_TAGS: the value of \"%.*s\" is too long; ignored",
			        (int)(eq - s), s);
		} else if (o + (size_t)(eq - s) + 3 * strlen(val) + 3 < cap) {
			if (o)
				out[o++] = ',';
			memcpy(out + o, s, (size_t)(eq - s + 1));
			o += (size_t)(eq - s + 1);
			for (const char *p = val; *p; p++)
				if (*p == ',' || *p == '%' || *p == '=')
					o += (size_t)sprintf(out + o, "%%%02X", (unsigned char)*p);
				else
					out[o++] = *p;
		}
		s += len;
		if (*s)
			s++;
	}
	if (at_cfg.resource_attrs && o)
		o += (size_t)snprintf(out + o, cap - o, ",%s", at_cfg.resource_attrs);
	else if (at_cfg.resource_attrs)
		o += (size_t)snprintf(out + o, cap - o, "%s", at_cfg.resource_attrs);
	out[o] = 0;
	free(at_cfg.resource_attrs);
	at_cfg.resource_attrs = out;
}

static void copy_env(const char *name, char *dst, size_t n, const char *dflt)
{
	const char *v = at_getenv(name);
	if (!v)
		v = dflt;
	if (v && strlen(v) >= n) {
		at_warn("%s is too long (%zu bytes); using %s", name, strlen(v),
		        dflt ? dflt : "nothing");
		v = dflt;
	}
	snprintf(dst, n, "%s", v ? v : "");
}

void at_cfg_path(const char *name, char *dst, size_t n)
{
	copy_env(name, dst, n, NULL);
	char cwd[256];
	if (dst[0] && dst[0] != '/' && getcwd(cwd, sizeof cwd)) {
		char rel[512];
		snprintf(rel, sizeof rel, "%s", dst);
		if ((size_t)snprintf(dst, n, "%s/%s", cwd, rel) >= n)
			snprintf(dst, n, "%s", rel);
	}
}

int at_cfg_dirs(const char *v, char *dst, size_t n)
{
	char cwd[PATH_MAX];
	int have_cwd = -1;
	size_t o = 0;
	dst[0] = 0;
	for (const char *d = v;; d++) {
		size_t dl = strcspn(d, ":");
		if (dl && d[0] != '/' && have_cwd < 0)
			have_cwd = getcwd(cwd, sizeof cwd) != NULL;
		int rel = dl && d[0] != '/' && have_cwd > 0;
		int k = snprintf(dst + o, n - o, "%s%s%s%.*s", o ? ":" : "", rel ? cwd : "",
		                 rel ? "/" : "", (int)dl, d);
		if (k < 0 || (size_t)k >= n - o) {
			dst[0] = 0;
			return -1;
		}
		o += (size_t)k;
		d += dl;
		if (!*d)
			return 0;
	}
}

void at_config_load_destinations(int otel_set)
{
	copy_env("JAEGER_AGENT_HOST", at_cfg.jaeger_agent_host, sizeof at_cfg.jaeger_agent_host,
	         "localhost");
	long port = 6831;
	const char *p = at_getenv("JAEGER_AGENT_PORT");
	if (p && at_parse_long(p, 1, 65535, &port))
		at_warn("JAEGER_AGENT_PORT=\"%.32s\" is not a port; using 6831", p);
	at_cfg.jaeger_agent_port = (int)port;
	at_cfg.jaeger_max_packet = 65000;
	p = at_getenv("AUTOTRACE_JAEGER_MAX_PACKET");
	if (p && at_parse_long(p, 512, 65000, &at_cfg.jaeger_max_packet))
		at_warn("AUTOTRACE_JAEGER_MAX_PACKET=\"%.32s\" is not in [512, 65000]; using 65000",
		        p);
	copy_env("JAEGER_ENDPOINT", at_cfg.jaeger_endpoint, sizeof at_cfg.jaeger_endpoint, NULL);
	copy_env("JAEGER_USER", at_cfg.jaeger_user, sizeof at_cfg.jaeger_user, NULL);
	copy_env("JAEGER_PASSWORD", at_cfg.jaeger_password, sizeof at_cfg.jaeger_password, NULL);
	copy_env("OTEL_EXPORTER_ZIPKIN_ENDPOINT", at_cfg.zipkin_endpoint,
	         sizeof at_cfg.zipkin_endpoint, "http://localhost:9411/api/v2/spans");
	at_cfg_path("AUTOTRACE_FILE", at_cfg.file_path, sizeof at_cfg.file_path);

	const char *c = at_getenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION");
	if (!c)
		c = at_getenv("OTEL_EXPORTER_OTLP_COMPRESSION");
	if (c && !strcmp(c, "gzip"))
		at_cfg.otlp_gzip = 1;
	else if (c && strcmp(c, "none"))
		at_warn(
		    "OTEL_EXPORTER_OTLP_COMPRESSION=\"%.32s\" is not gzip or none; not compressing",
		    c);

	if (!otel_set) {
		int jaeger = at_getenv("JAEGER_AGENT_HOST") || at_getenv("JAEGER_ENDPOINT");
		if (jaeger)
			at_cfg.exporters = AT_EXP_JAEGER;
		else if (at_cfg.file_path[0])
			at_cfg.exporters = 0;
	}
	if (at_cfg.file_path[0])
		at_cfg.exporters |= AT_EXP_FILE;
	load_jaeger_tags();
	at_config_load_tls();
}
