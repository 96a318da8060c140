/* gzip (RFC 1952) of a request body, for OTEL_EXPORTER_OTLP_COMPRESSION. */
#ifndef AT_GZIP_H
#define AT_GZIP_H

#include "buf.h"

/* Loads zlib on first use: 1 if it is there (else a warning, once). */
int at_gzip_available(void);
/* Replaces out's content with in gzipped; returns 0 or -1. */
int at_gzip(struct at_buf *out, const void *in, size_t n);

#endif
