/* The bounded queue between application threads (many producers) and the
 * exporter thread (one consumer). Pushing never blocks and never allocates:
 * a full queue drops the span and counts it. */
#ifndef AT_QUEUE_H
#define AT_QUEUE_H

#include "../preload/span.h"

#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

int at_queue_init(size_t capacity, size_t wake_at);

/* What the producers and the consumer share besides the slots: at the start
 * of the ring's mapping. In process mode (AUTOTRACE_EXPORTER_MODE=process)
 * that mapping is a memfd shared with the exporter process, so the flush
 * handshake and the exporter's counts live here too. */
struct at_queue_ctl {
	/* each: unit index << 32 | a count of spans modulo 2^32 (queue.c) */
	_Alignas(64) _Atomic uint64_t head; /* next units to claim */
	_Alignas(64) _Atomic uint64_t tail; /* next record to consume */
	_Alignas(64) _Atomic uint32_t wakeword;
	/* the rest: the flush handshake (exporter.c), the exporter's counts
	 * for the stats, the geometry an exporter process attaches by */
	_Alignas(64) _Atomic uint32_t flush_req, flush_done;
	_Atomic uint64_t flush_deadline;
	_Atomic uint32_t exec_pending; /* the app is in execve: its ring goes */
	_Atomic uint32_t helper_state; /* enum at_helper_state (helper.c) */
	_Atomic uint32_t helper_pid;
	_Atomic uint64_t exported, cpu_ns, render_ns, backends_ns, encode_ns;
	_Atomic uint64_t consumed; /* spans released by the consumer, since start */
	/* spans the consumer has released but not yet exported (exporter.c):
	 * a flush waits for them as for the queued ones */
	_Atomic uint32_t inflight;
	size_t cap, wake_len, extra_off;
};

/* The ring in a memfd (MAP_SHARED), with extra bytes after the slots for
 * the hand-off to an exporter process; the fd is close-on-exec. */
int at_queue_init_shared(size_t capacity, size_t wake_at, size_t extra);
/* The exporter process: map the ring a parent made with init_shared. */
int at_queue_attach(int fd);
int at_queue_shared_fd(void); /* -1: a private ring */
/* The descriptor is still the ring's (the application may have closed it). */
int at_queue_shared_fd_intact(void);
void *at_queue_extra(size_t *len);
struct at_queue_ctl *at_queue_ctl(void);
/* A fork child of a process-mode parent: the parent's ring is not ours. */
void at_queue_unmap(void);
/* FUTEX_PRIVATE_FLAG, or 0 when the ring is shared between processes. */
extern int at_queue_futex_private;
int at_queue_push(const struct at_span *s);
/* A leaf span (preload/leaf.h) as its compact record, ended at end. */
struct at_leaf;
int at_queue_push_leaf(const struct at_leaf *l, uint64_t end);
/* Consumer side: pointers to up to max committed spans, oldest first
 * (copies the queue keeps until the next peek: at most 4096 at a time). */
size_t at_queue_peek(struct at_span **out, size_t max);
/* The same, each span handed to prep (the exporter renders it there) as soon
 * as it is copied, and never written again after: the next copy starts
 * where this one's used part ends, over the unused tail of its arrays, so
 * that a batch touches a page per ~4 small spans instead of per ~2. */
size_t at_queue_peek_each(struct at_span **out, size_t max,
                          void (*prep)(struct at_span *s, void *arg), void *arg);
void at_queue_release(size_t n);
size_t at_queue_length(void);
/* In a fork child: forget what the parent had queued (and any record a
 * parent's thread had claimed but not filled), and its counts. */
void at_queue_forget(void);

/* Exporter thread waits here; producers wake it when a batch is ready. */
void at_queue_wait(long timeout_ms);
void at_queue_wake(void);

/* Spans dropped because the queue was full, since start. */
uint64_t at_queue_dropped(void);

uint64_t at_queue_pushed(void);

#endif
