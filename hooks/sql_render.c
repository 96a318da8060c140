/* db.query.text rendered on the exporter thread (reporter/finalize.c): the
 * MySQL hook stores the raw statement, this sanitizes it and names the span. */
#include "sql_sanitize.h"

#include "../preload/utf8.h"

#include <string.h>

void at_sql_render(struct at_span *s, struct at_attr *a, int keep_literals)
{
	char work[4096];
	const char *raw = at_span_str(s, a->v.s);
	size_t n = a->v.s.len;
	size_t len = at_sql_sanitize(raw, n, work, sizeof work, NULL);
	struct at_sql_summary sum;
	at_sql_summarize(work, len, &sum);
	uint16_t off = a->v.s.off, room = 0;
	if (!keep_literals) {
		/* the rendering replaces the raw text in place: cut it to that room */
		len = at_utf8_cut(work, len, n);
		memcpy(s->arena + off, work, len);
		a->v.s.len = (uint16_t)len;
		off = (uint16_t)(off + len);
		room = (uint16_t)(n - len);
	}
	if (!sum.op[0])
		return; /* the hook named the span by the system */
	size_t on = sum.op_len, tn = sum.table_len;
	char name[sizeof sum.op + sizeof sum.table + 1];
	memcpy(name, sum.op, on);
	if (tn) {
		name[on] = ' ';
		memcpy(name + on + 1, sum.table, tn);
	}
	s->name = at_span_place(s, &off, &room, name, tn ? on + 1 + tn : on);
	/* the attributes point into the name just written */
	at_span_set_ref(
	    s, "db.operation.name",
	    (struct at_str){s->name.off, (uint16_t)(s->name.len < on ? s->name.len : on)});
	if (tn)
		at_span_set_ref(
		    s, "db.collection.name",
		    s->name.len == on + 1 + tn
		        ? (struct at_str){(uint16_t)(s->name.off + on + 1), (uint16_t)tn}
		        : at_span_place(s, &off, &room, sum.table, tn));
}
