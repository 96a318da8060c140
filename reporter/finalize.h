#ifndef AT_FINALIZE_H
#define AT_FINALIZE_H

#include "../preload/span.h"

#include <stddef.h>

/* On the exporter thread, before any encoder sees the batch: render every
 * deferred attribute (AT_ATTR_DEFER) into its final form. */
void at_span_finalize(struct at_span *const *spans, size_t n);

#endif
