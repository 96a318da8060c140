/* Per-easy-handle bookkeeping for the libcurl hooks: the application's
 * CURLOPT_HTTPHEADER list and URL kind, and an in-flight multi transfer. A
 * lock-free open-addressing table keyed by the handle pointer. */
#define _GNU_SOURCE
#include "curl_internal.h"

#include "../preload/log.h"

#include <stdlib.h>
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
			atomic_store(&table[i].unix_path, NULL);
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
		at_curl_set_unix(e, NULL, 0);
		atomic_store(&e->key, TOMBSTONE);
	}
}

/* A handle is used by one thread at a time (libcurl's rule), the one that
 * sets its options, performs it and cleans it up: the old copy has no
 * other reader when it is freed. */
static void put_unix(struct at_curl_handle *e, char *copy)
{
	free(atomic_exchange(&e->unix_path, copy));
}

void at_curl_set_unix(struct at_curl_handle *e, const char *path, int abstract)
{
	char *copy = NULL;
	if (path && *path) {
		size_t n = strnlen(path, 256), a = abstract != 0;
		if ((copy = malloc(a + n + 1))) {
			copy[0] = '@';
			memcpy(copy + a, path, n);
			copy[a + n] = 0;
		}
	}
	put_unix(e, copy);
}

void at_curl_copy_unix(struct at_curl_handle *e, const struct at_curl_handle *from)
{
	const char *p = atomic_load(&from->unix_path);
	put_unix(e, p ? strdup(p) : NULL);
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

