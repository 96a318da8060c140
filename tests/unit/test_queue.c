/* The export queue at a size of several MiB: spans go through in order,
 * many times round. Its records are the size each span needs (queue.c):
 * spans of every size come out as they went in, across the ring's end, from
 * several producers at once; a fork child forgets a record a parent's
 * thread claimed and never filled; the pages a ring maps are those its
 * records use. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../preload/autotrace.h"
#include "../../preload/leaf.h"
#include "../../reporter/queue.h"

#define QSIZE 4096 /* about 9 MiB of slots */

static void big_ring_keeps_order(void **state)
{
	assert_true(at_on());
	static const char key[] = "i";
	struct at_span s, *got[512];
	long next_out = 0;
	for (long i = 0; i < 5 * QSIZE; i++) {
		at_span_start(&s, "q", AT_KIND_INTERNAL);
		at_span_set_int(&s, key, i);
		at_span_end(&s);
		if (at_queue_length() < 3000)
			continue;
		size_t n = at_queue_peek(got, 512); /* the consumer lags behind */
		for (size_t k = 0; k < n; k++)
			assert_int_equal(got[k]->attrs[0].v.i, next_out++);
		at_queue_release(n);
	}
	size_t n;
	while ((n = at_queue_peek(got, 512)) > 0) {
		for (size_t k = 0; k < n; k++)
			assert_int_equal(got[k]->attrs[0].v.i, next_out++);
		at_queue_release(n);
	}
	assert_int_equal(next_out, 5 * QSIZE);
	assert_int_equal(at_queue_dropped(), 0);
}

static void full_big_ring_drops(void **state)
{
	struct at_span s, *got[512];
	uint64_t before = at_queue_dropped();
	for (int i = 0; i < QSIZE + 10; i++) {
		at_span_start(&s, "q", AT_KIND_INTERNAL);
		at_span_end(&s);
	}
	assert_int_equal(at_queue_length(), QSIZE);
	assert_int_equal(at_queue_dropped() - before, 10);
	size_t n;
	while ((n = at_queue_peek(got, 512)) > 0)
		at_queue_release(n);
	assert_int_equal(at_queue_length(), 0);
}

/* Producers dropping at once, on a full ring: every drop is counted (the
 * count is kept in per-thread shards and summed). */
static void *drop_many(void *arg)
{
	struct at_span s;
	for (int i = 0; i < 5000; i++) {
		at_span_start(&s, "q", AT_KIND_INTERNAL);
		at_span_end(&s);
	}
	return arg;
}

static void concurrent_drops_all_counted(void **state)
{
	struct at_span s, *got[512];
	for (int i = 0; i < QSIZE; i++) {
		at_span_start(&s, "q", AT_KIND_INTERNAL);
		at_span_end(&s);
	}
	assert_int_equal(at_queue_length(), QSIZE);
	uint64_t before = at_queue_dropped();
	pthread_t t[8];
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, drop_many, NULL), 0);
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(at_queue_dropped() - before, 8 * 5000);
	size_t n;
	while ((n = at_queue_peek(got, 512)) > 0)
		at_queue_release(n);
}

/* ---- records of the size each span needs ---- */

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A span whose every used byte follows from seed: any size the span allows. */
static void make_span(struct at_span *s, uint64_t seed, int nattrs, int nevents, size_t arena)
{
	memset(s, 0, sizeof *s);
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < AT_SPAN_HEADER; i++)
		((unsigned char *)s)[i] = (unsigned char)(x >> (i % 56));
	s->nattrs = (uint8_t)nattrs;
	s->nevents = (uint8_t)nevents;
	s->arena_used = (uint16_t)arena;
	s->attr_cap = AT_MAX_ATTRS;
	s->prev = NULL;
	for (int i = 0; i < nattrs; i++) {
		s->attrs[i].key = (const char *)(uintptr_t)(seed + (uint64_t)i);
		s->attrs[i].type = AT_ATTR_INT;
		s->attrs[i].v.i = (int64_t)(seed ^ (uint64_t)i << 40);
	}
	for (int i = 0; i < nevents; i++) {
		s->events[i].name = (const char *)(uintptr_t)(seed + 7);
		s->events[i].time_ns = seed * 3 + (uint64_t)i;
		s->events[i].nattrs = 1;
		s->events[i].attrs[0].v.i = (int64_t)seed;
	}
	for (size_t i = 0; i < arena; i++)
		s->arena[i] = (char)(seed + i * 31);
}

