#define _GNU_SOURCE
#include "gzip.h"

#include "../preload/real.h"

#include <pthread.h>
#include <zlib.h>

/* zlib is loaded by the first exporter that compresses, not with the
 * shim: most processes never gzip, and each library loaded at start-up
 * is time added to every program the shim is preloaded into. */
#define SONAME "libz.so.1"

static struct {
	int (*init2)(z_streamp, int, int, int, int, int, const char *, int);
	uLong (*bound)(z_streamp, uLong);
	int (*deflate)(z_streamp, int);
	int (*end)(z_streamp);
	int (*uncompress)(Bytef *, uLongf *, const Bytef *, uLong);
} z;
static int loaded;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
	static const char *const names[] = {"deflateInit2_", "deflateBound", "deflate",
	                                    "deflateEnd", "uncompress"};
	void *p[5];
	if (at_load_library(SONAME, names, p, 5,
	                    "sending uncompressed; compressed debug sections unread"))
		return;
	z.init2 = (__typeof__(z.init2))p[0];
	z.bound = (__typeof__(z.bound))p[1];
	z.deflate = (__typeof__(z.deflate))p[2];
	z.end = (__typeof__(z.end))p[3];
	z.uncompress = (__typeof__(z.uncompress))p[4];
	loaded = 1;
}

int at_gzip_available(void)
{
	pthread_once(&once, load);
	return loaded;
}

int at_gzip(struct at_buf *out, const void *in, size_t n)
{
	if (!at_gzip_available())
		return -1;
	z_stream s = {0};
	/* windowBits 15 + 16: a gzip header and trailer instead of zlib's */
	if (z.init2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
	            ZLIB_VERSION, (int)sizeof s) != Z_OK)
		return -1;
	at_buf_reset(out);
	size_t bound = z.bound(&s, (uLong)n);
	if (at_buf_reserve(out, bound)) {
		z.end(&s);
		return -1;
	}
	s.next_in = (Bytef *)in;
	s.avail_in = (uInt)n;
	s.next_out = (Bytef *)out->data;
	s.avail_out = (uInt)bound;
	int rc = z.deflate(&s, Z_FINISH);
	out->len = s.total_out;
	z.end(&s);
	return rc == Z_STREAM_END ? 0 : -1;
}

int at_zlib_uncompress(void *out, size_t n, const void *in, size_t len)
{
	if (!at_gzip_available() || n != (uLong)n || len != (uLong)len)
		return -1;
	uLongf got = (uLongf)n;
	return z.uncompress(out, &got, in, (uLong)len) == Z_OK && got == n ? 0 : -1;
}
