/* libcurl: curl_easy_perform makes a CLIENT span and carries the trace
 * context in the request headers. libcurl is never linked: its functions
 * are found in the host at the first call (also when a Perl, Python or PHP
 * extension dlopen'ed it). A plain http:// transfer hands the header lines
 * to the socket hooks, which add them to the request as it is written
 * (wire.h, curl_wire.c: libcurl's own formatting of a custom header costs
 * it ~8,000 instructions). Otherwise (https, a proxy, redirects, the multi
 * interface...), to add headers without touching the application's list,
 * we chain our own curl_slist nodes (on the stack) in front of it for the
 * duration of the call, then restore the application's list; so we must
 * know that list: curl_easy_setopt is interposed to note CURLOPT_HTTPHEADER,
 * CURLOPT_URL and the options that rule the socket hooks out, per handle. */
#define _GNU_SOURCE
#include "curl_internal.h"

#include "../preload/errors.h"
#include "../preload/log.h"
#include "../preload/real.h"
#include "../preload/url.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *const at_curl_sonames[] = {"libcurl.so.4", "libcurl-gnutls.so.4",
					   "libcurl-nss.so.4", "libcurl.so.3", NULL};

AT_REAL(CURLcode, curl_easy_perform, (CURL *));
AT_REAL(CURLcode, curl_easy_setopt, (CURL *, CURLoption, ...));
AT_REAL(CURLcode, curl_easy_getinfo, (CURL *, CURLINFO, ...));
AT_REAL(void, curl_easy_reset, (CURL *));
AT_REAL(CURL *, curl_easy_duphandle, (CURL *));
AT_REAL(void, curl_easy_cleanup, (CURL *));
AT_REAL(const char *, curl_easy_strerror, (CURLcode));

/* ---- hooks ---- */

AT_EXPORT CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
	if (!AT_RESOLVE_IN(curl_easy_setopt, at_curl_sonames))
		return CURLE_FAILED_INIT;
	va_list ap;
	va_start(ap, opt);
	/* the argument's type follows from the option number's range */
	CURLcode rc;
	if (opt < CURLOPTTYPE_OBJECTPOINT) {
		long v = va_arg(ap, long);
		rc = real_curl_easy_setopt(h, opt, v);
		if (rc == CURLE_OK && at_on()) {
			int saved = errno;
			at_curl_wire_option(h, opt, v, NULL);
			errno = saved;
		}
	} else if (opt < CURLOPTTYPE_FUNCTIONPOINT) {
		void *v = va_arg(ap, void *);
		int saved = errno;
		rc = real_curl_easy_setopt(h, opt, v);
		if (rc == CURLE_OK && at_on() && (opt == CURLOPT_HTTPHEADER || opt == CURLOPT_URL)) {
			struct at_curl_handle *e = at_curl_lookup_or_add(h);
			if (e && opt == CURLOPT_HTTPHEADER)
				atomic_store(&e->headers, (struct curl_slist *)v);
			else if (e)
				atomic_store(&e->url, at_curl_url_kind(v));
		}
		if (rc == CURLE_OK && at_on())
			at_curl_wire_option(h, opt, 0, v);
		errno = saved;
	} else if (opt < CURLOPTTYPE_OFF_T) {
		void (*v)(void) = va_arg(ap, void (*)(void));
		rc = real_curl_easy_setopt(h, opt, v);
	} else if (opt < CURLOPTTYPE_BLOB) {
		curl_off_t v = va_arg(ap, curl_off_t);
		rc = real_curl_easy_setopt(h, opt, v);
	} else {
		void *v = va_arg(ap, void *);
		rc = real_curl_easy_setopt(h, opt, v);
	}
	va_end(ap);
	return rc;
}

AT_EXPORT void curl_easy_reset(CURL *h)
{
	if (!AT_RESOLVE_IN(curl_easy_reset, at_curl_sonames))
		return;
	real_curl_easy_reset(h);
	int saved = errno;
	struct at_curl_handle *e = at_curl_lookup(h);
	if (e) {
		atomic_store(&e->headers, NULL);
		atomic_store(&e->url, URL_UNKNOWN);
		atomic_store(&e->wire_off, 0);
		at_curl_set_unix(e, NULL, 0);
	}
	errno = saved;
}

