#ifndef AT_FINALIZE_H
#define AT_FINALIZE_H

#include "../preload/clock.h"
#include "../preload/span.h"

#include <stddef.h>

/* On the exporter thread, before any encoder sees the batch: render every
 * deferred attribute (AT_ATTR_DEFER) into its final form. */
void at_span_finalize(struct at_span *const *spans, size_t n);

/* What the exporter does to each span as the queue copies it out
 * (at_queue_peek_each's prep, arg a struct at_prepare): moved out of the
 * app's image when relocate is set (an exporter process), then its stamps
 * against clk (at_clock_map, taken before the batch was read: a span
 * committed since is microseconds past it, which the map carries as
 * well), its deferred attributes rendered, its call site named. */
struct at_prepare {
	struct at_clock_map clk;
	int relocate;
};
void at_span_prepare(struct at_span *s, void *arg);

#endif
