/* libFuzzer target for HPACK (reporter/hpack.c), make fuzz. The input is
 * a run of header blocks through one decoder, as on one connection: each
 * block is a length byte and that many bytes. Beyond memory safety it
 * checks what the HTTP/2 client relies on: the table never holds more
 * than its limit and its entries add up to its size, a field's name and
 * value are within the string bound and NUL-terminated; and that the
 * encoder and the decoder agree: each block's fields, written back as
 * literals, decode to the same fields. */
// SRCS: reporter/hpack.c
#include "../../reporter/hpack.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The fields of a block written back as literals. */
struct out {
	uint8_t b[1 << 16];
	size_t n;
	int full; /* some field did not fit: nothing to compare */
};

static int put(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen)
{
	struct out *o = ctx;
	if (nlen > AT_HPACK_STRING || vlen > AT_HPACK_STRING || name[nlen] || value[vlen])
		abort();
	size_t k =
	    at_hpack_put_literal(o->b + o->n, sizeof o->b - o->n, 0, name, nlen, value, vlen);
	if (!k)
		o->full = 1;
	o->n += k;
	return 0;
}

static void check_table(const struct at_hpack_dec *d)
{
	size_t size = 0, used = 0;
	if (d->max > AT_HPACK_TABLE || d->size > d->max || d->n > AT_HPACK_TABLE / 32)
		abort();
	for (size_t k = 0; k < d->n; k++) {
		size += 32 + d->e[k].nlen + d->e[k].vlen;
		used += d->e[k].nlen + d->e[k].vlen;
	}
	if (size != d->size || used != d->used)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct at_hpack_dec d, again;
	static struct out first, second;
	at_hpack_dec_init(&d);
	for (size_t i = 0; i < size;) {
		size_t n = data[i++];
		if (n > size - i)
			n = size - i;
		first.n = 0;
		first.full = 0;
		if (at_hpack_decode(&d, data + i, n, put, &first)) {
			at_hpack_dec_init(&d); /* the connection would end: a new one */
		} else if (!first.full) {
			second.n = 0;
			second.full = 0;
			at_hpack_dec_init(&again);
			if (at_hpack_decode(&again, first.b, first.n, put, &second) ||
			    second.full || second.n != first.n ||
			    memcmp(first.b, second.b, first.n))
				abort();
		}
		check_table(&d);
		i += n;
	}
	return 0;
}