static void assert_same_span(const struct at_span *got, const struct at_span *want)
{
	assert_memory_equal(got, want, offsetof(struct at_span, prev));
	assert_memory_equal(&got->caller, &want->caller, AT_SPAN_HEADER - offsetof(struct at_span, caller));
	assert_memory_equal(got->events, want->events, want->nevents * sizeof want->events[0]);
	assert_memory_equal(got->attrs, want->attrs, want->nattrs * sizeof want->attrs[0]);
	assert_memory_equal(got->arena, want->arena, want->arena_used);
}

static void random_shape(uint64_t seed, int *nattrs, int *nevents, size_t *arena)
{
	uint64_t r = seed * 0xd1342543de82ef95ull;
	*nattrs = (int)(r % (AT_MAX_ATTRS + 1));
	*nevents = (int)((r >> 8) % 8 == 0 ? (r >> 16) % (AT_MAX_EVENTS + 1) : 0);
	/* mostly small, some of every size up to the whole arena */
	*arena = (r >> 24) % 4 ? (size_t)((r >> 32) % 64) : (size_t)((r >> 32) % (AT_ARENA_SIZE + 1));
}

/* Round a small ring (16 spans), 20,000 spans, many laps: push(in, slot)
 * queues span number in (slot: in % 16), check(got, slot) looks at what
 * came out. Fills to a random depth, then drains a random number, always
 * leaving one (a drained ring starts again at unit 0, tested below: this is
 * about crossing its end). Returns the laps, with the ring left empty. */
struct lap_case {
	void (*push)(struct lap_case *c, uint64_t in, size_t slot);
	void (*check)(struct lap_case *c, const struct at_span *got, size_t slot);
	struct at_span *s, *want; /* a span to fill, and 16 as they went in */
};

static uint64_t round_a_small_ring(struct lap_case *c)
{
	at_queue_unmap();
	assert_int_equal(at_queue_init(16, 1000), 0);
	struct at_span *got[16];
	uint64_t in = 0, out = 0, laps = 0;
	uint32_t last_idx = 0;
	while (out < 20000) {
		size_t depth = 1 + next_rand() % 16;
		while (in - out < depth) {
			c->push(c, in, in % 16);
			in++;
			uint32_t idx = (uint32_t)(atomic_load(&at_queue_ctl()->head) >> 32);
			laps += idx < last_idx;
			last_idx = idx;
		}
		size_t max = 1 + next_rand() % 16;
		if (max > in - out - 1)
			max = in - out - 1;
		if (!max)
			continue;
		size_t n = at_queue_peek(got, max);
		assert_int_equal(n, max);
		for (size_t k = 0; k < n; k++)
			c->check(c, got[k], (out + k) % 16);
		at_queue_release(n);
		out += n;
	}
	while (out < in) {
		size_t n = at_queue_peek(got, 16);
		for (size_t k = 0; k < n; k++)
			c->check(c, got[k], (out + k) % 16);
		at_queue_release(n);
		out += n;
	}
	return laps;
}

static void push_whole(struct lap_case *c, uint64_t in, size_t slot)
{
	int na, ne;
	size_t ar;
	random_shape(in, &na, &ne, &ar);
	make_span(c->s, in, na, ne, ar);
	assert_int_equal(at_queue_push(c->s), 0);
	c->want[slot] = *c->s;
}

static void check_whole(struct lap_case *c, const struct at_span *got, size_t slot)
{
	assert_same_span(got, &c->want[slot]);
}

