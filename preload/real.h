/* Resolving the real functions behind our hooks. */
#ifndef AT_REAL_H
#define AT_REAL_H

#include <stdint.h>

/* The mapped range [lo, hi) of the loaded object holding addr (its PT_LOAD
 * segments, from dl_iterate_phdr: no symbol table scan); 0, or -1. */
int at_object_range(const void *addr, uintptr_t *lo, uintptr_t *hi);

/* The next definition of name after this library; NULL if none, or if the
 * only one found is our own (a hook must never call itself). */
void *at_real(const char *name);
/* A versioned symbol's given version (dlvsym: before glibc 2.36 dlsym with
 * RTLD_NEXT could give the oldest, a compatibility one, BZ #14932), else
 * what at_real finds. */
void *at_real_version(const char *name, const char *version);
/* Whether the object that holds addr (a caller's return address) was
 * linked against a version of soname's symbols at or after major.minor
 * ("GLIBC_2.15": 2, 15), by its version needs: 1, 0 (none that late: it
 * was linked against an older library), -1 (not known: no such object, no
 * version needs on soname). Reads only within the object's mapped
 * segments. */
int at_caller_needs(const void *addr, const char *soname, const char *prefix, int major,
                    int minor);
/* The same, falling back to libraries loaded with RTLD_LOCAL (dlopen'ed by
 * Perl, Python or PHP extensions), looked up by their sonames. */
void *at_real_in(const char *name, const char *const *sonames);

/* name from the very object that defines fn (a sibling of a real function:
 * never one of another library of the same API); NULL if it has none. */
void *at_real_beside(const void *fn, const char *name);

/* A library the shim uses only now and then (libunwind, zlib), not linked:
 * dlopen'ed with RTLD_LOCAL (its symbols stay out of the host's scope) and
 * the n functions named looked up into fns. 0 when all are there; else -1,
 * and a warning, once per call, says so and what is lost ("without"). */
int at_load_library(const char *soname, const char *const *names, void **fns, int n,
                    const char *without);

/* One way to declare a hook's real function and to resolve it lazily: the
 * first call resolves (dlsym may allocate, so never on a hot path after). */
#define AT_REAL(ret, name, args) static ret(*real_##name) args
#define AT_RESOLVE(name)                                                                   \
	(__builtin_expect(real_##name != 0, 1)                                             \
		 ? 1                                                                       \
		 : ((real_##name = (__typeof__(real_##name))at_real(#name)) != 0))
#define AT_RESOLVE_IN(name, sonames)                                                       \
	(__builtin_expect(real_##name != 0, 1)                                             \
		 ? 1                                                                       \
		 : ((real_##name = (__typeof__(real_##name))at_real_in(#name, sonames)) != 0))

#endif
