/* Span model, ids, samplers and the queue, without any hook. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../preload/autotrace.h"
#include "../../preload/config.h"
#include "../../preload/ids.h"
#include "../../preload/sampler.h"
#include "../../reporter/finalize.h"
#include "../../reporter/queue.h"

static int setup(void **state)
{
	assert_true(at_on());
	return 0;
}

static void ids_distinct_nonzero(void **state)
{
	uint8_t a[16], b[16], s1[8], s2[8], zero[16] = {0};
	at_ids_trace(a);
	at_ids_trace(b);
	at_ids_span(s1);
	at_ids_span(s2);
	assert_memory_not_equal(a, b, 16);
	assert_memory_not_equal(a, zero, 16);
	assert_memory_not_equal(s1, s2, 8);
	assert_memory_not_equal(s1, zero, 8);
}

static void nesting(void **state)
{
	struct at_span outer, inner;
	at_span_start(&outer, "outer", AT_KIND_SERVER);
	assert_ptr_equal(at_tls.cur, &outer);
	at_span_start(&inner, "inner", AT_KIND_CLIENT);
	assert_memory_equal(inner.ctx.trace_id, outer.ctx.trace_id, 16);
	assert_memory_equal(inner.parent_id, outer.ctx.span_id, 8);
	assert_ptr_equal(at_tls.cur, &inner);
	at_span_end(&inner);
	assert_ptr_equal(at_tls.cur, &outer);
	at_span_end(&outer);
	assert_null(at_tls.cur);
	struct at_span *got[8];
	size_t n = at_queue_peek(got, 8);
	assert_int_equal(n, 2);
	assert_memory_equal(at_span_str(got[0], got[0]->name), "inner", 5);
	assert_true(got[0]->end_ns >= got[0]->start_ns);
	at_queue_release(n);
}

static void attributes_and_limits(void **state)
{
	struct at_span s;
	at_span_start(&s, "x", AT_KIND_CLIENT);
	at_span_set_int(&s, "n", 1);
	at_span_set_int(&s, "n", 2); /* same key: replaced */
	assert_int_equal(s.nattrs, 1);
	assert_int_equal(s.attrs[0].v.i, 2);
	static const char *keys[40];
	static char names[40][8];
	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof names[i], "k%d", i);
		keys[i] = names[i];
		at_span_set_int(&s, keys[i], i);
	}
	assert_int_equal(s.nattrs, AT_MAX_ATTRS);
	assert_int_equal(s.dropped_attrs, 40 - (AT_MAX_ATTRS - 1));
	at_span_end(&s);
	struct at_span *got[8];
	at_queue_release(at_queue_peek(got, 8));
}

/* The keys one kind of span sets (those of hooks/mysql.c, redis_render.c,
 * net.c, curl.c, preload/callsite.c) fall on distinct bits of keymask,
 * wherever the linker put the literals (span.c at_span_keys_init, run at
 * init): no span of the hooks' takes the scan of at_span_slot_slow. */
static void span_keys_on_distinct_bits(void **state)
{
	static const char *const db[] = {
	    "code.function.name", "code.file.path", "code.line.number", "autotrace.loop.depth",
	    "error.type", "server.address", "server.port", "db.system.name", "db.namespace",
	    "db.operation.name", "db.query.text", "db.collection.name", "db.response.status_code"};
	static const char *const http[] = {
	    "code.function.name", "code.file.path", "code.line.number", "autotrace.loop.depth",
	    "error.type", "server.address", "server.port", "http.request.method",
	    "http.response.status_code", "url.full", "url.path", "url.query", "url.scheme",
	    "client.address", "network.protocol.version", "network.transport",
	    "user_agent.original", "error.code"};
	const char *const *groups[] = {db, http};
	const size_t sizes[] = {sizeof db / sizeof *db, sizeof http / sizeof *http};
	for (int g = 0; g < 2; g++) {
		struct at_span s;
		at_span_start(&s, "x", AT_KIND_CLIENT);
		for (size_t i = 0; i < sizes[g]; i++)
			at_span_set_int(&s, groups[g][i], (int64_t)i);
		assert_int_equal(s.nattrs, sizes[g]);
		/* one bit per key: none shared */
		assert_int_equal(__builtin_popcountll(s.keymask), sizes[g]);
		at_span_end(&s);
		struct at_span *got[8];
		at_queue_release(at_queue_peek(got, 8));
	}
}