/* Every record that runs past the ring's end comes back whole. */
static void records_of_every_size_round_a_small_ring(void **state)
{
	struct lap_case c = {push_whole, check_whole, malloc(sizeof *c.s),
	                     malloc(16 * sizeof *c.want)};
	assert_true(round_a_small_ring(&c) > 100); /* the ring's end was crossed, many times */
	/* a full ring of the largest spans still takes exactly 16 */
	struct at_span *s = c.s, *got[16];
	make_span(s, 1, AT_MAX_ATTRS, AT_MAX_EVENTS, AT_ARENA_SIZE);
	for (int i = 0; i < 16; i++)
		assert_int_equal(at_queue_push(s), 0);
	assert_int_equal(at_queue_push(s), -1);
	size_t n = at_queue_peek(got, 16);
	assert_int_equal(n, 16);
	for (size_t k = 0; k < n; k++)
		assert_same_span(got[k], s);
	at_queue_release(n);
	assert_int_equal(at_queue_length(), 0);
	free(c.s);
	free(c.want);
}

/* A leaf span (preload/leaf.h) comes out of its compact record as the
 * whole span at_leaf_span makes of it: the same ids, parent, decision,
 * times, call site and raw attribute. */
static void leaf_matches_its_whole_span(const struct at_span *got, const struct at_leaf *l,
                                        uint64_t end)
{
	struct at_span *want = malloc(sizeof *want);
	memset(want, 0, sizeof *want);
	struct at_leaf copy = *l;
	at_leaf_span(&copy, want);
	at_tls.cur = NULL; /* made current: this test has no chain */
	want->end_ns = end;
	assert_int_equal(got->ctx.valid, 1);
	assert_int_equal(got->ctx.flags, want->ctx.flags);
	assert_int_equal(got->lazy_ids, want->lazy_ids);
	assert_memory_equal(got->parent_id, want->parent_id, 8);
	if (l->parent || !l->lazy)
		assert_memory_equal(got->ctx.trace_id, want->ctx.trace_id, 16);
	if (!l->lazy)
		assert_memory_equal(got->ctx.span_id, want->ctx.span_id, 8);
	assert_int_equal(got->kind, want->kind);
	assert_int_equal(got->recording, 1);
	assert_int_equal(got->start_ns, want->start_ns);
	assert_int_equal(got->end_ns, want->end_ns);
	assert_int_equal(got->caller, want->caller);
	assert_int_equal(got->attr_cap, want->attr_cap);
	assert_int_equal(got->nattrs, want->nattrs);
	assert_int_equal(got->keymask, want->keymask);
	assert_int_equal(got->arena_used, want->arena_used);
	assert_int_equal(got->nevents, 0);
	assert_int_equal(got->name.len, 0);
	if (want->nattrs) {
		assert_ptr_equal(got->attrs[0].key, want->attrs[0].key);
		assert_int_equal(got->attrs[0].type, AT_ATTR_DEFER);
		assert_int_equal(got->attrs[0].render, want->attrs[0].render);
		assert_int_equal(got->attrs[0].v.s.off, want->attrs[0].v.s.off);
		assert_int_equal(got->attrs[0].v.s.len, want->attrs[0].v.s.len);
		assert_memory_equal(got->arena, want->arena, want->arena_used);
	}
	free(want);
}

/* Leaves of every raw size among whole spans. */
static char leaf_raw[16][AT_ARENA_SIZE];
static struct at_leaf leaves[16];
static uint64_t leaf_ends[16];
static struct at_ctx leaf_parents[16];
static uint64_t nleaf;

