/* Source file and line of an address, from an object's DWARF line table
 * (.debug_line, versions 2 to 5), read from the mapped file without any
 * library. Used on the exporter thread only (preload/callsite.c). */
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
};

/* vaddr: the link-time address (what symbol values use). Returns 1 and
 * fills file (a path, "dir/name" when the table gives a directory) and
 * *line; 0 when no row covers it. Malformed input is never read past its
 * bounds: it yields 0. */
int at_dwarf_line(const struct at_dwarf_sections *d, uint64_t vaddr, char *file, size_t flen,
                  unsigned *line);

#endif