/* A literal is stored by pointer on the app thread and becomes an arena
 * string on the exporter thread (at_span_finalize), before any encoder. */
static void literal_attributes(void **state)
{
	struct at_span s;
	at_span_start(&s, "x", AT_KIND_CLIENT);
	at_span_set_lit(&s, "db.system.name", "redis");
	at_span_set_int(&s, "n", 7);
	at_span_set_lit(&s, "db.system.name", "mariadb"); /* same key: replaced */
	assert_int_equal(s.nattrs, 2);
	assert_int_equal(s.attrs[0].type, AT_ATTR_LIT);
	size_t used = s.arena_used; /* nothing copied yet */
	at_span_end(&s);
	struct at_span *got[8];
	size_t n = at_queue_peek(got, 8);
	assert_int_equal(n, 1);
	assert_int_equal(got[0]->arena_used, used);
	at_span_finalize(got, n);
	const struct at_attr *a = &got[0]->attrs[0];
	assert_int_equal(a->type, AT_ATTR_STR);
	assert_int_equal(a->v.s.len, 7);
	assert_memory_equal(at_span_str(got[0], a->v.s), "mariadb", 7);
	assert_int_equal(got[0]->attrs[1].type, AT_ATTR_INT);
	at_queue_release(n);
}

/* at_span_set_strn returns the attribute, so that a hook can point the name
 * or another attribute at the same text (hooks/redis.c). */
static void strn_returns_the_attribute(void **state)
{
	struct at_span s;
	at_span_start(&s, NULL, AT_KIND_CLIENT);
	struct at_attr *a = at_span_set_strn(&s, "db.query.text", "GET k", 5);
	assert_non_null(a);
	assert_ptr_equal(a, &s.attrs[0]);
	assert_memory_equal(at_span_str(&s, a->v.s), "GET k", 5);
	at_span_end(&s);
	struct at_span *got[8];
	at_queue_release(at_queue_peek(got, 8));
	at_cfg.sampler = AT_SAMPLE_ALWAYS_OFF;
	at_span_start(&s, NULL, AT_KIND_CLIENT);
	assert_null(at_span_set_strn(&s, "db.query.text", "GET k", 5));
	at_span_end(&s);
	at_cfg.sampler = AT_SAMPLE_ALWAYS_ON;
}

/* OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT below the span's room: the inline path
 * honours it too. */
static void count_limit_inline(void **state)
{
	long saved = at_cfg.attr_count_limit;
	at_cfg.attr_count_limit = 2;
	struct at_span s;
	at_span_start(&s, "x", AT_KIND_CLIENT);
	at_span_set_int(&s, "a", 1);
	at_span_set_lit(&s, "b", "two");
	at_span_set_strn(&s, "c", "three", 5);
	at_span_set_int(&s, "d", 4);
	assert_int_equal(s.nattrs, 2);
	assert_int_equal(s.dropped_attrs, 2);
	at_span_end(&s);
	struct at_span *got[8];
	at_queue_release(at_queue_peek(got, 8));
	at_cfg.attr_count_limit = saved;
}

/* OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: the inline copy leaves longer values
 * to the cutting path. */