static void push_mixed(struct lap_case *c, uint64_t in, size_t slot)
{
	uint64_t r = next_rand();
	if (!(r % 3)) {
		push_whole(c, in, slot);
		leaves[slot].start = UINT64_MAX; /* not a leaf */
		return;
	}
	struct at_leaf *l = &leaves[slot];
	memset(l, 0, sizeof *l);
	struct at_ctx *p = &leaf_parents[slot];
	for (int i = 0; i < 16; i++)
		p->trace_id[i] = (uint8_t)(r >> (i % 8 * 8));
	memcpy(p->span_id, &in, 8);
	p->span_id[7] |= 1;
	p->valid = 1;
	l->parent = r & 4 ? p : NULL;
	l->lazy = l->parent || (r & 8);
	if (!l->lazy) {
		memcpy(l->trace_id, p->trace_id, 16);
		memcpy(l->span_id, p->span_id, 8);
	}
	l->flags = AT_FLAG_SAMPLED;
	l->kind = AT_KIND_CLIENT;
	l->start = in * 1000;
	l->caller = (uintptr_t)(in * 77);
	size_t len = (r >> 16) % 4 ? (r >> 24) % 64 : (r >> 24) % (AT_ARENA_SIZE + 1);
	for (size_t i = 0; i < len; i++)
		leaf_raw[slot][i] = (char)(in + i * 13);
	at_leaf_raw(l, (r >> 40) & 1 ? "db.query.text" : "another.key",
	            (r >> 41) & 1 ? AT_RENDER_REDIS : AT_RENDER_MYSQL, leaf_raw[slot], len);
	leaf_ends[slot] = l->start + 5;
	assert_int_equal(at_queue_push_leaf(l, leaf_ends[slot]), 0);
	nleaf++;
}

static void check_mixed(struct lap_case *c, const struct at_span *got, size_t slot)
{
	if (leaves[slot].start != UINT64_MAX)
		leaf_matches_its_whole_span(got, &leaves[slot], leaf_ends[slot]);
	else
		check_whole(c, got, slot);
}

static void leaf_records_round_a_small_ring(void **state)
{
	struct lap_case c = {push_mixed, check_mixed, malloc(sizeof *c.s),
	                     malloc(16 * sizeof *c.want)};
	nleaf = 0;
	assert_true(round_a_small_ring(&c) > 100);
	assert_true(nleaf > 10000);
	/* the count bounds leaves as it does spans */
	struct at_span *got[16];
	struct at_leaf l = {.flags = AT_FLAG_SAMPLED, .lazy = 1, .kind = AT_KIND_CLIENT};
	at_leaf_raw(&l, "db.query.text", AT_RENDER_REDIS, leaf_raw[0], AT_ARENA_SIZE);
	for (int i = 0; i < 16; i++)
		assert_int_equal(at_queue_push_leaf(&l, 1), 0);
	assert_int_equal(at_queue_push_leaf(&l, 1), -1);
	at_queue_release(at_queue_peek(got, 16));
	assert_int_equal(at_queue_length(), 0);
	free(c.s);
	free(c.want);
}

/* Producers of mixed sizes at once, on a ring smaller than what they make:
 * every span comes out whole and, per producer, in order. */
#define PRODUCERS 4
#define PER_PRODUCER 20000

/* random_shape with an attribute at least: its key says whose span it is */
static void producer_shape(uint64_t seed, int *nattrs, int *nevents, size_t *arena)
{
	random_shape(seed, nattrs, nevents, arena);
	if (!*nattrs)
		*nattrs = 1;
}

static void *produce(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg;
	struct at_span *s = malloc(sizeof *s);
	for (uint64_t i = 0; i < PER_PRODUCER; i++) {
		uint64_t seed = id << 32 | i;
		int na, ne;
		size_t ar;
		producer_shape(seed, &na, &ne, &ar);
		make_span(s, seed, na, ne, ar);
		while (at_queue_push(s))
			sched_yield(); /* full: the consumer lags */
	}
	free(s);
	return NULL;
}

static void concurrent_producers_of_mixed_sizes(void **state)
{
	at_queue_unmap();
	assert_int_equal(at_queue_init(64, 1 << 20), 0);
	pthread_t t[PRODUCERS];
	for (uintptr_t i = 0; i < PRODUCERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, produce, (void *)i), 0);
	uint64_t next[PRODUCERS] = {0}, total = 0;
	struct at_span *want = malloc(sizeof *want), *got[64];
	while (total < PRODUCERS * PER_PRODUCER) {
		size_t n = at_queue_peek(got, 64);
		for (size_t k = 0; k < n; k++) {
			/* the producer and its count: the first attribute's key */
			assert_true(got[k]->nattrs > 0);
			uint64_t seed = (uint64_t)(uintptr_t)got[k]->attrs[0].key;
			uint64_t p = seed >> 32;
			assert_true(p < PRODUCERS);
			assert_int_equal(seed & 0xffffffffu, next[p]);
			int na, ne;
			size_t ar;
			producer_shape(seed, &na, &ne, &ar);
			make_span(want, seed, na, ne, ar);
			assert_same_span(got[k], want);
			next[p]++;
		}
		at_queue_release(n);
		total += n;
		if (!n)
			sched_yield();
	}
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(at_queue_length(), 0);
	free(want);
}