AT_EXPORT CURL *curl_easy_duphandle(CURL *h)
{
	if (!AT_RESOLVE_IN(curl_easy_duphandle, at_curl_sonames))
		return NULL;
	CURL *d = real_curl_easy_duphandle(h);
	int saved = errno;
	struct at_curl_handle *e = d ? at_curl_lookup(h) : NULL;
	if (e && at_on()) {
		struct at_curl_handle *n = at_curl_lookup_or_add(d);
		if (n) {
			atomic_store(&n->headers, atomic_load(&e->headers));
			atomic_store(&n->url, atomic_load(&e->url));
			atomic_store(&n->wire_off, atomic_load(&e->wire_off));
			at_curl_copy_unix(n, e);
		}
	}
	errno = saved;
	return d;
}

AT_EXPORT void curl_easy_cleanup(CURL *h)
{
	if (!AT_RESOLVE_IN(curl_easy_cleanup, at_curl_sonames))
		return;
	int saved = errno;
	if (atomic_load(&at_state) == AT_ON)
		at_curl_multi_forget(h); /* cleaned up while still in a multi */
	at_curl_forget(h);
	errno = saved;
	real_curl_easy_cleanup(h);
}

static int has_header(const struct curl_slist *l, const char *name, size_t n)
{
	for (; l; l = l->next)
		if (l->data && !strncasecmp(l->data, name, n) && l->data[n] == ':')
			return 1;
	return 0;
}

void at_curl_inject(CURL *h, struct at_curl_handle *e, struct at_span *s,
		    struct at_curl_inject *ci, struct at_wire *w)
{
	int url = e ? atomic_load(&e->url) : URL_UNKNOWN;
	ci->app = e ? atomic_load(&e->headers) : NULL;
	ci->injected = AT_CURL_INJECT_NONE;
	/* without an entry we know the app's list only if none was ever lost */
	int known = e || !atomic_load(&at_curl_table_overflow);
	if (!known || url != URL_HTTP || has_header(ci->app, "traceparent", 11) ||
	    !AT_RESOLVE_IN(curl_easy_setopt, at_curl_sonames))
		return;
	struct at_inject *inj = &ci->inj;
	if (at_inject_build(inj, at_span_ctx(s), at_span_str(s, s->tracestate), s->tracestate.len) <= 0)
		return;
	if (w && at_curl_wire_arm(e, inj, w)) {
		ci->injected = AT_CURL_INJECT_WIRE;
		return;
	}
	for (int i = 0; i < inj->n; i++) {
		ci->nodes[i].data = (char *)inj->lines[i];
		ci->nodes[i].next = i + 1 < inj->n ? &ci->nodes[i + 1] : ci->app;
	}
	if (real_curl_easy_setopt(h, CURLOPT_HTTPHEADER, ci->nodes) == CURLE_OK)
		ci->injected = AT_CURL_INJECT_LIST;
}

void at_curl_uninject(CURL *h, struct at_curl_inject *ci)
{
	if (ci->injected == AT_CURL_INJECT_LIST)
		real_curl_easy_setopt(h, CURLOPT_HTTPHEADER, ci->app);
	ci->injected = AT_CURL_INJECT_NONE;
}


