/* The one resolver for real symbols. dlsym is called at most once per symbol
 * (the caller caches the pointer): glibc's dlsym may allocate, and an
 * allocator that calls a hooked function would recurse through it. */
#define _GNU_SOURCE
#include "real.h"

#include "log.h"

#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* The loaded object holding addr: its mapped range [lo, hi), its load
 * bias and its dynamic section (0: none). */
struct range {
	uintptr_t addr, lo, hi, base, dyn;
};

static int find_range(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct range *r = arg;
	uintptr_t lo = UINTPTR_MAX, hi = 0, dyn = 0;
	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_DYNAMIC)
			dyn = a;
		if (ph->p_type != PT_LOAD)
			continue;
		if (a < lo)
			lo = a;
		if (a + ph->p_memsz > hi)
			hi = a + ph->p_memsz;
	}
	if (r->addr < lo || r->addr >= hi)
		return 0;
	r->lo = lo;
	r->hi = hi;
	r->base = info->dlpi_addr;
	r->dyn = dyn;
	return 1;
}

int at_object_range(const void *addr, uintptr_t *lo, uintptr_t *hi)
{
	struct range r = {(uintptr_t)addr, 0, 0, 0, 0};
	if (!dl_iterate_phdr(find_range, &r))
		return -1;
	*lo = r.lo;
	*hi = r.hi;
	return 0;
}

/* Our own loaded segments, found once: "is this address ours?" is then
 * two compares (dladdr on every lookup scans symbol tables: ~100k
 * instructions each, milliseconds at start-up). */
static uintptr_t self_lo, self_hi;
static int self_known;

static int is_ours(void *p)
{
	if (!self_known) {
		at_object_range((void *)&is_ours, &self_lo, &self_hi);
		self_known = 1;
	}
	return p && (uintptr_t)p >= self_lo && (uintptr_t)p < self_hi;
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

void *at_real_version(const char *name, const char *version)
{
	void *p = dlvsym(RTLD_NEXT, name, version);
	return p && !is_ours(p) ? p : at_real(name);
}

struct needs {
	const char *prefix;
	int major, minor;
	uintptr_t lo, hi;
};

/* p .. p + n inside the object's mapped range */
static int inside(const struct needs *q, uintptr_t p, size_t n)
{
	return p >= q->lo && p <= q->hi && n <= q->hi - p;
}

/* The string at p (within the range): equal to s? */
static int str_is(const struct needs *q, uintptr_t p, const char *s)
{
	size_t n = strlen(s) + 1;
	return inside(q, p, n) && !memcmp((const char *)p, s, n);
}

/* "<prefix>major.minor[.patch]" at or after the one asked for: 1, 0, or -1
 * for another kind of name (GLIBC_PRIVATE) */
static int late_enough(const struct needs *q, uintptr_t p)
{
	if (!inside(q, p, 1))
		return -1;
	const char *s = (const char *)p;
	size_t max = q->hi - p, pl = strlen(q->prefix);
	int major, minor;
	if (strnlen(s, max) == max || strncmp(s, q->prefix, pl) ||
	    sscanf(s + pl, "%4d.%4d", &major, &minor) != 2)
		return -1;
	return major > q->major || (major == q->major && minor >= q->minor);
}

int at_caller_needs(const void *addr, const char *soname, const char *prefix, int major,
                    int minor)
{
	struct range r = {(uintptr_t)addr, 0, 0, 0, 0};
	if (!dl_iterate_phdr(find_range, &r))
		return -1;
	struct needs q = {prefix, major, minor, r.lo, r.hi};
	/* its version needs: the dynamic linker relocates some d_ptr
	 * entries in place (DT_STRTAB) and not others (DT_VERNEED) */
	uintptr_t strtab = 0, vn = 0;
	size_t count = 0;
	for (uintptr_t dyn = r.dyn; dyn && inside(&q, dyn, sizeof(ElfW(Dyn)));
	     dyn += sizeof(ElfW(Dyn))) {
		const ElfW(Dyn) *d = (const ElfW(Dyn) *)dyn;
		if (d->d_tag == DT_NULL)
			break;
		if (d->d_tag == DT_STRTAB)
			strtab = d->d_un.d_ptr;
		else if (d->d_tag == DT_VERNEED)
			vn = d->d_un.d_ptr;
		else if (d->d_tag == DT_VERNEEDNUM)
			count = d->d_un.d_val;
	}
	if (strtab && strtab < q.lo)
		strtab += r.base;
	if (vn && vn < q.lo)
		vn += r.base;
	for (size_t k = 0; vn && strtab && k < count && inside(&q, vn, sizeof(ElfW(Verneed))); k++) {
		const ElfW(Verneed) *n = (const ElfW(Verneed) *)vn;
		if (str_is(&q, strtab + n->vn_file, soname)) {
			uintptr_t aux = vn + n->vn_aux;
			for (unsigned j = 0; j < n->vn_cnt && inside(&q, aux, sizeof(ElfW(Vernaux))); j++) {
				const ElfW(Vernaux) *x = (const ElfW(Vernaux) *)aux;
				if (late_enough(&q, strtab + x->vna_name) == 1)
					return 1;
				if (!x->vna_next)
					break;
				aux += x->vna_next;
			}
			return 0;
		}
		if (!n->vn_next)
			break;
		vn += n->vn_next;
	}
	return -1;
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

void *at_real_beside(const void *fn, const char *name)
{
	Dl_info di;
	if (!fn || !dladdr(fn, &di) || !di.dli_fname)
		return NULL;
	void *h = dlopen(di.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
	if (!h)
		return NULL;
	void *p = dlsym(h, name);
	dlclose(h); /* NOLOAD took a reference; the host keeps its own */
	Dl_info pi;
	if (!p || is_ours(p) || !dladdr(p, &pi) || pi.dli_fbase != di.dli_fbase)
		return NULL; /* (dlsym on a handle also searches its dependencies) */
	return p;
}

int at_load_library(const char *soname, const char *const *names, void **fns, int n,
                    const char *without)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	const char *missing = NULL;
	for (int i = 0; h && i < n; i++)
		if (!(fns[i] = dlsym(h, names[i])) && !missing)
			missing = names[i];
	if (h && !missing)
		return 0;
	if (h) {
		at_warn("%s: %s is missing; %s", soname, missing, without);
		dlclose(h);
	} else
		at_warn("%s cannot be loaded; %s", soname, without);
	return -1;
}
