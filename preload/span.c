/* Span life cycle and attributes. Everything here runs on the application's
 * thread (at_span_draw_ids also on the exporter's, for a span queued without
 * its ids): no allocation, no lock, no system call beyond the vDSO clock. */
#define _GNU_SOURCE
#include "span.h"

#include "autotrace.h"
#include "clock.h"
#include "config.h"
#include "crash.h"
#include "ids.h"
#include "leaf.h"
#include "sampler.h"
#include "utf8.h"
#include "../reporter/exporter.h"
#include "../reporter/queue.h"

#include <string.h>

struct at_ctx at_env_parent; /* TRACEPARENT at start (leaf.h) */

uint64_t at_keyhash_mul = 0x9e3779b97f4a7c15ull; /* until at_span_keys_init */

/* The keys the hooks set together, one group per kind of span (the caller's
 * code.* and the loop depth in each). The same literals as at the call
 * sites: the linker keeps one copy of a string. A key missing here still
 * works; it may share a bit with another and cost a scan. */
#define KEYS_COMMON                                                                                	"code.function.name", "code.file.path", "code.line.number", "autotrace.loop.depth",         	    "error.type", "server.address", "server.port"
static const char *const key_groups[][20] = {
    {KEYS_COMMON, "db.system.name", "db.namespace", "db.operation.name", "db.query.text",
     "db.collection.name", "db.response.status_code", NULL},
    {KEYS_COMMON, "http.request.method", "http.response.status_code", "url.full", "url.path",
     "url.query", "url.scheme", "client.address", "network.protocol.version",
     "network.transport", "user_agent.original", "error.code", NULL},
};

/* 1 when every group's keys fall on distinct bits with multiplier m */
static int keys_apart(uint64_t m)
{
	for (size_t g = 0; g < sizeof key_groups / sizeof key_groups[0]; g++) {
		uint64_t seen = 0;
		for (const char *const *k = key_groups[g]; *k; k++) {
			uint64_t bit = 1ull << ((uint64_t)(uintptr_t)*k * m >> 58);
			if (seen & bit)
				return 0;
			seen |= bit;
		}
	}
	return 1;
}

int at_span_keys_init(void)
{
	/* odd multipliers along the golden ratio's sequence: one in ~60 does
	 * (50-63 tried in five runs: a few microseconds); none in 4096, and the
	 * first stays */
	uint64_t m = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 4096; i++, m += 2 * 0x9e3779b97f4a7c15ull) {
		if (keys_apart(m)) {
			at_keyhash_mul = m;
			return i + 1;
		}
	}
	return -1;
}

/* start writes the ids itself and clears the rest of the header from flags on */
_Static_assert(offsetof(struct at_span, ctx) == 0 && offsetof(struct at_ctx, trace_id) == 0 &&
                   offsetof(struct at_ctx, span_id) == 16 && offsetof(struct at_ctx, flags) == 24,
               "the ids open the span");
_Static_assert(AT_SPAN_HEADER >= 24 + 16, "a header to clear");
/* the header is cleared and copied in 16-byte moves: the 64-bit keymask took
 * the padding after tracestate, not another move */
_Static_assert(AT_SPAN_HEADER == 104, "the header's size");

/* The header after the ids, in 16-byte stores (the last one overlapping):
 * cheaper than memset's dispatch, and the arrays are written before they are
 * read. */
static AT_ALWAYS_INLINE void clear_header(struct at_span *s)
{
	const at_v16 z = {0};
	char *p = (char *)s;
	size_t i = 24;
#pragma GCC unroll 16
	for (; i + 16 <= AT_SPAN_HEADER; i += 16)
		*(at_v16 *)(p + i) = z;
	if ((AT_SPAN_HEADER - 24) % 16)
		*(at_v16 *)(p + AT_SPAN_HEADER - 16) = z;
}

/* A parent's tracestate goes with its children (rare: only with an
 * incoming tracestate). */
static AT_NOINLINE void inherit_tracestate(struct at_span *s, const struct at_span *pspan)
{
	s->tracestate =
	    at_span_intern_fast(s, at_span_str(pspan, pspan->tracestate), pspan->tracestate.len);
}

