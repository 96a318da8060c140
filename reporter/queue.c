/* A bounded multi-producer ring of span records of the size each span
 * needs, packed one after another in 64-byte units: a span of a few
 * attributes takes 3 or 4 units where a fixed slot would be the size of the
 * largest span (2.2 KiB). A process touches the ring's pages only where
 * records are written, so its first pass round the ring costs a page fault
 * (2-3 µs on a virtual machine) every ~20 small spans instead of every two
 * or so, and a short-lived one maps a few pages instead of all of them.
 * Each time the consumer drains the ring, the next record starts again at
 * unit 0: a process whose exporter keeps up, with idle moments, keeps
 * writing over the first pages (its RSS) instead of going round the ring.
 *
 * Positions: the head (next unit to claim, spans claimed) and the tail
 * (next unit to read, spans released) are each one 64-bit word, the unit
 * index in the high half and a count of spans (modulo 2^32) in the low
 * half, so that a producer claims its units and its place in the count
 * with one compare-and-swap. The count bounds the queue to `cap` spans as
 * before (OTEL_BSP_MAX_QUEUE_SIZE), and the ring holds `cap` spans of the
 * largest size, so the units can never run out first: a producer reads the
 * tail's count only.
 *
 * Each record's first 8 bytes are its commit word: 0 while it is being
 * written, then its length in units (store-release), with LEAF in the high
 * half for a leaf span's compact record (preload/leaf.h: its head, then its
 * raw attribute's bytes). The consumer, walking
 * from the tail, waits at a record whose word is 0. For that to hold
 * wherever a later record may start, the first word of every unit in the
 * free part of the ring is 0: the consumer clears it in each unit of a
 * record it releases (a fresh mapping is zeros). */
#define _GNU_SOURCE
#include "queue.h"

#include "../preload/autotrace.h"
#include "../preload/leaf.h"
#include "../preload/stdfd.h"

#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define UNIT 64
#define REC_HEAD 8 /* the commit word */
#define REC_MAX                                                                                    \
	(REC_HEAD + AT_SPAN_HEADER + sizeof(((struct at_span *)0)->events) +                       \
	 sizeof(((struct at_span *)0)->attrs) + AT_ARENA_SIZE)
#define REC_UNITS_MAX ((REC_MAX + UNIT - 1) / UNIT)
/* the header is written as one block: it must end where the arrays begin */
_Static_assert(offsetof(struct at_span, attrs) == AT_SPAN_HEADER, "the header");

#define LEAF ((uint64_t)1 << 32) /* the commit word of a leaf's record */
#define LEAF_MAX (REC_HEAD + AT_LEAF_REC + AT_ARENA_SIZE)
_Static_assert(LEAF_MAX <= REC_MAX, "a leaf's record fits where a span's does");

#define POS(idx, n) (((uint64_t)(idx) << 32) | (uint32_t)(n))
#define POS_IDX(p) ((uint32_t)((p) >> 32))
#define POS_N(p) ((uint32_t)(p))

static char *ring;          /* ring_units units; the control block just before */
static uint32_t ring_units; /* cap * REC_UNITS_MAX */
static uint32_t qcap;       /* spans */
static uint32_t wake_len;
/* The control block sits just before the ring, in the same mapping: a
 * producer reaches head from the ring pointer it loads anyway, and in
 * process mode (AUTOTRACE_EXPORTER_MODE=process) the exporter process sees
 * the same positions, wake word and flush words through the shared file. */
#define CTL_SIZE ((sizeof(struct at_queue_ctl) + 63) & ~(size_t)63)
#define CTL(base) ((struct at_queue_ctl *)((char *)(base)-CTL_SIZE))
int at_queue_futex_private = FUTEX_PRIVATE_FLAG;
static int shared_fd = -1;
static struct at_fd_id shared_id;
static char *map_start;
static size_t map_total; /* the whole mapping, control block and extra included */
/* Where this process's count of pushes starts: a fork child's stats are
 * its own, not its parent's. */
static uint64_t pushed_base;
/* The consumer's copies of the records it peeked (peek hands out spans,
 * whole, that the exporter renders in place). */
#define SCRATCH_MAX 4096
static struct at_span *scratch;
static size_t scratch_n;
/* Drops are counted in shards, one cache line each, picked by the thread:
 * producers that outrun the exporter all take the drop path at once, and one
 * shared counter would bounce between the CPUs on every call. */