static void value_limit_inline(void **state)
{
	long saved = at_cfg.attr_value_limit;
	at_cfg.attr_value_limit = 4;
	struct at_span s;
	at_span_start(&s, "x", AT_KIND_CLIENT);
	at_span_set_strn(&s, "short", "abc", 3);
	at_span_set_strn(&s, "exact", "abcd", 4);
	at_span_set_strn(&s, "long", "abcdef", 6);
	assert_int_equal(s.attrs[0].v.s.len, 3);
	assert_int_equal(s.attrs[1].v.s.len, 4);
	assert_int_equal(s.attrs[2].v.s.len, 4);
	at_span_end(&s);
	struct at_span *got[8];
	at_queue_release(at_queue_peek(got, 8));
	at_cfg.attr_value_limit = saved;
}

static void arena_truncates_on_utf8_boundary(void **state)
{
	struct at_span s;
	at_span_start(&s, "x", AT_KIND_CLIENT);
	char big[AT_ARENA_SIZE * 2];
	/* "é" is two bytes: fill so the cut falls inside one */
	big[0] = 'a';
	for (size_t i = 1; i + 1 < sizeof big; i += 2) {
		big[i] = (char)0xc3;
		big[i + 1] = (char)0xa9;
	}
	at_span_set_strn(&s, "big", big, sizeof big - 1);
	const struct at_attr *a = &s.attrs[0];
	assert_true(a->v.s.len < sizeof big - 1);
	assert_true(s.arena_used <= AT_ARENA_SIZE);
	/* ends on a whole character: the last byte is a's or a continuation after 0xc3 */
	const unsigned char *p = (const unsigned char *)at_span_str(&s, a->v.s);
	assert_true(p[a->v.s.len - 1] == 0xa9);
	/* the arena is full: later strings are empty, never overflow */
	at_span_set_str(&s, "more", "text");
	assert_int_equal(s.attrs[1].v.s.len, 0);
	at_span_end(&s);
	struct at_span *got[8];
	at_queue_release(at_queue_peek(got, 8));
}

static void queue_full_drops(void **state)
{
	uint64_t before = at_queue_dropped();
	struct at_span s;
	for (int i = 0; i < 12; i++) {
		at_span_start(&s, "q", AT_KIND_INTERNAL);
		at_span_end(&s);
	}
	assert_int_equal(at_queue_length(), 8);
	assert_int_equal(at_queue_dropped() - before, 4);
	struct at_span *got[8];
	at_queue_release(at_queue_peek(got, 8));
	assert_int_equal(at_queue_length(), 0);
	/* and it keeps working after wrapping */
	at_span_start(&s, "again", AT_KIND_INTERNAL);
	at_span_end(&s);
	assert_int_equal(at_queue_peek(got, 8), 1);
	at_queue_release(1);
}

static void unsampled_costs_nothing(void **state)
{
	at_cfg.sampler = AT_SAMPLE_ALWAYS_OFF;
	struct at_span s;
	at_span_start(&s, "off", AT_KIND_CLIENT);
	assert_false(s.recording);
	assert_true(s.ctx.valid); /* still propagates */
	assert_int_equal(s.ctx.flags & AT_FLAG_SAMPLED, 0);
	at_span_set_str(&s, "k", "v");
	assert_int_equal(s.nattrs, 0);
	at_span_end(&s);
	assert_int_equal(at_queue_length(), 0);
	at_cfg.sampler = AT_SAMPLE_ALWAYS_ON;
}

static void ratio_sampler(void **state)
{
	at_cfg.sampler = AT_SAMPLE_RATIO;
	at_cfg.parent_based = 0;
	at_cfg.ratio = 0.25;
	int hits = 0;
	uint8_t tid[16];
	for (int i = 0; i < 20000; i++) {
		at_ids_trace(tid);
		hits += at_sample(NULL, tid) != 0;
	}
	assert_in_range(hits, 4500, 5500);
	/* parent-based follows the parent, whatever the ratio */
	at_cfg.parent_based = 1;
	at_cfg.ratio = 0.0;
	struct at_ctx parent = {.valid = 1, .flags = 1};
	assert_int_equal(at_sample(&parent, tid), AT_FLAG_SAMPLED);
	parent.flags = 0;
	at_cfg.ratio = 1.0;
	assert_int_equal(at_sample(&parent, tid), 0);
	at_cfg.sampler = AT_SAMPLE_ALWAYS_ON;
}

