/* The one resolver for real symbols. dlsym is called at most once per symbol
 * (the caller caches the pointer): glibc's dlsym may allocate, and an
 * allocator that calls a hooked function would recurse through it. */
#define _GNU_SOURCE
#include "real.h"

#include "log.h"

#include <dlfcn.h>
#include <stddef.h>

static int is_ours(void *p)
{
	Dl_info self, other;
	if (!p || !dladdr((void *)&is_ours, &self) || !dladdr(p, &other))
		return 0;
	return self.dli_fbase == other.dli_fbase;
}

void *at_real(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (is_ours(p)) {
		at_error("refusing to bind %s to itself", name);
		return NULL;
	}
	return p;
}

void *at_real_in(const char *name, const char *const *sonames)
{
	void *p = at_real(name);
	for (int i = 0; !p && sonames && sonames[i]; i++) {
		/* RTLD_NOLOAD: only a library the host already loaded */
		void *h = dlopen(sonames[i], RTLD_LAZY | RTLD_NOLOAD);
		if (!h)
			continue;
		p = dlsym(h, name);
		if (is_ours(p))
			p = NULL;
		dlclose(h); /* NOLOAD took a reference; the host keeps its own */
	}
	if (!p)
		at_debug("%s not found in the host", name);
	return p;
}
