/* A DWARF .debug_info reader: just enough of the standard (DWARF 5,
 * sections 2, 3.3 and 7.5; versions 2 to 4 alike where they differ) to
 * find the unit whose code holds an address, the function there that holds
 * it, and the inlined calls inside that function that hold it, with their
 * call sites and names. Every read is bounds-checked by struct rd
 * (dwarf_rd.h); anything unexpected ends the lookup with "not known". */
#define _GNU_SOURCE
#include "dwarf_info.h"

#include "dwarf_rd.h"

#include <stdlib.h>
#include <string.h>

#define TAG_INLINED 0x1d
#define TAG_SUBPROGRAM 0x2e

enum {
	AT_SIBLING = 0x01,
	AT_NAME = 0x03,
	AT_STMT_LIST = 0x10,
	AT_COMP_DIR = 0x1b,
	AT_LOW_PC = 0x11,
	AT_HIGH_PC = 0x12,
	AT_ABSTRACT_ORIGIN = 0x31,
	AT_SPECIFICATION = 0x47,
	AT_RANGES = 0x55,
	AT_CALL_FILE = 0x58,
	AT_CALL_LINE = 0x59,
	AT_LINKAGE_NAME = 0x6e,
	AT_STR_OFFSETS_BASE = 0x72,
	AT_ADDR_BASE = 0x73,
	AT_RNGLISTS_BASE = 0x74,
	AT_MIPS_LINKAGE_NAME = 0x2007,
	AT_GNU_ADDR_BASE = 0x2133,
};

/* The attributes of an entry this reader uses. */
struct die {
	const uint8_t *start;
	uint64_t tag;
	int children;
	struct val sibling, name, linkage, low, high, ranges, call_file, call_line, origin, spec;
	struct val stmt_list, comp_dir, addr_base, rnglists_base, str_offsets_base;
};

struct cu {
	struct dw_fmt f;            /* its sections, version, sizes */
	const uint8_t *start, *end; /* the unit, its header included */
	const uint8_t *dies;        /* its first entry */
	const uint8_t *abbrev;      /* its abbreviation table */
	uint64_t base; /* the unit's low_pc: range lists are relative to it */
	struct val addr_base, rnglists_base, str_offsets_base, stmt_list;
	const uint8_t **index; /* abbreviations by code, when made */
	size_t nindex;
	long *steps; /* entries and range list entries this lookup may still read */
};

#define INDEX_MAX 16384 /* codes above this are looked up in the table */
#define ATTRS_MAX 256   /* attributes in one abbreviation */
#define RANGES_MAX 65536
#define NAME_HOPS 4 /* abstract_origin / specification followed for a name */
/* Entries and range list entries one lookup reads at most: a unit of a few
 * million entries, each read once; malformed sections (a range list read
 * again for each entry) end there instead of keeping the exporter busy. */
#define STEPS_MAX (4L << 20)

static unsigned off_size(const struct dw_fmt *f)
{
	return f->is64 ? 8 : 4;
}

