/* Per-easy-handle bookkeeping for the libcurl hooks: the application's
 * CURLOPT_HTTPHEADER list and URL kind, and an in-flight multi transfer. A
 * lock-free open-addressing table keyed by the handle pointer. */
#define _GNU_SOURCE
#include "curl_internal.h"

#include "../preload/log.h"

#include <string.h>
#include <strings.h>

#define TABLE_SIZE 4096 /* handles alive at once; beyond it we stop injecting */
#define TOMBSTONE ((void *)1)

static struct at_curl_handle table[TABLE_SIZE];
_Atomic int at_curl_table_overflow;

static size_t hash(const void *p)
{
	uintptr_t x = (uintptr_t)p;
	x ^= x >> 17;
	x *= 0xed5ad4bbU;
	x ^= x >> 11;
	return x & (TABLE_SIZE - 1);
}

struct at_curl_handle *at_curl_lookup(const void *h)
{
	size_t i = hash(h);
	for (size_t n = 0; n < TABLE_SIZE; n++, i = (i + 1) & (TABLE_SIZE - 1)) {
		void *k = atomic_load(&table[i].key);
		if (k == h)
			return &table[i];
		if (!k)
			return NULL;
	}
	return NULL;
}

struct at_curl_handle *at_curl_lookup_or_add(void *h)
{
	struct at_curl_handle *e = at_curl_lookup(h);
	if (e)
		return e;
	size_t i = hash(h);
	for (size_t n = 0; n < TABLE_SIZE; n++, i = (i + 1) & (TABLE_SIZE - 1)) {
		void *k = atomic_load(&table[i].key);
		if ((!k || k == TOMBSTONE) &&
		    atomic_compare_exchange_strong(&table[i].key, &k, h)) {
			atomic_store(&table[i].headers, NULL);
			atomic_store(&table[i].url, URL_UNKNOWN);
			atomic_store(&table[i].nowire, NOWIRE_SCHEME);
			atomic_store(&table[i].xfer, NULL);
			return &table[i];
		}
	}
	if (!atomic_exchange(&at_curl_table_overflow, 1))
		at_warn("curl: more than %d easy handles alive; trace headers are no longer "
			"added to requests of new handles",
			TABLE_SIZE);
	return NULL;
}

void at_curl_forget(void *h)
{
	struct at_curl_handle *e = at_curl_lookup(h);
	if (e) {
		atomic_store(&e->headers, NULL);
		atomic_store(&e->key, TOMBSTONE);
	}
}

int at_curl_url_kind(const char *url)
{
	if (!url)
		return URL_UNKNOWN;
	const char *p = strstr(url, "://");
	if (!p)
		return URL_HTTP; /* curl guesses http for a URL without a scheme */
	size_t n = (size_t)(p - url);
	if ((n == 4 && !strncasecmp(url, "http", 4)) || (n == 5 && !strncasecmp(url, "https", 5)))
		return URL_HTTP;
	return URL_OTHER;
}

int at_curl_url_plain(const char *url)
{
	const char *p = url ? strstr(url, "://") : NULL;
	if (!url)
		return 0;
	return !p || (p - url == 4 && !strncasecmp(url, "http", 4));
}

static void wire_bit(struct at_curl_handle *e, int bit, int on)
{
	if (on)
		atomic_fetch_or(&e->nowire, bit);
	else
		atomic_fetch_and(&e->nowire, ~bit);
}

int at_curl_note_wire(CURL *h, CURLoption opt, long lv, const void *pv)
{
	int bit;
	int on;
	switch (opt) {
	case CURLOPT_URL:
		bit = NOWIRE_SCHEME;
		on = !at_curl_url_plain(pv);
		break;
	case CURLOPT_PROXY:
	case CURLOPT_PRE_PROXY:
		bit = opt == CURLOPT_PROXY ? NOWIRE_PROXY : NOWIRE_PREPROXY;
		on = pv && *(const char *)pv;
		break;
	case CURLOPT_UNIX_SOCKET_PATH:
	case CURLOPT_ABSTRACT_UNIX_SOCKET:
		bit = opt == CURLOPT_UNIX_SOCKET_PATH ? NOWIRE_UNIX : NOWIRE_ABSTRACT;
		on = pv != NULL;
		break;
	case CURLOPT_FOLLOWLOCATION:
		bit = NOWIRE_FOLLOW;
		on = lv != 0;
		break;
	case CURLOPT_TCP_FASTOPEN:
	case CURLOPT_CONNECT_ONLY:
		bit = opt == CURLOPT_TCP_FASTOPEN ? NOWIRE_FASTOPEN : NOWIRE_CONNECT_ONLY;
		on = lv != 0;
		break;
	case CURLOPT_HTTP_VERSION:
		bit = NOWIRE_VERSION;
		/* 2TLS (the curl tool's default): HTTP/2 only over TLS, so 1.1
		 * for http://; 2_0 upgrades, prior knowledge speaks h2c */
		on = lv != CURL_HTTP_VERSION_NONE && lv != CURL_HTTP_VERSION_1_0 &&
		     lv != CURL_HTTP_VERSION_1_1 && lv != CURL_HTTP_VERSION_2TLS;
		break;
	default:
		return 0;
	}
	struct at_curl_handle *e = at_curl_lookup_or_add(h);
	if (e)
		wire_bit(e, bit, on);
	return 1;
}
