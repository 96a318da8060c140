/* A leaf span: a client call that starts no other span and ends before its
 * hook returns, on the thread that began it (a Redis command, a SQL
 * statement: the hooks below them pass through). Nothing can be its child,
 * so it is never made current and never built whole on the application's
 * thread: the hook keeps its start, its parent and its sampling decision
 * here, captures one raw attribute (the command or statement with the
 * connection's facts, rendered on the exporter thread), and at the end the
 * queue takes a compact record of it (at_queue_push_leaf: 80 bytes and the
 * raw bytes, where a whole span's record starts at 136) that the consumer
 * turns into a whole span (at_leaf_expand).
 *
 * The other endings (an error to describe, a parent with a tracestate, a
 * crash during the call) make the whole span from the leaf (at_leaf_span),
 * with the same decision, ids and start: a leaf is a way to write a span,
 * not a different span. */
#ifndef AT_LEAF_H
#define AT_LEAF_H

#include "autotrace.h"
#include "clock.h"
#include "config.h"
#include "crash.h"
#include "sampler.h"
#include "span.h"
#include "../reporter/exporter.h"
#include "../reporter/queue.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct at_leaf {
	const struct at_ctx *parent; /* NULL: a root; lives while the call runs */
	const struct at_span *pspan; /* the parent's span, for its tracestate */
	const char *raw;             /* the hook's buffer */
	/* as the record has them (struct at_leaf_rec): one copy */
	uint64_t start; /* at_stamp */
	uint64_t caller;
	const char *key; /* the raw attribute's key (a literal) */
	uint8_t flags;   /* W3C trace-flags: the decision */
	uint8_t lazy;    /* the ids are drawn by the exporter (at_span_draw_ids) */
	uint8_t kind;
	uint8_t render; /* enum at_render of the raw attribute */
	uint16_t len;   /* raw bytes captured so far (a crash reads it) */
	uint16_t pad;
	uint8_t trace_id[16], span_id[8]; /* drawn at the start: !lazy */
};

/* The record in the queue after its commit word (reporter/queue.c), then
 * the raw bytes. */
struct at_leaf_rec {
	uint8_t trace_id[16]; /* the parent's, or drawn: !lazy (else zero) */
	uint8_t parent_id[8]; /* zero: a root */
	uint8_t span_id[8];   /* !lazy */
	uint64_t start;
	uint64_t caller;
	uint64_t key; /* the application's address of the key: an exporter
	               * process relocates it like any span's keys */
	uint8_t flags, lazy, kind, render;
	uint16_t len;
	uint16_t pad;
	uint64_t end;
};
#define AT_LEAF_REC 72
_Static_assert(sizeof(struct at_leaf_rec) == AT_LEAF_REC, "a leaf record's head");
#define AT_LEAF_SAME (offsetof(struct at_leaf_rec, end) - offsetof(struct at_leaf_rec, start))
_Static_assert(AT_LEAF_SAME == 32 &&
                   offsetof(struct at_leaf, pad) - offsetof(struct at_leaf, start) ==
                       offsetof(struct at_leaf_rec, pad) - offsetof(struct at_leaf_rec, start),
               "start to pad: the same in the leaf and its record");

extern struct at_ctx at_env_parent;   /* TRACEPARENT at start */
extern struct at_span at_env_carrier; /* holds TRACESTATE (init.c) */

/* The parent context of a span begun now on this thread: the current span,
 * else the context inherited by a new thread or process, else TRACEPARENT;
 * NULL for a root. pspan: the span whose tracestate goes with it. */
static AT_ALWAYS_INLINE const struct at_ctx *at_span_parent_ctx(const struct at_span **pspan)
{
	struct at_span *cur = at_tls.cur;
	*pspan = cur;
	if (cur)
		return at_span_ctx(cur);
	if (at_tls.inherited.valid)
		return &at_tls.inherited;
	if (at_env_parent.valid) {
		*pspan = &at_env_carrier;
		return &at_env_parent;
	}
	return NULL;
}

/* The uncommon starts: a root under the ratio or rate-limiting sampler,
 * ids to draw now (span.c's rule). */
int at_leaf_begin_slow(struct at_leaf *l);

/* A leaf that records, begun now: returns 1. */
static AT_ALWAYS_INLINE int at_leaf_go(struct at_leaf *l)
{
	/* a crash during the call needs a thread to flush to, and a stack */
	at_exporter_ensure();
	at_crash_thread_ensure();
	l->start = at_stamp();
	at_tls.leaf = l;
	return 1;
}

/* Begin: the decision, the parent and the start. Returns 1 when the span
 * records (then the hook captures into its buffer and ends it with
 * at_leaf_end or at_leaf_span), 0 when it does not (nothing to end). */
static AT_ALWAYS_INLINE int at_leaf_begin(struct at_leaf *l, int kind, uintptr_t caller)
{
	l->parent = at_span_parent_ctx(&l->pspan);
	l->kind = (uint8_t)kind;
	l->caller = caller;
	l->len = 0;
	l->pad = 0;
	l->raw = NULL;
	int flags;
	if (AT_LIKELY(l->parent) && at_cfg.parent_based) {
		flags = l->parent->flags & AT_FLAG_SAMPLED;
	} else if (AT_LIKELY(at_cfg.sampler == AT_SAMPLE_ALWAYS_ON)) {
		flags = AT_FLAG_SAMPLED;
	} else if (at_cfg.sampler == AT_SAMPLE_ALWAYS_OFF) {
		return 0;
	} else {
		return at_leaf_begin_slow(l);
	}
	l->flags = (uint8_t)flags;
	l->lazy = 1;
	return flags ? at_leaf_go(l) : 0;
}

/* The raw attribute the span will carry: key, renderer, and the bytes at
 * raw (the hook's buffer, len of them so far). */
static inline void at_leaf_raw(struct at_leaf *l, const char *key, int render, const char *raw,
                               size_t len)
{
	l->key = key;
	l->render = (uint8_t)render;
	l->raw = raw;
	l->len = (uint16_t)(len < AT_ARENA_SIZE ? len : AT_ARENA_SIZE); /* the hooks' are less */
}

/* A parent with a tracestate: the record has no room for it. */
void at_leaf_end_whole(struct at_leaf *l);

/* End: the span goes into the queue as a record. */
static inline void at_leaf_end(struct at_leaf *l)
{
	at_tls.leaf = NULL;
	if (AT_UNLIKELY(l->pspan && l->pspan->tracestate.len))
		at_leaf_end_whole(l);
	else
		at_queue_push_leaf(l, at_stamp());
}

/* The whole span from the leaf, made current (end it with at_span_end): the
 * raw attribute, when there is one, already in it. */
void at_leaf_span(struct at_leaf *l, struct at_span *s);

/* Consumer side: the span a record holds (within its bounds: in process
 * mode the record is the application's memory). room: the bytes of the
 * record after its head. */
void at_leaf_expand(struct at_span *d, const struct at_leaf_rec *r, const char *raw, size_t room);

#endif
