/* On the exporter thread (reporter/finalize.c): a Redis command captured
 * by hooks/redis.c becomes the span's name, db.query.text,
 * db.operation.name, db.system.name, server.address, server.port and
 * db.namespace. */
#include "../preload/config.h"
#include "../preload/span.h"
#include "redis_cmd.h"

#include <string.h>

/* memcmp's answer without the call: op is a few bytes. */
static inline int starts_with(const char *text, const char *op, size_t n)
{
	size_t i = 0;
	while (i < n && text[i] == op[i])
		i++;
	return i == n;
}

void at_redis_render(struct at_span *s, struct at_attr *a)
{
	struct at_redis_cmd cmd;
	struct at_redis_conninfo ci;
	const char *blob = at_span_str(s, a->v.s);
	a->type = AT_ATTR_STR;
	if (at_redis_blob_read(&cmd, &ci, blob, a->v.s.len) < 0) {
		a->v.s.len = 0;
		return;
	}
	/* the facts are read out of the blob before the text may overwrite it */
	char addr[256];
	at_copy_small(addr, ci.addr, ci.addr_len);
	size_t n = cmd.text_len; /* ASCII: escaped where it was not */
	if (at_cfg.attr_value_limit && n > (size_t)at_cfg.attr_value_limit)
		n = (size_t)at_cfg.attr_value_limit;
	/* the text over the blob, where it fits */
	uint16_t off = a->v.s.off, room = a->v.s.len;
	a->v.s = at_span_place(s, &off, &room, cmd.text, n);
	if (!cmd.op_len)
		s->name = at_span_place(s, &off, &room, "redis", 5);
	else if (a->v.s.len >= cmd.op_len && starts_with(cmd.text, cmd.op, cmd.op_len))
		s->name = (struct at_str){a->v.s.off, (uint16_t)cmd.op_len};
	else
		s->name = at_span_place(s, &off, &room, cmd.op, cmd.op_len);
	at_span_set_strn(s, "db.system.name", "redis", 5);
	if (cmd.op_len)
		at_span_set_ref(s, "db.operation.name", s->name);
	if (ci.addr_len) {
		at_span_set_strn(s, "server.address", addr, ci.addr_len);
		if (ci.port)
			at_span_set_int(s, "server.port", ci.port);
	}
	if (ci.db >= 0) {
		char buf[24];
		char *p = buf + sizeof buf;
		long db = ci.db;
		do
			*--p = (char)('0' + db % 10);
		while ((db /= 10) > 0);
		at_span_set_strn(s, "db.namespace", p, (size_t)(buf + sizeof buf - p));
	}
}
