/* Which libcurl transfers hand their trace headers to the socket hooks
 * instead of CURLOPT_HTTPHEADER (wire.h), and the handing over.
 *
 * A handle qualifies while its URL is http:// and none of the options that
 * can put something else than its plain HTTP/1.x request on a TCP socket
 * libcurl connects is set (a proxy, a Unix socket, HTTP/2 or 3, redirects,
 * which may lead to https, CONNECT_ONLY, the HAProxy header, a custom
 * method that is not all A-Z, which net.c would not take for HTTP), and no
 * proxy is named in the environment. A curl_easy_perform that sets its lines
 * through CURLOPT_HTTPHEADER hands over no lines but still has its sockets
 * marked and its requests followed, so that a connection it leaves in
 * libcurl's cache is in step when a wired transfer reuses it (with
 * propagation off, nothing is marked or followed). A request that goes out
 * unseen anyway (on a connection made outside curl_easy_perform: the multi
 * interface's, shared through a CURLSH) lost its headers: the handle then
 * uses CURLOPT_HTTPHEADER from its next request on. */
#define _GNU_SOURCE
#include "curl_internal.h"

#include "../preload/config.h"
#include "../preload/log.h"

#include <strings.h>

static void set_bit(CURL *h, unsigned bit, int on)
{
	struct at_curl_handle *e = on ? at_curl_lookup_or_add(h) : at_curl_lookup(h);
	if (!e)
		return;
	if (on)
		atomic_fetch_or(&e->wire_off, bit);
	else
		atomic_fetch_and(&e->wire_off, ~bit);
}

static int set_str(const void *pv)
{
	return pv && *(const char *)pv;
}

/* the socket's name, for the span's network.peer.address */
static void unix_path(CURL *h, const char *pv, int abstract)
{
	struct at_curl_handle *e = set_str(pv) ? at_curl_lookup_or_add(h) : at_curl_lookup(h);
	if (e)
		at_curl_set_unix(e, pv, abstract);
}

/* A method the socket hooks' strict parse takes for HTTP (A-Z only). */
static int odd_method(const char *m)
{
	if (!m)
		return 0;
	if (!*m)
		return 1;
	for (; *m; m++)
		if (*m < 'A' || *m > 'Z')
			return 1;
	return 0;
}

void at_curl_wire_option(CURL *h, CURLoption opt, long lv, const void *pv)
{
	switch (opt) {
	case CURLOPT_URL:
		set_bit(h, AT_CURL_WIRE_OFF_SCHEME, !pv || strncasecmp(pv, "http://", 7) != 0);
		break;
	case CURLOPT_PROXY:
		set_bit(h, AT_CURL_WIRE_OFF_PROXY, set_str(pv));
		break;
	case CURLOPT_PRE_PROXY:
		set_bit(h, AT_CURL_WIRE_OFF_PRE_PROXY, set_str(pv));
		break;
	case CURLOPT_UNIX_SOCKET_PATH:
	case CURLOPT_ABSTRACT_UNIX_SOCKET:
		/* one setting in libcurl: the last one set names the socket */
		set_bit(h, AT_CURL_WIRE_OFF_UNIX, set_str(pv));
		unix_path(h, pv, opt == CURLOPT_ABSTRACT_UNIX_SOCKET);
		break;
	case CURLOPT_CUSTOMREQUEST:
		set_bit(h, AT_CURL_WIRE_OFF_METHOD, odd_method(pv));
		break;
	case CURLOPT_HTTPPROXYTUNNEL:
		set_bit(h, AT_CURL_WIRE_OFF_TUNNEL, lv != 0);
		break;
	case CURLOPT_FOLLOWLOCATION:
		set_bit(h, AT_CURL_WIRE_OFF_FOLLOW, lv != 0);
		break;
	case CURLOPT_CONNECT_ONLY:
		set_bit(h, AT_CURL_WIRE_OFF_CONNECT_ONLY, lv != 0);
		break;
	case CURLOPT_HAPROXYPROTOCOL:
		set_bit(h, AT_CURL_WIRE_OFF_HAPROXY, lv != 0);
		break;
	case CURLOPT_HTTP_VERSION:
		set_bit(h, AT_CURL_WIRE_OFF_VERSION,
		        lv != CURL_HTTP_VERSION_NONE && lv != CURL_HTTP_VERSION_1_0 &&
		            lv != CURL_HTTP_VERSION_1_1 && lv != CURL_HTTP_VERSION_2TLS);
		break;
	default:
		break;
	}
}

/* A proxy named in the environment, as libcurl reads it for http:// URLs
 * (looked at once: a proxy that could be plain HTTP is enough to say no). */
static int env_proxy(void)
{
	static _Atomic int v = -1;
	int x = atomic_load_explicit(&v, memory_order_relaxed);
	if (AT_UNLIKELY(x < 0)) {
		static const char *const names[] = {"http_proxy", "HTTP_PROXY", "all_proxy",
		                                    "ALL_PROXY"};
		x = 0;
		for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
			const char *p = at_getenv(names[i]);
			if (p && *p)
				x = 1;
		}
		atomic_store(&v, x);
	}
	return x;
}

static void hand_over(struct at_wire *w, const struct at_inject *inj)
{
	w->inj = inj;
	w->heads = 0;
	at_wire_cur = w;
}

int at_curl_wire_arm(struct at_curl_handle *e, const struct at_inject *inj, struct at_wire *w)
{
	if (!e || atomic_load_explicit(&e->wire_off, memory_order_relaxed) || env_proxy())
		return 0;
	hand_over(w, inj);
	return 1;
}

void at_curl_wire_follow(struct at_wire *w)
{
	hand_over(w, NULL);
}

void at_curl_wire_disarm(struct at_curl_handle *e, struct at_wire *w, CURLcode rc)
{
	at_wire_cur = NULL;
	if (!e || w->heads || rc != CURLE_OK)
		return;
	if (!(atomic_fetch_or(&e->wire_off, AT_CURL_WIRE_OFF_MISSED) & AT_CURL_WIRE_OFF_MISSED))
		at_info("curl: a request went out on a socket the hooks did not see connected; "
		        "it carried no trace headers, and this handle's next ones get them "
		        "through CURLOPT_HTTPHEADER");
}
