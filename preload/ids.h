/* Trace and span ids: a per-thread wyrand generator (an add and a 128-bit
 * multiply per 64-bit word) seeded from getrandom(2). The draw is inline: a
 * span start pays a few instructions, not a call per id. */
#ifndef AT_IDS_H
#define AT_IDS_H

#include "autotrace.h"

#include <stdint.h>
#include <string.h>

/* Incremented in a fork child: every thread reseeds its generator, so a
 * child never repeats its parent's ids. */
extern _Atomic unsigned at_ids_generation;

void at_ids_seed(void);

/* The thread's generator state, (re)seeded when needed. */
static inline uint64_t at_ids_state(void)
{
	if (AT_UNLIKELY(at_tls.rng_gen !=
	                atomic_load_explicit(&at_ids_generation, memory_order_relaxed)))
		at_ids_seed();
	return at_tls.rng;
}

static inline uint64_t at_ids_wy(uint64_t *state)
{
	*state += 0xa0761d6478bd642full;
	__uint128_t t = (__uint128_t)*state * (*state ^ 0xe7037ed1a0b428dbull);
	return (uint64_t)(t >> 64) ^ (uint64_t)t;
}

/* A span's ids in one pass over the state: a new trace id too when trace is
 * not NULL (a root). Neither id is ever all zero. */
static inline void at_ids_new(uint8_t *trace, uint8_t span[8])
{
	uint64_t st = at_ids_state();
	uint64_t a = at_ids_wy(&st);
	if (trace) {
		uint64_t b = at_ids_wy(&st), c = at_ids_wy(&st);
		if (AT_UNLIKELY(!b && !c))
			c = 1;
		memcpy(trace, &b, 8);
		memcpy(trace + 8, &c, 8);
	}
	at_tls.rng = st;
	if (AT_UNLIKELY(!a))
		a = 1;
	memcpy(span, &a, 8);
}

static inline void at_ids_span(uint8_t out[8])
{
	at_ids_new(NULL, out);
}

static inline void at_ids_trace(uint8_t out[16])
{
	uint8_t unused[8];
	at_ids_new(out, unused);
}

#endif