/* The name, first in the empty arena (name.off is already 0). */
static AT_ALWAYS_INLINE void set_first_name(struct at_span *s, const char *name)
{
	size_t len = strlen(name);
	if (AT_LIKELY(AT_SPAN_FITS(0, len))) {
		at_copy_small(s->arena, name, len);
		s->name.len = (uint16_t)len;
		s->arena_used = (uint16_t)len;
	} else {
		s->name = at_span_intern(s, name, len);
	}
}

void at_span_draw_ids(struct at_span *s)
{
	uint64_t parent;
	memcpy(&parent, s->parent_id, 8);
	at_ids_new(parent ? NULL : s->ctx.trace_id, s->ctx.span_id);
	s->lazy_ids = 0;
}

/* Calls (strlen, the clock) come last, so that little is live across them.
 * lazy: the ids are left to at_span_ctx (a span only its own thread sees),
 * unless the sampler decides on a root's trace id. */
static AT_ALWAYS_INLINE void start(struct at_span *s, const char *name, int kind,
                                   const struct at_ctx *parent, const struct at_span *pspan,
                                   struct at_span *prev, int lazy)
{
	clear_header(s);
	s->prev = prev;
	if (parent && parent->valid) {
		memcpy(s->ctx.trace_id, parent->trace_id, 16);
		memcpy(s->parent_id, parent->span_id, 8);
		if (lazy)
			s->lazy_ids = 1;
		else
			at_ids_new(NULL, s->ctx.span_id);
	} else {
		parent = NULL;
		if (lazy && at_cfg.sampler != AT_SAMPLE_RATIO)
			s->lazy_ids = 1;
		else
			at_ids_new(s->ctx.trace_id, s->ctx.span_id);
	}
	int flags = at_sample_fast(parent, s->ctx.trace_id);
	s->ctx.valid = 1;
	s->ctx.flags = (uint8_t)flags;
	s->recording = flags & at_cfg.record;
	s->kind = (uint8_t)kind;
	if (!s->recording)
		return;
	s->attr_cap = at_cfg.attr_count_limit < AT_MAX_ATTRS ? (uint8_t)at_cfg.attr_count_limit
	                                                     : AT_MAX_ATTRS;
	/* a crash inside this span needs a thread to flush to, and a stack */
	at_exporter_ensure();
	at_crash_thread_ensure();
	if (name)
		set_first_name(s, name);
	if (AT_UNLIKELY(pspan && pspan->tracestate.len))
		inherit_tracestate(s, pspan);
	s->start_ns = at_stamp();
}

void at_span_start(struct at_span *s, const char *name, int kind)
{
	const struct at_span *pspan;
	const struct at_ctx *parent = at_span_parent_ctx(&pspan);
	start(s, name, kind, parent, pspan, at_tls.cur, 1);
	at_tls.cur = s;
}

void at_span_start_detached(struct at_span *s, const char *name, int kind,
                            const struct at_ctx *parent)
{
	const struct at_span *pspan = NULL;
	if (!parent)
		parent = at_span_parent_ctx(&pspan);
	start(s, name, kind, parent, pspan, NULL, 0);
}

static AT_ALWAYS_INLINE void end_at(struct at_span *s, uint64_t stamp)
{
	if (!s->recording)
		return;
	s->end_ns = stamp ? stamp : at_stamp();
	at_exporter_ensure();
	at_queue_push(s);
}

void at_span_end_detached(struct at_span *s)
{
	end_at(s, 0);
}

void at_span_end_detached_at(struct at_span *s, uint64_t stamp)
{
	end_at(s, stamp);
}

/* An inner span leaked (a hook whose thread was cancelled): unwind past it
 * rather than corrupt the chain. */
static AT_NOINLINE void pop_past(struct at_span *s)
{
	for (struct at_span *p = at_tls.cur; p; p = p->prev)
		if (p == s) {
			at_tls.cur = s->prev;
			break;
		}
}

void at_span_end(struct at_span *s)
{
	if (AT_LIKELY(at_tls.cur == s))
		at_tls.cur = s->prev;
	else
		pop_past(s);
	end_at(s, 0);
}