static void form(struct rd *r, const struct dw_fmt *c, uint64_t f, int64_t implicit, struct val *v,
                 int nested)
{
	const struct at_dwarf_sections *d = c->d;
	v->kind = V_CONST;
	v->u = 0;
	v->s = NULL;
	switch (f) {
	case 0x01: /* addr */
		v->kind = V_ADDR;
		v->u = fixed(r, c->asize);
		break;
	case 0x03: /* block2 */
		v->kind = V_NONE;
		skip(r, fixed(r, 2));
		break;
	case 0x04: /* block4 */
		v->kind = V_NONE;
		skip(r, fixed(r, 4));
		break;
	case 0x05: /* data2 */
		v->u = fixed(r, 2);
		break;
	case 0x06: /* data4 */
		v->u = fixed(r, 4);
		break;
	case 0x07: /* data8 */
		v->u = fixed(r, 8);
		break;
	case 0x08: /* string */
		v->kind = V_STR;
		v->s = cstr(r);
		break;
	case 0x09: /* block */
	case 0x18: /* exprloc */
		v->kind = V_NONE;
		skip(r, uleb(r));
		break;
	case 0x0a: /* block1 */
		v->kind = V_NONE;
		skip(r, fixed(r, 1));
		break;
	case 0x0b: /* data1 */
	case 0x0c: /* flag */
		v->u = fixed(r, 1);
		break;
	case 0x0d: /* sdata */
		v->u = (uint64_t)sleb(r);
		break;
	case 0x0e: /* strp */
		v->kind = V_STR;
		v->s = str_at(d->str, d->str_len, fixed(r, off_size(c)));
		break;
	case 0x0f: /* udata */
		v->u = uleb(r);
		break;
	case 0x10: /* ref_addr: an address's size in DWARF 2 */
		v->kind = V_REF_ADDR;
		v->u = fixed(r, c->version == 2 ? c->asize : off_size(c));
		break;
	case 0x11: /* ref1 */
		v->kind = V_REF;
		v->u = fixed(r, 1);
		break;
	case 0x12: /* ref2 */
		v->kind = V_REF;
		v->u = fixed(r, 2);
		break;
	case 0x13: /* ref4 */
		v->kind = V_REF;
		v->u = fixed(r, 4);
		break;
	case 0x14: /* ref8 */
		v->kind = V_REF;
		v->u = fixed(r, 8);
		break;
	case 0x15: /* ref_udata */
		v->kind = V_REF;
		v->u = uleb(r);
		break;
	case 0x16: /* indirect: the form comes first */
		if (nested)
			r->bad = 1;
		else
			form(r, c, uleb(r), 0, v, 1);
		break;
	case 0x17: /* sec_offset */
		v->u = fixed(r, off_size(c));
		break;
	case 0x19: /* flag_present */
		v->u = 1;
		break;
	case 0x1a:   /* strx */
	case 0x1f02: /* GNU_str_index */
		v->kind = V_STRX;
		v->u = uleb(r);
		break;
	case 0x25: /* strx1 .. strx4 */
	case 0x26:
	case 0x27:
	case 0x28:
		v->kind = V_STRX;
		v->u = fixed(r, f - 0x24);
		break;
	case 0x1b:   /* addrx */
	case 0x1f01: /* GNU_addr_index */
		v->kind = V_ADDRX;
		v->u = uleb(r);
		break;
	case 0x29: /* addrx1 .. addrx4 */
	case 0x2a:
	case 0x2b:
	case 0x2c:
		v->kind = V_ADDRX;
		v->u = fixed(r, f - 0x28);
		break;
	case 0x1c:   /* ref_sup4 */
	case 0x24:   /* ref_sup8 */
	case 0x1f20: /* GNU_ref_alt: in the supplementary file (dwz's) */
		v->kind = d->alt ? V_REF_ALT : V_NONE;
		v->u = fixed(r, f == 0x1c ? 4 : f == 0x24 ? 8 : off_size(c));
		break;
	case 0x20: /* ref_sig8 */
		v->kind = V_NONE;
		skip(r, 8);
		break;
	case 0x1d:   /* strp_sup */
	case 0x1f21: /* GNU_strp_alt */
		v->kind = V_NONE;
		v->u = fixed(r, off_size(c));
		if (d->alt && (v->s = str_at(d->alt->str, d->alt->str_len, v->u)))
			v->kind = V_STR;
		break;
	case 0x1e: /* data16 */
		v->kind = V_NONE;
		skip(r, 16);
		break;
	case 0x1f: /* line_strp */
		v->kind = V_STR;
		v->s = str_at(d->line_str, d->line_str_len, fixed(r, off_size(c)));
		break;
	case 0x21: /* implicit_const */
		v->u = (uint64_t)implicit;
		break;
	case 0x22: /* loclistx */
		v->kind = V_NONE;
		uleb(r);
		break;
	case 0x23: /* rnglistx */
		v->kind = V_RNGX;
		v->u = uleb(r);
		break;
	default:
		r->bad = 1;
	}
}

void at_dwarf_form(struct rd *r, const struct dw_fmt *f, uint64_t form_, int64_t implicit,
                   struct val *v)
{
	form(r, f, form_, implicit, v, 0);
}

/* Skips one abbreviation's attribute specifications. */
static void skip_specs(struct rd *a)
{
	for (int i = 0; i <= ATTRS_MAX && !a->bad; i++) {
		uint64_t at = uleb(a), f = uleb(a);
		if (f == 0x21)
			sleb(a);
		if (!at && !f)
			return;
	}
	a->bad = 1;
}

