#define _GNU_SOURCE
#include "gzip.h"

#include <zlib.h>

int at_gzip(struct at_buf *out, const void *in, size_t n)
{
	z_stream z = {0};
	/* windowBits 15 + 16: a gzip header and trailer instead of zlib's */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return -1;
	at_buf_reset(out);
	size_t bound = deflateBound(&z, (uLong)n);
	if (at_buf_reserve(out, bound)) {
		deflateEnd(&z);
		return -1;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	z.next_out = (Bytef *)out->data;
	z.avail_out = (uInt)bound;
	int rc = deflate(&z, Z_FINISH);
	out->len = z.total_out;
	deflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -1;
}
