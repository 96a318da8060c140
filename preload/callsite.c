/* Symbolizing span->caller on the exporter thread. dladdr names functions
 * in the dynamic symbol table; the functions of an executable are usually
 * not there (no -rdynamic), so for those we read the object's own ELF
 * .symtab (mapped read-only from the file, once per object). Results are
 * cached by address: a program calls a hook from few places. File and line
 * come from the object's DWARF line table (dwarf_line.c: no library), or
 * its separate debug file's (found by build ID or .gnu_debuglink, as gdb
 * finds it), compressed sections uncompressed with zlib. Where the call
 * was inlined from a system header (a _FORTIFY_SOURCE wrapper of
 * <stdio.h>), they are the call site of that inlined code, and the
 * function the one that call is in (dwarf_info.c); C++ names are
 * demangled (demangle.c).
 * An exporter in a helper process symbolizes the app's addresses instead
 * (at_callsite_set_remote): its objects come from /proc/<pid>/maps, and
 * without dladdr the names come from .symtab or else .dynsym. */
#define _GNU_SOURCE
#include "callsite.h"

#include "autotrace.h"
#include "config.h"
#include "demangle.h"
#include "dwarf_info.h"
#include "dwarf_line.h"

#include "../reporter/gzip.h"

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
#define SYMBOL_MAX_LEN 1024 /* a mangled name, read whole to be demangled */
#define MAX_MODULES 32
#define FILE_MAX_LEN 192
#define DWARF_LINE_MAX (64u << 20)
/* Compressed sections are uncompressed into memory of the process that
 * exports (the traced program's, with the exporter thread): at most this
 * much in all, the rest left unread (no file and line from them). */
#define INFLATED_MAX (32u << 20)
#define BUFS_MAX 10

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
	void *debug_map; /* its separate debug file's, where its DWARF came from */
	size_t debug_maplen;
	struct at_dwarf_sections alt_dw; /* the supplementary file's (dwz), dw.alt */
	void *alt_map;
	size_t alt_maplen;
	void *inflated[BUFS_MAX]; /* compressed sections, uncompressed */
	size_t inflated_len[BUFS_MAX];
	int ninflated;
};

static struct entry *cache;
static size_t inflated_total; /* bytes of uncompressed sections held */
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

/* A section's name, or "" (out of the names' table, not terminated there). */
static const char *section_name(const unsigned char *base, size_t len, const ElfW(Shdr) * sh)
{
	const ElfW(Ehdr) *eh = (const void *)base;
	const ElfW(Shdr) *names = (const ElfW(Shdr) *)(const void *)(base + eh->e_shoff) + eh->e_shstrndx;
	const char *tab = section(base, len, names);
	if (!tab || sh->sh_name >= names->sh_size ||
	    !memchr(tab + sh->sh_name, 0, names->sh_size - sh->sh_name))
		return "";
	return tab + sh->sh_name;
}

/* A DWARF section's bytes and *size: a compressed one (SHF_COMPRESSED,
 * zlib: what `gcc -gz` and Debian's debug packages make) uncompressed into
 * memory the module keeps; NULL if it cannot be had. */
static const void *dwarf_section(struct module *m, const unsigned char *base, size_t len,
                                 const ElfW(Shdr) * sh, size_t *size)
{
	*size = sh->sh_size;
	if (!(sh->sh_flags & SHF_COMPRESSED))
		return section(base, len, sh);
	if (sh->sh_type == SHT_NOBITS || sh->sh_offset > len || sh->sh_size > len - sh->sh_offset ||
	    sh->sh_size < sizeof(ElfW(Chdr)) || m->ninflated == BUFS_MAX)
		return NULL;
	ElfW(Chdr) ch;
	memcpy(&ch, base + sh->sh_offset, sizeof ch);
	if (ch.ch_type != ELFCOMPRESS_ZLIB || !ch.ch_size || ch.ch_size > INFLATED_MAX - inflated_total)
		return NULL;
	void *out = malloc(ch.ch_size);
	if (!out || at_zlib_uncompress(out, ch.ch_size, base + sh->sh_offset + sizeof ch,
	                               sh->sh_size - sizeof ch)) {
		free(out);
		return NULL;
	}
	m->inflated[m->ninflated] = out;
	m->inflated_len[m->ninflated++] = ch.ch_size;
	inflated_total += ch.ch_size;
	*size = ch.ch_size;
	return out;
}

