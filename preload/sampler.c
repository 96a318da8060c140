/* The OpenTelemetry samplers: always_on/off, traceidratio, parentbased_*. */
#define _GNU_SOURCE
#include "sampler.h"

#include "config.h"

static int sample_root(const uint8_t trace_id[16])
{
	switch (at_cfg.sampler) {
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
	if (parent && parent->valid && at_cfg.parent_based)
		return parent->flags & AT_FLAG_SAMPLED;
	return sample_root(trace_id);
}
