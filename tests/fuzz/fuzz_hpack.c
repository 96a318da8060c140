/* libFuzzer target for the HPACK decoder (reporter/hpack.c), make fuzz.
 * The input is a run of header blocks through one decoder, as on one
 * connection: each block is a length byte and that many bytes. Beyond
 * memory safety it checks what the HTTP/2 client relies on: the table
 * never holds more than its limit, a field's name and value are within
 * the string bound and NUL-terminated. */
// SRCS: reporter/hpack.c
#include "../../reporter/hpack.h"

#include <stdint.h>
#include <stdlib.h>

static int check(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen)
{
	if (nlen > AT_HPACK_STRING || vlen > AT_HPACK_STRING || name[nlen] || value[vlen])
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct at_hpack_dec d;
	at_hpack_dec_init(&d);
	for (size_t i = 0; i < size;) {
		size_t n = data[i++];
		if (n > size - i)
			n = size - i;
		if (at_hpack_decode(&d, data + i, n, check, NULL))
			at_hpack_dec_init(&d); /* the connection would end: a new one */
		if (d.size > d.max || d.max > AT_HPACK_TABLE)
			abort();
		i += n;
	}
	return 0;
}
