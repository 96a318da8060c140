/* Spans as jaeger.thrift (jaeger-idl) Batch / Agent.emitBatch. */
#ifndef AT_JAEGER_H
#define AT_JAEGER_H

#include "../preload/span.h"
#include "buf.h"
#include "thrift.h"

#define AT_JAEGER_UDP_MAX 65000

/* One Span struct. drop_attrs: bit i set leaves attribute i out; keep_logs:
 * how many events to write (what is left out is counted in
 * otel.dropped_attributes_count / otel.dropped_events_count). */
void at_jaeger_span(struct at_thrift *t, const struct at_span *s, uint32_t drop_attrs,
                    int keep_logs);
/* The Process struct: service name, tags from the resource (which holds
 * JAEGER_TAGS too). */
void at_jaeger_process(struct at_thrift *t);
/* A whole Batch struct (the collector's HTTP body uses binary). */
int at_jaeger_encode_batch(struct at_buf *b, int compact, struct at_span *const *spans, size_t n);

/* Agent.emitBatch packets in compact, each at most max_bytes: spans are
 * packed greedily by encoded size; a span too big alone is sent trimmed
 * (events, then the largest attributes dropped and counted), dropped only when even
 * the bare span does not fit. send() returns 0 when the packet went out.
 * Returns the number of spans sent; *dropped counts spans not sent. */
struct at_jaeger_packer {
	struct at_buf head, spans, one, pkt;
	int32_t seqid;
	uint64_t trimmed_spans, dropped_spans;
};
size_t at_jaeger_pack(struct at_jaeger_packer *p, struct at_span *const *spans, size_t n,
                      size_t max_bytes, int (*send)(void *ctx, const void *pkt, size_t len),
                      void *ctx);
void at_jaeger_packer_free(struct at_jaeger_packer *p);

#endif
