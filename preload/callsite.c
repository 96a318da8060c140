/* Symbolizing span->caller on the exporter thread. dladdr names functions
 * in the dynamic symbol table; the functions of an executable are usually
 * not there (no -rdynamic), so for those we read the object's own ELF
 * .symtab (mapped read-only from the file, once per object). Results are
 * cached by address: a program calls a hook from few places. File and line
 * come from the object's DWARF line table when it has one (dwarf_line.c:
 * no library; not from separate debug files, not compressed sections);
 * where the call was inlined from a system header (a _FORTIFY_SOURCE
 * wrapper of <stdio.h>), from the call site of that inlined code, and the
 * function is then the one whose code holds that call (dwarf_info.c).
 * An exporter in a helper process symbolizes the app's addresses instead
 * (at_callsite_set_remote): its objects come from /proc/<pid>/maps, and
 * without dladdr the names come from .symtab or else .dynsym. */
#define _GNU_SOURCE
#include "callsite.h"

#include "autotrace.h"
#include "config.h"
#include "dwarf_info.h"
#include "dwarf_line.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_SIZE 1024 /* direct-mapped, by return address */
#define NAME_MAX_LEN 112
#define MAX_MODULES 32
#define FILE_MAX_LEN 192
#define DWARF_LINE_MAX (64u << 20)

struct entry {
	uintptr_t addr;
	/* the function's name then the file's path, side by side (one copy
	 * into a span for both); each "" when unknown */
	char text[NAME_MAX_LEN + FILE_MAX_LEN];
	unsigned line;
	uint16_t name_len, file_len;
};

struct module {
	uintptr_t bias;   /* load bias: symbol values + bias = addresses */
	uintptr_t lo, hi; /* remote only: the object's mappings, first to last */
	const ElfW(Sym) * syms;
	size_t nsyms;
	const char *strs;
	size_t strsz;
	struct at_dwarf_sections dw;
	void *map;
	size_t maplen;
};

static struct entry *cache;
static struct module mods[MAX_MODULES];
static int nmods;
static int remote_pid;        /* 0: this process */
static uintptr_t remote_miss; /* the last address found in no object */

/* ---- the ELF .symtab of a mapped object ---- */

struct find {
	uintptr_t addr, bias;
	const char *name;
	int found;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct find *f = arg;
	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (f->addr >= lo && f->addr < lo + ph->p_memsz) {
			f->bias = info->dlpi_addr;
			f->name = info->dlpi_name;
			f->found = 1;
			return 1;
		}
	}
	return 0;
}

/* A section's bytes, or NULL if out of the file or compressed. */
static const void *section(const unsigned char *base, size_t len, const ElfW(Shdr) * sh)
{
	if (sh->sh_type == SHT_NOBITS || (sh->sh_flags & SHF_COMPRESSED) || sh->sh_offset > len ||
	    sh->sh_size > len - sh->sh_offset)
		return NULL;
	return base + sh->sh_offset;
}

/* One object in another process's /proc/<pid>/maps: the lines of its file
 * in a row, the first one mapping its first PT_LOAD. */
struct mapped {
	uintptr_t lo, hi; /* first line's start, last line's end */
	uint64_t off;     /* first line's file offset */
	char path[PATH_MAX];
};

/* The load bias, what dl_iterate_phdr gives as dlpi_addr (0 for a non-PIE
 * executable, the load base for a PIE or a library): the loader maps the
 * PT_LOAD holding file offset off at page_down(bias + p_vaddr), off being
 * page_down(p_offset), so bias = lo - (p_vaddr + (off - p_offset)). */
