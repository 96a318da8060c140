/* libcurl's multi interface: a transfer added with curl_multi_add_handle
 * gets a CLIENT span (child of the context current at that call) and the
 * trace headers; the span ends when curl_multi_info_read reports the
 * transfer done, or when the application removes the handle first. The
 * span and header nodes must outlive the call, so they live in a fixed pool
 * (mapped on first use); when it is exhausted, transfers go untraced. */
#define _GNU_SOURCE
#include "curl_internal.h"

#include "../preload/errors.h"
#include "../preload/log.h"
#include "../preload/real.h"

#include <errno.h>
#include <sys/mman.h>

#define POOL_SIZE 256

struct at_curl_xfer {
	_Atomic int used;
	CURL *easy;
	struct at_span span;
	struct at_curl_inject ci;
};

static struct at_curl_xfer *pool;
static _Atomic int pool_state; /* 0 none, 1 mapping, 2 ready, 3 failed */

AT_REAL(CURLMcode, curl_multi_add_handle, (CURLM *, CURL *));
AT_REAL(CURLMcode, curl_multi_remove_handle, (CURLM *, CURL *));
AT_REAL(CURLMsg *, curl_multi_info_read, (CURLM *, int *));
AT_REAL(CURLcode, curl_easy_getinfo, (CURL *, CURLINFO, ...));
AT_REAL(CURLMcode, curl_multi_perform, (CURLM *, int *));
AT_REAL(CURLMcode, curl_multi_socket_action, (CURLM *, curl_socket_t, int, int *));
AT_REAL(CURLMcode, curl_multi_socket_all, (CURLM *, int *));

