/* demangle: each symbol read from stdin (one per line) as the shim names it
 * in code.function.name (at_demangle, with libstdc++ loaded if installed),
 * or the line as it came when the shim leaves it mangled.
 * tests/integration/test_demangle.py compares the Rust symbols of a real
 * program with what binutils' c++filt makes of them. */
#include "../../preload/demangle.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
	static char line[8192], out[4096];
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\n")] = 0;
		puts(at_demangle(line, out, sizeof out, 1) ? out : line);
	}
	return 0;
}
