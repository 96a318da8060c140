/* libFuzzer target for the Rust demangler (make fuzz): symbols come from
 * the program's files, which nothing vouches for. Beyond memory safety
 * (its backrefs may point anywhere, nest without end or loop) it checks
 * that the output is NUL-terminated within its capacity, that nothing is
 * written past it, and that a name demangled with room to spare comes out
 * the same, only cut, with less room. */
// SRCS: preload/demangle_rust.c
#include "../../preload/demangle.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *m = malloc(size + 1);
	memcpy(m, data, size);
	m[size] = 0;
	char big[8192], small[40];
	memset(small, 'x', sizeof small);
	size_t cap = size ? (size_t)data[size - 1] % 32 + 2 : 2;
	int whole = at_demangle_rust(m, big, sizeof big);
	int cut = at_demangle_rust(m, small, cap);
	if (whole != cut)
		abort();
	if (whole) {
		size_t n = strnlen(big, sizeof big);
		if (n == sizeof big || strnlen(small, cap) >= cap ||
		    strncmp(small, big, strlen(small)) ||
		    strlen(small) != (n < cap - 1 ? n : cap - 1))
			abort();
	}
	for (size_t i = cap; i < sizeof small; i++)
		if (small[i] != 'x')
			abort();
	free(m);
	return 0;
}
