/* The fd table and the connection slot pool (see fdstate.h). Both are
 * anonymous MAP_NORESERVE mappings: address space is reserved up front,
 * memory is used only for the pages a connection actually touches. */
#define _GNU_SOURCE
#include "fdstate.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/resource.h>

struct at_fd *_Atomic at_fds;
size_t at_fds_n;

#define FD_CAP (1u << 20)
#define CHUNK_CONNS 32
#define MAX_CHUNKS 512 /* 16384 connections traced at once */

static struct at_conn *_Atomic chunks[MAX_CHUNKS];
/* Which slots are in use, a bit each, chunk by chunk: a new connection
 * takes the lowest free slot, so that a process that makes connection
 * after connection keeps reusing the same few slots (their pages resident
 * and warm) instead of walking the whole pool: a slot is 24 KiB, and with
 * a slot per new connection round the pool a Python client that made 6000
 * short connections grew by 52 MB. Also what exit walks (at_conn_each),
 * without touching the slots' pages. */
static _Atomic uint32_t used[MAX_CHUNKS];
_Static_assert(CHUNK_CONNS == 32, "a chunk's slots are one word of used[]");

static void *map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

struct at_fd *at_fd_table(void)
{
	struct at_fd *t = atomic_load(&at_fds);
	if (t)
		return t;
	int saved = errno;
	/* the hard limit: the soft one may be raised later */
	struct rlimit rl;
	size_t n = 65536;
	if (!getrlimit(RLIMIT_NOFILE, &rl))
		n = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > FD_CAP ? FD_CAP
		                                                         : (size_t)rl.rlim_max;
	if (n < 1024)
		n = 1024;
	struct at_fd *nt = map(n * sizeof *nt);
	errno = saved;
	if (!nt)
		return NULL;
	struct at_fd *expect = NULL;
	at_fds_n = n; /* same value whichever thread wins */
	if (!atomic_compare_exchange_strong(&at_fds, &expect, nt)) {
		munmap(nt, n * sizeof *nt);
		errno = saved;
		return expect;
	}
	return nt;
}

static struct at_conn *chunk(unsigned i)
{
	struct at_conn *c = atomic_load(&chunks[i]);
	if (c)
		return c;
	int saved = errno;
	struct at_conn *n = map(CHUNK_CONNS * sizeof *n);
	errno = saved;
	if (!n)
		return NULL;
	struct at_conn *expect = NULL;
	if (!atomic_compare_exchange_strong(&chunks[i], &expect, n)) {
		munmap(n, CHUNK_CONNS * sizeof *n);
		errno = saved;
		return expect;
	}
	return n;
}

struct at_conn *at_conn_alloc(void)
{
	for (unsigned i = 0; i < MAX_CHUNKS; i++) {
		uint32_t w = atomic_load_explicit(&used[i], memory_order_relaxed);
		while (w != UINT32_MAX) {
			unsigned b = (unsigned)__builtin_ctz(~w);
			if (!atomic_compare_exchange_weak_explicit(&used[i], &w, w | 1u << b,
			                                           memory_order_acquire,
			                                           memory_order_relaxed))
				continue; /* w reloaded */
			struct at_conn *ch = chunk(i);
			if (!ch) {
				atomic_fetch_and(&used[i], ~(1u << b));
				return NULL;
			}
			struct at_conn *c = &ch[b];
			/* the slot's number, plus one: what at_conn_free clears */
			atomic_store_explicit(&c->inuse, (int)(i * CHUNK_CONNS + b + 1),
			                      memory_order_relaxed);
			return c;
		}
	}
	return NULL;
}

void at_conn_free(struct at_conn *c)
{
	int n = atomic_exchange_explicit(&c->inuse, 0, memory_order_release) - 1;
	if (n >= 0 && n < MAX_CHUNKS * CHUNK_CONNS)
		atomic_fetch_and_explicit(&used[n / CHUNK_CONNS], ~(1u << (n % CHUNK_CONNS)),
		                          memory_order_release);
}

void at_conn_each(void (*fn)(struct at_conn *c))
{
	for (unsigned i = 0; i < MAX_CHUNKS; i++) {
		uint32_t w = atomic_load(&used[i]);
		struct at_conn *ch = atomic_load(&chunks[i]);
		if (!ch)
			continue;
		for (; w; w &= w - 1) {
			struct at_conn *c = &ch[__builtin_ctz(w)];
			if (atomic_load(&c->inuse))
				fn(c);
		}
	}
}