static void module_free(struct module *m)
{
	if (m->map)
		munmap(m->map, m->maplen);
	if (m->debug_map)
		munmap(m->debug_map, m->debug_maplen);
	if (m->alt_map)
		munmap(m->alt_map, m->alt_maplen);
	for (int i = 0; i < m->ninflated; i++) {
		free(m->inflated[i]);
		inflated_total -= m->inflated_len[i];
	}
	memset(m, 0, sizeof *m);
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

/* The file, mapped read-only, if it is an ELF object of this class: its
 * section headers and their names' table are in it. */
static const unsigned char *map_elf(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	void *map = MAP_FAILED;
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_size >= (off_t)sizeof(ElfW(Ehdr)))
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return NULL;
	*len = (size_t)st.st_size;
	const ElfW(Ehdr) *eh = map;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != (__ELF_NATIVE_CLASS == 64 ? ELFCLASS64 : ELFCLASS32) ||
	    eh->e_shentsize != sizeof(ElfW(Shdr)) || eh->e_shoff >= *len ||
	    eh->e_shnum > (*len - eh->e_shoff) / sizeof(ElfW(Shdr)) || eh->e_shstrndx >= eh->e_shnum) {
		munmap(map, *len);
		return NULL;
	}
	return map;
}

/* What a separate debug file is found by: the object's build ID (its
 * .note.gnu.build-id) and its .gnu_debuglink's file name; and where the
 * file the DWARF is taken from names a supplementary one (dwz's
 * .gnu_debugaltlink: a path, then that file's build ID). */
struct debug_ref {
	const unsigned char *id;
	size_t idlen;
	const char *link;
	const char *alt_path;
	const unsigned char *alt_id;
	size_t alt_idlen;
};

/* The ELF file's build ID (its .note.gnu.build-id section: namesz,
 * descsz, type NT_GNU_BUILD_ID, "GNU\0", the ID), or idlen 0. */
static void build_id(const unsigned char *base, size_t len, struct debug_ref *ref)
{
	const ElfW(Ehdr) *eh = (const void *)base;
	const ElfW(Shdr) *sh = (const void *)(base + eh->e_shoff);
	ref->idlen = 0;
	for (int i = 0; i < eh->e_shnum; i++) {
		const uint32_t *note = section(base, len, &sh[i]);
		if (sh[i].sh_type != SHT_NOTE || !note ||
		    strcmp(section_name(base, len, &sh[i]), ".note.gnu.build-id"))
			continue;
		if (sh[i].sh_size >= 16 && note[0] == 4 && note[2] == NT_GNU_BUILD_ID &&
		    note[1] <= sh[i].sh_size - 16 && note[1] <= 64 && note[1] >= 2) {
			ref->id = (const unsigned char *)(note + 4);
			ref->idlen = note[1];
		}
		return;
	}
}

/* Reads the sections of one ELF file into m: symbols (a .symtab wins over
 * a .dynsym: a stripped object's debug file has the .symtab it lost; none
 * from a supplementary file, dw not m's), the DWARF sections into dw where
 * it has none yet, and (ref) its .gnu_debuglink's file name and its
 * .gnu_debugaltlink. */