/* at_copy_small writes exactly [0, n) for every size it handles inline and
 * beyond (memcpy past 32). */
static void copy_small_exact(void **state)
{
	char src[80], buf[96];
	for (int i = 0; i < (int)sizeof src; i++)
		src[i] = (char)('a' + i % 26);
	for (size_t n = 0; n <= 70; n++) {
		memset(buf, 0x5a, sizeof buf);
		at_copy_small(buf + 8, src, n);
		assert_memory_equal(buf + 8, src, n);
		for (size_t i = 0; i < 8; i++)
			assert_int_equal((unsigned char)buf[i], 0x5a);
		for (size_t i = 8 + n; i < sizeof buf; i++)
			assert_int_equal((unsigned char)buf[i], 0x5a);
	}
}

/* The queue's copy (a record of the size the span needs): what is used
 * arrives intact, attributes, text and events. */
static void copy_keeps_what_is_used(void **state)
{
	static char keys[12][8];
	struct at_span s;
	at_span_start(&s, "copied", AT_KIND_CLIENT);
	AT_SPAN_CALLER(&s);
	for (int i = 0; i < 12; i++) {
		snprintf(keys[i], sizeof keys[i], "c%d", i);
		char val[40];
		int n = snprintf(val, sizeof val, "value %d of the copy test", i);
		at_span_set_strn(&s, keys[i], val, (size_t)n);
	}
	int ev = at_span_add_event(&s, "e1");
	at_event_set_strn(&s, ev, "k", "event text", 10);
	at_span_add_event(&s, "e2");
	assert_int_equal(s.nevents, 2);
	assert_true(s.arena_used > 64 * 3);

	/* through the queue */
	at_span_end(&s);
	struct at_span *got[8];
	size_t n = at_queue_peek(got, 8);
	assert_int_equal(n, 1);
	assert_int_equal(got[0]->nattrs, 12);
	assert_int_equal(got[0]->arena_used, s.arena_used);
	assert_memory_equal(got[0]->arena, s.arena, s.arena_used);
	assert_memory_equal(got[0]->attrs, s.attrs, s.nattrs * sizeof s.attrs[0]);
	assert_memory_equal(got[0]->events, s.events, s.nevents * sizeof s.events[0]);
	at_queue_release(n);
}

/* The inline sampling at start: a parent-based sampler follows the parent
 * span's decision; without parent-based, the root sampler decides. */
static void child_follows_parent(void **state)
{
	struct at_span outer, inner;
	at_cfg.sampler = AT_SAMPLE_ALWAYS_OFF;
	at_span_start(&outer, "outer", AT_KIND_SERVER);
	at_cfg.sampler = AT_SAMPLE_ALWAYS_ON;
	assert_false(outer.recording);
	at_cfg.parent_based = 1;
	at_span_start(&inner, "inner", AT_KIND_CLIENT);
	assert_false(inner.recording);
	assert_memory_equal(inner.ctx.trace_id, outer.ctx.trace_id, 16);
	assert_memory_equal(inner.parent_id, outer.ctx.span_id, 8);
	at_span_end(&inner);
	at_cfg.parent_based = 0;
	at_span_start(&inner, "inner", AT_KIND_CLIENT);
	assert_true(inner.recording);
	assert_memory_equal(inner.parent_id, outer.ctx.span_id, 8);
	at_span_end(&inner);
	at_cfg.parent_based = 1;
	at_span_end(&outer);
	assert_null(at_tls.cur);
	struct at_span *got[8];
	assert_int_equal(at_queue_peek(got, 8), 1);
	at_queue_release(1);
}