static int load_bias(const unsigned char *base, size_t len, const struct mapped *o, uintptr_t *bias)
{
	const ElfW(Ehdr) *eh = (const void *)base;
	if (eh->e_phentsize != sizeof(ElfW(Phdr)) || eh->e_phoff >= len ||
	    eh->e_phnum > (len - eh->e_phoff) / sizeof(ElfW(Phdr)))
		return 0;
	const ElfW(Phdr) *ph = (const void *)(base + eh->e_phoff);
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || !ph[i].p_filesz)
			continue;
		/* the first match: segments may share a page of the file */
		if (o->off >= (ph[i].p_offset & ~(page - 1)) &&
		    (o->off < ph[i].p_offset || o->off - ph[i].p_offset < ph[i].p_filesz)) {
			*bias = o->lo - (uintptr_t)(ph[i].p_vaddr + (o->off - ph[i].p_offset));
			return 1;
		}
	}
	return 0;
}

/* Maps the object's file and finds .symtab/.strtab (else .dynsym/.dynstr,
 * for stripped objects when dladdr cannot be used) and the DWARF line
 * sections; keeps the mapping only if there is any of them. o: where the
 * object lies in another process, to compute the bias from. */
static void load_object(struct module *m, const char *path, const struct mapped *o)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	struct stat st;
	void *map = MAP_FAILED;
	if (!fstat(fd, &st) && st.st_size >= (off_t)sizeof(ElfW(Ehdr)))
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return;
	size_t len = (size_t)st.st_size;
	const ElfW(Ehdr) *eh = map;
	const unsigned char *base = map;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != (__ELF_NATIVE_CLASS == 64 ? ELFCLASS64 : ELFCLASS32) ||
	    eh->e_shentsize != sizeof(ElfW(Shdr)) || eh->e_shoff >= len ||
	    eh->e_shnum > (len - eh->e_shoff) / sizeof(ElfW(Shdr)) || eh->e_shstrndx >= eh->e_shnum)
		goto fail;
	if (o && !load_bias(base, len, o, &m->bias))
		goto fail;
	const ElfW(Shdr) *sh = (const void *)(base + eh->e_shoff);
	const char *names = section(base, len, &sh[eh->e_shstrndx]);
	size_t names_len = sh[eh->e_shstrndx].sh_size;
	for (int i = 0; i < eh->e_shnum; i++) {
		const void *data = section(base, len, &sh[i]);
		if (!data)
			continue;
		/* .symtab wins over .dynsym, wherever each is */
		if ((sh[i].sh_type == SHT_SYMTAB || (sh[i].sh_type == SHT_DYNSYM && !m->syms)) &&
		    sh[i].sh_link < eh->e_shnum) {
			const char *str = section(base, len, &sh[sh[i].sh_link]);
			if (!str || !sh[sh[i].sh_link].sh_size)
				continue;
			m->syms = data;
			m->nsyms = sh[i].sh_size / sizeof(ElfW(Sym));
			m->strs = str;
			m->strsz = sh[sh[i].sh_link].sh_size;
		} else if (names && sh[i].sh_name < names_len &&
		           memchr(names + sh[i].sh_name, 0, names_len - sh[i].sh_name)) {
			const char *n = names + sh[i].sh_name;
			/* bounded: every new caller address walks the whole table */
			if (!strcmp(n, ".debug_line") && sh[i].sh_size <= DWARF_LINE_MAX) {
				m->dw.line = data;
				m->dw.line_len = sh[i].sh_size;
			} else if (!strcmp(n, ".debug_line_str")) {
				m->dw.line_str = data;
				m->dw.line_str_len = sh[i].sh_size;
			} else if (!strcmp(n, ".debug_str")) {
				m->dw.str = data;
				m->dw.str_len = sh[i].sh_size;
			} else if (!strcmp(n, ".debug_info")) {
				m->dw.info = data;
				m->dw.info_len = sh[i].sh_size;
			} else if (!strcmp(n, ".debug_abbrev")) {
				m->dw.abbrev = data;
				m->dw.abbrev_len = sh[i].sh_size;
			} else if (!strcmp(n, ".debug_ranges")) {
				m->dw.ranges = data;
				m->dw.ranges_len = sh[i].sh_size;
			} else if (!strcmp(n, ".debug_rnglists")) {
				m->dw.rnglists = data;
				m->dw.rnglists_len = sh[i].sh_size;
			} else if (!strcmp(n, ".debug_addr")) {
				m->dw.addr = data;
				m->dw.addr_len = sh[i].sh_size;
			} else if (!strcmp(n, ".debug_str_offsets")) {
				m->dw.str_offsets = data;
				m->dw.str_offsets_len = sh[i].sh_size;
			}
		}
	}
	if (m->syms || m->dw.line) {
		m->map = map;
		m->maplen = len;
		return;
	}
