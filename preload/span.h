/* The span model. A span is a fixed-size value: an owner keeps the active
 * span where it likes (a hook's stack frame, a per-fd slot) and at_span_end
 * copies it into the export queue, so the hot path never allocates. Strings
 * are copied into the span's own arena, referenced by offset, so a copy
 * needs no fix-up. */
#ifndef AT_SPAN_H
#define AT_SPAN_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum at_kind {
	AT_KIND_INTERNAL = 1,
	AT_KIND_SERVER = 2,
	AT_KIND_CLIENT = 3,
	AT_KIND_PRODUCER = 4,
	AT_KIND_CONSUMER = 5,
}; /* OTLP's numbering */

enum at_status { AT_STATUS_UNSET = 0, AT_STATUS_OK = 1, AT_STATUS_ERROR = 2 };

enum at_attr_type {
	AT_ATTR_STR = 1,
	AT_ATTR_INT = 2,
	AT_ATTR_DOUBLE = 3,
	AT_ATTR_BOOL = 4,
	AT_ATTR_DEFER = 5, /* raw text that the exporter thread renders (at_span_finalize) */
	AT_ATTR_LIT = 6,   /* a string in static storage, copied on the exporter thread */
};

/* Renderers of deferred attributes (reporter/finalize.c): heavy formatting
 * such as SQL sanitising runs on the exporter thread, not the app's. */
enum at_render {
	AT_RENDER_NONE = 0,
	AT_RENDER_SQL = 1,
	AT_RENDER_SQL_RAW = 2,
	AT_RENDER_REDIS = 3, /* a Redis command captured raw (hooks/redis_cmd.h) */
	AT_RENDER_MYSQL = 4, /* a statement and its connection (hooks/mysql_render.h) */
};

#define AT_MAX_ATTRS 24
#define AT_MAX_EVENTS 2
#define AT_EVENT_ATTRS 4
#define AT_ARENA_SIZE 1280

#define AT_FLAG_SAMPLED 0x01

struct at_ctx {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t flags; /* W3C trace-flags */
	uint8_t valid;
	uint8_t remote;
};

struct at_str {
	uint16_t off, len; /* into the span's arena */
};

struct at_attr {
	const char *key; /* static storage: a literal or a string that lives forever */
	uint8_t type;
	uint8_t render; /* AT_ATTR_DEFER: enum at_render */
	union {
		int64_t i;
		double d;
		struct at_str s;
		const char *lit; /* AT_ATTR_LIT: NUL-terminated, lives forever */
	} v;
};

struct at_event {
	const char *name;
	uint64_t time_ns;
	uint8_t nattrs;
	struct at_attr attrs[AT_EVENT_ATTRS];
};

struct at_span {
	struct at_ctx ctx;
	uint8_t parent_id[8]; /* all zero: a root */
	uint8_t kind, status, recording, nattrs, nevents;
	uint8_t attr_cap; /* attributes that may still be added: 0 when not recording */
	uint16_t arena_used;
	uint32_t dropped_attrs, dropped_events;
	uint32_t keymask; /* a bit per key pointer set: most keys are new, no scan */
	uint64_t start_ns, end_ns;
	struct at_str name, status_msg, tracestate;
	struct at_span *prev; /* the span that was current before this one */
	uintptr_t caller;     /* return address into the code that called the hook */
	struct at_event events[AT_MAX_EVENTS];
	struct at_attr attrs[AT_MAX_ATTRS];
	char arena[AT_ARENA_SIZE];
};

/* Every hook records where the host called it from: only the return
 * address on the hot path; it is symbolized on the exporter thread. */
#define AT_SPAN_CALLER(s) ((s)->caller = (uintptr_t)__builtin_return_address(0))

static inline const char *at_span_str(const struct at_span *s, struct at_str r)
{
	return s->arena + r.off;
}

/* Start a span as a child of the thread's current context (the innermost
 * active span, else the incoming request's remote parent, else TRACEPARENT),
 * sampled or not by the configured sampler, and make it current. */
void at_span_start(struct at_span *s, const char *name, int kind);
/* The same with an explicit parent (NULL: the thread's current context), not
 * made current: for spans that do not nest on one thread (asynchronous). */
void at_span_start_detached(struct at_span *s, const char *name, int kind,
                            const struct at_ctx *parent);
/* End: record the end time, restore the previous current span (if this one
 * was made current), and queue it for export when sampled. */
void at_span_end(struct at_span *s);
void at_span_end_detached(struct at_span *s);