/* The abbreviation of code in the unit's table (where its tag is), or NULL. */
static const uint8_t *abbrev_at(const struct cu *c, uint64_t code)
{
	if (c->index)
		return code < c->nindex ? c->index[code] : NULL;
	const struct at_dwarf_sections *d = c->f.d;
	struct rd a = {c->abbrev, d->abbrev + d->abbrev_len, 0};
	while (!a.bad && --*c->steps >= 0) {
		uint64_t k = uleb(&a);
		if (!k || a.bad)
			return NULL;
		if (k == code)
			return a.p;
		uleb(&a);
		fixed(&a, 1);
		skip_specs(&a);
	}
	return NULL;
}

/* Every abbreviation of the unit by code, for the walk through its entries
 * (left to abbrev_at's search when a code is too large or memory short). */
static void index_make(struct cu *c)
{
	const struct at_dwarf_sections *d = c->f.d;
	struct rd a = {c->abbrev, d->abbrev + d->abbrev_len, 0};
	uint64_t max = 0;
	for (;;) {
		uint64_t k = uleb(&a);
		if (!k || a.bad)
			break;
		if (k > INDEX_MAX)
			return;
		if (k > max)
			max = k;
		uleb(&a);
		fixed(&a, 1);
		skip_specs(&a);
	}
	if (!max || !(c->index = calloc(max + 1, sizeof *c->index)))
		return;
	c->nindex = max + 1;
	a = (struct rd){c->abbrev, d->abbrev + d->abbrev_len, 0};
	for (;;) {
		uint64_t k = uleb(&a);
		if (!k || a.bad)
			break;
		if (!c->index[k])
			c->index[k] = a.p; /* the first of a code, as a search finds */
		uleb(&a);
		fixed(&a, 1);
		skip_specs(&a);
	}
}

static struct val *slot(struct die *e, uint64_t at)
{
	switch (at) {
	case AT_SIBLING:
		return &e->sibling;
	case AT_NAME:
		return &e->name;
	case AT_LINKAGE_NAME:
	case AT_MIPS_LINKAGE_NAME:
		return &e->linkage;
	case AT_LOW_PC:
		return &e->low;
	case AT_HIGH_PC:
		return &e->high;
	case AT_RANGES:
		return &e->ranges;
	case AT_CALL_FILE:
		return &e->call_file;
	case AT_CALL_LINE:
		return &e->call_line;
	case AT_ABSTRACT_ORIGIN:
		return &e->origin;
	case AT_SPECIFICATION:
		return &e->spec;
	case AT_STMT_LIST:
		return &e->stmt_list;
	case AT_COMP_DIR:
		return &e->comp_dir;
	case AT_ADDR_BASE:
	case AT_GNU_ADDR_BASE:
		return &e->addr_base;
	case AT_RNGLISTS_BASE:
		return &e->rnglists_base;
	case AT_STR_OFFSETS_BASE:
		return &e->str_offsets_base;
	}
	return NULL;
}

/* The entry at r: 1, 0 for a null entry (the end of a list of children),
 * -1 when it cannot be read. */
static int read_die(struct rd *r, const struct cu *c, struct die *e)
{
	memset(e, 0, sizeof *e);
	e->start = r->p;
	if (--*c->steps < 0)
		return -1;
	uint64_t code = uleb(r);
	if (r->bad)
		return -1;
	if (!code)
		return 0;
	const uint8_t *ab = abbrev_at(c, code);
	if (!ab)
		return -1;
	struct rd a = {ab, c->f.d->abbrev + c->f.d->abbrev_len, 0};
	e->tag = uleb(&a);
	e->children = fixed(&a, 1) == 1;
	for (int i = 0; i <= ATTRS_MAX; i++) {
		uint64_t at = uleb(&a), f = uleb(&a);
		int64_t implicit = f == 0x21 ? sleb(&a) : 0;
		if (a.bad)
			return -1;
		if (!at && !f)
			return 1;
		struct val v;
		form(r, &c->f, f, implicit, &v, 0);
		if (r->bad)
			return -1;
		struct val *to = slot(e, at);
		if (to)
			*to = v;
	}
	return -1;
}

/* An address-sized value of section sec at off. */
static int word_at(const uint8_t *sec, size_t len, uint64_t off, unsigned size, uint64_t *out)
{
	if (!sec || off > len || size > len - off)
		return 0;
	struct rd r = {sec + off, sec + len, 0};
	*out = fixed(&r, size);
	return 1;
}

static int addrx(const struct cu *c, uint64_t idx, uint64_t *out)
{
	return c->addr_base.kind && idx < (UINT64_MAX - c->addr_base.u) / c->f.asize &&
	       word_at(c->f.d->addr, c->f.d->addr_len, c->addr_base.u + idx * c->f.asize, c->f.asize, out);
}