static const char *code_name(CURLcode rc, char *buf, size_t len)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
		return "CURLE_COULDNT_RESOLVE_HOST";
	case CURLE_COULDNT_CONNECT:
		return "CURLE_COULDNT_CONNECT";
	case CURLE_OPERATION_TIMEDOUT:
		return "CURLE_OPERATION_TIMEDOUT";
	case CURLE_GOT_NOTHING:
		return "CURLE_GOT_NOTHING";
	case CURLE_SEND_ERROR:
		return "CURLE_SEND_ERROR";
	case CURLE_RECV_ERROR:
		return "CURLE_RECV_ERROR";
	case CURLE_SSL_CONNECT_ERROR:
		return "CURLE_SSL_CONNECT_ERROR";
	case CURLE_WRITE_ERROR:
		return "CURLE_WRITE_ERROR";
	case CURLE_ABORTED_BY_CALLBACK:
		return "CURLE_ABORTED_BY_CALLBACK";
	case CURLE_TOO_MANY_REDIRECTS:
		return "CURLE_TOO_MANY_REDIRECTS";
	case CURLE_PARTIAL_FILE:
		return "CURLE_PARTIAL_FILE";
	case CURLE_URL_MALFORMAT:
		return "CURLE_URL_MALFORMAT";
	case CURLE_UNSUPPORTED_PROTOCOL:
		return "CURLE_UNSUPPORTED_PROTOCOL";
	default:
		snprintf(buf, len, "CURLE_%d", (int)rc);
		return buf;
	}
}

/* url.full, server.address and server.port. Most URLs are plain
 * ("http://host:port/path", no userinfo): taken as they are, without the
 * general parse and the redacting copy (~1,300 instructions a request,
 * snprintf's and strtol's most of them). */
static void url_attrs(struct at_span *s, const char *url)
{
	const char *host;
	size_t hl;
	int port;
	if (AT_LIKELY(at_url_split_plain(url, &host, &hl, &port))) {
		at_span_set_strn(s, "url.full", url, strlen(url));
		at_span_set_strn(s, "server.address", host, hl);
		at_span_set_int(s, "server.port", port);
		return;
	}
	char red[1024];
	size_t n = at_url_redact(url, red, sizeof red);
	at_span_set_strn(s, "url.full", red, n);
	struct at_url u;
	if (!at_url_parse(url, &u)) {
		at_span_set_str(s, "server.address", u.host);
		at_span_set_int(s, "server.port", u.port);
	}
}

/* The method and the URL, as the transfer has them so far. */
static AT_ALWAYS_INLINE void request_attrs(struct at_span *s, CURL *h)
{
	char *method = NULL, *url = NULL;
#if LIBCURL_VERSION_NUM >= 0x074800
	if (real_curl_easy_getinfo(h, CURLINFO_EFFECTIVE_METHOD, &method) != CURLE_OK)
		method = NULL;
#endif
	if (!method || !*method)
		method = "GET";
	at_span_set_name(s, method, strlen(method));
	at_span_set_str(s, "http.request.method", method);
	if (real_curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &url) == CURLE_OK && url)
		url_attrs(s, url);
}

/* The transfer curl_easy_perform runs on this thread, and its span: a crash
 * or a kill in the middle of it (preload/crash.c) ends the span, which
 * would otherwise get its method and URL only at the end. */
static AT_TLS CURL *performing;
static AT_TLS struct at_span *performing_span;

void at_curl_interrupted(struct at_span *s)
{
	if (s == performing_span && performing && s->recording)
		request_attrs(s, performing);
}

/* The HTTP version the response came in: "1.1" (its length in *n), or NULL. */
static const char *http_version(CURL *h, size_t *n)
{
	long v = 0;
	if (real_curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &v) != CURLE_OK)
		return NULL;
	*n = 3;
	switch (v) {
	case CURL_HTTP_VERSION_1_0:
		return "1.0";
	case CURL_HTTP_VERSION_1_1:
		return "1.1";
	case CURL_HTTP_VERSION_2_0:
		*n = 1;
		return "2";
	case CURL_HTTP_VERSION_3:
		*n = 1;
		return "3";
	default:
		return NULL;
	}
}

/* The address and port of the connection the transfer last used (the
 * proxy's when there is one), as libcurl names them: none when it never
 * connected. */