#define DROP_SHARDS 8
static struct {
	_Alignas(64) _Atomic uint64_t n;
} dropped[DROP_SHARDS];

static inline size_t drop_shard(void)
{
	/* each thread's TLS block is at its own address */
	return (size_t)((uint64_t)(uintptr_t)&at_tls * 0x9e3779b97f4a7c15ull >> 61);
}

uint64_t at_queue_dropped(void)
{
	uint64_t t = 0;
	for (int i = 0; i < DROP_SHARDS; i++)
		t += atomic_load_explicit(&dropped[i].n, memory_order_relaxed);
	return t;
}

/* n rounded up to whole pages: what a mapping's parts are measured in */
static size_t page_up(size_t n)
{
	size_t page = (size_t)getpagesize();
	return (n + page - 1) & ~(page - 1);
}

static size_t ring_cap(size_t capacity)
{
	size_t cap = 2;
	while (cap < capacity)
		cap <<= 1;
	return cap;
}

static size_t ring_bytes(size_t cap)
{
	return cap * REC_UNITS_MAX * UNIT;
}

/* The mapping in use from now on: private (fd -1) or shared with an
 * exporter process, whose futex words are then not private. */
static void use_mapping(char *p, size_t total, int fd, size_t cap, size_t wake_at)
{
	map_start = p;
	map_total = total;
	shared_fd = fd;
	at_queue_futex_private = fd < 0 ? FUTEX_PRIVATE_FLAG : 0;
	ring = p + CTL_SIZE;
	qcap = (uint32_t)cap;
	ring_units = (uint32_t)(cap * REC_UNITS_MAX);
	wake_len = wake_at ? (uint32_t)wake_at : 1;
}

/* A new ring's geometry, written for an exporter process to attach by. */
static void set_geometry(char *p, size_t total, int fd, size_t cap, size_t wake_at)
{
	use_mapping(p, total, fd, cap, wake_at);
	if (fd < 0)
		return; /* read by an exporter process only; and the store would
		         * fault a page in, in a process that may make no span */
	struct at_queue_ctl *c = CTL(ring);
	c->cap = cap;
	c->wake_len = wake_len;
}

int at_queue_init(size_t capacity, size_t wake_at)
{
	size_t cap = ring_cap(capacity);
	/* anonymous memory: pages cost RSS only once a record has been
	 * written there. Not MADV_HUGEPAGE: where the kernel compacts memory
	 * on a huge page's fault (defrag "madvise", the default), the first
	 * span stalled the app thread 0.2 ms, 10 ms at worst seen here, to
	 * gain a few TLB misses per span. */
	size_t len = page_up(CTL_SIZE + ring_bytes(cap));
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	set_geometry(p, len, -1, cap, wake_at);
	return 0;
}

int at_queue_init_shared(size_t capacity, size_t wake_at, size_t extra)
{
	size_t cap = ring_cap(capacity);
	size_t len = CTL_SIZE + ring_bytes(cap);
	size_t total = len + page_up(extra);
	int fd = at_fd_not_std((int)syscall(SYS_memfd_create, "autotrace-queue", MFD_CLOEXEC));
	if (fd < 0)
		return -1;
	char *p = MAP_FAILED;
	if (!ftruncate(fd, (off_t)total))
		p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return -1;
	}
	(void)at_fd_note(fd, &shared_id);
	set_geometry(p, total, fd, cap, wake_at);
	CTL(ring)->extra_off = len;
	return 0;
}

int at_queue_attach(int fd)
{
	struct stat st;
	if (fstat(fd, &st) || st.st_size < (off_t)CTL_SIZE)
		return -1;
	size_t total = (size_t)st.st_size;
	char *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -1;
	struct at_queue_ctl *c = (struct at_queue_ctl *)p;
	size_t cap = c->cap;
	if (!cap || (cap & (cap - 1)) || cap > ((size_t)1 << 24) ||
	    c->extra_off != CTL_SIZE + ring_bytes(cap) || c->extra_off > total) {
		munmap(p, total);
		return -1;
	}
	use_mapping(p, total, fd, cap, c->wake_len);
	return 0;
}

int at_queue_shared_fd(void)
{
	return shared_fd;
}

int at_queue_shared_fd_intact(void)
{
	/* an application that closes every descriptor, or dup2()s over ours,
	 * leaves the number to something else: the file is checked */
	return at_fd_same(shared_fd, &shared_id);
}

