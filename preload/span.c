/* Span life cycle and attributes. Everything here runs on the application's
 * thread: no allocation, no lock, no system call beyond the vDSO clock. */
#define _GNU_SOURCE
#include "span.h"

#include "autotrace.h"
#include "clock.h"
#include "config.h"
#include "crash.h"
#include "ids.h"
#include "sampler.h"
#include "utf8.h"
#include "../reporter/exporter.h"
#include "../reporter/queue.h"

#include <string.h>

struct at_ctx at_env_parent;          /* TRACEPARENT at start */
extern struct at_span at_env_carrier; /* holds TRACESTATE; see init.c */

static const struct at_ctx *parent_ctx(const struct at_span **pspan)
{
	*pspan = at_tls.cur;
	if (at_tls.cur)
		return &at_tls.cur->ctx;
	if (at_tls.inherited.valid)
		return &at_tls.inherited;
	if (at_env_parent.valid) {
		*pspan = &at_env_carrier;
		return &at_env_parent;
	}
	return NULL;
}

static void start(struct at_span *s, const char *name, int kind, const struct at_ctx *parent,
                  const struct at_span *pspan)
{
	/* only the header is cleared: the arrays are written before they are read */
	memset(s, 0, offsetof(struct at_span, events));
	if (parent && parent->valid) {
		memcpy(s->ctx.trace_id, parent->trace_id, 16);
		memcpy(s->parent_id, parent->span_id, 8);
		at_ids_new(NULL, s->ctx.span_id);
	} else {
		at_ids_new(s->ctx.trace_id, s->ctx.span_id);
	}
	s->ctx.valid = 1;
	s->ctx.flags = (uint8_t)at_sample(parent, s->ctx.trace_id);
	s->recording = s->ctx.flags & AT_FLAG_SAMPLED;
	s->kind = (uint8_t)kind;
	if (!s->recording)
		return;
	s->attr_cap = at_cfg.attr_count_limit < AT_MAX_ATTRS ? (uint8_t)at_cfg.attr_count_limit
	                                                     : AT_MAX_ATTRS;
	/* a crash inside this span needs a thread to flush to, and a stack */
	at_exporter_ensure();
	at_crash_thread_ensure();
	s->start_ns = at_now_ns();
	if (name)
		s->name = at_span_intern_fast(s, name, strlen(name));
	if (pspan && pspan->tracestate.len)
		s->tracestate = at_span_intern_fast(s, at_span_str(pspan, pspan->tracestate),
		                                    pspan->tracestate.len);
}

void at_span_start(struct at_span *s, const char *name, int kind)
{
	const struct at_span *pspan;
	const struct at_ctx *parent = parent_ctx(&pspan);
	start(s, name, kind, parent, pspan);
	s->prev = at_tls.cur;
	at_tls.cur = s;
}

void at_span_start_detached(struct at_span *s, const char *name, int kind,
                            const struct at_ctx *parent)
{
	const struct at_span *pspan = NULL;
	if (!parent)
		parent = parent_ctx(&pspan);
	start(s, name, kind, parent, pspan);
	s->prev = NULL;
}

void at_span_end_detached(struct at_span *s)
{
	if (!s->recording)
		return;
	s->end_ns = at_now_ns();
	at_exporter_ensure();
	at_queue_push(s);
}

void at_span_end(struct at_span *s)
{
	/* pop: normally s is current; if an inner span leaked (a hook whose
	 * thread was cancelled), unwind past it rather than corrupt the chain */
	if (at_tls.cur == s)
		at_tls.cur = s->prev;
	else {
		for (struct at_span *p = at_tls.cur; p; p = p->prev)
			if (p == s) {
				at_tls.cur = s->prev;
				break;
			}
	}
	at_span_end_detached(s);
}

int at_current_ctx(struct at_ctx *out)
{
	const struct at_span *pspan;
	const struct at_ctx *c = parent_ctx(&pspan);
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
	uint32_t bit = at_span_keybit(key);
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
	e->time_ns = at_now_ns();
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

void at_span_copy(struct at_span *dst, const struct at_span *src)
{
	/* only what is used: a span without attributes copies ~100 bytes, not 2 KiB */
	memcpy(dst, src, offsetof(struct at_span, events));
	if (src->nevents)
		memcpy(dst->events, src->events, src->nevents * sizeof src->events[0]);
	memcpy(dst->attrs, src->attrs, src->nattrs * sizeof src->attrs[0]);
	memcpy(dst->arena, src->arena, src->arena_used);
}

void at_span_lit_to_str(struct at_span *s, struct at_attr *a)
{
	const char *lit = a->v.lit;
	a->type = AT_ATTR_STR;
	a->v.s = at_span_intern_fast(s, lit, strlen(lit));
}
