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
	/* a hook that captures only once the call is over (mysql.c): how a
	 * crash or kill during the call captures it now (preload/crash.c),
	 * from what the hook noted (late_obj: its connection or statement,
	 * late_text, late_len); it calls at_leaf_raw with buf. NULL: none. */
	void (*late)(struct at_leaf *l, char *buf, size_t room);
	const void *late_obj;
	const char *late_text;
	size_t late_len;
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

/* A root under the ratio sampler, which decides on its trace id: the ids
 * drawn now (span.c's start: other spans draw theirs when first needed). */
void at_leaf_draw_ids(struct at_leaf *l);

/* Begin: the decision (the sampler's, as for any span), the parent and the
 * start. Returns 1 when the span records (then the hook captures into its
 * buffer and ends it with at_leaf_end or at_leaf_span), 0 when it does not
 * (nothing to end). */
static AT_ALWAYS_INLINE int at_leaf_begin(struct at_leaf *l, int kind, uintptr_t caller)
{
	l->parent = at_span_parent_ctx(&l->pspan);
	l->kind = (uint8_t)kind;
	l->caller = caller;
	l->len = 0;
	l->pad = 0;
	l->raw = NULL;
	l->late = NULL;
	l->lazy = 1;
	const uint8_t *trace = l->trace_id;
	if (l->parent)
		trace = l->parent->trace_id;
	else if (AT_UNLIKELY(at_cfg.sampler == AT_SAMPLE_RATIO))
		at_leaf_draw_ids(l);
	int flags = at_sample_fast(l->parent, trace);
	l->flags = (uint8_t)flags;
	if (!(flags & at_cfg.record))
		return 0;
	/* a crash during the call needs a thread to flush to, and a stack */
	at_exporter_ensure();
	at_crash_thread_ensure();
	l->start = at_stamp();
	at_tls.leaf = l;
	return 1;
}

/* The record's head of a leaf ended at end (the queue's, and the whole
 * span's through at_leaf_expand: one way from a leaf to a span). */
static AT_ALWAYS_INLINE void at_leaf_record(struct at_leaf_rec *r, const struct at_leaf *l,
                                            uint64_t end)
{
	const struct at_ctx *p = l->parent;
	if (p) {
		memcpy(r->trace_id, p->trace_id, 16);
		memcpy(r->parent_id, p->span_id, 8);
	} else {
		memcpy(r->trace_id, l->trace_id, 16);
		memset(r->parent_id, 0, 8);
	}
	memcpy(r->span_id, l->span_id, 8);
	memcpy(&r->start, &l->start, AT_LEAF_SAME); /* start to pad: two moves */
	r->end = end;
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

/* How a leaf failed: error.type (tlen bytes; db.response.status_code too
 * when code), the exception's message. */
struct at_leaf_failure {
	const char *type, *msg;
	size_t tlen, mlen;
	int code;
};
/* End now, as the whole span, failed (f), or with no status (f NULL): how
 * the commands a wire follower (resp_wire.c, mysql_wire.c) has under way
 * end, by an error response, a lost connection or a kill. */
void at_leaf_end_as(struct at_leaf *l, const struct at_leaf_failure *f);

/* End: the span goes into the queue as a record. */
static inline void at_leaf_end(struct at_leaf *l)
{
	at_tls.leaf = NULL;
	if (AT_UNLIKELY(l->pspan && l->pspan->tracestate.len))
		at_leaf_end_whole(l);
	else
		at_queue_push_leaf(l, at_stamp());
}

/* The whole span of a leaf that records, made current (end it with
 * at_span_end): the raw attribute, when there is one, already in it. */
void at_leaf_span(struct at_leaf *l, struct at_span *s);

/* Consumer side: the span a record holds (within its bounds: in process
 * mode the record is the application's memory). room: the bytes of the
 * record after its head. */
void at_leaf_expand(struct at_span *d, const struct at_leaf_rec *r, const char *raw, size_t room);

#endif