void *at_queue_extra(size_t *len)
{
	if (shared_fd < 0 || !ring)
		return NULL;
	size_t off = CTL(ring)->extra_off;
	*len = map_total - off;
	return map_start + off;
}

struct at_queue_ctl *at_queue_ctl(void)
{
	return ring ? CTL(ring) : NULL;
}

void at_queue_unmap(void)
{
	if (!ring)
		return;
	munmap(map_start, map_total);
	if (shared_fd >= 0)
		close(shared_fd);
	shared_fd = -1;
	ring = NULL;
	map_start = NULL;
}

static inline _Atomic uint64_t *commit_word(char *base, uint32_t idx)
{
	return (_Atomic uint64_t *)(base + (size_t)idx * UNIT);
}

/* n bytes, exactly [0, n) written: a span's arrays go back to back, so the
 * copy must not round up. Up to 128 bytes (most spans' attributes and
 * text) without a loop: the same moves from the start and ending at n,
 * overlapping in the middle; all loaded before any is stored. */
static AT_ALWAYS_INLINE void copy_exact(char *d, const char *s, size_t n)
{
	if (n <= 32) {
		at_copy_small(d, s, n);
	} else if (n <= 64) {
		at_v16 a = *(const at_v16 *)s, b = *(const at_v16 *)(s + 16);
		at_v16 c = *(const at_v16 *)(s + n - 32), e = *(const at_v16 *)(s + n - 16);
		*(at_v16 *)d = a;
		*(at_v16 *)(d + 16) = b;
		*(at_v16 *)(d + n - 32) = c;
		*(at_v16 *)(d + n - 16) = e;
	} else if (n <= 128) {
		at_v16 a = *(const at_v16 *)s, b = *(const at_v16 *)(s + 16);
		at_v16 c = *(const at_v16 *)(s + 32), e = *(const at_v16 *)(s + 48);
		at_v16 f = *(const at_v16 *)(s + n - 64), g = *(const at_v16 *)(s + n - 48);
		at_v16 h = *(const at_v16 *)(s + n - 32), i = *(const at_v16 *)(s + n - 16);
		*(at_v16 *)d = a;
		*(at_v16 *)(d + 16) = b;
		*(at_v16 *)(d + 32) = c;
		*(at_v16 *)(d + 48) = e;
		*(at_v16 *)(d + n - 64) = f;
		*(at_v16 *)(d + n - 48) = g;
		*(at_v16 *)(d + n - 32) = h;
		*(at_v16 *)(d + n - 16) = i;
	} else {
		memcpy(d, s, n);
	}
}

/* A record's body: the span's header, then its events, attributes and arena
 * text as far as they are used. */
static AT_ALWAYS_INLINE void write_body(char *d, const struct at_span *s, size_t ev, size_t at)
{
	const char *h = (const char *)s;
#pragma GCC unroll 8
	for (size_t i = 0; i + 16 <= AT_SPAN_HEADER; i += 16)
		*(at_v16 *)(d + i) = *(const at_v16 *)(h + i);
	if (AT_SPAN_HEADER % 16)
		*(at_v16 *)(d + AT_SPAN_HEADER - 16) = *(const at_v16 *)(h + AT_SPAN_HEADER - 16);
	d += AT_SPAN_HEADER;
	if (__builtin_expect(ev != 0, 0)) {
		copy_exact(d, (const char *)s->events, ev);
		d += ev;
	}
	copy_exact(d, (const char *)s->attrs, at);
	copy_exact(d + at, s->arena, s->arena_used);
}

/* Bytes into or out of the ring at byte offset off, across its end. */
static void ring_put(size_t off, const void *src, size_t n)
{
	size_t size = (size_t)ring_units * UNIT, first = n < size - off ? n : size - off;
	memcpy(ring + off, src, first);
	memcpy(ring, (const char *)src + first, n - first);
}

static void ring_get(void *dst, size_t off, size_t n)
{
	size_t size = (size_t)ring_units * UNIT, first = n < size - off ? n : size - off;
	memcpy(dst, ring + off, first);
	memcpy((char *)dst + first, ring, n - first);
}

/* A record that runs past the ring's end (once a lap): built whole on the
 * stack, then copied in two pieces. */
static AT_NOINLINE void write_wrapped(uint32_t idx, const struct at_span *s, size_t ev, size_t at)
{
	char body[REC_UNITS_MAX * UNIT];
	write_body(body, s, ev, at);
	ring_put((size_t)idx * UNIT + REC_HEAD, body, AT_SPAN_HEADER + ev + at + s->arena_used);
}