static void take_sections(struct module *m, struct at_dwarf_sections *dw_to,
                          const unsigned char *base, size_t len, struct debug_ref *ref)
{
	const ElfW(Ehdr) *eh = (const void *)base;
	const ElfW(Shdr) *sh = (const void *)(base + eh->e_shoff);
	int had_dwarf = dw_to->line != NULL;
	for (int i = 0; i < eh->e_shnum; i++) {
		const char *n = section_name(base, len, &sh[i]);
		if (dw_to == &m->dw &&
		    (sh[i].sh_type == SHT_SYMTAB || (sh[i].sh_type == SHT_DYNSYM && !m->syms)) &&
		    sh[i].sh_link < eh->e_shnum) {
			const void *data = section(base, len, &sh[i]);
			const char *str = section(base, len, &sh[sh[i].sh_link]);
			if (!data || !str || !sh[sh[i].sh_link].sh_size)
				continue;
			m->syms = data;
			m->nsyms = sh[i].sh_size / sizeof(ElfW(Sym));
			m->strs = str;
			m->strsz = sh[sh[i].sh_link].sh_size;
			continue;
		}
		if (ref && !strcmp(n, ".gnu_debuglink")) {
			const char *l = section(base, len, &sh[i]);
			if (l && memchr(l, 0, sh[i].sh_size) && *l && !strchr(l, '/'))
				ref->link = l;
			continue;
		}
		if (ref && !had_dwarf && !strcmp(n, ".gnu_debugaltlink")) {
			const char *l = section(base, len, &sh[i]);
			const char *e = l ? memchr(l, 0, sh[i].sh_size) : NULL;
			size_t idlen = e ? sh[i].sh_size - (size_t)(e + 1 - l) : 0;
			if (e && e > l && idlen >= 2 && idlen <= 64) {
				ref->alt_path = l;
				ref->alt_id = (const unsigned char *)e + 1;
				ref->alt_idlen = idlen;
			}
			continue;
		}
		if (had_dwarf || strncmp(n, ".debug_", 7))
			continue;
		const struct {
			const char *name;
			const uint8_t **data;
			size_t *len;
		} dw[] = {
		    {".debug_line", &dw_to->line, &dw_to->line_len},
		    {".debug_line_str", &dw_to->line_str, &dw_to->line_str_len},
		    {".debug_str", &dw_to->str, &dw_to->str_len},
		    {".debug_info", &dw_to->info, &dw_to->info_len},
		    {".debug_abbrev", &dw_to->abbrev, &dw_to->abbrev_len},
		    {".debug_ranges", &dw_to->ranges, &dw_to->ranges_len},
		    {".debug_rnglists", &dw_to->rnglists, &dw_to->rnglists_len},
		    {".debug_addr", &dw_to->addr, &dw_to->addr_len},
		    {".debug_str_offsets", &dw_to->str_offsets, &dw_to->str_offsets_len},
		};
		for (size_t k = 0; k < sizeof dw / sizeof dw[0]; k++) {
			if (strcmp(n, dw[k].name))
				continue;
			size_t size;
			const void *data = dwarf_section(m, base, len, &sh[i], &size);
			/* bounded: every new caller address walks the whole table */
			if (data && (k || size <= DWARF_LINE_MAX)) {
				*dw[k].data = data;
				*dw[k].len = size;
			}
		}
	}
}

/* Whether the ELF file at base has the build ID id (one without any does
 * not match an object that has one). */
static int same_build_id(const unsigned char *base, size_t len, const struct debug_ref *want)
{
	if (!want->idlen)
		return 1;
	struct debug_ref got = {0};
	build_id(base, len, &got);
	return got.idlen == want->idlen && !memcmp(got.id, want->id, got.idlen);
}

/* The ELF file cand if it is the debug file of the object at real (not
 * that object itself, which a debuglink may name). */
static const unsigned char *debug_candidate(const char *cand, const char *real,
                                            const struct debug_ref *ref, size_t *len)
{
	if (!strcmp(cand, real))
		return NULL;
	const unsigned char *base = map_elf(cand, len);
	if (base && !same_build_id(base, *len, ref)) {
		munmap((void *)base, *len);
		base = NULL;
	}
	return base;
}

#define EACH_DIR(d, dl)                                                                            \
	for (d = at_cfg.debug_dirs; *d; d += dl + (d[dl] == ':'))                                  \
		if ((dl = (int)strcspn(d, ":")) > 0)
/* cand, formatted, if it is the file wanted (see debug_candidate); it is
 * left in found (PATH_MAX) */
#define TRY(...)                                                                                   \
	if ((size_t)snprintf(found, PATH_MAX, __VA_ARGS__) < PATH_MAX &&                           \
	    (b = debug_candidate(found, real, want, len)))                                         \
		return b;

/* DIR/.build-id/xx/yyyy.debug under each DIR of AUTOTRACE_DEBUG_FILE_DIRECTORY
 * for want's build ID. */
