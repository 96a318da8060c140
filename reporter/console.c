/* OTEL_TRACES_EXPORTER=console: one human-readable line per span on stderr,
 * never stdout (a legacy program's stdout is its output, often piped). Each
 * line goes out in one write(2) so lines of several processes sharing the
 * terminal or log file do not interleave. */
#define _GNU_SOURCE
#include "backend.h"

#include "../preload/autotrace.h"
#include "../preload/propagation.h"
#include "../preload/resource.h"
#include "../preload/stdfd.h"
#include "buf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int at_console_format(struct at_buf *b, const struct at_span *s);

static void hex(struct at_buf *b, const uint8_t *p, size_t n)
{
	char h[32];
	at_hex_encode(p, n, h);
	at_buf_add(b, h, 2 * n);
}

static void quoted(struct at_buf *b, const char *s, size_t n)
{
	at_buf_addc(b, '"');
	at_buf_add_json_str(b, s, n); /* escapes control characters: one span, one line */
	at_buf_addc(b, '"');
}

int at_console_format(struct at_buf *b, const struct at_span *s)
{
	static const char *kinds[] = {"UNSPECIFIED", "INTERNAL", "SERVER",
	                              "CLIENT",      "PRODUCER", "CONSUMER"};
	static const uint8_t zero[8];
	const char *svc = at_resource_get("service.name");
	at_buf_printf(b, "autotrace[%d]: span ", (int)getpid());
	quoted(b, at_span_str(s, s->name), s->name.len);
	at_buf_printf(b, " %s %.3fms service=", kinds[s->kind < 6 ? s->kind : 0],
	              s->end_ns > s->start_ns ? (double)(s->end_ns - s->start_ns) / 1e6 : 0.0);
	quoted(b, svc ? svc : "", svc ? strlen(svc) : 0);
	at_buf_adds(b, " trace=");
	hex(b, s->ctx.trace_id, 16);
	at_buf_adds(b, " span=");
	hex(b, s->ctx.span_id, 8);
	if (memcmp(s->parent_id, zero, 8)) {
		at_buf_adds(b, " parent=");
		hex(b, s->parent_id, 8);
	}
	if (s->status == AT_STATUS_ERROR) {
		at_buf_adds(b, " status=ERROR");
		if (s->status_msg.len) {
			at_buf_addc(b, ':');
			quoted(b, at_span_str(s, s->status_msg), s->status_msg.len);
		}
	}
	for (int i = 0; i < s->nattrs; i++) {
		const struct at_attr *a = &s->attrs[i];
		at_buf_printf(b, " %s=", a->key);
		switch (a->type) {
		case AT_ATTR_STR:
			quoted(b, at_span_str(s, a->v.s), a->v.s.len);
			break;
		case AT_ATTR_INT:
			at_buf_printf(b, "%" PRId64, a->v.i);
			break;
		case AT_ATTR_BOOL:
			at_buf_adds(b, a->v.i ? "true" : "false");
			break;
		default:
			at_buf_printf(b, "%g", a->v.d);
		}
	}
	for (int e = 0; e < s->nevents; e++)
		at_buf_printf(b, " event=%s", s->events[e].name);
	if (s->dropped_attrs)
		at_buf_printf(b, " dropped_attributes=%u", s->dropped_attrs);
	if (s->dropped_events)
		at_buf_printf(b, " dropped_events=%u", s->dropped_events);
	at_buf_addc(b, '\n');
	return b->oom ? -1 : 0;
}

struct console {
	struct at_backend b;
	struct at_buf buf;
};

static size_t console_export(struct at_backend *b, struct at_span *const *spans, size_t n,
                             uint64_t deadline_ms)
{
	struct console *c = (struct console *)b;
	size_t done = 0;
	if (!at_stderr_usable())
		return 0; /* the application closed its stderr: 2 is not ours to write */
	for (size_t i = 0; i < n; i++) {
		at_buf_reset(&c->buf);
		if (at_console_format(&c->buf, spans[i]))
			continue;
		ssize_t w;
		do
			w = write(2, c->buf.data, c->buf.len);
		while (w < 0 && errno == EINTR);
		if (w == (ssize_t)c->buf.len)
			done++;
	}
	return done;
}

static void console_close(struct at_backend *b)
{
	struct console *c = (struct console *)b;
	at_buf_free(&c->buf);
	free(c);
}

struct at_backend *at_backend_console_new(void)
{
	struct console *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->b.name = "console";
	c->b.export_batch = console_export;
	c->b.close = console_close;
	return &c->b;
}