void at_span_set_name(struct at_span *s, const char *name, size_t len);
void at_span_set_double(struct at_span *s, const char *key, double val);
void at_span_set_bool(struct at_span *s, const char *key, int val);
void at_span_set_error(struct at_span *s, const char *msg, size_t len);

/* Attribute setters. The common case (recording, a key not yet set, room
 * left, a value that needs no cut) is inline: a few compares and a copy. */
struct at_attr *at_span_slot_slow(struct at_span *s, const char *key);

/* A key's bit in keymask: keys are literals, compared by address; literals
 * sit close together, so the address is hashed (multiplicative) first. */
static inline uint32_t at_span_keybit(const char *key)
{
	return 1u << ((uint64_t)(uintptr_t)key * 0x9e3779b97f4a7c15ull >> 59);
}

static inline struct at_attr *at_span_slot(struct at_span *s, const char *key)
{
	/* a key's bit set in keymask: it may be set already (the slow path looks) */
	uint32_t bit = at_span_keybit(key);
	if (__builtin_expect(s->nattrs < s->attr_cap && !(s->keymask & bit), 1)) {
		s->keymask |= bit;
		struct at_attr *a = &s->attrs[s->nattrs++];
		a->key = key;
		return a;
	}
	return at_span_slot_slow(s, key);
}

static inline void at_span_set_int(struct at_span *s, const char *key, int64_t val)
{
	struct at_attr *a = at_span_slot(s, key);
	if (a) {
		a->type = AT_ATTR_INT;
		a->v.i = val;
	}
}

/* A value in static storage (a string literal, a table entry): only the
 * pointer is stored; the exporter thread copies the text. */
static inline void at_span_set_lit(struct at_span *s, const char *key, const char *lit)
{
	struct at_attr *a = at_span_slot(s, key);
	if (a) {
		a->type = AT_ATTR_LIT;
		a->v.lit = lit;
	}
}

/* Copy a string into the arena, truncated to the value length limit and to the
 * room left. */
struct at_str at_span_intern(struct at_span *s, const char *val, size_t len);

/* at_span_intern's common case: the value fits whole, no cut to make. */
static inline struct at_str at_span_intern_fast(struct at_span *s, const char *val, size_t len)
{
	if (__builtin_expect(len <= (size_t)(at_cfg.attr_value_limit - 1) &&
	                         s->arena_used <= AT_ARENA_SIZE &&
	                         len <= AT_ARENA_SIZE - (size_t)s->arena_used,
	                     1)) {
		struct at_str r = {s->arena_used, (uint16_t)len};
		memcpy(s->arena + s->arena_used, val, len);
		s->arena_used = (uint16_t)(s->arena_used + len);
		return r;
	}
	return at_span_intern(s, val, len);
}

/* Returns the attribute (NULL when not recorded): a hook may point other
 * attributes or the name at the same text. */
static inline struct at_attr *at_span_set_strn(struct at_span *s, const char *key, const char *val,
                                               size_t len)
{
	struct at_attr *a = at_span_slot(s, key);
	if (a) {
		a->type = AT_ATTR_STR;
		a->v.s = at_span_intern_fast(s, val, len);
	}
	return a;
}

/* A string already in this span's arena (the name, part of another value):
 * one text, several attributes. */
static inline struct at_attr *at_span_set_ref(struct at_span *s, const char *key, struct at_str v)
{
	struct at_attr *a = at_span_slot(s, key);
	if (a) {
		a->type = AT_ATTR_STR;
		a->v.s = v;
	}
	return a;
}

void at_span_set_str(struct at_span *s, const char *key, const char *val);
/* Raw text for key, to be rendered on the exporter thread by renderer
 * (which may also set the span's name and further attributes). */
void at_span_set_deferred(struct at_span *s, const char *key, int render, const char *raw,
                          size_t len);
/* Add an event; returns its index or -1. Attributes go through at_event_set_*. */
int at_span_add_event(struct at_span *s, const char *name);
void at_event_set_strn(struct at_span *s, int ev, const char *key, const char *val, size_t len);

/* On the exporter thread, before any encoder: AT_ATTR_LIT values become
 * arena strings like any other (reporter/finalize.c). */
void at_span_lit_to_str(struct at_span *s, struct at_attr *a);

/* The context to propagate from this thread now (current span or remote
 * parent); returns 0 when there is none. */
int at_current_ctx(struct at_ctx *out);

/* Copies what is used of src (header, attributes, events, arena text). */
void at_span_copy(struct at_span *dst, const struct at_span *src);

#endif
