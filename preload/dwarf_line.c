/* A DWARF line-table reader: just enough of the standard (section 6.2 of
 * DWARF 4 and 5) to run each unit's line program and find the row that
 * covers an address. Every read is bounds-checked by struct rd; anything
 * unexpected ends the lookup with "not found". */
#define _GNU_SOURCE
#include "dwarf_line.h"

#include "dwarf_rd.h"

#include <string.h>

struct unit {
	struct dw_fmt f; /* its sections, version, sizes */
	uint8_t min_inst, line_range, opcode_base;
	int8_t line_base;
	const uint8_t *std_lens;
	struct rd tables; /* directory and file tables */
	struct rd prog;   /* the line number program */
};

/* One attribute of a DWARF 5 directory or file entry: a string or a
 * number (the forms a table's entries use; any other is read past). */
static void form_value(struct rd *r, const struct unit *u, uint64_t form, const char **s,
                       uint64_t *v)
{
	struct val val;
	at_dwarf_form(r, &u->f, form, 0, &val);
	*s = val.kind == V_STR ? val.s : NULL;
	*v = val.kind == V_CONST ? val.u : 0;
}

/* Walks one DWARF 5 entry table (formats, then entries); the entry at
 * index want (if any) gives *path and *dir. */
static void v5_table(struct rd *r, const struct unit *u, uint64_t want, const char **path,
                     uint64_t *dir)
{
	uint64_t type[16], form[16];
	unsigned nf = (unsigned)fixed(r, 1);
	if (nf > 16) {
		r->bad = 1;
		return;
	}
	for (unsigned i = 0; i < nf; i++) {
		type[i] = uleb(r);
		form[i] = uleb(r);
	}
	uint64_t count = uleb(r);
	/* every entry takes at least a byte: a count past the table's end, or
	 * entries of no attribute, would have this loop run for ever */
	if (count && (!nf || count > (uint64_t)(r->end - r->p))) {
		r->bad = 1;
		return;
	}
	for (uint64_t e = 0; e < count && !r->bad; e++)
		for (unsigned i = 0; i < nf; i++) {
			const char *s;
			uint64_t v;
			form_value(r, u, form[i], &s, &v);
			if (e != want)
				continue;
			if (type[i] == 1 && path) /* DW_LNCT_path */
				*path = s;
			else if (type[i] == 2 && dir) /* DW_LNCT_directory_index */
				*dir = v;
		}
}

static void join(char *out, size_t len, const char *dir, const char *name)
{
	size_t n = 0;
	if (dir && *dir && name[0] != '/') {
		size_t dl = strnlen(dir, len - 1);
		memcpy(out, dir, dl);
		n = dl;
		if (n < len - 1 && out[n - 1] != '/')
			out[n++] = '/';
	}
	size_t nl = strnlen(name, len - 1 - n);
	memcpy(out + n, name, nl);
	out[n + nl] = 0;
}

static int file_name(const struct unit *u, uint64_t idx, char *out, size_t len)
{
	const char *name = NULL, *dir = NULL;
	struct rd r = u->tables;
	if (u->f.version >= 5) {
		uint64_t di = 0;
		v5_table(&r, u, UINT64_MAX, NULL, NULL); /* directories */
		v5_table(&r, u, idx, &name, &di);        /* files, 0-based */
		struct rd rd = u->tables;
		v5_table(&rd, u, di, &dir, NULL);
		if (r.bad || rd.bad)
			return 0;
		/* directories other than 0 may be relative to 0, the
		 * compilation directory */
		const char *comp = NULL;
		rd = u->tables;
		if (di && dir && dir[0] != '/' && name && name[0] != '/')
			v5_table(&rd, u, 0, &comp, NULL);
		if (comp && comp[0] && !rd.bad && len > 2) {
			char d2[512];
			join(d2, sizeof d2, comp, dir);
			join(out, len, d2, name);
			return 1;
		}
	} else {
		/* include_directories, then file_names; both 1-based, dir 0 is
		 * the compilation directory, which is not in this table */
		const char *dirs_at = (const char *)r.p;
		const char *s;
		while ((s = cstr(&r)) && *s)
			;
		for (uint64_t i = 1; !r.bad; i++) {
			const char *n = cstr(&r);
			if (!n || !*n)
				break;
			uint64_t di = uleb(&r);
			uleb(&r);
			uleb(&r);
			if (i != idx)
				continue;
			name = n;
			struct rd rd = {(const uint8_t *)dirs_at, u->tables.end, 0};
			for (uint64_t k = 1; k <= di; k++) {
				s = cstr(&rd);
				if (!s || !*s) {
					s = NULL;
					break;
				}
				if (k == di)
					dir = s;
			}
			break;
		}
	}
	if (!name || !*name || len < 2)
		return 0;
	join(out, len, dir, name);
	return 1;
}