fail:
	munmap(map, len); /* stripped: nothing to keep */
}

/* Finds the object holding addr in /proc/<pid>/maps. Only files count
 * (a path, not deleted): an object is the lines of one file in a row (a
 * line that is no file, say in a gap between its segments, does not end
 * it), and offset 0 starts another (a second copy of the same file). */
static int maps_find(int pid, uintptr_t addr, struct mapped *o)
{
	char fn[32];
	snprintf(fn, sizeof fn, "/proc/%d/maps", pid);
	FILE *f = fopen(fn, "re");
	if (!f)
		return 0;
	char *line = NULL;
	size_t cap = 0;
	unsigned dmaj = 0, dmin = 0, gmaj = 0, gmin = 0;
	unsigned long long ino = 0, gino = 0, off;
	uintptr_t lo, hi;
	int n, found = 0, group = 0;
	while (getline(&line, &cap, f) > 0) {
		n = 0;
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %*s %llx %x:%x %llu %n", &lo, &hi, &off,
		           &dmaj, &dmin, &ino, &n) < 6 ||
		    !n)
			continue;
		char *path = line + n;
		size_t pl = strcspn(path, "\n");
		path[pl] = 0;
		if (path[0] != '/' || (pl > 10 && !strcmp(path + pl - 10, " (deleted)")))
			continue;
		if (!group || off == 0 || ino != gino || dmaj != gmaj || dmin != gmin) {
			if (found)
				break; /* the object holding addr has ended */
			group = 1;
			gino = ino, gmaj = dmaj, gmin = dmin;
			o->lo = lo;
			o->off = off;
		}
		o->hi = hi;
		if (!found && addr >= lo && addr < hi && pl < sizeof o->path) {
			memcpy(o->path, path, pl + 1);
			found = 1;
		}
	}
	free(line);
	fclose(f);
	return found;
}

int at_maps_path(int pid, uintptr_t addr, char *path, size_t len)
{
	struct mapped o;
	if (!maps_find(pid, addr, &o) || strlen(o.path) >= len)
		return -1;
	strcpy(path, o.path);
	return 0;
}

static struct module *remote_module_for(uintptr_t addr)
{
	for (int i = 0; i < nmods; i++)
		if (addr >= mods[i].lo && addr < mods[i].hi)
			return &mods[i];
	/* not in a known object: read the maps again (the app may have
	 * dlopen'ed it since), once per such address; the caller's cache keeps
	 * the answer, and remote_miss spares symbolize and line a second read */
	if (addr == remote_miss || nmods == MAX_MODULES)
		return NULL;
	struct mapped o;
	if (!maps_find(remote_pid, addr, &o)) {
		remote_miss = addr;
		return NULL;
	}
	struct module *m = &mods[nmods++];
	memset(m, 0, sizeof *m);
	m->lo = o.lo;
	m->hi = o.hi;
	load_object(m, o.path, &o); /* an unreadable file: known, nothing in it */
	return m;
}

