#ifndef AT_IDS_H
#define AT_IDS_H

#include <stdint.h>

/* Incremented in a fork child: every thread reseeds its generator, so a
 * child never repeats its parent's ids. */
extern _Atomic unsigned at_ids_generation;

void at_ids_trace(uint8_t out[16]); /* never all zero */
void at_ids_span(uint8_t out[8]);   /* never all zero */

#endif