static int parse_unit(struct rd *r, struct unit *u)
{
	uint64_t ulen = fixed(r, 4);
	u->f.is64 = ulen == 0xffffffffu;
	if (u->f.is64)
		ulen = fixed(r, 8);
	if (r->bad || ulen > (uint64_t)(r->end - r->p)) {
		r->bad = 1;
		return 0;
	}
	const uint8_t *end = r->p + ulen;
	struct rd h = {r->p, end, 0};
	r->p = end; /* the next unit */
	u->f.version = (int)fixed(&h, 2);
	if (u->f.version < 2 || u->f.version > 5)
		return 0;
	u->f.asize = 8; /* in no table before DWARF 5 */
	if (u->f.version >= 5) {
		u->f.asize = (unsigned)fixed(&h, 1);
		fixed(&h, 1); /* segment_selector_size */
		if (!dw_asize_ok(u->f.asize))
			return 0;
	}
	uint64_t hlen = fixed(&h, u->f.is64 ? 8 : 4);
	if (h.bad || hlen > (uint64_t)(end - h.p))
		return 0;
	const uint8_t *prog = h.p + hlen;
	u->min_inst = (uint8_t)fixed(&h, 1);
	if (u->f.version >= 4)
		fixed(&h, 1); /* maximum_operations_per_instruction: VLIW only */
	fixed(&h, 1);         /* default_is_stmt: every row counts here */
	u->line_base = (int8_t)fixed(&h, 1);
	u->line_range = (uint8_t)fixed(&h, 1);
	u->opcode_base = (uint8_t)fixed(&h, 1);
	if (h.bad || !u->line_range || !u->opcode_base || !need(&h, u->opcode_base - 1u))
		return 0;
	u->std_lens = h.p;
	h.p += u->opcode_base - 1;
	if (h.p > prog) /* the fields overlap the program: not a line table */
		return 0;
	u->tables = (struct rd){h.p, prog, 0};
	u->prog = (struct rd){prog, end, 0};
	return 1;
}

/* Runs the unit's program; the row covering vaddr gives *file_idx, *line. */
static int run_unit(struct unit *u, uint64_t vaddr, uint64_t *file_idx, unsigned *line)
{
	struct rd *r = &u->prog;
	uint64_t addr = 0, file = 1, prev_addr = 0, prev_file = 0;
	int64_t ln = 1, prev_line = 0;
	int have_prev = 0;
	while (r->p < r->end && !r->bad) {
		uint8_t op = (uint8_t)fixed(r, 1);
		int row = 0, end_seq = 0;
		if (op >= u->opcode_base) {
			unsigned adj = op - u->opcode_base;
			addr += (uint64_t)(adj / u->line_range) * u->min_inst;
			/* wrapping: a malformed table's lines are only wrong, never UB */
			ln = (int64_t)((uint64_t)ln + (uint64_t)(u->line_base + (int)(adj % u->line_range)));
			row = 1;
		} else if (op == 0) {
			uint64_t len = uleb(r);
			if (!len || !need(r, len))
				return 0;
			const uint8_t *next = r->p + len;
			uint8_t sub = (uint8_t)fixed(r, 1);
			if (sub == 1) { /* DW_LNE_end_sequence */
				row = end_seq = 1;
			} else if (sub == 2 && (len == 5 || len == 9)) { /* set_address */
				addr = fixed(r, len - 1);
			}
			r->p = next;
		} else {
			switch (op) {
			case 1: /* copy */
				row = 1;
				break;
			case 2: /* advance_pc */
				addr += uleb(r) * u->min_inst;
				break;
			case 3: /* advance_line */
				ln = (int64_t)((uint64_t)ln + (uint64_t)sleb(r));
				break;
			case 4: /* set_file */
				file = uleb(r);
				break;
			case 8: /* const_add_pc */
				addr += (uint64_t)((255 - u->opcode_base) / u->line_range) *
				        u->min_inst;
				break;
			case 9: /* fixed_advance_pc */
				addr += fixed(r, 2);
				break;
			default: /* column, stmt, basic block, prologue, isa, unknown */
				for (unsigned i = 0; i < u->std_lens[op - 1]; i++)
					uleb(r);
			}
		}
		if (!row)
			continue;
		if (have_prev && prev_addr <= vaddr && vaddr < addr && prev_line > 0) {
			*file_idx = prev_file;
			*line = (unsigned)prev_line;
			return 1;
		}
		if (end_seq) {
			have_prev = 0;
			addr = 0, file = 1, ln = 1;
		} else {
			have_prev = 1;
			prev_addr = addr, prev_file = file, prev_line = ln;
		}
	}
	return 0;
}

int at_dwarf_line(const struct at_dwarf_sections *d, uint64_t vaddr, char *file, size_t flen,
                  unsigned *line)
{
	if (!d->line || !flen)
		return 0;
	file[0] = 0;
	struct rd r = {d->line, d->line + d->line_len, 0};
	while (r.p < r.end && !r.bad) {
		struct unit u;
		memset(&u, 0, sizeof u);
		u.f.d = d;
		if (!parse_unit(&r, &u))
			continue;
		uint64_t idx;
		if (run_unit(&u, vaddr, &idx, line))
			return file_name(&u, idx, file, flen) || (file[0] = 0, 1);
	}
	return 0;
}

int at_dwarf_file(const struct at_dwarf_sections *d, uint64_t stmt_list, uint64_t idx, char *file,
                  size_t flen)
{
	if (!flen)
		return 0;
	file[0] = 0;
	if (!d->line || stmt_list >= d->line_len)
		return 0;
	struct rd r = {d->line + stmt_list, d->line + d->line_len, 0};
	struct unit u;
	memset(&u, 0, sizeof u);
	u.f.d = d;
	return parse_unit(&r, &u) && file_name(&u, idx, file, flen);
}