static const unsigned char *by_build_id(const char *real, const struct debug_ref *want, size_t *len,
                                        char *found)
{
	const unsigned char *b;
	const char *d;
	int dl;
	if (want->idlen < 2)
		return NULL;
	char hex[2 * 64 + 1];
	for (size_t k = 1; k < want->idlen; k++)
		snprintf(hex + 2 * (k - 1), 3, "%02x", want->id[k]);
	EACH_DIR(d, dl) TRY("%.*s/.build-id/%02x/%s.debug", dl, d, want->id[0], hex)
	return NULL;
}

/* The separate debug file of the object at path, as gdb looks for it: by
 * build ID (Debian's -dbgsym packages: /usr/lib/debug), then the
 * debuglink's file beside the object, in its .debug directory, and under
 * each DIR with the object's directory. It must have the object's build
 * ID, if it has one. Its path is left in found (PATH_MAX). */
static const unsigned char *debug_file(const char *path, const struct debug_ref *want, size_t *len,
                                       char *found)
{
	char real[PATH_MAX];
	if (!realpath(path, real)) /* /proc/self/exe: the program's own path */
		return NULL;
	int dirlen = (int)(strrchr(real, '/') - real);
	const unsigned char *b = by_build_id(real, want, len, found);
	const char *d;
	int dl;
	if (b)
		return b;
	if (want->link) {
		TRY("%.*s/%s", dirlen, real, want->link)
		TRY("%.*s/.debug/%s", dirlen, real, want->link)
		EACH_DIR(d, dl) TRY("%.*s%.*s/%s", dl, d, dirlen, real, want->link)
	}
	return NULL;
}

/* The supplementary file that the DWARF file at path names (dwz's
 * .gnu_debugaltlink: the strings and entries that several objects share,
 * as Debian's debug packages have them under /usr/lib/debug/.dwz), as gdb
 * finds it: by its build ID, then by its path (a relative one from the
 * directory of the file that names it). Its sections become m->dw.alt. */
static void load_alt(struct module *m, const char *path, const struct debug_ref *ref)
{
	char real[PATH_MAX], found[PATH_MAX];
	size_t len;
	if (!ref->alt_path || !realpath(path, real))
		return;
	int dirlen = (int)(strrchr(real, '/') - real);
	const struct debug_ref want = {.id = ref->alt_id, .idlen = ref->alt_idlen};
	const unsigned char *b = by_build_id(real, &want, &len, found);
	if (!b && ref->alt_path[0] == '/')
		b = debug_candidate(ref->alt_path, real, &want, &len);
	else if (!b && (size_t)snprintf(found, sizeof found, "%.*s/%s", dirlen, real, ref->alt_path) <
	                   sizeof found)
		b = debug_candidate(found, real, &want, &len);
	if (!b)
		return;
	take_sections(m, &m->alt_dw, b, len, NULL);
	m->alt_map = (void *)b;
	m->alt_maplen = len;
	if (m->alt_dw.info && m->alt_dw.abbrev)
		m->dw.alt = &m->alt_dw;
}
#undef TRY
#undef EACH_DIR

/* Maps the object's file and finds .symtab/.strtab (else .dynsym/.dynstr,
 * for stripped objects when dladdr cannot be used) and the DWARF sections,
 * its own or its separate debug file's, and their supplementary file's;
 * keeps the mappings only if there is any of them. o: where the object
 * lies in another process, to compute the bias from. */
