/* OTLP ExportTraceServiceRequest encoders (protobuf and JSON). */
#ifndef AT_OTLP_H
#define AT_OTLP_H

#include "../preload/span.h"
#include "buf.h"

int at_otlp_encode_proto(struct at_buf *b, struct at_span *const *spans, size_t n);
int at_otlp_encode_json(struct at_buf *b, struct at_span *const *spans, size_t n);

#endif