static int addr_of(const struct cu *c, const struct val *v, uint64_t *out)
{
	if (v->kind == V_ADDR) {
		*out = v->u;
		return 1;
	}
	return v->kind == V_ADDRX && addrx(c, v->u, out);
}

static const char *str_of(const struct cu *c, const struct val *v)
{
	if (v->kind == V_STR)
		return v->s;
	uint64_t off;
	unsigned osz = off_size(&c->f);
	if (v->kind != V_STRX || !c->str_offsets_base.kind || v->u > (UINT64_MAX / 2) / osz ||
	    !word_at(c->f.d->str_offsets, c->f.d->str_offsets_len, c->str_offsets_base.u + v->u * osz,
	             osz, &off))
		return NULL;
	return str_at(c->f.d->str, c->f.d->str_len, off);
}

static int in(uint64_t lo, uint64_t hi, uint64_t vaddr)
{
	return lo <= vaddr && vaddr < hi;
}

/* A DWARF 2-4 range list (.debug_ranges). */
static int ranges_hold(const struct cu *c, uint64_t off, uint64_t vaddr)
{
	const struct at_dwarf_sections *d = c->f.d;
	if (!d->ranges || off >= d->ranges_len)
		return -1;
	struct rd r = {d->ranges + off, d->ranges + d->ranges_len, 0};
	uint64_t base = c->base, sel = c->f.asize == 8 ? UINT64_MAX : 0xffffffffu;
	for (int i = 0; i < RANGES_MAX && --*c->steps >= 0; i++) {
		uint64_t b = fixed(&r, c->f.asize), e = fixed(&r, c->f.asize);
		if (r.bad)
			return -1;
		if (!b && !e)
			return 0;
		if (b == sel)
			base = e;
		else if (in(base + b, base + e, vaddr))
			return 1;
	}
	return -1;
}

/* A DWARF 5 range list (.debug_rnglists). */
static int rnglists_hold(const struct cu *c, const struct val *v, uint64_t vaddr)
{
	const struct at_dwarf_sections *d = c->f.d;
	uint64_t off = v->u;
	if (v->kind == V_RNGX) { /* an offset from rnglists_base, in the table there */
		unsigned osz = off_size(&c->f);
		uint64_t rel;
		if (!c->rnglists_base.kind || v->u > (UINT64_MAX / 2) / osz ||
		    !word_at(d->rnglists, d->rnglists_len, c->rnglists_base.u + v->u * osz, osz, &rel))
			return -1;
		off = c->rnglists_base.u + rel;
	}
	if (!d->rnglists || off >= d->rnglists_len)
		return -1;
	struct rd r = {d->rnglists + off, d->rnglists + d->rnglists_len, 0};
	uint64_t base = c->base;
	for (int i = 0; i < RANGES_MAX && --*c->steps >= 0; i++) {
		uint64_t a, b;
		switch (fixed(&r, 1)) {
		case 0: /* end_of_list */
			return r.bad ? -1 : 0;
		case 1: /* base_addressx */
			if (!addrx(c, uleb(&r), &base))
				return -1;
			continue;
		case 2: /* startx_endx */
			a = uleb(&r);
			b = uleb(&r);
			if (!addrx(c, a, &a) || !addrx(c, b, &b))
				return -1;
			break;
		case 3: /* startx_length */
			a = uleb(&r);
			if (!addrx(c, a, &a))
				return -1;
			b = a + uleb(&r);
			break;
		case 4: /* offset_pair */
			a = base + uleb(&r);
			b = base + uleb(&r);
			break;
		case 5: /* base_address */
			base = fixed(&r, c->f.asize);
			continue;
		case 6: /* start_end */
			a = fixed(&r, c->f.asize);
			b = fixed(&r, c->f.asize);
			break;
		case 7: /* start_length */
			a = fixed(&r, c->f.asize);
			b = a + uleb(&r);
			break;
		default:
			return -1;
		}
		if (r.bad)
			return -1;
		if (in(a, b, vaddr))
			return 1;
	}
	return -1;
}

/* 1: the entry's code holds vaddr; 0: it does not; -1: it says nothing of
 * code (a type, a declaration) or what it says cannot be read. */