/* A root's header is cleared whatever the struct held before. */
static void start_clears_header(void **state)
{
	struct at_span s;
	memset(&s, 0xff, sizeof s);
	at_span_start(&s, NULL, AT_KIND_CLIENT);
	static const uint8_t zero[8];
	assert_memory_equal(s.parent_id, zero, 8);
	assert_int_equal(s.nattrs, 0);
	assert_int_equal(s.nevents, 0);
	assert_int_equal(s.arena_used, 0);
	assert_int_equal(s.keymask, 0);
	assert_int_equal(s.dropped_attrs, 0);
	assert_int_equal(s.status, 0);
	assert_int_equal(s.ctx.remote, 0);
	assert_int_equal(s.name.len, 0);
	assert_int_equal(s.tracestate.len, 0);
	assert_int_equal(s.end_ns, 0);
	assert_int_equal(s.caller, 0);
	assert_null(s.prev);
	assert_true(s.start_ns > 0);
	at_span_end(&s);
	struct at_span *got[8];
	at_queue_release(at_queue_peek(got, 8));
}

/* A span started with at_span_start draws its ids only when something
 * needs them: a child (which must name it as its parent), or the exporter
 * (at_span_prepare); one that is not sampled never draws them. */
static void ids_drawn_when_needed(void **state)
{
	static const uint8_t zero[16];
	struct at_span outer, inner;
	uint64_t rng = at_tls.rng;
	at_span_start(&outer, "outer", AT_KIND_SERVER);
	assert_true(outer.lazy_ids);
	assert_true(outer.ctx.valid);
	assert_int_equal(at_tls.rng, rng); /* nothing drawn yet */
	at_span_start(&inner, "inner", AT_KIND_CLIENT);
	assert_false(outer.lazy_ids); /* the child needed its parent's */
	assert_memory_not_equal(outer.ctx.trace_id, zero, 16);
	assert_memory_not_equal(outer.ctx.span_id, zero, 8);
	assert_memory_equal(inner.ctx.trace_id, outer.ctx.trace_id, 16);
	assert_memory_equal(inner.parent_id, outer.ctx.span_id, 8);
	assert_true(inner.lazy_ids); /* a leaf: its own are still to draw */
	at_span_end(&inner);
	at_span_end(&outer);
	struct at_span *got[8];
	size_t n = at_queue_peek(got, 8);
	assert_int_equal(n, 2);
	assert_true(got[0]->lazy_ids);
	struct at_prepare prep = {0};
	at_span_prepare(got[0], &prep);
	assert_false(got[0]->lazy_ids);
	assert_memory_equal(got[0]->ctx.trace_id, outer.ctx.trace_id, 16); /* kept */
	assert_memory_equal(got[0]->parent_id, outer.ctx.span_id, 8);
	assert_memory_not_equal(got[0]->ctx.span_id, zero, 8);
	assert_memory_not_equal(got[0]->ctx.span_id, outer.ctx.span_id, 8);
	at_queue_release(n);

	/* a root leaf gets a trace id of its own from the exporter */
	at_span_start(&outer, "root", AT_KIND_CLIENT);
	at_span_end(&outer);
	n = at_queue_peek(got, 8);
	assert_int_equal(n, 1);
	at_span_prepare(got[0], &prep);
	assert_memory_not_equal(got[0]->ctx.trace_id, inner.ctx.trace_id, 16);
	assert_memory_not_equal(got[0]->ctx.trace_id, zero, 16);
	assert_memory_equal(got[0]->parent_id, zero, 8);
	at_queue_release(n);

	/* not sampled: nothing drawn, ever */
	at_cfg.sampler = AT_SAMPLE_ALWAYS_OFF;
	rng = at_tls.rng;
	at_span_start(&outer, "off", AT_KIND_CLIENT);
	at_span_end(&outer);
	assert_int_equal(at_tls.rng, rng);
	at_cfg.sampler = AT_SAMPLE_ALWAYS_ON;

	/* a detached span (another thread may read it) has its ids at once */
	at_span_start_detached(&outer, "detached", AT_KIND_CLIENT, NULL);
	assert_false(outer.lazy_ids);
	assert_memory_not_equal(outer.ctx.span_id, zero, 8);
	at_span_end_detached(&outer);
	at_queue_release(at_queue_peek(got, 8));
}

