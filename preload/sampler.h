#ifndef AT_SAMPLER_H
#define AT_SAMPLER_H

#include "config.h"
#include "span.h"

/* Decide for a new span: returns AT_FLAG_SAMPLED or 0. */
int at_sample(const struct at_ctx *parent, const uint8_t trace_id[16]);
/* The decision for a root (no valid parent, or a sampler not parent-based). */
int at_sample_root(const uint8_t trace_id[16]);

/* at_sample inline (the rule itself; at_sample is this out of line): the
 * common cases (a parent-based sampler with a parent, always_on, always_off)
 * without a call. */
static inline int at_sample_fast(const struct at_ctx *parent, const uint8_t trace_id[16])
{
	if (parent && parent->valid && at_cfg.parent_based)
		return parent->flags & AT_FLAG_SAMPLED;
	if (__builtin_expect(at_cfg.sampler == AT_SAMPLE_ALWAYS_ON, 1))
		return AT_FLAG_SAMPLED;
	if (at_cfg.sampler == AT_SAMPLE_ALWAYS_OFF)
		return 0;
	return at_sample_root(trace_id);
}

#endif