static int holds(const struct cu *c, const struct die *e, uint64_t vaddr)
{
	if (e->ranges.kind == V_RNGX || (e->ranges.kind == V_CONST && c->f.version >= 5))
		return rnglists_hold(c, &e->ranges, vaddr);
	if (e->ranges.kind == V_CONST)
		return ranges_hold(c, e->ranges.u, vaddr);
	uint64_t lo, hi;
	if (!e->high.kind || !addr_of(c, &e->low, &lo))
		return -1;
	if (e->high.kind == V_CONST)
		hi = lo + e->high.u; /* an offset from low_pc (DWARF 4 and later) */
	else if (!addr_of(c, &e->high, &hi))
		return -1;
	return in(lo, hi, vaddr);
}

/* The unit at `at` of .debug_info: 1 with its header and first entry read,
 * 0 when it is no unit of code (a type unit) or cannot be read, -1 when
 * its length is out of the section (nothing after it can be found). *next:
 * the unit after it. */
static int cu_open(const struct at_dwarf_sections *d, const uint8_t *at, struct cu *c,
                   struct die *top, const uint8_t **next, long *steps)
{
	memset(c, 0, sizeof *c);
	c->f.d = d;
	c->steps = steps;
	const uint8_t *end = d->info + d->info_len;
	struct rd r = {at, end, 0};
	uint64_t len = fixed(&r, 4);
	c->f.is64 = len == 0xffffffffu;
	if (c->f.is64)
		len = fixed(&r, 8);
	if (r.bad || len > (uint64_t)(end - r.p) || !len)
		return -1;
	c->start = at;
	c->end = r.p + len;
	*next = c->end;
	r.end = c->end;
	c->f.version = (int)fixed(&r, 2);
	uint64_t abbrev_off;
	if (c->f.version == 5) {
		unsigned type = (unsigned)fixed(&r, 1);
		c->f.asize = (unsigned)fixed(&r, 1);
		abbrev_off = fixed(&r, off_size(&c->f));
		if (type == 4 || type == 5) /* skeleton, split_compile: their dwo_id */
			skip(&r, 8);
		else if (type != 1 && type != 3) /* compile, partial */
			return 0;
	} else if (c->f.version >= 2 && c->f.version <= 4) {
		abbrev_off = fixed(&r, off_size(&c->f));
		c->f.asize = (unsigned)fixed(&r, 1);
	} else {
		return 0;
	}
	if (r.bad || !dw_asize_ok(c->f.asize) || !d->abbrev || abbrev_off >= d->abbrev_len)
		return 0;
	c->abbrev = d->abbrev + abbrev_off;
	c->dies = r.p;
	if (read_die(&r, c, top) != 1)
		return 0;
	c->addr_base = top->addr_base;
	c->rnglists_base = top->rnglists_base;
	c->str_offsets_base = top->str_offsets_base;
	c->stmt_list = top->stmt_list;
	if (!addr_of(c, &top->low, &c->base))
		c->base = 0;
	return 1;
}

/* The unit of .debug_info that holds offset off. */
static int cu_holding(const struct at_dwarf_sections *d, uint64_t off, struct cu *c, long *steps)
{
	const uint8_t *p = d->info, *end = d->info + d->info_len, *next;
	struct die top;
	while (p < end) {
		int rc = cu_open(d, p, c, &top, &next, steps);
		if (rc < 0)
			return 0;
		if (d->info + off >= p && d->info + off < next)
			return rc;
		p = next;
	}
	return 0;
}

/* The name of the function an entry stands for: its own, else its abstract
 * origin's or its declaration's (a C++ method's), the linkage name first. */
static const char *name_of(const struct cu *c, const struct die *e, int hops)
{
	const char *s = str_of(c, &e->linkage);
	if (!s)
		s = str_of(c, &e->name);
	if (s || hops >= NAME_HOPS)
		return s && *s ? s : NULL;
	const struct val *ref = e->origin.kind ? &e->origin : &e->spec;
	const uint8_t *at;
	struct cu other;
	const struct cu *to = c;
	if (ref->kind == V_REF && ref->u < (uint64_t)(c->end - c->start)) {
		at = c->start + ref->u;
	} else if (ref->kind == V_REF_ADDR && ref->u < c->f.d->info_len) {
		at = c->f.d->info + ref->u;
		if (at < c->start || at >= c->end) { /* in another unit (LTO) */
			if (cu_holding(c->f.d, ref->u, &other, c->steps) != 1)
				return NULL;
			to = &other;
		}
	} else if (ref->kind == V_REF_ALT && c->f.d->alt && c->f.d->alt->info &&
	           ref->u < c->f.d->alt->info_len) {
		/* a partial unit of the supplementary file (dwz moved it there) */
		if (cu_holding(c->f.d->alt, ref->u, &other, c->steps) != 1)
			return NULL;
		at = other.f.d->info + ref->u;
		to = &other;
	} else {
		return NULL;
	}
	struct rd r = {at, to->end, 0};
	struct die t;
	return read_die(&r, to, &t) == 1 ? name_of(to, &t, hops + 1) : NULL;
}

