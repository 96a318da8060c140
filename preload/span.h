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
	uint8_t lazy_ids; /* ids not drawn yet (at_span_ctx) */
	uint16_t arena_used;
	uint32_t dropped_attrs, dropped_events;
	struct at_str name, status_msg, tracestate; /* here: no padding before keymask */
	uint64_t keymask; /* a bit per key pointer set: most keys are new, no scan */
	uint64_t start_ns, end_ns;
	struct at_span *prev; /* the span that was current before this one */
	uintptr_t caller;     /* return address into the code that called the hook */
	/* the arrays, each used from its start, the rarest last: a copy of a
	 * span ends where its last array in use does (reporter/queue.c) */
	struct at_attr attrs[AT_MAX_ATTRS];
	char arena[AT_ARENA_SIZE];
	struct at_event events[AT_MAX_EVENTS];
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
/* The same, ended at a stamp (at_stamp) taken earlier: a server's span ends
 * when its response's last write began, not when that write returned (the
 * client may have read the response, and ended its own span, in between). */
void at_span_end_detached_at(struct at_span *s, uint64_t stamp);

void at_span_set_name(struct at_span *s, const char *name, size_t len);
void at_span_set_double(struct at_span *s, const char *key, double val);
void at_span_set_bool(struct at_span *s, const char *key, int val);
void at_span_set_error(struct at_span *s, const char *msg, size_t len);

/* Attribute setters. The common case (recording, a key not yet set, room
 * left, a value that needs no cut) is inline: a few compares and a copy. */
struct at_attr *at_span_slot_slow(struct at_span *s, const char *key);

/* A key's bit in keymask: keys are literals, compared by address; literals
 * sit close together, so the address is hashed (multiplicative) first. The
 * multiplier is chosen at start-up (at_span_keys_init) so that the keys one
 * kind of span sets fall on distinct bits: where the literals are changes
 * with every build and every load address, and two keys of a span on one
 * bit cost every span of that kind a scan (at_span_slot_slow). */
extern uint64_t at_keyhash_mul;
static inline unsigned at_span_keyhash(const char *key)
{
	return (unsigned)((uint64_t)(uintptr_t)key * at_keyhash_mul >> 58);
}
/* Before the first span (init.c); returns the multipliers tried, or -1
 * when none did (the first stays). */
int at_span_keys_init(void);

static inline uint64_t at_span_keybit(const char *key)
{
	return 1ull << at_span_keyhash(key);
}

static inline struct at_attr *at_span_slot(struct at_span *s, const char *key)
{
	/* a key's bit set in keymask: it may be set already (the slow path
	 * looks). Tested and set by number (bt/bts), not through a shifted 1. */
	unsigned h = at_span_keyhash(key);
	uint64_t mask = s->keymask;
	if (__builtin_expect(s->nattrs < s->attr_cap && !((mask >> h) & 1), 1)) {
		s->keymask = mask | (1ull << h);
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

/* Unaligned 16-byte moves that the compiler keeps as such (SSE2: every x86-64). */
typedef char at_v16 __attribute__((vector_size(16), aligned(1), may_alias));

/* A copy of n bytes without a call when n is small, as most values are (an
 * operation, an address, a port): two overlapping moves of the widest size
 * that fits, exactly [0, n) read and written. memcpy past 32 bytes. */
static inline void at_copy_small(char *d, const char *s, size_t n)
{
	if (n > 32) {
		memcpy(d, s, n);
	} else if (n >= 16) {
		at_v16 a = *(const at_v16 *)s, b = *(const at_v16 *)(s + n - 16);
		*(at_v16 *)d = a;
		*(at_v16 *)(d + n - 16) = b;
	} else if (n >= 8) {
		uint64_t a, b;
		memcpy(&a, s, 8);
		memcpy(&b, s + n - 8, 8);
		memcpy(d, &a, 8);
		memcpy(d + n - 8, &b, 8);
	} else if (n >= 4) {
		uint32_t a, b;
		memcpy(&a, s, 4);
		memcpy(&b, s + n - 4, 4);
		memcpy(d, &a, 4);
		memcpy(d + n - 4, &b, 4);
	} else if (n) {
		/* 1 to 3 bytes: first, middle, last */
		char a = s[0], b = s[n / 2], c = s[n - 1];
		d[0] = a;
		d[n / 2] = b;
		d[n - 1] = c;
	}
}


/* Whether len bytes go whole into an arena of which used bytes are taken:
 * under the value length limit and within the room, no cut to make. (The
 * bound on len alone keeps the sum from wrapping; with a constant len or
 * used it folds away.) A macro: as a function, the branches it feeds come
 * out longer in every inline setter. */
#define AT_SPAN_FITS(used, len)                                                                    \
	((len) <= (size_t)(at_cfg.attr_value_limit - 1) && (len) <= AT_ARENA_SIZE &&                \
	 (used) + (len) <= AT_ARENA_SIZE)

/* at_span_intern's common case: the value fits whole. */
static inline struct at_str at_span_intern_fast(struct at_span *s, const char *val, size_t len)
{
	size_t used = s->arena_used;
	if (__builtin_expect(AT_SPAN_FITS(used, len), 1)) {
		struct at_str r = {(uint16_t)used, (uint16_t)len};
		at_copy_small(s->arena + used, val, len);
		s->arena_used = (uint16_t)(used + len);
		return r;
	}
	return at_span_intern(s, val, len);
}

/* On the exporter thread, a renderer that turns raw text into shorter text:
 * str goes into the free part [*off, *off + *room) of the arena that the raw
 * text held (advancing it), else at the arena's tail like at_span_intern.
 * Inline: renderers call it for every name and value they write. */
static inline struct at_str at_span_place(struct at_span *s, uint16_t *off, uint16_t *room,
                                          const char *str, size_t n)
{
	if (n > *room)
		return at_span_intern_fast(s, str, n);
	memcpy(s->arena + *off, str, n);
	struct at_str r = {*off, (uint16_t)n};
	*off = (uint16_t)(*off + n);
	*room = (uint16_t)(*room - n);
	return r;
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

/* A span started by at_span_start draws its ids only when they are first
 * needed, through at_span_ctx: a child, a header to inject, at_current_ctx
 * (a new thread, an exec), a fork (init.c), or else the exporter
 * (at_span_prepare). A call that makes no child (a Redis command, a query)
 * draws none on the application's thread, and one that is not sampled none
 * at all. Only the thread that owns the span may draw them: detached spans,
 * which other threads may read, draw theirs at the start. */
void at_span_draw_ids(struct at_span *s);

static inline const struct at_ctx *at_span_ctx(struct at_span *s)
{
	if (__builtin_expect(s->lazy_ids, 0))
		at_span_draw_ids(s);
	return &s->ctx;
}

/* The context to propagate from this thread now (current span or remote
 * parent); returns 0 when there is none. */
int at_current_ctx(struct at_ctx *out);

/* The span's header, before its arrays: what start clears and the queue
 * copies whole (reporter/queue.c). */
#define AT_SPAN_HEADER offsetof(struct at_span, attrs)

#endif
