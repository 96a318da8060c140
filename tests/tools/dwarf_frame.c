/* dwarf_frame FILE: for each hexadecimal link-time address read from stdin
 * (one per line), the function, file and line the shim would name as the
 * call site of a call there (at_callsite_object_frame), one line each:
 * "name<TAB>file<TAB>line". tests/integration/test_callsite_inline.py
 * compares them with addr2line's. Separate debug files are looked for in
 * AUTOTRACE_DEBUG_FILE_DIRECTORY (none without it). */
#include "../../preload/callsite.h"
#include "../../preload/config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s FILE < addresses\n", argv[0]);
		return 2;
	}
	const char *dirs = getenv("AUTOTRACE_DEBUG_FILE_DIRECTORY");
	snprintf(at_cfg.debug_dirs, sizeof at_cfg.debug_dirs, "%s", dirs ? dirs : "");
	char line[64], name[256], file[512];
	while (fgets(line, sizeof line, stdin)) {
		uint64_t a = strtoull(line, NULL, 16);
		unsigned ln = 0;
		at_callsite_object_frame(argv[1], a, name, sizeof name, file, sizeof file, &ln);
		printf("%s\t%s\t%u\n", name, file, ln);
	}
	return 0;
}
