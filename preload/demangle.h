/* C++ function names for code.function.name (preload/demangle.c). */
#ifndef AT_DEMANGLE_H
#define AT_DEMANGLE_H

#include <stddef.h>

/* A mangled name (_Z...) as "ns::Class::method" into out; 1, or 0 when it
 * is no mangled name or cannot be demangled here (no libstdc++ loaded, and
 * may_load 0 or none installed). Exporter only (not thread-safe). */
int at_demangle(const char *mangled, char *out, size_t len, int may_load);

#endif
