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
	_Atomic int nowire; /* why our lines cannot go on the wire (NOWIRE_*): 0 = they can */
	_Atomic(struct at_curl_xfer *) xfer; /* a multi transfer in flight */
};

/* An easy transfer whose request is plain HTTP/1.x on a TCP connection of
 * its own gets our lines written into its request head by the socket hooks
 * (hooks/net.c, at_tls.wire): libcurl formats a CURLOPT_HTTPHEADER line
 * byte by byte through its printf (~90 instructions a byte, ~6,500 per
 * request for a traceparent). Anything that would keep the request head
 * from the socket in plain text, or send the transfer's requests where the
 * socket hooks do not see them, keeps the header list instead: */
enum {
	NOWIRE_SCHEME = 1,   /* the URL is not http:// (https, unknown) */
	NOWIRE_PROXY = 2,    /* a proxy (socks, https: the head is not plain on the socket) */
	NOWIRE_FOLLOW = 4,   /* redirects: a later hop may be https */
	NOWIRE_VERSION = 8,  /* HTTP/2 or 3 asked for */
	NOWIRE_UNIX = 16,    /* a unix socket: connect is not a TCP client's */
	NOWIRE_MISSED = 32,  /* a transfer on this handle went by without our lines */
	NOWIRE_PREPROXY = 64,
	NOWIRE_ABSTRACT = 128, /* an abstract unix socket */
	NOWIRE_FASTOPEN = 256, /* TCP Fast Open: sendto without connect */
	NOWIRE_CONNECT_ONLY = 512, /* no request: the application's own bytes follow */
};
/* Whether url's scheme is http (or none: curl guesses http). */
int at_curl_url_plain(const char *url);
/* Notes an option that decides NOWIRE_*; returns 1 when opt is one. */
int at_curl_note_wire(CURL *h, CURLoption opt, long lv, const void *pv);

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