/* Claims k units and a place in the count: the record's first unit, or -1
 * when the queue is full (the span is dropped and counted). *n: the spans
 * queued before this one, for the wake-up. */
static AT_ALWAYS_INLINE long claim(char *base, uint32_t units, uint32_t k, uint32_t *n)
{
	struct at_queue_ctl *c = CTL(base);
	uint64_t h = atomic_load_explicit(&c->head, memory_order_relaxed), nh;
	uint32_t t, idx;
	do {
		t = POS_N(atomic_load_explicit(&c->tail, memory_order_acquire));
		if (AT_UNLIKELY(POS_N(h) - t >= qcap)) {
			atomic_fetch_add_explicit(&dropped[drop_shard()].n, 1,
			                          memory_order_relaxed);
			return -1;
		}
		idx = POS_IDX(h);
		uint32_t next = idx + k;
		if (next >= units)
			next -= units;
		nh = POS(next, POS_N(h) + 1);
	} while (AT_UNLIKELY(!atomic_compare_exchange_weak_explicit(
	    &c->head, &h, nh, memory_order_acquire, memory_order_relaxed)));
	*n = POS_N(h) - t;
	return idx;
}

/* The record written: committed, and the exporter woken at a batch. */
static AT_ALWAYS_INLINE void publish(char *base, uint32_t idx, uint64_t word, uint32_t n)
{
	atomic_store_explicit(commit_word(base, idx), word, memory_order_release);
	if (AT_UNLIKELY(n + 1 == wake_len))
		at_queue_wake();
}

int at_queue_push(const struct at_span *s)
{
	/* locals: the copy's stores might alias the globals as far as the
	 * compiler knows, and would make it read them again */
	char *base = ring;
	uint32_t units = ring_units, n;
	size_t ev = s->nevents * sizeof s->events[0];
	size_t at = s->nattrs * sizeof s->attrs[0];
	uint32_t k = (uint32_t)((REC_HEAD + AT_SPAN_HEADER + ev + at + s->arena_used + UNIT - 1) / UNIT);
	long idx = claim(base, units, k, &n);
	if (idx < 0)
		return -1;
	if (AT_LIKELY(idx + k <= units))
		write_body(base + (size_t)idx * UNIT + REC_HEAD, s, ev, at);
	else
		write_wrapped((uint32_t)idx, s, ev, at);
	publish(base, (uint32_t)idx, k, n);
	return 0;
}

/* A leaf's head (struct at_leaf_rec) and raw bytes at d. */
static AT_ALWAYS_INLINE void write_leaf(char *d, const struct at_leaf *l, uint64_t end)
{
	at_leaf_record((struct at_leaf_rec *)d, l, end);
	copy_exact(d + AT_LEAF_REC, l->raw, l->len);
}

static AT_NOINLINE void write_leaf_wrapped(uint32_t idx, const struct at_leaf *l, uint64_t end)
{
	char body[LEAF_MAX];
	write_leaf(body, l, end);
	ring_put((size_t)idx * UNIT + REC_HEAD, body, AT_LEAF_REC + l->len);
}

int at_queue_push_leaf(const struct at_leaf *l, uint64_t end)
{
	char *base = ring;
	uint32_t units = ring_units, n;
	uint32_t k = (uint32_t)((REC_HEAD + AT_LEAF_REC + l->len + UNIT - 1) / UNIT);
	long idx = claim(base, units, k, &n);
	if (idx < 0)
		return -1;
	if (AT_LIKELY(idx + k <= units))
		write_leaf(base + (size_t)idx * UNIT + REC_HEAD, l, end);
	else
		write_leaf_wrapped((uint32_t)idx, l, end);
	publish(base, (uint32_t)idx, k | LEAF, n);
	return 0;
}

/* One record into a whole span: what it holds, within the span's bounds
 * whatever the record says (in process mode the ring is the app's memory). */
