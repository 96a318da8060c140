/* The TLS settings of https endpoints: the OTLP collector's CA bundle and
 * client certificate (OTEL_EXPORTER_OTLP_[TRACES_]CERTIFICATE,
 * _CLIENT_CERTIFICATE, _CLIENT_KEY), OpenSSL's own SSL_CERT_FILE and
 * SSL_CERT_DIR for the other endpoints, and which libssl to load. Paths are
 * made absolute here, where the program started: the exporter may run in
 * a helper process with another working directory and no environment. */
#define _GNU_SOURCE
#include "config.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The _TRACES_ variable, else the generic one, into dst as an absolute
 * path (a list, as SSL_CERT_DIR is: each of its directories); "" (with a
 * warning) when too long. */
static void path_env(const char *traces, const char *generic, char *dst, size_t n, int list)
{
	const char *name = traces, *v = traces ? at_getenv(traces) : NULL;
	if (!v || !*v) {
		name = generic;
		v = at_getenv(generic);
	}
	dst[0] = 0;
	if (!v || !*v)
		return;
	char cwd[256] = "";
	int rel = !list && v[0] != '/' && getcwd(cwd, sizeof cwd);
	if (list ? at_cfg_dirs(v, dst, n)
	         : snprintf(dst, n, "%s%s%s", rel ? cwd : "", rel ? "/" : "", v) >= (int)n) {
		at_warn("%s is too long (%zu bytes); ignored", name, strlen(v));
		dst[0] = 0;
		return;
	}
	if (!list && access(dst, R_OK))
		at_warn("%s=\"%.200s\" cannot be read (%s); https exports will fail", name, v,
		        strerror(errno));
}

void at_config_load_tls(void)
{
	path_env("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE",
	         at_cfg.otlp_ca, sizeof at_cfg.otlp_ca, 0);
	path_env("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
	         "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", at_cfg.otlp_client_cert,
	         sizeof at_cfg.otlp_client_cert, 0);
	path_env("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "OTEL_EXPORTER_OTLP_CLIENT_KEY",
	         at_cfg.otlp_client_key, sizeof at_cfg.otlp_client_key, 0);
	if (!at_cfg.otlp_client_cert[0] != !at_cfg.otlp_client_key[0]) {
		at_warn("OTEL_EXPORTER_OTLP_CLIENT_%s is set without OTEL_EXPORTER_OTLP_CLIENT_%s; "
		        "no client certificate is sent",
		        at_cfg.otlp_client_key[0] ? "KEY" : "CERTIFICATE",
		        at_cfg.otlp_client_key[0] ? "CERTIFICATE" : "KEY");
		at_cfg.otlp_client_cert[0] = at_cfg.otlp_client_key[0] = 0;
	}
	path_env(NULL, "SSL_CERT_FILE", at_cfg.ca_file, sizeof at_cfg.ca_file, 0);
	path_env(NULL, "SSL_CERT_DIR", at_cfg.ca_dir, sizeof at_cfg.ca_dir, 1);
	const char *l = at_getenv("AUTOTRACE_LIBSSL");
	if (l && strlen(l) >= sizeof at_cfg.libssl) {
		at_warn("AUTOTRACE_LIBSSL is too long (%zu bytes); using libssl.so.3", strlen(l));
		l = NULL;
	}
	snprintf(at_cfg.libssl, sizeof at_cfg.libssl, "%s", l && *l ? l : "libssl.so.3");
}