/* An entry of a kind whose children are never code when it says nothing of
 * code itself: a function's declaration or abstract instance (what its
 * inlined copies refer to), a type. */
static int no_code_under(uint64_t tag)
{
	return tag == TAG_SUBPROGRAM || tag == 0x13 /* structure_type */ ||
	       tag == 0x02 /* class_type */ || tag == 0x17 /* union_type */ ||
	       tag == 0x04 /* enumeration_type */;
}

/* In the unit: the function holding vaddr, and the inlined calls in it
 * that hold it, outermost first (an entry comes before its children). */
static int walk(struct cu *c, uint64_t vaddr, struct at_dwarf_inlined *out, int max)
{
	struct rd r = {c->dies, c->end, 0};
	struct die e;
	if (read_die(&r, c, &e) != 1 || !e.children)
		return 0;
	struct at_dwarf_inlined chain[AT_DWARF_INLINED_MAX];
	/* mute: the depth of an entry none of whose children can hold vaddr
	 * and that says not where its sibling is: its children are read, not
	 * looked at (their range lists), until it ends; 0 when none */
	int depth = 1, sub = -1, n = 0, over = 0, mute = 0;
	while (depth > 0 && r.p < r.end) {
		int rc = read_die(&r, c, &e);
		if (rc < 0)
			return -1;
		if (!rc) {
			if (--depth <= mute)
				mute = 0;
			if (depth <= sub)
				break; /* the function's entries have ended */
			continue;
		}
		if (mute) {
			depth += e.children;
			continue;
		}
		int h = holds(c, &e, vaddr);
		if (sub < 0 && e.tag == TAG_SUBPROGRAM && h == 1) {
			sub = depth;
			if (!e.children)
				break;
		} else if (sub >= 0 && e.tag == TAG_INLINED && h == 1) {
			if (n == AT_DWARF_INLINED_MAX) {
				over = 1;
			} else {
				chain[n].call_file = e.call_file.kind == V_CONST ? e.call_file.u : 0;
				chain[n].call_line = e.call_line.kind == V_CONST &&
				                             e.call_line.u <= 0xffffffffu
				                         ? (unsigned)e.call_line.u
				                         : 0;
				chain[n].name = name_of(c, &e, 0);
				n++;
			}
		} else if ((h == 0 || (h < 0 && no_code_under(e.tag))) && e.children) {
			/* nothing under it holds vaddr: on to its sibling (the
			 * offset checked before it is added: one past the unit
			 * would make a pointer outside the section) */
			if (e.sibling.kind == V_REF && e.sibling.u < (uint64_t)(c->end - c->start) &&
			    c->start + e.sibling.u > e.start) {
				r.p = c->start + e.sibling.u;
				continue;
			}
			mute = depth;
		}
		depth += e.children;
	}
	if (sub < 0)
		return 0;
	if (over || n > max)
		return -1;
	for (int i = 0; i < n; i++)
		out[i] = chain[n - 1 - i];
	return n;
}

int at_dwarf_inlined(const struct at_dwarf_sections *d, uint64_t vaddr, struct at_dwarf_inlined *out,
                     int max, struct at_dwarf_unit *unit)
{
	if (!d->info || !d->abbrev)
		return -1;
	const uint8_t *p = d->info, *end = d->info + d->info_len, *next;
	long steps = STEPS_MAX;
	while (p < end) {
		struct cu c;
		struct die top;
		int rc = cu_open(d, p, &c, &top, &next, &steps);
		if (rc < 0)
			return -1;
		p = next;
		if (rc == 0 || holds(&c, &top, vaddr) != 1)
			continue;
		unit->stmt_list = c.stmt_list.kind == V_CONST ? c.stmt_list.u : ~(uint64_t)0;
		unit->comp_dir = str_of(&c, &top.comp_dir);
		index_make(&c);
		int n = walk(&c, vaddr, out, max);
		free(c.index);
		return n;
	}
	return -1;
}