/* A thread that had claimed a record when the process forked never fills
 * it in the child: the child's queue forgets it, and the child's own spans
 * go through (else its consumer would wait at that record for ever). */
static void a_fork_child_forgets_a_claim_never_filled(void **state)
{
	at_queue_unmap();
	assert_int_equal(at_queue_init(16, 1000), 0);
	struct at_span *s = malloc(sizeof *s), *got[16];
	for (int i = 0; i < 10; i++) {
		make_span(s, 5 + (uint64_t)i, 2, 0, 40); /* 4 units each */
		assert_int_equal(at_queue_push(s), 0);
	}
	/* a producer's claim of 4 units and one span, as push makes it, with
	 * nothing written: one with its commit word still 0 */
	struct at_queue_ctl *c = at_queue_ctl();
	uint64_t h = atomic_load(&c->head);
	atomic_store(&c->head, ((uint64_t)((uint32_t)(h >> 32) + 4) << 32) | (uint32_t)(h + 1));
	assert_int_equal(at_queue_length(), 11);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (at_queue_length() != 0)
			_exit(2); /* the child's handler forgot the parent's spans */
		make_span(s, 6, 3, 1, 100);
		if (at_queue_push(s))
			_exit(3);
		if (at_queue_peek(got, 16) != 1 || memcmp(got[0]->arena, s->arena, 100))
			_exit(4);
		at_queue_release(1);
		/* two laps of the smallest records (2 units), one always left
		 * (a drained ring would start again at unit 0): they start, one
		 * time or another, where the parent's records did, whose commit
		 * words must be gone, or the consumer would read a record there
		 * that nobody wrote */
		make_span(s, 99, 0, 0, 0);
		if (at_queue_push(s))
			_exit(6);
		for (int i = 0; i < 600; i++) {
			make_span(s, 100 + (uint64_t)i, 0, 0, 0);
			if (at_queue_push(s))
				_exit(6);
			if (at_queue_peek(got, 16) != 2 || got[1]->start_ns != s->start_ns)
				_exit(7);
			at_queue_release(1);
		}
		_exit(at_queue_length() == 1 ? 0 : 5);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	/* the parent waits at the claim, as it should: the thread may still fill it */
	assert_int_equal(at_queue_peek(got, 16), 10);
	assert_int_equal(at_queue_peek(got, 16), 10);
	free(s);
	at_queue_unmap();
	assert_int_equal(at_queue_init(QSIZE, 512), 0);
}

/* In process mode the ring is the app's memory, which the app may corrupt:
 * a record whose lengths exceed it is read as its header only, never past
 * its own units. */
