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
static _Atomic unsigned hint;

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
	unsigned total = MAX_CHUNKS * CHUNK_CONNS;
	unsigned start = atomic_load_explicit(&hint, memory_order_relaxed) % total;
	for (unsigned k = 0; k < total; k++) {
		unsigned i = (start + k) % total;
		struct at_conn *ch = chunk(i / CHUNK_CONNS);
		if (!ch)
			return NULL;
		struct at_conn *c = &ch[i % CHUNK_CONNS];
		int expect = 0;
		if (atomic_load_explicit(&c->inuse, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_strong(&c->inuse, &expect, 1)) {
			atomic_store_explicit(&hint, i + 1, memory_order_relaxed);
			return c;
		}
	}
	return NULL;
}

void at_conn_free(struct at_conn *c)
{
	atomic_store_explicit(&c->inuse, 0, memory_order_release);
}

void at_conn_each(void (*fn)(struct at_conn *c))
{
	for (unsigned i = 0; i < MAX_CHUNKS; i++) {
		struct at_conn *ch = atomic_load(&chunks[i]);
		if (!ch)
			break;
		for (unsigned j = 0; j < CHUNK_CONNS; j++)
			if (atomic_load(&ch[j].inuse))
				fn(&ch[j]);
	}
}
