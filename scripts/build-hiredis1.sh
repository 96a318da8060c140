#!/bin/sh
# Builds hiredis 1.2.0 (soname libhiredis.so.1.1.0, the 1.x ABI) into DIR, so
# the Redis tests can run the same programs against it as against Debian's
# 0.14. The source comes from the npm package redis-fast-driver@2.2.6, which
# ships it in deps/hiredis; it stays in DIR (a build directory), never in
# the tree.
#   scripts/build-hiredis1.sh DIR
# Leaves DIR/lib/libhiredis.so.1.1.0 (+ libhiredis.so) and DIR/include/hiredis/*.h.
set -eu
dir=${1:?usage: build-hiredis1.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
[ -f "$dir/lib/libhiredis.so.1.1.0" ] && [ -f "$dir/include/hiredis/hiredis.h" ] && exit 0

pkg=redis-fast-driver@2.2.6
work="$dir/src"
rm -rf "$work"
mkdir -p "$work"
(cd "$work" && npm pack --silent "$pkg" >/dev/null && tar xzf redis-fast-driver-*.tgz)
src="$work/package/deps/hiredis"
grep -q 'HIREDIS_SONAME 1.1.0' "$src/hiredis.h" || {
	echo "unexpected hiredis version in $pkg" >&2
	exit 1
}
# plain -Wall: its Makefile's -Werror trips on newer compilers
make -s -C "$src" dynamic OPTIMIZATION=-O2 WARNINGS=-Wall USE_SSL=0 >/dev/null
mkdir -p "$dir/lib" "$dir/include/hiredis/adapters"
cp "$src/libhiredis.so" "$dir/lib/libhiredis.so.1.1.0"
ln -sf libhiredis.so.1.1.0 "$dir/lib/libhiredis.so"
cp "$src"/hiredis.h "$src"/async.h "$src"/read.h "$src"/sds.h "$src"/alloc.h "$dir/include/hiredis/"
cp "$src"/adapters/*.h "$dir/include/hiredis/adapters/"