static void a_record_that_lies_about_its_lengths_is_cut(void **state)
{
	at_queue_unmap();
	assert_int_equal(at_queue_init(16, 1000), 0);
	struct at_span *s = malloc(sizeof *s), *got[16];
	make_span(s, 9, 1, 0, 10); /* 8 + 104 + 24 + 10 bytes: 3 units */
	assert_int_equal(at_queue_push(s), 0);
	char *ring = (char *)at_queue_ctl() + ((sizeof(struct at_queue_ctl) + 63) & ~(size_t)63);
	assert_int_equal(*(uint64_t *)ring, 3); /* the commit word: 3 units */
	uint16_t lie = AT_ARENA_SIZE;
	memcpy(ring + 8 + offsetof(struct at_span, arena_used), &lie, sizeof lie);
	assert_int_equal(at_queue_peek(got, 16), 1);
	assert_int_equal(got[0]->arena_used, 0);
	assert_int_equal(got[0]->nattrs, 0);
	assert_int_equal(got[0]->start_ns, s->start_ns);
	at_queue_release(1);
	/* a leaf's record: its raw bytes cut to what the record holds */
	char raw[40];
	memset(raw, 'r', sizeof raw);
	struct at_leaf l = {.flags = AT_FLAG_SAMPLED, .lazy = 1, .kind = AT_KIND_CLIENT, .start = 7};
	at_leaf_raw(&l, "db.query.text", AT_RENDER_REDIS, raw, sizeof raw);
	assert_int_equal(at_queue_push_leaf(&l, 9), 0);
	uint32_t idx = (uint32_t)(atomic_load(&at_queue_ctl()->tail) >> 32);
	char *rec = ring + (size_t)idx * 64;
	assert_int_equal(*(uint64_t *)rec, (uint64_t)1 << 32 | 2); /* a leaf's, 8 + 72 + 40: 2 units */
	uint16_t big = 60000;
	memcpy(rec + 8 + offsetof(struct at_leaf_rec, len), &big, sizeof big);
	assert_int_equal(at_queue_peek(got, 16), 1);
	assert_int_equal(got[0]->arena_used, 2 * 64 - 8 - AT_LEAF_REC);
	assert_int_equal(got[0]->attrs[0].v.s.len, 2 * 64 - 8 - AT_LEAF_REC);
	assert_int_equal(got[0]->start_ns, 7);
	assert_int_equal(got[0]->end_ns, 9);
	at_queue_release(1);
	free(s);
	at_queue_unmap();
	assert_int_equal(at_queue_init(QSIZE, 512), 0);
}

/* The resident size of the mapping that holds addr, in KiB (smaps). */
static long mapping_rss_kb(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	int in = 0;
	long rss = -1;
	while (f && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
		else if (in && sscanf(line, "Rss: %ld kB", &rss) == 1)
			break;
	}
	if (f)
		fclose(f);
	return rss;
}

/* 1000 Redis-sized spans (two attributes, 30 bytes of text) map about
 * 1000 x 192 bytes of the ring, not 1000 slots of the largest span's size
 * (2.2 MiB). */
static void a_ring_maps_only_the_pages_its_records_use(void **state)
{
	at_queue_unmap();
	assert_int_equal(at_queue_init(2048, 4096), 0);
	static const char k1[] = "db.system.name", k2[] = "db.query.text";
	struct at_span s, *got[512];
	for (int i = 0; i < 1000; i++) {
		at_span_start(&s, "GET", AT_KIND_CLIENT);
		at_span_set_lit(&s, k1, "redis");
		at_span_set_strn(&s, k2, "GET session:12345678", 20);
		at_span_end(&s);
	}
	assert_int_equal(at_queue_length(), 1000);
	long kb = mapping_rss_kb(at_queue_ctl());
	print_message("ring: %ld KiB resident after 1000 spans\n", kb);
	assert_true(kb > 0);
	assert_true(kb <= 1000 * 256 / 1024 + 8);
	size_t n;
	while ((n = at_queue_peek(got, 512)) > 0) {
		for (size_t k = 0; k < n; k++)
			assert_memory_equal(at_span_str(got[k], got[k]->attrs[1].v.s), "GET session:12345678", 20);
		at_queue_release(n);
	}
	at_queue_unmap();
	assert_int_equal(at_queue_init(QSIZE, 512), 0);
}

/* What the exporter's prepare does to a span it peeked: an attribute more
 * and some arena text, as a renderer would (the same to the expected copy). */
static const char grown_key[] = "grown";

static void grow(struct at_span *s, void *arg)
{
	(void)arg;
	uint64_t seed = s->start_ns;
	if (s->nattrs < AT_MAX_ATTRS) {
		struct at_attr *a = &s->attrs[s->nattrs++];
		memset(a, 0, sizeof *a);
		a->key = grown_key;
		a->type = AT_ATTR_INT;
		a->v.i = (int64_t)seed;
	}
	size_t n = seed % 48;
	if (s->arena_used + n <= AT_ARENA_SIZE) {
		for (size_t i = 0; i < n; i++)
			s->arena[s->arena_used + i] = (char)('a' + (seed + i) % 26);
		s->arena_used = (uint16_t)(s->arena_used + n);
	}
}

