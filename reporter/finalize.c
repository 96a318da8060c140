/* Before any encoder reads a span: its ids are drawn if the application's
 * thread never needed them (span.h, at_span_ctx), its stamps become
 * wall-clock nanoseconds (preload/clock.h), and its deferred attributes are
 * rendered.
 *
 * Deferred attributes: hooks store raw text cheaply (a copy into the span,
 * or only a pointer to a literal) and the exporter thread does the expensive
 * part (SQL sanitizing, a MySQL connection's facts, a Redis command's text
 * and attributes). Whatever the renderer, no AT_ATTR_DEFER or AT_ATTR_LIT
 * reaches an encoder: an unknown renderer gives "". */
#include "finalize.h"

#include "../preload/autotrace.h"
#include "../preload/callsite.h"
#include "../preload/clock.h"
#include "helper.h"

#include "../hooks/mysql_render.h"
#include "../hooks/redis_cmd.h"
#include "../hooks/sql_sanitize.h"

/* the two types to act on come last */
_Static_assert(AT_ATTR_STR < AT_ATTR_DEFER && AT_ATTR_INT < AT_ATTR_DEFER &&
                   AT_ATTR_DOUBLE < AT_ATTR_DEFER && AT_ATTR_BOOL < AT_ATTR_DEFER &&
                   AT_ATTR_LIT > AT_ATTR_DEFER,
               "enum at_attr_type: plain values first");

static AT_ALWAYS_INLINE void finalize(struct at_span *s, const struct at_clock_map *clk)
{
	if (s->lazy_ids)
		at_span_draw_ids(s);
	if (clk->mult) {
		s->start_ns = at_clock_apply(clk, s->start_ns);
		s->end_ns = at_clock_apply(clk, s->end_ns);
		for (int k = 0; k < s->nevents; k++)
			s->events[k].time_ns = at_clock_apply(clk, s->events[k].time_ns);
	}
	for (int k = 0; k < s->nattrs; k++) {
		struct at_attr *a = &s->attrs[k];
		/* most are plain values: one test */
		if (a->type < AT_ATTR_DEFER)
			continue;
		if (a->type == AT_ATTR_LIT) {
			at_span_lit_to_str(s, a);
			continue;
		}
		if (a->type != AT_ATTR_DEFER)
			continue;
		switch (a->render) {
		case AT_RENDER_SQL:
		case AT_RENDER_SQL_RAW:
			at_sql_render(s, a, a->render == AT_RENDER_SQL_RAW);
			break;
		case AT_RENDER_MYSQL:
			at_mysql_render(s, a);
			break;
		case AT_RENDER_REDIS:
			at_redis_render(s, a);
			break;
		default:
			a->v.s.len = 0;
			break;
		}
		a->type = AT_ATTR_STR;
	}
}

void at_span_finalize(struct at_span *const *spans, size_t n)
{
	struct at_clock_map clk;
	at_clock_map(&clk); /* one anchor for the batch: every span ended before it */
	for (size_t i = 0; i < n; i++)
		finalize(spans[i], &clk);
}

void at_span_prepare(struct at_span *s, void *arg)
{
	const struct at_prepare *p = arg;
	if (AT_UNLIKELY(p->relocate)) {
		struct at_span *one[1] = {s};
		at_helper_relocate(one, 1);
	}
	finalize(s, &p->clk);
	at_callsite_annotate_one(s);
}
