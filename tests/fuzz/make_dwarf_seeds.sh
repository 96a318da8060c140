#!/bin/sh
# Seeds for tests/fuzz/fuzz_dwarf.c: a small C file with inlined calls,
# compiled with DWARF 4 and 5, and through dwz, each object's sections
# laid out as the target reads them, with the address of a call inside
# inlined code.
set -eu
out=${1:-tests/fuzz/seeds/fuzz_dwarf}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
cat > "$tmp/s.c" <<'C'
#include <stdio.h>
static inline int twice(FILE *f, char *b) { return fgets(b, 8, f) && fgets(b, 8, f); }
static int once(FILE *f, char *b) { return twice(f, b) + (fgets(b, 4, f) != 0); }
int main(void) { char b[8]; return once(stdin, b) + twice(stdin, b); }
C
for v in 4 5 dwz; do
	if [ "$v" = dwz ]; then
		# as Debian's debug packages: what two builds share moved to a
		# supplementary file by dwz (its forms point there)
		command -v dwz >/dev/null || continue
		cc -O2 -g -D_FORTIFY_SOURCE=2 -o "$tmp/odwz" "$tmp/s.c"
		cc -O2 -g -D_FORTIFY_SOURCE=2 -DOTHER -o "$tmp/odwz2" "$tmp/s.c"
		dwz -m "$tmp/common" "$tmp/odwz" "$tmp/odwz2"
	else
		cc -O2 -g -gdwarf-$v -D_FORTIFY_SOURCE=2 -o "$tmp/o$v" "$tmp/s.c"
	fi
	for s in abbrev line rnglists addr str info ranges; do
		rm -f "$tmp/$s"
		objcopy --dump-section .debug_$s="$tmp/$s" "$tmp/o$v" 2>/dev/null || :
		[ -f "$tmp/$s" ] || : > "$tmp/$s"
	done
	[ "$v" = 4 ] && cp "$tmp/ranges" "$tmp/rnglists"
	a=$(objdump -d "$tmp/o$v" | sed -n 's/^ *\([0-9a-f]*\):.*call.*fgets.*/\1/p' | head -1)
	python3 - "$tmp" "$a" "$out/gcc-$( [ "$v" = dwz ] && echo dwz || echo dwarf$v )" <<'P'
import struct, sys
d, a, out = sys.argv[1], int(sys.argv[2], 16), sys.argv[3]
secs = [open("%s/%s" % (d, s), "rb").read() for s in ("abbrev", "line", "rnglists", "addr", "str")]
info = open(d + "/info", "rb").read()
with open(out, "wb") as f:
    f.write(struct.pack("<Q", a) + b"".join(struct.pack("<I", len(s)) for s in secs))
    f.write(b"".join(secs) + info)
P
done