static void read_record(struct at_span *d, uint32_t idx, uint64_t word)
{
	char bounce[REC_UNITS_MAX * UNIT];
	const char *r = ring + (size_t)idx * UNIT;
	uint32_t k = (uint32_t)word;
	if (k > REC_UNITS_MAX)
		k = REC_UNITS_MAX;
	if (idx + k > ring_units) {
		ring_get(bounce, (size_t)idx * UNIT, (size_t)k * UNIT);
		r = bounce;
	}
	r += REC_HEAD;
	if (word & LEAF) {
		struct at_leaf_rec h;
		size_t room = (size_t)k * UNIT - REC_HEAD;
		if (room < AT_LEAF_REC) { /* only a corrupted word says so */
			memset(&h, 0, sizeof h);
			room = AT_LEAF_REC;
		} else {
			memcpy(&h, r, sizeof h);
		}
		at_leaf_expand(d, &h, r + AT_LEAF_REC, room - AT_LEAF_REC);
		return;
	}
	memcpy(d, r, AT_SPAN_HEADER);
	r += AT_SPAN_HEADER;
	if (d->nevents > AT_MAX_EVENTS)
		d->nevents = AT_MAX_EVENTS;
	if (d->nattrs > AT_MAX_ATTRS)
		d->nattrs = AT_MAX_ATTRS;
	if (d->arena_used > AT_ARENA_SIZE)
		d->arena_used = AT_ARENA_SIZE;
	size_t ev = d->nevents * sizeof d->events[0], at = d->nattrs * sizeof d->attrs[0];
	if (ev + at + d->arena_used > (size_t)k * UNIT - REC_HEAD - AT_SPAN_HEADER) {
		/* lengths that do not fit the record: only a corrupted one (the
		 * app's memory) says so; its header only, not bytes past it */
		d->nevents = d->nattrs = 0;
		d->arena_used = 0;
		ev = at = 0;
	}
	memcpy(d->events, r, ev);
	memcpy(d->attrs, r + ev, at);
	memcpy(d->arena, r + ev + at, d->arena_used);
	d->prev = NULL; /* the app's stack: nothing to follow here */
}