static void load_object(struct module *m, const char *path, const struct mapped *o)
{
	size_t len;
	const unsigned char *base = map_elf(path, &len);
	if (!base)
		return;
	if (o && !load_bias(base, len, o, &m->bias)) {
		munmap((void *)base, len);
		return;
	}
	struct debug_ref ref = {0};
	take_sections(m, &m->dw, base, len, &ref);
	build_id(base, len, &ref);
	m->map = (void *)base;
	m->maplen = len;
	if (m->dw.line) {
		load_alt(m, path, &ref);
	} else if (ref.idlen || ref.link) {
		size_t dlen;
		char found[PATH_MAX];
		const unsigned char *d = debug_file(path, &ref, &dlen, found);
		if (d) {
			struct debug_ref dref = {0};
			take_sections(m, &m->dw, d, dlen, &dref);
			m->debug_map = (void *)d;
			m->debug_maplen = dlen;
			load_alt(m, found, &dref);
		}
	}
	if (!m->syms && !m->dw.line) { /* stripped: nothing to keep */
		uintptr_t bias = m->bias, lo = m->lo, hi = m->hi;
		module_free(m);
		m->bias = bias, m->lo = lo, m->hi = hi;
	}
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

/* The call at vaddr (a link-time address of m), file and line the line
 * table's, name the symbol's (the function that holds all inlined code
 * there) on entry. Where it was inlined, the innermost of the inlined calls
 * there that is not a system header's code: file and line become its call
 * site's, and name the function that call is in. A relative file (DWARF 4
 * names files as the compiler was given them) is made absolute with the
 * unit's compilation directory. */
static void inlined_frame(const struct module *m, uint64_t vaddr, char *name, size_t nlen,
                          char *file, size_t flen, unsigned *line)
{
	struct at_dwarf_inlined in[AT_DWARF_INLINED_MAX];
	struct at_dwarf_unit u = {~(uint64_t)0, NULL};
	char f[FILE_MAX_LEN];
	if (!m->dw.info || !file[0])
		return;
	int n = at_dwarf_inlined(&m->dw, vaddr, in, AT_DWARF_INLINED_MAX, &u);
	int k = 0;
	while (k < n && system_header(file) && in[k].call_line &&
	       at_dwarf_file(&m->dw, u.stmt_list, in[k].call_file, f, sizeof f)) {
		snprintf(file, flen, "%s", f);
		*line = in[k].call_line;
		k++;
	}
	if (k < n && in[k].name)
		snprintf(name, nlen, "%s", in[k].name);
	if (file[0] != '/' && u.comp_dir && u.comp_dir[0] == '/' &&
	    (size_t)snprintf(f, sizeof f, "%s/%s", u.comp_dir, file) < sizeof f)
		snprintf(file, flen, "%s", f);
}

/* A C++ or Rust function's name, whole (name), demangled (ns::Class::method)
 * and cut to out's nlen bytes: a long mangled name, which would not
 * demangle once cut, is read whole first (SYMBOL_MAX_LEN). */
static void demangled(const char *name, char *out, size_t nlen, int may_load)
{
	if (name[0] != '_' || !at_demangle(name, out, nlen, may_load))
		snprintf(out, nlen, "%s", name);
}

/* File and line of the call at vaddr (a link-time address of m), and
 * where it was inlined, as inlined_frame says. */
static void source_of(const struct module *m, uint64_t vaddr, char *name, size_t nlen, char *file,
                      size_t flen, unsigned *line)
{
	if (m->dw.line && at_dwarf_line(&m->dw, vaddr, file, flen, line) && file[0])
		inlined_frame(m, vaddr, name, nlen, file, flen, line);
}

int at_callsite_frame(uintptr_t addr, char *name, size_t nlen, char *file, size_t flen,
                      unsigned *line)
{
	char whole[SYMBOL_MAX_LEN];
	at_callsite_symbolize(addr, whole, sizeof whole);
	file[0] = 0;
	*line = 0;
	struct module *m = addr ? module_for(addr - 1) : NULL;
	if (m && flen >= 2)
		source_of(m, addr - 1 - m->bias, whole, sizeof whole, file, flen, line);
	/* an exporter process may load libstdc++ for it; the traced program
	 * is never given a library it has not loaded */
	demangled(whole, name, nlen, remote_pid != 0);
	return name[0] || file[0];
}

int at_callsite_object_frame(const char *path, uint64_t vaddr, char *name, size_t nlen, char *file,
                             size_t flen, unsigned *line)
{
	struct module m;
	memset(&m, 0, sizeof m);
	char whole[SYMBOL_MAX_LEN] = "";
	file[0] = 0;
	*line = 0;
	load_object(&m, path, NULL);
	if (m.syms)
		symtab_lookup(&m, vaddr, whole, sizeof whole);
	source_of(&m, vaddr, whole, sizeof whole, file, flen, line);
	module_free(&m);
	demangled(whole, name, nlen, 1);
	return name[0] || file[0];
}

void at_callsite_set_remote(int pid)
{
	/* another address space: nothing known about this one holds there */
	for (int i = 0; i < nmods; i++)
		module_free(&mods[i]);
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
