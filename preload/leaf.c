/* Leaf spans (leaf.h): the uncommon starts, the end, and the consumer's
 * side of the record. */
#include "leaf.h"

#include "ids.h"

int at_leaf_begin_slow(struct at_leaf *l)
{
	/* span.c's start: a child's trace is its parent's; a root's ids are
	 * drawn now only when the ratio sampler decides on its trace id */
	if (l->parent) {
		memcpy(l->trace_id, l->parent->trace_id, 16);
		l->lazy = 1;
	} else if (at_cfg.sampler != AT_SAMPLE_RATIO) {
		l->lazy = 1;
	} else {
		at_ids_new(l->trace_id, l->span_id);
		l->lazy = 0;
	}
	int flags = at_sample_fast(l->parent, l->trace_id);
	l->flags = (uint8_t)flags;
	return flags & AT_FLAG_SAMPLED ? at_leaf_go(l) : 0;
}

void at_leaf_end_whole(struct at_leaf *l)
{
	struct at_span s;
	at_leaf_span(l, &s);
	at_span_end(&s);
}

void at_leaf_expand(struct at_span *d, const struct at_leaf_rec *r, const char *raw, size_t room)
{
	memset(d, 0, AT_SPAN_HEADER);
	memcpy(d->ctx.trace_id, r->trace_id, 16);
	memcpy(d->ctx.span_id, r->span_id, 8);
	memcpy(d->parent_id, r->parent_id, 8);
	d->ctx.flags = r->flags;
	d->ctx.valid = 1;
	d->lazy_ids = r->lazy != 0;
	d->kind = r->kind;
	d->recording = 1;
	d->start_ns = r->start;
	d->end_ns = r->end;
	d->caller = (uintptr_t)r->caller;
	d->prev = NULL;
	d->attr_cap = at_cfg.attr_count_limit < AT_MAX_ATTRS ? (uint8_t)at_cfg.attr_count_limit
	                                                     : AT_MAX_ATTRS;
	size_t len = r->len;
	if (len > room)
		len = room;
	if (len > AT_ARENA_SIZE)
		len = AT_ARENA_SIZE;
	const char *key = (const char *)(uintptr_t)r->key;
	if (!key || !len) /* as at_leaf_span: no bytes, no attribute */
		return;
	if (!d->attr_cap) {
		d->dropped_attrs = 1;
		return;
	}
	struct at_attr *a = &d->attrs[0];
	a->key = key;
	a->type = AT_ATTR_DEFER;
	a->render = r->render;
	a->v.s = (struct at_str){0, (uint16_t)len};
	d->nattrs = 1;
	d->keymask = at_span_keybit(key);
	memcpy(d->arena, raw, len);
	d->arena_used = (uint16_t)len;
}
