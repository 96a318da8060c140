#define _GNU_SOURCE
#include "gzip.h"

#include "../preload/log.h"

#include <dlfcn.h>
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
} z;
static int loaded;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
	void *h = dlopen(SONAME, RTLD_NOW | RTLD_LOCAL);
	if (h) {
		z.init2 = (__typeof__(z.init2))dlsym(h, "deflateInit2_");
		z.bound = (__typeof__(z.bound))dlsym(h, "deflateBound");
		z.deflate = (__typeof__(z.deflate))dlsym(h, "deflate");
		z.end = (__typeof__(z.end))dlsym(h, "deflateEnd");
	}
	loaded = z.init2 && z.bound && z.deflate && z.end;
	if (!loaded)
		at_warn("%s: %s; sending uncompressed", SONAME,
		        h ? "a function is missing" : "cannot be loaded");
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
