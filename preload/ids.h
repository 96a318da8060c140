/* Trace and span ids: a per-thread xorshift128+ generator seeded from
 * getrandom(2). The draw is inline: a span start pays a few shifts and adds,
 * not a call per id. */
#ifndef AT_IDS_H
#define AT_IDS_H

#include "autotrace.h"

#include <stdint.h>
#include <string.h>

/* Incremented in a fork child: every thread reseeds its generator, so a
 * child never repeats its parent's ids. */
extern _Atomic unsigned at_ids_generation;

void at_ids_seed(void);

static inline uint64_t at_ids_next(void)
{
	if (AT_UNLIKELY(at_tls.rng_gen !=
	                atomic_load_explicit(&at_ids_generation, memory_order_relaxed)))
		at_ids_seed();
	uint64_t s1 = at_tls.rng[0];
	const uint64_t s0 = at_tls.rng[1];
	at_tls.rng[0] = s0;
	s1 ^= s1 << 23;
	s1 = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
	at_tls.rng[1] = s1;
	return s1 + s0;
}

static inline void at_ids_span(uint8_t out[8]) /* never all zero */
{
	uint64_t a;
	do
		a = at_ids_next();
	while (AT_UNLIKELY(!a));
	memcpy(out, &a, 8);
}

static inline void at_ids_trace(uint8_t out[16]) /* never all zero */
{
	uint64_t a, b;
	do {
		a = at_ids_next();
		b = at_ids_next();
	} while (AT_UNLIKELY(!a && !b));
	memcpy(out, &a, 8);
	memcpy(out + 8, &b, 8);
}

/* A span's ids in one go: a new trace id too when trace is not NULL (a
 * root). Three words of wyrand (an add and a 128-bit multiply each) from
 * the thread's state; neither id is ever all zero. */
static inline uint64_t at_ids_wy(uint64_t *state)
{
	*state += 0xa0761d6478bd642full;
	__uint128_t t = (__uint128_t)*state * (*state ^ 0xe7037ed1a0b428dbull);
	return (uint64_t)(t >> 64) ^ (uint64_t)t;
}

static inline void at_ids_new(uint8_t *trace, uint8_t span[8])
{
	if (AT_UNLIKELY(at_tls.rng_gen !=
	                atomic_load_explicit(&at_ids_generation, memory_order_relaxed)))
		at_ids_seed();
	uint64_t st = at_tls.rng[0];
	uint64_t a = at_ids_wy(&st);
	if (trace) {
		uint64_t b = at_ids_wy(&st), c = at_ids_wy(&st);
		if (AT_UNLIKELY(!b && !c))
			c = 1;
		memcpy(trace, &b, 8);
		memcpy(trace + 8, &c, 8);
	}
	at_tls.rng[0] = st;
	if (AT_UNLIKELY(!a))
		a = 1;
	memcpy(span, &a, 8);
}

#endif