static struct at_curl_xfer *xfer_get(void)
{
	int st = atomic_load(&pool_state);
	if (st == 0) {
		int expect = 0;
		if (atomic_compare_exchange_strong(&pool_state, &expect, 1)) {
			void *p = mmap(NULL, POOL_SIZE * sizeof *pool, PROT_READ | PROT_WRITE,
			               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			pool = p == MAP_FAILED ? NULL : p;
			atomic_store(&pool_state, pool ? 2 : 3);
		}
		st = atomic_load(&pool_state);
	}
	if (st != 2)
		return NULL;
	for (int i = 0; i < POOL_SIZE; i++) {
		int expect = 0;
		if (!atomic_load_explicit(&pool[i].used, memory_order_relaxed) &&
		    atomic_compare_exchange_strong(&pool[i].used, &expect, 1))
			return &pool[i];
	}
	return NULL;
}

static void xfer_finish(struct at_curl_xfer *x, CURLcode rc, int done)
{
	at_curl_uninject(x->easy, &x->ci);
	if (x->span.recording) {
		at_curl_finish_span(&x->span, x->easy, at_curl_lookup(x->easy), rc);
		long status = 0;
		if (!done && AT_RESOLVE_IN(curl_easy_getinfo, at_curl_sonames))
			real_curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
		if (!done && status == 0 && x->span.status != AT_STATUS_ERROR) {
			/* removed before any response: the app gave up on it */
			at_span_fail(&x->span, "cancelled", 9, "transfer removed before completion",
			             34);
		}
	}
	at_span_end_detached(&x->span);
	atomic_store(&x->used, 0);
}

/* Takes the handle's transfer, if any, so that only one caller ends it. */
static struct at_curl_xfer *take(CURL *easy)
{
	struct at_curl_handle *e = at_curl_lookup(easy);
	return e ? atomic_exchange(&e->xfer, NULL) : NULL;
}

void at_curl_multi_forget(CURL *easy)
{
	struct at_curl_xfer *x = take(easy);
	if (x)
		xfer_finish(x, CURLE_OK, 0);
}

static AT_NOINLINE CURLMcode add_handle(CURLM *m, CURL *easy);

AT_EXPORT CURLMcode curl_multi_add_handle(CURLM *m, CURL *easy)
{
	if (at_off_pass(real_curl_multi_add_handle))
		return real_curl_multi_add_handle(m, easy);
	return add_handle(m, easy);
}

static CURLMcode add_handle(CURLM *m, CURL *easy)
{
	if (!AT_RESOLVE_IN(curl_multi_add_handle, at_curl_sonames))
		return CURLM_INTERNAL_ERROR;
	if (!at_on() || at_tls.depth)
		return real_curl_multi_add_handle(m, easy);
	int saved = errno;
	struct at_curl_handle *e = at_curl_lookup_or_add(easy);
	struct at_curl_xfer *x = e && atomic_load(&e->url) != URL_OTHER ? xfer_get() : NULL;
	if (x) {
		x->easy = easy;
		at_span_start_detached(&x->span, "GET", AT_KIND_CLIENT, NULL);
		AT_SPAN_CALLER(&x->span);
		at_curl_inject(easy, e, &x->span, &x->ci, NULL);
	}
	errno = saved;
	CURLMcode rc = real_curl_multi_add_handle(m, easy);
	saved = errno;
	if (x && rc != CURLM_OK) {
		at_curl_uninject(easy, &x->ci);
		atomic_store(&x->used, 0); /* not added: no transfer, no span */
	} else if (x) {
		struct at_curl_xfer *old = atomic_exchange(&e->xfer, x);
		if (old) /* the app re-added a handle we never saw finish */
			xfer_finish(old, CURLE_OK, 0);
	}
	errno = saved;
	return rc;
}

static AT_NOINLINE CURLMsg *info_read(CURLM *m, int *left);

AT_EXPORT CURLMsg *curl_multi_info_read(CURLM *m, int *left)
{
	if (at_off_pass(real_curl_multi_info_read))
		return real_curl_multi_info_read(m, left);
	return info_read(m, left);
}

static CURLMsg *info_read(CURLM *m, int *left)
{
	if (!AT_RESOLVE_IN(curl_multi_info_read, at_curl_sonames))
		return NULL;
	CURLMsg *msg = real_curl_multi_info_read(m, left);
	if (msg && msg->msg == CURLMSG_DONE && atomic_load(&at_state) == AT_ON) {
		int saved = errno;
		struct at_curl_xfer *x = take(msg->easy_handle);
		if (x)
			xfer_finish(x, msg->data.result, 1);
		errno = saved;
	}
	return msg;
}

static AT_NOINLINE CURLMcode remove_handle(CURLM *m, CURL *easy);

AT_EXPORT CURLMcode curl_multi_remove_handle(CURLM *m, CURL *easy)
{
	if (at_off_pass(real_curl_multi_remove_handle))
		return real_curl_multi_remove_handle(m, easy);
	return remove_handle(m, easy);
}

static CURLMcode remove_handle(CURLM *m, CURL *easy)
{
	if (!AT_RESOLVE_IN(curl_multi_remove_handle, at_curl_sonames))
		return CURLM_INTERNAL_ERROR;
	if (atomic_load(&at_state) == AT_ON) {
		int saved = errno;
		at_curl_multi_forget(easy);
		errno = saved;
	}
	return real_curl_multi_remove_handle(m, easy);
}

/* The calls that drive transfers: curl's own socket I/O happens inside them
 * and belongs to the spans above, so the socket hooks must not see it as a
 * second HTTP client (the outermost hook owns the span). */
static AT_NOINLINE CURLMcode guarded_perform(CURLM *m, int *running)
{
	CURLMcode rc = real_curl_multi_perform(m, running);
	at_leave();
	return rc;
}

static AT_NOINLINE CURLMcode slow_perform(CURLM *m, int *running)
{
	if (!AT_RESOLVE_IN(curl_multi_perform, at_curl_sonames))
		return CURLM_INTERNAL_ERROR;
	if (!at_enter())
		return real_curl_multi_perform(m, running);
	return guarded_perform(m, running);
}

AT_EXPORT CURLMcode curl_multi_perform(CURLM *m, int *running)
{
	switch (at_go(real_curl_multi_perform)) {
	case AT_GO_PASS:
		return real_curl_multi_perform(m, running);
	case AT_GO_TRACE:
		return guarded_perform(m, running);
	default:
		return slow_perform(m, running);
	}
}

static AT_NOINLINE CURLMcode guarded_socket_action(CURLM *m, curl_socket_t s, int ev, int *running)
{
	CURLMcode rc = real_curl_multi_socket_action(m, s, ev, running);
	at_leave();
	return rc;
}

static AT_NOINLINE CURLMcode slow_socket_action(CURLM *m, curl_socket_t s, int ev, int *running)
{
	if (!AT_RESOLVE_IN(curl_multi_socket_action, at_curl_sonames))
		return CURLM_INTERNAL_ERROR;
	if (!at_enter())
		return real_curl_multi_socket_action(m, s, ev, running);
	return guarded_socket_action(m, s, ev, running);
}

AT_EXPORT CURLMcode curl_multi_socket_action(CURLM *m, curl_socket_t s, int ev, int *running)
{
	switch (at_go(real_curl_multi_socket_action)) {
	case AT_GO_PASS:
		return real_curl_multi_socket_action(m, s, ev, running);
	case AT_GO_TRACE:
		return guarded_socket_action(m, s, ev, running);
	default:
		return slow_socket_action(m, s, ev, running);
	}
}

AT_EXPORT CURLMcode curl_multi_socket_all(CURLM *m, int *running)
{
	if (!AT_RESOLVE_IN(curl_multi_socket_all, at_curl_sonames))
		return CURLM_INTERNAL_ERROR;
	if (!at_enter())
		return real_curl_multi_socket_all(m, running);
	CURLMcode rc = real_curl_multi_socket_all(m, running);
	at_leave();
	return rc;
}