/* The ratio sampler decides on a root's trace id: that one is drawn at the
 * start, and the decision is the one its final trace id gives. */
static void ratio_root_draws_its_trace_id(void **state)
{
	at_cfg.sampler = AT_SAMPLE_RATIO;
	at_cfg.parent_based = 1;
	at_cfg.ratio = 0.5;
	int sampled = 0;
	for (int i = 0; i < 64; i++) {
		struct at_span s;
		at_span_start(&s, "r", AT_KIND_CLIENT);
		assert_false(s.lazy_ids);
		assert_int_equal(s.recording, at_sample_root(s.ctx.trace_id) != 0);
		sampled += s.recording;
		at_span_end(&s);
		struct at_span *got[8];
		at_queue_release(at_queue_peek(got, 8));
	}
	assert_in_range(sampled, 1, 63);
	at_cfg.sampler = AT_SAMPLE_ALWAYS_ON;
	at_cfg.ratio = 1.0;
}

/* A fork inside a span whose ids are not drawn yet: the child's spans name
 * the one the parent exports as their parent (pthread_atfork draws them). */
static void fork_shares_the_ids(void **state)
{
	struct at_span s;
	at_span_start(&s, "forking", AT_KIND_CLIENT);
	assert_true(s.lazy_ids);
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct at_span c;
		at_span_start(&c, "child", AT_KIND_CLIENT);
		ssize_t w = write(fds[1], c.parent_id, 8);
		_exit(w == 8 ? 0 : 1);
	}
	assert_true(pid > 0);
	uint8_t child_parent[8];
	assert_int_equal(read(fds[0], child_parent, 8), 8);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	close(fds[0]);
	close(fds[1]);
	at_span_end(&s);
	struct at_span *got[8];
	size_t n = at_queue_peek(got, 8);
	assert_int_equal(n, 1);
	struct at_prepare prep = {0};
	at_span_prepare(got[0], &prep);
	assert_memory_equal(got[0]->ctx.span_id, child_parent, 8);
	at_queue_release(n);
}

int main(int argc, char **argv)
{
	/* the runtime reads its configuration in a constructor, before main:
	 * set it and start again */
	if (!getenv("OTEL_BSP_MAX_QUEUE_SIZE")) {
		setenv("OTEL_TRACES_EXPORTER", "none", 1);
		setenv("OTEL_BSP_MAX_QUEUE_SIZE", "8", 1);
		setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8", 1);
		setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000", 1); /* no draining behind our back */
		execv("/proc/self/exe", argv);
		return 1;
	}
	at_cfg.record = AT_FLAG_SAMPLED; /* recorded with no exporter: the test reads them */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ids_distinct_nonzero),
	    cmocka_unit_test(nesting),
	    cmocka_unit_test(attributes_and_limits),
	    cmocka_unit_test(literal_attributes),
	    cmocka_unit_test(span_keys_on_distinct_bits),
	    cmocka_unit_test(strn_returns_the_attribute),
	    cmocka_unit_test(count_limit_inline),
	    cmocka_unit_test(value_limit_inline),
	    cmocka_unit_test(arena_truncates_on_utf8_boundary),
	    cmocka_unit_test(queue_full_drops),
	    cmocka_unit_test(unsampled_costs_nothing),
	    cmocka_unit_test(ratio_sampler),
	    cmocka_unit_test(copy_small_exact),
	    cmocka_unit_test(copy_keeps_what_is_used),
	    cmocka_unit_test(child_follows_parent),
	    cmocka_unit_test(start_clears_header),
	    cmocka_unit_test(ids_drawn_when_needed),
	    cmocka_unit_test(ratio_root_draws_its_trace_id),
	    cmocka_unit_test(fork_shares_the_ids),
	};
	return cmocka_run_group_tests_name("span", tests, setup, NULL);
}