int at_current_ctx(struct at_ctx *out)
{
	const struct at_span *pspan;
	const struct at_ctx *c = at_span_parent_ctx(&pspan);
	if (!c)
		return 0;
	*out = *c;
	return 1;
}

struct at_str at_span_intern(struct at_span *s, const char *val, size_t len)
{
	struct at_str r = {0, 0};
	size_t max = AT_ARENA_SIZE - s->arena_used;
	if (at_cfg.attr_value_limit && max > (size_t)at_cfg.attr_value_limit)
		max = (size_t)at_cfg.attr_value_limit;
	len = at_utf8_cut(val, len, max);
	r.off = s->arena_used;
	r.len = (uint16_t)len;
	memcpy(s->arena + s->arena_used, val, len);
	s->arena_used = (uint16_t)(s->arena_used + len);
	return r;
}

struct at_attr *at_span_slot_slow(struct at_span *s, const char *key)
{
	if (!s->recording)
		return NULL;
	/* setting a key twice replaces it: scanned for only when the key's
	 * bit is already set */
	uint64_t bit = at_span_keybit(key);
	if (s->keymask & bit) {
		for (int i = 0; i < s->nattrs; i++)
			if (s->attrs[i].key == key)
				return &s->attrs[i];
	}
	s->keymask |= bit;
	if (s->nattrs >= s->attr_cap) {
		s->dropped_attrs++;
		return NULL;
	}
	struct at_attr *a = &s->attrs[s->nattrs++];
	a->key = key;
	return a;
}

void at_span_set_str(struct at_span *s, const char *key, const char *val)
{
	at_span_set_strn(s, key, val, strlen(val));
}

void at_span_set_deferred(struct at_span *s, const char *key, int render, const char *raw,
                          size_t len)
{
	struct at_attr *a = at_span_slot(s, key);
	if (!a)
		return;
	a->type = AT_ATTR_DEFER;
	a->render = (uint8_t)render;
	a->v.s = at_span_intern_fast(s, raw, len);
}

void at_span_set_double(struct at_span *s, const char *key, double val)
{
	struct at_attr *a = at_span_slot(s, key);
	if (!a)
		return;
	a->type = AT_ATTR_DOUBLE;
	a->v.d = val;
}

void at_span_set_bool(struct at_span *s, const char *key, int val)
{
	struct at_attr *a = at_span_slot(s, key);
	if (!a)
		return;
	a->type = AT_ATTR_BOOL;
	a->v.i = !!val;
}

void at_span_set_name(struct at_span *s, const char *name, size_t len)
{
	if (s->recording)
		s->name = at_span_intern_fast(s, name, len);
}

void at_span_set_error(struct at_span *s, const char *msg, size_t len)
{
	s->status = AT_STATUS_ERROR;
	if (s->recording && msg)
		s->status_msg = at_span_intern(s, msg, len);
}

int at_span_add_event(struct at_span *s, const char *name)
{
	if (!s->recording)
		return -1;
	if (s->nevents >= AT_MAX_EVENTS || s->nevents >= at_cfg.event_count_limit) {
		s->dropped_events++;
		return -1;
	}
	struct at_event *e = &s->events[s->nevents];
	e->name = name;
	e->time_ns = at_stamp();
	e->nattrs = 0;
	return s->nevents++;
}

void at_event_set_strn(struct at_span *s, int ev, const char *key, const char *val, size_t len)
{
	if (ev < 0 || ev >= s->nevents)
		return;
	struct at_event *e = &s->events[ev];
	if (e->nattrs >= AT_EVENT_ATTRS)
		return;
	struct at_attr *a = &e->attrs[e->nattrs++];
	a->key = key;
	a->type = AT_ATTR_STR;
	a->v.s = at_span_intern(s, val, len);
}

void at_span_lit_to_str(struct at_span *s, struct at_attr *a)
{
	const char *lit = a->v.lit;
	a->type = AT_ATTR_STR;
	a->v.s = at_span_intern_fast(s, lit, strlen(lit));
}
