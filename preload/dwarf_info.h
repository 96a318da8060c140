/* The calls inlined at an address, from an object's DWARF .debug_info
 * (versions 2 to 5), read from the mapped file without any library: what
 * a call site needs when the compiler inlined the code that made the call
 * (a _FORTIFY_SOURCE wrapper of <stdio.h>, a static function of the
 * program's). Exporter thread only (preload/callsite.c). */
#ifndef AT_DWARF_INFO_H
#define AT_DWARF_INFO_H

#include "dwarf_line.h"

#include <stddef.h>
#include <stdint.h>

/* One inlined call (a DW_TAG_inlined_subroutine holding the address). */
struct at_dwarf_inlined {
	uint64_t call_file; /* its call site: a file of the unit's line table */
	unsigned call_line; /* 0: not known */
	const char *name;   /* the inlined function (its linkage name if it has one), or NULL */
};

#define AT_DWARF_INLINED_MAX 16

/* The unit whose code holds an address. */
struct at_dwarf_unit {
	uint64_t stmt_list;   /* its line table (an offset in .debug_line), for at_dwarf_file */
	const char *comp_dir; /* its compilation directory, or NULL */
};

/* The inlined calls whose code holds vaddr (a link-time address), innermost
 * first: out[0] is the function whose code vaddr is (the line table's
 * location is in it), called from out[0]'s call site, which is in out[1]'s
 * function, and so on; the last one's call site is in the function that
 * holds them all (its symbol). Returns how many (0 when vaddr is in no
 * inlined call; -1 when there were more than max, the entries could not
 * be read, or no unit describes vaddr), and *unit where a unit holds it
 * (stmt_list ~0 where it has no line table). Strings point into the
 * mapped sections. */
int at_dwarf_inlined(const struct at_dwarf_sections *d, uint64_t vaddr, struct at_dwarf_inlined *out,
                     int max, struct at_dwarf_unit *unit);

#endif
