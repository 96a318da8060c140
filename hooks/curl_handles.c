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
			atomic_store(&table[i].xfer, NULL);
			atomic_store(&table[i].wire_off, 0);
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

