/* Seeding the id generator (ids.h). Not cryptographic (ids are not secrets)
 * but unpredictable across processes and threads. */
#define _GNU_SOURCE
#include "ids.h"
#include "clock.h"

#include "autotrace.h"

#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

_Atomic unsigned at_ids_generation = 1;

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void at_ids_seed(void)
{
	uint64_t s = 0;
	if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
		/* very early boot or seccomp: mix what differs between threads */
		uint64_t x = at_mono_ns() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)&s;
		s = splitmix(&x);
	}
	at_tls.rng = s; /* any value will do: wyrand has no bad state */
	at_tls.rng_gen = atomic_load_explicit(&at_ids_generation, memory_order_relaxed);
}
