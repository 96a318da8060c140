/* C++ and Rust function names for code.function.name (preload/demangle.c,
 * preload/demangle_rust.c). */
#ifndef AT_DEMANGLE_H
#define AT_DEMANGLE_H

#include <stddef.h>

/* A mangled name (_Z...) as "ns::Class::method" into out; 1, or 0 when it
 * is no mangled name or cannot be demangled here (no libstdc++ loaded, and
 * may_load 0 or none installed). Exporter only (not thread-safe). */
int at_demangle(const char *mangled, char *out, size_t len, int may_load);

/* A Rust symbol, legacy (_ZN...17h<hash>E) or v0 (_R...), as Rust writes
 * its path, without hashes, cut to len - 1 bytes (preload/demangle_rust.c);
 * 1, or 0 when it is no Rust symbol understood here. */
int at_demangle_rust(const char *mangled, char *out, size_t len);

#endif
