/* service.name, process.*, host.name, telemetry.sdk.* and whatever
 * OTEL_RESOURCE_ATTRIBUTES adds (keys set by the user win, but service.name
 * follows OTEL_SERVICE_NAME as the specification says). */
#define _GNU_SOURCE
#include "resource.h"

#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct at_kv at_resource[AT_RESOURCE_MAX];
int at_resource_n;
static char hostname[256];

static void set(const char *key, const char *str, int64_t i)
{
	for (int k = 0; k < at_resource_n; k++)
		if (!strcmp(at_resource[k].key, key)) {
			at_resource[k].str = str;
			at_resource[k].i = i;
			return;
		}
	if (at_resource_n < AT_RESOURCE_MAX)
		at_resource[at_resource_n++] = (struct at_kv){key, str, i};
}

static char *pct_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n &&
		    isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2])) {
			char hex[3] = {s[i + 1], s[i + 2], 0};
			*o++ = (char)strtol(hex, NULL, 16);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = 0;
	return out;
}

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t'))
		(*s)++, (*n)--;
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

void at_resource_set_pid(int pid)
{
	set("process.pid", NULL, pid);
}

void at_resource_set_exe(const char *name)
{
	set("process.executable.name", name, 0);
}

void at_resource_init(void)
{
	extern char *program_invocation_short_name;
	at_resource_n = 0;
	const char *attrs = at_cfg.resource_attrs;
	while (attrs && *attrs) {
		size_t len = strcspn(attrs, ",");
		const char *eq = memchr(attrs, '=', len);
		if (eq) {
			const char *k = attrs, *v = eq + 1;
			size_t kn = (size_t)(eq - attrs), vn = len - kn - 1;
			trim(&k, &kn);
			trim(&v, &vn);
			char *key = pct_decode(k, kn), *val = pct_decode(v, vn);
			if (key && val && *key)
				set(key, val, 0);
		}
		attrs += len;
		if (*attrs)
			attrs++;
	}
	set("service.name", at_cfg.service_name, 0);
	set("process.pid", NULL, getpid());
	set("process.executable.name", program_invocation_short_name, 0);
	if (!hostname[0] && gethostname(hostname, sizeof hostname - 1))
		strcpy(hostname, "unknown");
	set("host.name", hostname, 0);
	set("telemetry.sdk.name", "autotrace", 0);
	set("telemetry.sdk.language", "cpp", 0);
	set("telemetry.sdk.version", "0.1.0", 0);
}

const char *at_resource_get(const char *key)
{
	for (int k = 0; k < at_resource_n; k++)
		if (!strcmp(at_resource[k].key, key))
			return at_resource[k].str;
	return NULL;
}
