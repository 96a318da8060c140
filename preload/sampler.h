#ifndef AT_SAMPLER_H
#define AT_SAMPLER_H

#include "span.h"

/* Decide for a new span: returns AT_FLAG_SAMPLED or 0. */
int at_sample(const struct at_ctx *parent, const uint8_t trace_id[16]);

#endif
