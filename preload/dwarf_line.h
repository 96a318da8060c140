/* Source file and line of an address, from an object's DWARF line table
 * (.debug_line, versions 2 to 5), read from the mapped file without any
 * library. Used on the exporter thread only (preload/callsite.c), with
 * dwarf_info.h for the calls inlined there. */
#ifndef AT_DWARF_LINE_H
#define AT_DWARF_LINE_H

#include <stddef.h>
#include <stdint.h>

struct at_dwarf_sections {
	const uint8_t *line; /* .debug_line */
	size_t line_len;
	const uint8_t *line_str; /* .debug_line_str (DWARF 5), may be NULL */
	size_t line_str_len;
	const uint8_t *str; /* .debug_str, may be NULL */
	size_t str_len;
	/* for dwarf_info.h; each may be NULL */
	const uint8_t *info, *abbrev, *ranges, *rnglists, *addr, *str_offsets;
	size_t info_len, abbrev_len, ranges_len, rnglists_len, addr_len, str_offsets_len;
	/* the supplementary file's sections (dwz's .gnu_debugaltlink: what
	 * DW_FORM_GNU_strp_alt / GNU_ref_alt, strp_sup / ref_sup4/8 point
	 * into; its own alt NULL), or NULL */
	const struct at_dwarf_sections *alt;
};

/* vaddr: the link-time address (what symbol values use). Returns 1 and
 * fills file (a path, "dir/name" when the table gives a directory) and
 * *line; 0 when no row covers it. Malformed input is never read past its
 * bounds: it yields 0. */
int at_dwarf_line(const struct at_dwarf_sections *d, uint64_t vaddr, char *file, size_t flen,
                  unsigned *line);

/* The name of file idx of the line table at offset stmt_list of
 * .debug_line (a unit's DW_AT_stmt_list; idx as the table numbers its
 * files: from 1 before DWARF 5, from 0 since), as at_dwarf_line gives
 * it. Returns 1, or 0 with "". */
int at_dwarf_file(const struct at_dwarf_sections *d, uint64_t stmt_list, uint64_t idx, char *file,
                  size_t flen);

#endif
