/* The OpenTelemetry samplers: always_on/off, traceidratio, parentbased_*. */
#define _GNU_SOURCE
#include "sampler.h"

#include "clock.h"
#include "config.h"

#include <stdatomic.h>

/* JAEGER_SAMPLER_TYPE=ratelimiting: a token bucket holding max(rate, 1)
 * traces, kept as one atomic "theoretical arrival time" (GCRA) so that any
 * thread decides with a compare-and-swap: no lock on the hot path. */
static _Atomic uint64_t rl_tat_ns;

static int rate_limited(void)
{
	double rate = at_cfg.sampler_rate;
	if (rate <= 0)
		return 0;
	uint64_t interval = (uint64_t)(1e9 / rate);
	uint64_t burst = (uint64_t)((rate < 1 ? 1 : rate) * (double)interval);
	uint64_t now = at_mono_ns();
	uint64_t tat = atomic_load_explicit(&rl_tat_ns, memory_order_relaxed);
	for (;;) {
		uint64_t next = (tat > now ? tat : now) + interval;
		if (next - now > burst)
			return 0;
		if (atomic_compare_exchange_weak_explicit(
		        &rl_tat_ns, &tat, next, memory_order_relaxed, memory_order_relaxed))
			return AT_FLAG_SAMPLED;
	}
}

int at_sample_root(const uint8_t trace_id[16])
{
	switch (at_cfg.sampler) {
	case AT_SAMPLE_RATELIMIT:
		return rate_limited();
	case AT_SAMPLE_ALWAYS_OFF:
		return 0;
	case AT_SAMPLE_RATIO: {
		/* deterministic in the trace id: every process of a trace agrees */
		uint64_t x = 0;
		for (int i = 8; i < 16; i++)
			x = (x << 8) | trace_id[i];
		if (at_cfg.ratio >= 1.0)
			return AT_FLAG_SAMPLED;
		uint64_t bound = (uint64_t)(at_cfg.ratio * 18446744073709551615.0);
		return x < bound ? AT_FLAG_SAMPLED : 0;
	}
	default:
		return AT_FLAG_SAMPLED;
	}
}

int at_sample(const struct at_ctx *parent, const uint8_t trace_id[16])
{
	return at_sample_fast(parent, trace_id);
}
