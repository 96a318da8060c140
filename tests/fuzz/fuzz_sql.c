/* libFuzzer target for the SQL sanitizer (make fuzz). Beyond memory
 * safety it checks what a hook relies on: the output is bounded and
 * NUL-terminated, valid UTF-8 in gives valid UTF-8 out, sanitizing twice
 * changes nothing, and the summary fits its fields. */
// SRCS: hooks/sql_sanitize.c
#include "../../hooks/sql_sanitize.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t utf8_valid_prefix(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		size_t need = c < 0x80             ? 1
		              : (c & 0xe0) == 0xc0 ? 2
		              : (c & 0xf0) == 0xe0 ? 3
		              : (c & 0xf8) == 0xf0 ? 4
		                                   : 0;
		if (!need || i + need > n)
			return i;
		for (size_t k = 1; k < need; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
		i += need;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[AT_SQL_MAX], again[AT_SQL_MAX];
	int cut;
	/* a small capacity too, taken from the first byte */
	size_t cap = size ? (size_t)data[0] % 64 + 1 : 1;
	size_t n = at_sql_sanitize((const char *)data, size, out, cap, &cut);
	if (n >= cap || out[n] != 0)
		abort();

	n = at_sql_sanitize((const char *)data, size, out, sizeof out, &cut);
	if (n >= sizeof out || out[n] != 0)
		abort();
	if (utf8_valid_prefix(data, size) == size &&
	    utf8_valid_prefix((const unsigned char *)out, n) != n)
		abort();
	if (!cut && !memchr(data, 0, size)) {
		size_t m = at_sql_sanitize(out, n, again, sizeof again, &cut);
		if (m != n || memcmp(out, again, n))
			abort();
	}
	struct at_sql_summary s;
	at_sql_summarize(out, n, &s);
	if (strnlen(s.op, sizeof s.op) == sizeof s.op ||
	    strnlen(s.table, sizeof s.table) == sizeof s.table)
		abort();
	return 0;
}
