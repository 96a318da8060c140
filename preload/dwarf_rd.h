/* Bounds-checked reading of DWARF sections, for dwarf_line.c and
 * dwarf_info.c: every read goes through struct rd, and one past the end
 * sets bad, after which every read yields 0 (or NULL); and one attribute
 * value of any form (at_dwarf_form, dwarf_info.c). */
#ifndef AT_DWARF_RD_H
#define AT_DWARF_RD_H

#include "dwarf_line.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct rd {
	const uint8_t *p, *end;
	int bad;
};

static inline int need(struct rd *r, size_t n)
{
	if (r->bad || r->p > r->end || (size_t)(r->end - r->p) < n) {
		r->bad = 1;
		return 0;
	}
	return 1;
}

static inline uint64_t fixed(struct rd *r, size_t n)
{
	if (!need(r, n))
		return 0;
	uint64_t v = 0;
	/* little endian: the targets we build for; a wider field keeps its
	 * low 8 bytes */
	for (size_t i = 0; i < n && i < 8; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += n;
	return v;
}

static inline uint64_t uleb(struct rd *r)
{
	uint64_t v = 0;
	for (int shift = 0; need(r, 1); shift += 7) {
		uint8_t b = *r->p++;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return v;
	}
	return 0;
}

static inline int64_t sleb(struct rd *r)
{
	int64_t v = 0;
	int shift = 0;
	uint8_t b = 0;
	do {
		if (!need(r, 1))
			return 0;
		b = *r->p++;
		if (shift < 64)
			v |= (int64_t)((uint64_t)(b & 0x7f) << shift);
		shift += 7;
	} while (b & 0x80);
	if (shift < 64 && (b & 0x40)) /* sign-extended, in unsigned arithmetic */
		v = (int64_t)((uint64_t)v | (~(uint64_t)0 << shift));
	return v;
}

static inline const char *cstr(struct rd *r)
{
	if (r->bad || r->p >= r->end) {
		r->bad = 1;
		return NULL;
	}
	const uint8_t *z = memchr(r->p, 0, (size_t)(r->end - r->p));
	if (!z) {
		r->bad = 1;
		return NULL;
	}
	const char *s = (const char *)r->p;
	r->p = z + 1;
	return s;
}

static inline const char *str_at(const uint8_t *sec, size_t len, uint64_t off)
{
	if (!sec || off >= len || !memchr(sec + off, 0, len - off))
		return NULL;
	return (const char *)sec + off;
}

/* skips n bytes */
static inline void skip(struct rd *r, uint64_t n)
{
	if (need(r, n))
		r->p += n;
}

/* What an attribute's value is, as far as these readers care. */
enum dw_kind {
	V_NONE = 0, /* absent, or a form whose value is not used here (a block...) */
	V_CONST,
	V_ADDR,
	V_ADDRX,    /* an index into .debug_addr */
	V_REF,      /* an offset from the unit's start */
	V_REF_ADDR, /* an offset in .debug_info */
	V_REF_ALT,  /* an offset in the supplementary file's .debug_info */
	V_STR,
	V_STRX, /* an index into .debug_str_offsets */
	V_RNGX, /* an index into the unit's range list offsets */
};

struct val {
	int kind;
	uint64_t u;
	const char *s;
};

/* What decoding a form needs of its unit. */
struct dw_fmt {
	const struct at_dwarf_sections *d;
	int version, is64;
	unsigned asize; /* an address's size */
};

/* The address sizes these readers take: a unit or line table with another
 * is not read (an address wider than 8 bytes fits no uint64_t). */
static inline int dw_asize_ok(unsigned asize)
{
	return asize == 4 || asize == 8;
}

/* One attribute value of form `form` at r (implicit: an implicit_const's
 * value, from the abbreviation); an unknown form makes r bad. */
void at_dwarf_form(struct rd *r, const struct dw_fmt *f, uint64_t form, int64_t implicit,
                   struct val *v);

#endif
