/* gzip (RFC 1952) of a request body, for OTEL_EXPORTER_OTLP_COMPRESSION;
 * zlib streams uncompressed, for compressed debug sections (callsite.c). */
#ifndef AT_GZIP_H
#define AT_GZIP_H

#include "buf.h"

/* Loads zlib on first use: 1 if it is there (else a warning, once). */
int at_gzip_available(void);
/* Replaces out's content with in gzipped; returns 0 or -1. */
int at_gzip(struct at_buf *out, const void *in, size_t n);

/* zlib's uncompress: in (a zlib stream) into exactly n bytes at out;
 * 0, or -1 (no zlib, a corrupt stream, another size). */
int at_zlib_uncompress(void *out, size_t n, const void *in, size_t len);

#endif