static int scratch_fit(size_t n)
{
	if (n <= scratch_n)
		return 1;
	void *p = mmap(NULL, n * sizeof *scratch, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return 0;
	if (scratch)
		munmap(scratch, scratch_n * sizeof *scratch);
	scratch = p;
	scratch_n = n;
	return 1;
}

/* Where a span's used part ends, in whole cache lines, at most the span:
 * its arrays lie after the header in the order attributes, arena, events,
 * each used from its start, so the last one in use ends it. */
static size_t span_extent(const struct at_span *s)
{
	size_t e = AT_SPAN_HEADER;
	if (s->nevents)
		e = offsetof(struct at_span, events) + s->nevents * sizeof s->events[0];
	else if (s->arena_used)
		e = offsetof(struct at_span, arena) + s->arena_used;
	else if (s->nattrs)
		e = offsetof(struct at_span, attrs) + s->nattrs * sizeof s->attrs[0];
	e = (e + 63) & ~(size_t)63;
	return e < sizeof(struct at_span) ? e : sizeof(struct at_span);
}
_Static_assert(offsetof(struct at_span, attrs) < offsetof(struct at_span, arena) &&
                   offsetof(struct at_span, arena) < offsetof(struct at_span, events) &&
                   sizeof(struct at_span) - offsetof(struct at_span, events) ==
                       sizeof(((struct at_span *)0)->events),
               "span_extent: the arrays' order");
_Static_assert(sizeof(struct at_span) % _Alignof(struct at_span) == 0 &&
                   64 % _Alignof(struct at_span) == 0,
               "a span placed at a sum of extents is aligned");

size_t at_queue_peek_each(struct at_span **out, size_t max,
                          void (*prep)(struct at_span *s, void *arg), void *arg)
{
	if (max > SCRATCH_MAX)
		max = SCRATCH_MAX;
	if (!scratch_fit(max))
		return 0;
	uint32_t idx = POS_IDX(atomic_load_explicit(&CTL(ring)->tail, memory_order_relaxed));
	/* each place at most a span past the last: max of them fit */
	char *at = (char *)scratch;
	size_t n = 0;
	for (; n < max; n++) {
		uint64_t word = atomic_load_explicit(commit_word(ring, idx), memory_order_acquire);
		uint32_t k = (uint32_t)word;
		if (!k)
			break;
		struct at_span *s = (struct at_span *)at;
		read_record(s, idx, word);
		out[n] = s;
		if (prep) {
			prep(s, arg);
			at += span_extent(s);
		} else {
			at += sizeof *s;
		}
		idx += k;
		if (idx >= ring_units)
			idx -= ring_units;
	}
	return n;
}

size_t at_queue_peek(struct at_span **out, size_t max)
{
	return at_queue_peek_each(out, max, NULL, NULL);
}

/* Units [idx, idx + k) back to the free part: the first word of each 0. */
static uint32_t clear_units(uint32_t idx, uint32_t k)
{
	for (uint32_t j = 0; j < k; j++) {
		atomic_store_explicit(commit_word(ring, idx), 0, memory_order_relaxed);
		if (++idx == ring_units)
			idx = 0;
	}
	return idx;
}

void at_queue_release(size_t n)
{
	struct at_queue_ctl *c = CTL(ring);
	uint64_t t = atomic_load_explicit(&c->tail, memory_order_relaxed);
	uint32_t idx = POS_IDX(t);
	for (size_t i = 0; i < n; i++) {
		uint32_t k = (uint32_t)atomic_load_explicit(commit_word(ring, idx),
		                                            memory_order_relaxed);
		idx = clear_units(idx, k > REC_UNITS_MAX ? REC_UNITS_MAX : k);
	}
	atomic_fetch_add_explicit(&c->consumed, n, memory_order_relaxed);
	uint32_t nt = POS_N(t) + (uint32_t)n;
	/* Drained (the head where the tail goes, no claim since): the next
	 * record goes at unit 0, so that a process whose exporter keeps up
	 * writes over the ring's first pages again instead of touching new
	 * ones round the whole ring (4.6 MiB at the default size, all of it
	 * resident for good after a lap). All the ring is free then, the
	 * first word of every unit 0. A producer that loaded the old head
	 * fails its CAS and claims at 0. Release: a producer that claims at 0
	 * (acquire) sees the cleared words before it writes there. Until the
	 * tail is stored below, producers count one batch too many: only
	 * cautious. */
	uint64_t h = POS(idx, nt);
	if (idx != 0 && atomic_compare_exchange_strong_explicit(&c->head, &h, POS(0, nt),
	                                                        memory_order_release,
	                                                        memory_order_relaxed))
		idx = 0;
	atomic_store_explicit(&c->tail, POS(idx, nt), memory_order_release);
}

size_t at_queue_length(void)
{
	if (!ring)
		return 0;
	return (uint32_t)(POS_N(atomic_load(&CTL(ring)->head)) -
	                  POS_N(atomic_load(&CTL(ring)->tail)));
}

uint64_t at_queue_pushed(void)
{
	if (!ring)
		return 0;
	return atomic_load(&CTL(ring)->consumed) + at_queue_length() - pushed_base;
}

void at_queue_forget(void)
{
	for (int i = 0; i < DROP_SHARDS; i++)
		atomic_store_explicit(&dropped[i].n, 0, memory_order_relaxed);
	pushed_base = 0;
	/* a shared ring is the parent's and its exporter process's: left as it
	 * is (the child maps a ring of its own, exporter.c) */
	if (!ring || shared_fd >= 0)
		return;
	/* every unit from the tail to the head back to the free part: records
	 * committed, and any a parent's thread had claimed but not filled */
	struct at_queue_ctl *c = CTL(ring);
	uint64_t h = atomic_load(&c->head), t = atomic_load(&c->tail);
	uint32_t span = POS_IDX(h) - POS_IDX(t) + (POS_IDX(h) < POS_IDX(t) ? ring_units : 0);
	if (POS_N(h) != POS_N(t))
		clear_units(POS_IDX(t), span);
	atomic_fetch_add(&c->consumed, (uint32_t)(POS_N(h) - POS_N(t)));
	atomic_store(&c->tail, h);
	atomic_store(&c->inflight, 0); /* a batch the parent's exporter had */
	pushed_base = atomic_load(&c->consumed);
}

void at_queue_wait(long timeout_ms)
{
	uint32_t w = atomic_load(&CTL(ring)->wakeword);
	if (at_queue_length() >= wake_len)
		return;
	struct timespec ts = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
	syscall(SYS_futex, &CTL(ring)->wakeword, FUTEX_WAIT | at_queue_futex_private, w, &ts, NULL,
	        0);
}

void at_queue_wake(void)
{
	atomic_fetch_add(&CTL(ring)->wakeword, 1);
	int saved = errno;
	syscall(SYS_futex, &CTL(ring)->wakeword, FUTEX_WAKE | at_queue_futex_private, 1, NULL,
	        NULL, 0);
	errno = saved;
}
