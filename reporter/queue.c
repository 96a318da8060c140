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
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct slot {
	_Atomic size_t seq; /* stored minus the slot's index: see seq_get */
	struct at_span span;
};

static struct slot *slots;
static size_t mask, wake_len;
static _Alignas(64) _Atomic size_t head; /* next position to reserve */
static _Alignas(64) _Atomic size_t tail; /* next position to consume */
static _Alignas(64) _Atomic uint32_t wakeword;
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

int at_queue_init(size_t capacity, size_t wake_at)
{
	size_t cap = 2;
	while (cap < capacity)
		cap <<= 1;
	/* anonymous memory: pages cost RSS only once a span has been written
	 * there. Faulting a 4 KiB page in costs microseconds on a virtual
	 * machine, and the ring passes over all of them: ask for transparent
	 * huge pages (one fault per 2 MiB) on a 2 MiB-aligned range. */
	size_t len = cap * sizeof(struct slot), huge = (size_t)2 << 20;
	size_t map_len = len >= huge ? len + huge : len;
	char *p = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	if (map_len != len) {
		char *a = (char *)(((uintptr_t)p + huge - 1) & ~(uintptr_t)(huge - 1));
		if (a > p)
			munmap(p, (size_t)(a - p));
		size_t rest = (size_t)(p + map_len - (a + len));
		if (rest)
			munmap(a + len, rest);
		p = a;
		madvise(p, len, MADV_HUGEPAGE); /* a hint: refused (THP off) is fine */
	}
	slots = (struct slot *)p;
	mask = cap - 1;
	wake_len = wake_at ? wake_at : 1;
	return 0;
}

int at_queue_push(const struct at_span *s)
{
	/* locals: the copy's stores might alias the globals as far as the
	 * compiler knows, and would make it read them again */
	struct slot *base = slots;
	size_t m = mask;
	size_t pos = atomic_load_explicit(&head, memory_order_relaxed);
	struct slot *sl;
	for (;;) {
		sl = &base[pos & m];
		size_t seq = atomic_load_explicit(&sl->seq, memory_order_acquire) + (pos & m);
		intptr_t diff = (intptr_t)seq - (intptr_t)pos;
		if (AT_LIKELY(diff == 0)) {
			if (atomic_compare_exchange_weak_explicit(
			        &head, &pos, pos + 1, memory_order_relaxed, memory_order_relaxed))
				break;
		} else if (diff < 0) {
			atomic_fetch_add_explicit(&dropped[drop_shard()].n, 1,
			                          memory_order_relaxed);
			return -1;
		} else {
			pos = atomic_load_explicit(&head, memory_order_relaxed);
		}
	}
	at_span_copy_inline(&sl->span, s);
	/* seq_set, on the slot at hand */
	atomic_store_explicit(&sl->seq, pos + 1 - (pos & m), memory_order_release);
	if (AT_UNLIKELY(pos + 1 - atomic_load_explicit(&tail, memory_order_relaxed) == wake_len))
		at_queue_wake();
	return 0;
}

size_t at_queue_peek(struct at_span **out, size_t max)
{
	size_t t = atomic_load_explicit(&tail, memory_order_relaxed);
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
	size_t t = atomic_load_explicit(&tail, memory_order_relaxed);
	for (size_t i = 0; i < n; i++)
		seq_set((t + i) & mask, t + i + mask + 1);
	atomic_store_explicit(&tail, t + n, memory_order_release);
}

size_t at_queue_length(void)
{
	return atomic_load(&head) - atomic_load(&tail);
}

/* Where this process's count of pushes starts: a fork child's stats are
 * its own, not its parent's. */
static size_t pushed_base;

uint64_t at_queue_pushed(void)
{
	return atomic_load(&head) - pushed_base;
}

void at_queue_forget(void)
{
	for (int i = 0; i < DROP_SHARDS; i++)
		atomic_store_explicit(&dropped[i].n, 0, memory_order_relaxed);
	if (!slots)
		return;
	size_t h = atomic_load(&head);
	for (size_t t = atomic_load(&tail); t != h; t++)
		seq_set(t & mask, t + mask + 1);
	atomic_store(&tail, h);
	pushed_base = h;
}

void at_queue_wait(long timeout_ms)
{
	uint32_t w = atomic_load(&wakeword);
	if (at_queue_length() >= wake_len)
		return;
	struct timespec ts = {timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
	syscall(SYS_futex, &wakeword, FUTEX_WAIT_PRIVATE, w, &ts, NULL, 0);
}

void at_queue_wake(void)
{
	atomic_fetch_add(&wakeword, 1);
	int saved = errno;
	syscall(SYS_futex, &wakeword, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	errno = saved;
}