static struct module *module_for(uintptr_t addr)
{
	if (remote_pid)
		return remote_module_for(addr);
	struct find f = {addr, 0, NULL, 0};
	dl_iterate_phdr(find_object, &f);
	if (!f.found)
		return NULL;
	for (int i = 0; i < nmods; i++)
		if (mods[i].bias == f.bias)
			return &mods[i];
	if (nmods == MAX_MODULES)
		return NULL;
	struct module *m = &mods[nmods++];
	memset(m, 0, sizeof *m);
	m->bias = f.bias;
	/* the main program has no name here; its file is /proc/self/exe */
	load_object(m, f.name && f.name[0] ? f.name : "/proc/self/exe", NULL);
	return m;
}

static int symtab_lookup(const struct module *m, uintptr_t addr, char *name, size_t len)
{
	uintptr_t rel = addr - m->bias;
	for (size_t i = 0; i < m->nsyms; i++) {
		const ElfW(Sym) *s = &m->syms[i];
		int type = ELF64_ST_TYPE(s->st_info); /* the same for ELF32 */
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s->st_shndx == SHN_UNDEF)
			continue;
		if (rel < s->st_value || rel >= s->st_value + s->st_size)
			continue;
		if (s->st_name >= m->strsz)
			return 0;
		const char *n = m->strs + s->st_name;
		size_t nl = strnlen(n, m->strsz - s->st_name);
		if (nl >= len)
			nl = len - 1;
		memcpy(name, n, nl);
		name[nl] = 0;
		return nl > 0;
	}
	return 0;
}

int at_callsite_symbolize(uintptr_t addr, char *name, size_t len)
{
	name[0] = 0;
	if (!addr || len < 2)
		return 0;
	/* a return address may already be past the end of a function whose
	 * last instruction is the call: look up the call itself */
	uintptr_t at = addr - 1;
	Dl_info di;
	if (!remote_pid && dladdr((void *)at, &di) && di.dli_sname && di.dli_sname[0]) {
		size_t nl = strlen(di.dli_sname);
		if (nl >= len)
			nl = len - 1;
		memcpy(name, di.dli_sname, nl);
		name[nl] = 0;
		return 1;
	}
	struct module *m = module_for(at);
	return m && m->syms && symtab_lookup(m, at, name, len);
}

int at_callsite_line(uintptr_t addr, char *file, size_t len, unsigned *line)
{
	file[0] = 0;
	*line = 0;
	if (!addr || len < 2)
		return 0;
	struct module *m = module_for(addr - 1);
	if (!m || !m->dw.line)
		return 0;
	/* DWARF addresses are link-time addresses, like symbol values */
	return at_dwarf_line(&m->dw, addr - 1 - m->bias, file, len, line) && file[0];
}

/* Code of a system header, whose own lines name no call of the program's:
 * <stdio.h>'s _FORTIFY_SOURCE wrappers, the compiler's intrinsics. */
static int system_header(const char *f)
{
	static const char *const dirs[] = {"/usr/include/", "/usr/local/include/", "/usr/lib/gcc/",
	                                   "/usr/lib/llvm-"};
	for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++)
		if (!strncmp(f, dirs[i], strlen(dirs[i])))
			return 1;
	return 0;
}

/* Where the call at vaddr (a link-time address of m) was inlined, the
 * innermost of the inlined calls there that is not a system header's code:
 * file and line (the line table's on entry) become its call site's, and
 * the name (the symbol's on entry: the function that holds them all) the
 * function that call is in. */
static void inlined_frame(const struct module *m, uint64_t vaddr, char *name, size_t nlen,
                          char *file, size_t flen, unsigned *line)
{
	struct at_dwarf_inlined in[AT_DWARF_INLINED_MAX];
	uint64_t stmt_list;
	char f[FILE_MAX_LEN];
	if (!m->dw.info || !file[0])
		return;
	int n = at_dwarf_inlined(&m->dw, vaddr, in, AT_DWARF_INLINED_MAX, &stmt_list);
	int k = 0;
	while (k < n && system_header(file) && in[k].call_line &&
	       at_dwarf_file(&m->dw, stmt_list, in[k].call_file, f, sizeof f)) {
		snprintf(file, flen, "%s", f);
		*line = in[k].call_line;
		k++;
	}
	if (k < n && in[k].name)
		snprintf(name, nlen, "%s", in[k].name);
}