static void peer_attrs(struct at_span *s, CURL *h)
{
	char *ip = NULL;
	long port = 0;
	if (real_curl_easy_getinfo(h, CURLINFO_PRIMARY_IP, &ip) != CURLE_OK || !ip || !*ip)
		return;
	at_span_set_str(s, "network.peer.address", ip);
	if (real_curl_easy_getinfo(h, CURLINFO_PRIMARY_PORT, &port) == CURLE_OK && port > 0 &&
	    port < 65536)
		at_span_set_int(s, "network.peer.port", port);
}

/* Attributes known only once the transfer is done. */
void at_curl_finish_span(struct at_span *s, CURL *h, struct at_curl_handle *e, CURLcode rc)
{
	long status = 0;
	if (!AT_RESOLVE_IN(curl_easy_getinfo, at_curl_sonames))
		return;
	request_attrs(s, h);
	if (real_curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status > 0) {
		at_span_set_int(s, "http.response.status_code", status);
		size_t n;
		const char *v = http_version(h, &n);
		if (v)
			at_span_set_strn(s, "network.protocol.version", v, n);
	}
	const char *up = e ? atomic_load_explicit(&e->unix_path, memory_order_relaxed) : NULL;
	if (AT_UNLIKELY(up != NULL)) {
		at_span_set_strn(s, "network.transport", "unix", 4);
		at_span_set_str(s, "network.peer.address", up);
	} else
		peer_attrs(s, h);
	char buf[32];
	if (rc != CURLE_OK) {
		const char *name = code_name(rc, buf, sizeof buf);
		const char *msg = AT_RESOLVE_IN(curl_easy_strerror, at_curl_sonames)
					  ? real_curl_easy_strerror(rc)
					  : name;
		at_span_fail(s, name, strlen(name), msg, strlen(msg));
	} else if (status >= 400) {
		snprintf(buf, sizeof buf, "%ld", status);
		at_span_set_str(s, "error.type", buf);
		at_span_set_error(s, NULL, 0);
	}
}

AT_EXPORT CURLcode curl_easy_perform(CURL *h)
{
	if (!AT_RESOLVE_IN(curl_easy_perform, at_curl_sonames))
		return CURLE_FAILED_INIT;
	if (!at_enter()) {
		/* a perform inside a wired one (a callback's): its requests are
		 * not the outer one's, and get none of its lines */
		struct at_wire *w = at_wire_cur;
		if (AT_LIKELY(!w))
			return real_curl_easy_perform(h);
		at_wire_cur = NULL;
		CURLcode rc = real_curl_easy_perform(h);
		at_wire_cur = w;
		return rc;
	}
	int saved = errno;
	if (!AT_RESOLVE_IN(curl_easy_setopt, at_curl_sonames) ||
	    !AT_RESOLVE_IN(curl_easy_getinfo, at_curl_sonames)) {
		at_leave();
		errno = saved;
		return real_curl_easy_perform(h);
	}
	struct at_curl_handle *e = at_curl_lookup(h);
	int url = e ? atomic_load(&e->url) : URL_UNKNOWN;
	if (url == URL_OTHER) { /* ftp, smtp, ...: not HTTP, and never touch its headers */
		errno = saved;
		CURLcode rc = real_curl_easy_perform(h);
		at_leave();
		return rc;
	}
	struct at_span s;
	at_span_start(&s, "GET", AT_KIND_CLIENT);
	AT_SPAN_CALLER(&s);
	struct at_curl_inject ci;
	struct at_wire w;
	at_curl_inject(h, e, &s, &ci, &w);
	if (ci.injected == AT_CURL_INJECT_LIST) /* its connections kept in step for */
		at_curl_wire_follow(&w);        /* a later wired transfer */

	performing = h;
	performing_span = &s;
	errno = saved;
	CURLcode rc = real_curl_easy_perform(h);
	saved = errno;
	performing = NULL;

	at_curl_wire_disarm(ci.injected == AT_CURL_INJECT_WIRE ? e : NULL, &w, rc);
	at_curl_uninject(h, &ci);
	if (s.recording)
		at_curl_finish_span(&s, h, e, rc);
	at_span_end(&s);
	at_leave();
	errno = saved;
	return rc;
}
