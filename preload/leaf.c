/* Leaf spans (leaf.h): the uncommon starts, the end, and the consumer's
 * side of the record. */
#include "leaf.h"

#include "errors.h"
#include "ids.h"

void at_leaf_draw_ids(struct at_leaf *l)
{
	at_ids_new(l->trace_id, l->span_id);
	l->lazy = 0;
}

void at_leaf_span(struct at_leaf *l, struct at_span *s)
{
	at_tls.leaf = NULL;
	/* the header as the exporter makes it of the record, the raw bytes
	 * after a parent's tracestate */
	struct at_leaf_rec r;
	at_leaf_record(&r, l, 0);
	at_leaf_expand(s, &r, NULL, 0);
	s->prev = at_tls.cur;
	at_tls.cur = s;
	if (AT_UNLIKELY(l->pspan && l->pspan->tracestate.len))
		s->tracestate = at_span_intern_fast(s, at_span_str(l->pspan, l->pspan->tracestate),
		                                    l->pspan->tracestate.len);
	if (!l->len)
		return;
	/* raw bytes for the renderer, whole: the value length limit is the
	 * rendered text's (a cut blob renders as nothing) */
	size_t off = s->arena_used;
	if (l->len > AT_ARENA_SIZE - off) { /* only after a long tracestate */
		s->dropped_attrs++;
		return;
	}
	struct at_attr *a = at_span_slot(s, l->key);
	if (!a)
		return;
	memcpy(s->arena + off, l->raw, l->len);
	a->type = AT_ATTR_DEFER;
	a->render = l->render;
	a->v.s = (struct at_str){(uint16_t)off, l->len};
	s->arena_used = (uint16_t)(off + l->len);
}

void at_leaf_end_whole(struct at_leaf *l)
{
	struct at_span s;
	at_leaf_span(l, &s);
	at_span_end(&s);
}

void at_leaf_end_as(struct at_leaf *l, const struct at_leaf_failure *f)
{
	if (!f) {
		at_leaf_end(l);
		return;
	}
	struct at_span s;
	at_leaf_span(l, &s);
	if (f->code)
		at_span_set_strn(&s, "db.response.status_code", f->type, f->tlen);
	at_span_fail(&s, f->type, f->tlen, f->msg, f->mlen);
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
