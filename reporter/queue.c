/* A bounded multi-producer ring (after Dmitry Vyukov's MPMC queue): each slot
 * carries a sequence number telling whether it is free for the producer at
 * position p (seq == p) or filled for the consumer (seq == p + 1). */
#define _GNU_SOURCE
#include "queue.h"

#include "../preload/autotrace.h"

#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct slot {
	_Atomic size_t seq; /* stored minus the slot's index: see seq_get */
	struct at_span span;
};

static struct slot *slots;
static size_t mask, wake_len;
/* The control block sits just before the slots, in the same mapping: a
 * producer reaches head from the slots pointer it loads anyway, and in
 * process mode (AUTOTRACE_EXPORTER_MODE=process) the exporter process sees
 * the same positions, wake word and flush words through the shared file. */
#define CTL_SIZE ((sizeof(struct at_queue_ctl) + 63) & ~(size_t)63)
#define CTL(base) ((struct at_queue_ctl *)((char *)(base)-CTL_SIZE))
int at_queue_futex_private = FUTEX_PRIVATE_FLAG;
static int shared_fd = -1;
static dev_t shared_dev;
static ino_t shared_ino;
static char *map_start;
static size_t map_total; /* the whole mapping, control block and extra included */
/* Where this process's count of pushes starts: a fork child's stats are
 * its own, not its parent's. */
static size_t pushed_base;
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

/* Each slot's sequence number is stored minus its index, so that the
 * zero-filled memory of a fresh mapping already says "slot i is free for
 * position i": init touches no page, and a page costs memory only once a
 * span has been written there (start-up and RSS). */
static inline size_t seq_get(size_t i)
{
	return atomic_load_explicit(&slots[i].seq, memory_order_acquire) + i;
}