int at_callsite_frame(uintptr_t addr, char *name, size_t nlen, char *file, size_t flen,
                      unsigned *line)
{
	at_callsite_symbolize(addr, name, nlen);
	at_callsite_line(addr, file, flen, line);
	struct module *m = file[0] ? module_for(addr - 1) : NULL;
	if (m)
		inlined_frame(m, addr - 1 - m->bias, name, nlen, file, flen, line);
	return name[0] || file[0];
}

int at_callsite_object_frame(const char *path, uint64_t vaddr, char *name, size_t nlen, char *file,
                             size_t flen, unsigned *line)
{
	struct module m;
	memset(&m, 0, sizeof m);
	name[0] = file[0] = 0;
	*line = 0;
	load_object(&m, path, NULL);
	if (m.syms)
		symtab_lookup(&m, vaddr, name, nlen);
	if (m.dw.line && at_dwarf_line(&m.dw, vaddr, file, flen, line) && file[0])
		inlined_frame(&m, vaddr, name, nlen, file, flen, line);
	if (m.map)
		munmap(m.map, m.maplen);
	return name[0] || file[0];
}

void at_callsite_set_remote(int pid)
{
	/* another address space: nothing known about this one holds there */
	for (int i = 0; i < nmods; i++)
		if (mods[i].map)
			munmap(mods[i].map, mods[i].maplen);
	memset(mods, 0, sizeof mods);
	nmods = 0;
	remote_miss = 0;
	if (cache)
		memset(cache, 0, CACHE_SIZE * sizeof *cache);
	remote_pid = pid > 0 ? pid : 0;
}

/* A new address: symbolized, its text side by side in the entry. */
static AT_NOINLINE void fill(struct entry *e, uintptr_t a)
{
	char name[NAME_MAX_LEN], file[FILE_MAX_LEN];
	at_callsite_frame(a, name, sizeof name, file, sizeof file, &e->line);
	size_t nl = strlen(name), fl = strlen(file);
	memcpy(e->text, name, nl);
	memcpy(e->text + nl, file, fl);
	e->name_len = (uint16_t)nl;
	e->file_len = (uint16_t)fl;
	e->addr = a;
}

static AT_ALWAYS_INLINE void annotate(struct at_span *s)
{
	if (!s->caller || !s->recording)
		return;
	uintptr_t a = s->caller;
	struct entry *e = &cache[((a >> 4) ^ (a >> 14)) & (CACHE_SIZE - 1)];
	if (e->addr != a)
		fill(e, a);
	size_t nl = e->name_len, fl = e->file_len;
	if (nl && fl && AT_SPAN_FITS((size_t)s->arena_used, nl + fl)) {
		/* both fit whole, as at_span_set_strn would copy them one after
		 * the other: one copy, two references into it */
		struct at_str t = at_span_intern_fast(s, e->text, nl + fl);
		at_span_set_ref(s, "code.function.name", (struct at_str){t.off, (uint16_t)nl});
		at_span_set_ref(s, "code.file.path",
		                (struct at_str){(uint16_t)(t.off + nl), (uint16_t)fl});
		at_span_set_int(s, "code.line.number", e->line);
		return;
	}
	if (nl)
		at_span_set_strn(s, "code.function.name", e->text, nl);
	if (fl) {
		at_span_set_strn(s, "code.file.path", e->text + nl, fl);
		at_span_set_int(s, "code.line.number", e->line);
	}
}

void at_callsite_annotate_one(struct at_span *s)
{
	if (at_cfg.callsite && (cache || (cache = calloc(CACHE_SIZE, sizeof *cache))))
		annotate(s);
}