/* The exporter's peek places each prepared span where the last one's used
 * part ends: 600 spans of every shape, each grown after its copy, all come
 * back whole once the whole batch is placed (a later copy never writes
 * over an earlier span's used part), aligned, in about half the room. */
static void a_packed_peek_keeps_every_prepared_span_whole(void **state)
{
	at_queue_unmap();
	assert_int_equal(at_queue_init(1024, 4096), 0);
	enum { N = 600 };
	struct at_span *s = malloc(sizeof *s), *want = malloc(N * sizeof *want), *got[N];
	for (int i = 0; i < N; i++) {
		int na, ne;
		size_t ar;
		random_shape((uint64_t)i * 7 + 3, &na, &ne, &ar);
		make_span(s, (uint64_t)i * 7 + 3, na, ne, ar);
		assert_int_equal(at_queue_push(s), 0);
		want[i] = *s;
		grow(&want[i], NULL);
	}
	assert_int_equal(at_queue_peek_each(got, N, grow, NULL), N);
	size_t room = 0;
	for (int i = 0; i < N; i++) {
		assert_same_span(got[i], &want[i]);
		assert_int_equal((uintptr_t)got[i] % _Alignof(struct at_span), 0);
		if (i) {
			size_t step = (size_t)((char *)got[i] - (char *)got[i - 1]);
			assert_true(step <= sizeof *s);
			room += step;
		}
	}
	print_message("packed: %zu bytes a span, of %zu\n", room / (N - 1), sizeof *s);
	assert_true(room < (size_t)(N - 1) * sizeof *s * 7 / 10);
	at_queue_release(N);
	free(s);
	free(want);
	at_queue_unmap();
	assert_int_equal(at_queue_init(QSIZE, 512), 0);
}

/* A ring its consumer keeps draining starts again at unit 0 each time it is
 * empty: 1000 rounds of 20 Redis-sized spans (3.8 MB through the queue)
 * keep writing over its first pages, not round the whole ring (4.6 MiB). */
static void a_drained_ring_starts_again_at_unit_0(void **state)
{
	at_queue_unmap();
	assert_int_equal(at_queue_init(2048, 4096), 0);
	static const char k1[] = "db.system.name", k2[] = "db.query.text";
	struct at_span s, *got[32];
	uint64_t start = 0;
	for (int r = 0; r < 1000; r++) {
		for (int i = 0; i < 20; i++) {
			at_span_start(&s, "GET", AT_KIND_CLIENT);
			at_span_set_lit(&s, k1, "redis");
			at_span_set_strn(&s, k2, "GET session:12345678", 20);
			at_span_end(&s);
			if (!r && !i)
				start = s.start_ns;
		}
		assert_int_equal(at_queue_peek(got, 32), 20);
		if (!r)
			assert_int_equal(got[0]->start_ns, start);
		assert_int_equal(got[19]->start_ns, s.start_ns);
		assert_memory_equal(at_span_str(got[19], got[19]->attrs[1].v.s), "GET session:12345678",
		                    20);
		at_queue_release(20);
		assert_int_equal(at_queue_length(), 0);
		assert_int_equal(atomic_load(&at_queue_ctl()->head) >> 32, 0);
		assert_int_equal(atomic_load(&at_queue_ctl()->tail) >> 32, 0);
	}
	long kb = mapping_rss_kb(at_queue_ctl());
	print_message("ring: %ld KiB resident after 1000 drained rounds of 20 spans\n", kb);
	assert_true(kb > 0);
	assert_true(kb <= 32); /* 20 x 192 bytes and the control block: a few pages */
	/* a span left in the queue: no new start, the next record follows it */
	at_span_start(&s, "GET", AT_KIND_CLIENT);
	at_span_end(&s);
	at_span_start(&s, "GET", AT_KIND_CLIENT);
	at_span_end(&s);
	assert_int_equal(at_queue_peek(got, 1), 1);
	at_queue_release(1);
	assert_int_not_equal(atomic_load(&at_queue_ctl()->tail) >> 32, 0);
	assert_int_equal(at_queue_peek(got, 32), 1);
	assert_int_equal(got[0]->start_ns, s.start_ns);
	at_queue_release(1);
	at_queue_unmap();
	assert_int_equal(at_queue_init(QSIZE, 512), 0);
}

