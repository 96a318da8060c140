/* Shared by the libcurl hooks (curl.c: easy interface, curl_multi.c). */
#ifndef AT_CURL_INTERNAL_H
#define AT_CURL_INTERNAL_H

#define CURL_DISABLE_TYPECHECK /* we forward every argument type ourselves */
#include <curl/curl.h>

#include "../preload/autotrace.h"
#include "../preload/propagation.h"

enum { URL_UNKNOWN = 0, URL_HTTP = 1, URL_OTHER = 2 };

struct at_curl_xfer;

struct at_curl_handle {
	_Atomic(void *) key;
	_Atomic(struct curl_slist *) headers; /* the application's list */
	_Atomic int url;
	_Atomic(struct at_curl_xfer *) xfer; /* a multi transfer in flight */
};

extern const char *const at_curl_sonames[];
/* 1 once a handle could not be recorded: from then on a handle without an
 * entry may have headers we do not know, so we inject nothing there. */
extern _Atomic int at_curl_table_overflow;

struct at_curl_handle *at_curl_lookup(const void *h);
struct at_curl_handle *at_curl_lookup_or_add(void *h);
void at_curl_forget(void *h);
int at_curl_url_kind(const char *url);

/* Header nodes chained in front of the application's list for one request. */
struct at_curl_inject {
	struct at_inject inj;
	struct curl_slist nodes[8];
	struct curl_slist *app;
	int injected;
};

/* Set our headers on h for span s (when the URL is HTTP and the app's list
 * is known and has no traceparent of its own); undo restores the app's list. */
void at_curl_inject(CURL *h, struct at_curl_handle *e, struct at_span *s,
		    struct at_curl_inject *ci);
void at_curl_uninject(CURL *h, struct at_curl_inject *ci);
/* Attributes and status once the transfer is done. */
void at_curl_finish_span(struct at_span *s, CURL *h, CURLcode rc);
/* End the multi transfer of this handle, if one is in flight. */
void at_curl_multi_forget(CURL *easy);

#endif
