/* The bounded queue between application threads (many producers) and the
 * exporter thread (one consumer). Pushing never blocks and never allocates:
 * a full queue drops the span and counts it. */
#ifndef AT_QUEUE_H
#define AT_QUEUE_H

#include "../preload/span.h"

#include <stddef.h>
#include <stdint.h>

int at_queue_init(size_t capacity, size_t wake_at);
int at_queue_push(const struct at_span *s);
/* Consumer side: pointers to up to max committed spans, oldest first. */
size_t at_queue_peek(struct at_span **out, size_t max);
void at_queue_release(size_t n);
size_t at_queue_length(void);
/* In a fork child: forget what the parent had queued (and any slot a
 * parent's thread had reserved but not filled), and its counts. */
void at_queue_forget(void);

/* Exporter thread waits here; producers wake it when a batch is ready. */
void at_queue_wait(long timeout_ms);
void at_queue_wake(void);

/* Spans dropped because the queue was full, since start. */
uint64_t at_queue_dropped(void);

uint64_t at_queue_pushed(void);

#endif