/* AUTOTRACE_EXPORTER_MODE=process: the ring in a memfd, spans pushed in
 * this process and consumed in another that mapped it by its descriptor
 * (as the exporter process does, reporter/helper.c), every one, in order.
 * Last: it replaces the ring. */
#define CROSS 3000

static void shared_ring_between_processes(void **state)
{
	at_queue_unmap();
	assert_int_equal(at_queue_init_shared(256, 16, 4096), 0);
	size_t extra;
	assert_non_null(at_queue_extra(&extra));
	assert_true(extra >= 4096);
	int fd = dup(at_queue_shared_fd());
	assert_true(fd >= 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* the consumer: its own mapping of the same memory */
		at_queue_unmap();
		if (at_queue_attach(fd))
			_exit(2);
		struct at_span *got[64];
		long next = 0;
		while (next < CROSS) {
			size_t n = at_queue_peek(got, 64);
			if (!n) {
				at_queue_wait(2000);
				if (!at_queue_length() && !(n = at_queue_peek(got, 64)))
					_exit(3); /* two seconds and nothing: no wake-up */
				continue;
			}
			for (size_t k = 0; k < n; k++)
				if (got[k]->attrs[0].v.i != next++)
					_exit(4);
			at_queue_release(n);
		}
		_exit(0);
	}
	close(fd);
	static const char key[] = "i";
	struct at_span s;
	for (long i = 0; i < CROSS;) {
		at_span_start(&s, "q", AT_KIND_INTERNAL);
		at_span_set_int(&s, key, i);
		at_span_end(&s); /* into the shared ring */
		i++;
		while (at_queue_length() > 200)
			usleep(100); /* the other side drains */
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* A descriptor that is not a ring is refused, not mapped and trusted. */
static void attach_refuses_what_is_not_a_ring(void **state)
{
	int fd = (int)syscall(SYS_memfd_create, "not-a-ring", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 100), 0);
	assert_int_equal(at_queue_attach(fd), -1);
	assert_int_equal(ftruncate(fd, 1 << 20), 0); /* zeros: capacity 0 */
	assert_int_equal(at_queue_attach(fd), -1);
	close(fd);
}

int main(int argc, char **argv)
{
	/* the runtime reads its configuration in a constructor: set it, start again */
	if (!getenv("OTEL_BSP_MAX_QUEUE_SIZE")) {
		setenv("OTEL_TRACES_EXPORTER", "none", 1);
		setenv("OTEL_BSP_MAX_QUEUE_SIZE", "4096", 1);
		setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512", 1);
		setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000", 1);
		execv("/proc/self/exe", argv);
		return 1;
	}
	at_cfg.record = AT_FLAG_SAMPLED; /* recorded with no exporter: the test reads them */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(big_ring_keeps_order),
	    cmocka_unit_test(full_big_ring_drops),
	    cmocka_unit_test(concurrent_drops_all_counted),
	    cmocka_unit_test(attach_refuses_what_is_not_a_ring),
	    cmocka_unit_test(records_of_every_size_round_a_small_ring),
	    cmocka_unit_test(leaf_records_round_a_small_ring),
	    cmocka_unit_test(a_drained_ring_starts_again_at_unit_0),
	    cmocka_unit_test(a_packed_peek_keeps_every_prepared_span_whole),
	    cmocka_unit_test(concurrent_producers_of_mixed_sizes),
	    cmocka_unit_test(a_fork_child_forgets_a_claim_never_filled),
	    cmocka_unit_test(a_ring_maps_only_the_pages_its_records_use),
	    cmocka_unit_test(a_record_that_lies_about_its_lengths_is_cut),
	    cmocka_unit_test(shared_ring_between_processes),
	};
	return cmocka_run_group_tests_name("queue", tests, NULL, NULL);
}
