/* Shared by the libcurl hooks (curl.c: easy interface, curl_multi.c). */
#ifndef AT_CURL_INTERNAL_H
#define AT_CURL_INTERNAL_H

#define CURL_DISABLE_TYPECHECK /* we forward every argument type ourselves */
#include <curl/curl.h>

#include "../preload/autotrace.h"
#include "../preload/propagation.h"
#include "wire.h"

enum { URL_UNKNOWN = 0, URL_HTTP = 1, URL_OTHER = 2 };

struct at_curl_xfer;

struct at_curl_handle {
	_Atomic(void *) key;
	_Atomic(struct curl_slist *) headers; /* the application's list */
	_Atomic int url;
	_Atomic(struct at_curl_xfer *) xfer; /* a multi transfer in flight */
	_Atomic unsigned wire_off;           /* AT_CURL_WIRE_OFF_*: why not wire.h */
	_Atomic(char *) unix_path; /* CURLOPT_(ABSTRACT_)UNIX_SOCKET_PATH, "@name" when
	                              abstract: a copy (malloc), or NULL */
};

/* Why a handle's requests get their trace headers from CURLOPT_HTTPHEADER
 * and not from the socket hooks (wire.h): options under which its request
 * may not be plain HTTP/1.x written on a TCP socket libcurl connects. */
enum {
	AT_CURL_WIRE_OFF_SCHEME = 1u << 0, /* the URL is not http:// */
	AT_CURL_WIRE_OFF_PROXY = 1u << 1,
	AT_CURL_WIRE_OFF_PRE_PROXY = 1u << 2,
	AT_CURL_WIRE_OFF_TUNNEL = 1u << 3,
	AT_CURL_WIRE_OFF_UNIX = 1u << 4, /* a unix socket, named or abstract */
	AT_CURL_WIRE_OFF_FOLLOW = 1u << 6, /* a redirect may go to https */
	AT_CURL_WIRE_OFF_VERSION = 1u << 7, /* HTTP/2 or 3 asked for */
	AT_CURL_WIRE_OFF_CONNECT_ONLY = 1u << 8,
	AT_CURL_WIRE_OFF_HAPROXY = 1u << 9,
	AT_CURL_WIRE_OFF_METHOD = 1u << 10, /* CURLOPT_CUSTOMREQUEST not A-Z */
	AT_CURL_WIRE_OFF_MISSED = 1u << 11, /* a request went out unseen */
};

extern const char *const at_curl_sonames[];
/* 1 once a handle could not be recorded: from then on a handle without an
 * entry may have headers we do not know, so we inject nothing there. */
extern _Atomic int at_curl_table_overflow;

struct at_curl_handle *at_curl_lookup(const void *h);
struct at_curl_handle *at_curl_lookup_or_add(void *h);
void at_curl_forget(void *h);
/* e's unix socket: path (NULL: none), abstract or not; dup: a copy of
 * another handle's (the string as stored) */
void at_curl_set_unix(struct at_curl_handle *e, const char *path, int abstract);
void at_curl_copy_unix(struct at_curl_handle *e, const struct at_curl_handle *from);
int at_curl_url_kind(const char *url);

/* Header nodes chained in front of the application's list for one request. */
struct at_curl_inject {
	struct at_inject inj;
	struct curl_slist nodes[8];
	struct curl_slist *app;
	int injected; /* AT_CURL_INJECT_* */
};
enum { AT_CURL_INJECT_NONE = 0, AT_CURL_INJECT_LIST, AT_CURL_INJECT_WIRE };

/* Our headers for span s (when the URL is HTTP and the app's list is known
 * and has no traceparent of its own): handed to the socket hooks when w is
 * given and the handle allows (curl_wire.c), else set on h; undo restores
 * the app's list. */
void at_curl_inject(CURL *h, struct at_curl_handle *e, struct at_span *s,
		    struct at_curl_inject *ci, struct at_wire *w);
void at_curl_uninject(CURL *h, struct at_curl_inject *ci);

/* curl_wire.c: a tracked option was set on h (lv: its long value, pv: its
 * pointer value); arm: hand inj's lines to the socket hooks (1) or not (0);
 * follow: hand over no lines, only have the requests followed; disarm:
 * after the transfer (rc: its result; e: the handle when armed, else
 * NULL). */
void at_curl_wire_option(CURL *h, CURLoption opt, long lv, const void *pv);
int at_curl_wire_arm(struct at_curl_handle *e, const struct at_inject *inj, struct at_wire *w);
void at_curl_wire_follow(struct at_wire *w);
void at_curl_wire_disarm(struct at_curl_handle *e, struct at_wire *w, CURLcode rc);
/* Attributes and status once the transfer is done (e: h's entry, or NULL). */
void at_curl_finish_span(struct at_span *s, CURL *h, struct at_curl_handle *e, CURLcode rc);
/* From a signal handler (preload/crash.c): s, if it is the span of the
 * transfer under way on this thread, gets its method and URL. */
void at_curl_interrupted(struct at_span *s);
/* End the multi transfer of this handle, if one is in flight. */
void at_curl_multi_forget(CURL *easy);

#endif
