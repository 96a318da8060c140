/* libFuzzer target for a CGI program's response head (hooks/cgi_head.c),
 * make fuzz. The first byte picks where the rest is split in two. Beyond
 * memory safety it checks what the CGI span relies on: the result does not
 * depend on how the program's writes cut the bytes (whole, in two, byte by
 * byte), a status is 0 or a three-digit code, and the parser stops at its
 * bound. */
// SRCS: hooks/cgi_head.c
#include "../../hooks/cgi_head.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	size_t cut = data[0];
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	if (cut > n)
		cut = n;
	struct at_cgi_head whole, two, bytes;
	at_cgi_head_init(&whole);
	at_cgi_head_init(&two);
	at_cgi_head_init(&bytes);
	at_cgi_head_feed(&whole, p, n);
	at_cgi_head_feed(&two, p, cut);
	at_cgi_head_feed(&two, p + cut, n - cut);
	for (size_t i = 0; i < n; i++)
		at_cgi_head_feed(&bytes, p + i, 1);
	if (whole.state != two.state || whole.status != two.status ||
	    whole.state != bytes.state || whole.status != bytes.status)
		abort();
	if (whole.status && (whole.status < 100 || whole.status > 999))
		abort();
	if (whole.state == AT_CGI_HEAD_DONE && !whole.status && !whole.doc)
		abort();
	if (whole.seen > AT_CGI_HEAD_MAX + 1)
		abort();
	return 0;
}