static inline void seq_set(size_t i, size_t v)
{
	atomic_store_explicit(&slots[i].seq, v - i, memory_order_release);
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

/* The mapping in use from now on: private (fd -1) or shared with an
 * exporter process, whose futex words are then not private. */
static void use_mapping(char *p, size_t total, int fd, size_t cap, size_t wake_at)
{
	map_start = p;
	map_total = total;
	shared_fd = fd;
	at_queue_futex_private = fd < 0 ? FUTEX_PRIVATE_FLAG : 0;
	slots = (struct slot *)(p + CTL_SIZE);
	mask = cap - 1;
	wake_len = wake_at ? wake_at : 1;
}

/* A new ring's geometry, written for an exporter process to attach by. */
static void set_geometry(char *p, size_t total, int fd, size_t cap, size_t wake_at)
{
	use_mapping(p, total, fd, cap, wake_at);
	if (fd < 0)
		return; /* read by an exporter process only; and the store would
		         * fault a page in, in a process that may make no span */
	struct at_queue_ctl *c = CTL(slots);
	c->cap = cap;
	c->wake_len = wake_len;
}

int at_queue_init(size_t capacity, size_t wake_at)
{
	size_t cap = ring_cap(capacity);
	/* anonymous memory: pages cost RSS only once a span has been written
	 * there, one 4 KiB fault (a microsecond or more) every two spans or so
	 * on the first pass round the ring, unless the exporter's background
	 * thread has faulted them in first (at_queue_populate, 10 ms after the
	 * first span). Not MADV_HUGEPAGE: where the
	 * kernel compacts memory on a huge page's fault (defrag "madvise", the
	 * default), the first span stalled the app thread 0.2 ms, 10 ms at
	 * worst seen here, to gain a few TLB misses per span. */
	size_t len = page_up(CTL_SIZE + cap * sizeof(struct slot));
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	set_geometry(p, len, -1, cap, wake_at);
	return 0;
}

int at_queue_init_shared(size_t capacity, size_t wake_at, size_t extra)
{
	size_t cap = ring_cap(capacity);
	size_t len = CTL_SIZE + cap * sizeof(struct slot);
	size_t total = len + page_up(extra);
	int fd = (int)syscall(SYS_memfd_create, "autotrace-queue", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	char *p = MAP_FAILED;
	if (!ftruncate(fd, (off_t)total))
		p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return -1;
	}
	struct stat st;
	if (!fstat(fd, &st)) {
		shared_dev = st.st_dev;
		shared_ino = st.st_ino;
	}
	set_geometry(p, total, fd, cap, wake_at);
	CTL(slots)->extra_off = len;
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
	if (!cap || (cap & (cap - 1)) || c->extra_off != CTL_SIZE + cap * sizeof(struct slot) ||
	    c->extra_off > total) {
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
	struct stat st;
	return shared_fd >= 0 && !fstat(shared_fd, &st) && st.st_dev == shared_dev &&
	       st.st_ino == shared_ino;
}

void *at_queue_extra(size_t *len)
{
	if (shared_fd < 0 || !slots)
		return NULL;
	size_t off = CTL(slots)->extra_off;
	*len = map_total - off;
	return map_start + off;
}

struct at_queue_ctl *at_queue_ctl(void)
{
	return slots ? CTL(slots) : NULL;
}

void at_queue_unmap(void)
{
	if (!slots)
		return;
	munmap(map_start, map_total);
	if (shared_fd >= 0)
		close(shared_fd);
	shared_fd = -1;
	slots = NULL;
	map_start = NULL;
}

int at_queue_push(const struct at_span *s)
{
	/* locals: the copy's stores might alias the globals as far as the
	 * compiler knows, and would make it read them again */
	struct slot *base = slots;
	struct at_queue_ctl *c = CTL(base);
	size_t m = mask;
	size_t pos = atomic_load_explicit(&c->head, memory_order_relaxed);
	struct slot *sl;
	for (;;) {
		sl = &base[pos & m];
		size_t seq = atomic_load_explicit(&sl->seq, memory_order_acquire) + (pos & m);
		intptr_t diff = (intptr_t)seq - (intptr_t)pos;
		if (AT_LIKELY(diff == 0)) {
			if (atomic_compare_exchange_weak_explicit(&c->head, &pos, pos + 1,
			                                          memory_order_relaxed,
			                                          memory_order_relaxed))
				break;
		} else if (diff < 0) {
			atomic_fetch_add_explicit(&dropped[drop_shard()].n, 1,
			                          memory_order_relaxed);
			return -1;
		} else {
			pos = atomic_load_explicit(&c->head, memory_order_relaxed);
		}
	}
	at_span_copy_inline(&sl->span, s);
	/* seq_set, on the slot at hand */
	atomic_store_explicit(&sl->seq, pos + 1 - (pos & m), memory_order_release);
	if (AT_UNLIKELY(pos + 1 - atomic_load_explicit(&c->tail, memory_order_relaxed) == wake_len))
		at_queue_wake();
	return 0;
}

size_t at_queue_peek(struct at_span **out, size_t max)
{
	size_t t = atomic_load_explicit(&CTL(slots)->tail, memory_order_relaxed);
	size_t n = 0;
	while (n < max) {
		if (seq_get((t + n) & mask) != t + n + 1)
			break;
		out[n] = &slots[(t + n) & mask].span;
		n++;
	}
	return n;
}

void at_queue_release(size_t n)
{
	size_t t = atomic_load_explicit(&CTL(slots)->tail, memory_order_relaxed);
	for (size_t i = 0; i < n; i++)
		seq_set((t + i) & mask, t + i + mask + 1);
	atomic_store_explicit(&CTL(slots)->tail, t + n, memory_order_release);
}

size_t at_queue_length(void)
{
	if (!slots)
		return 0;
	return atomic_load(&CTL(slots)->head) - atomic_load(&CTL(slots)->tail);
}

uint64_t at_queue_pushed(void)
{
	if (!slots)
		return 0;
	return atomic_load(&CTL(slots)->head) - pushed_base;
}

void at_queue_forget(void)
{
	for (int i = 0; i < DROP_SHARDS; i++)
		atomic_store_explicit(&dropped[i].n, 0, memory_order_relaxed);
	pushed_base = 0;
	/* a shared ring is the parent's and its exporter process's: left as it
	 * is (the child maps a ring of its own, exporter.c) */
	if (!slots || shared_fd >= 0)
		return;
	size_t h = atomic_load(&CTL(slots)->head);
	for (size_t t = atomic_load(&CTL(slots)->tail); t != h; t++)
		seq_set(t & mask, t + mask + 1);
	atomic_store(&CTL(slots)->tail, h);
	pushed_base = h;
}

void at_queue_wait(long timeout_ms)
{
	uint32_t w = atomic_load(&CTL(slots)->wakeword);
	if (at_queue_length() >= wake_len)
		return;
	struct timespec ts = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
	syscall(SYS_futex, &CTL(slots)->wakeword, FUTEX_WAIT | at_queue_futex_private, w, &ts, NULL,
	        0);
}

void at_queue_wake(void)
{
	atomic_fetch_add(&CTL(slots)->wakeword, 1);
	int saved = errno;
	syscall(SYS_futex, &CTL(slots)->wakeword, FUTEX_WAKE | at_queue_futex_private, 1, NULL,
	        NULL, 0);
	errno = saved;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

void at_queue_populate(void)
{
	/* in pieces, so that the app's own faults never wait long behind it;
	 * EINVAL (an older kernel): the spans fault the pages in as before */
	const size_t step = (size_t)256 << 10;
	if (shared_fd >= 0)
		return; /* the exporter process's ring: not this thread's to fill */
	for (size_t off = 0; off < map_total; off += step)
		if (madvise(map_start + off, map_total - off < step ? map_total - off : step,
		            MADV_POPULATE_WRITE))
			break;
}

