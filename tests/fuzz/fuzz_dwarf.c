/* libFuzzer target for the DWARF readers (preload/dwarf_info.c,
 * preload/dwarf_line.c), make fuzz: what the exporter reads from the
 * objects of the traced program, whose files may hold anything. The input
 * is an address (8 bytes), the sizes of five sections (4 bytes each:
 * .debug_abbrev, .debug_line, .debug_rnglists (also read as .debug_ranges),
 * .debug_addr (also .debug_str_offsets), .debug_str (also .debug_line_str)),
 * those sections, and .debug_info, the rest (tests/fuzz/make_dwarf_seeds.sh
 * makes seeds from compiled objects). Beyond memory safety it checks what
 * callsite.c relies on: at most max inlined calls, each name (and the
 * compilation directory) a string of the sections, file names NUL-terminated within their buffer.
 * The sections are also given as the supplementary file's (dwz's). */
// SRCS: preload/dwarf_info.c preload/dwarf_line.c
#include "../../preload/dwarf_info.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static int within(const char *s, const uint8_t *sec, size_t len)
{
	return (const uint8_t *)s >= sec && (const uint8_t *)s < sec + len &&
	       memchr(s, 0, (size_t)(sec + len - (const uint8_t *)s));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 8 + 5 * 4)
		return 0;
	uint64_t vaddr = le(data, 8);
	size_t len[5], off = 8 + 5 * 4;
	for (int i = 0; i < 5; i++)
		len[i] = (size_t)le(data + 8 + 4 * i, 4);
	/* each section in its own allocation: ASan sees a read past its end */
	uint8_t *sec[6];
	size_t slen[6];
	for (int i = 0; i < 6; i++) {
		size_t n = i < 5 ? len[i] : size - off;
		if (n > size - off)
			n = size - off;
		sec[i] = malloc(n ? n : 1);
		memcpy(sec[i], data + off, n);
		slen[i] = n;
		off += n;
	}
	struct at_dwarf_sections d = {0};
	d.abbrev = sec[0], d.abbrev_len = slen[0];
	d.line = sec[1], d.line_len = slen[1];
	d.rnglists = d.ranges = sec[2], d.rnglists_len = d.ranges_len = slen[2];
	d.addr = d.str_offsets = sec[3], d.addr_len = d.str_offsets_len = slen[3];
	d.str = d.line_str = sec[4], d.str_len = d.line_str_len = slen[4];
	d.info = sec[5], d.info_len = slen[5];
	/* the same sections stand for a dwz supplementary file: the forms
	 * that point into one are followed too */
	struct at_dwarf_sections alt = d;
	d.alt = &alt;

	struct at_dwarf_inlined in[4];
	struct at_dwarf_unit u = {0, NULL};
	int n = at_dwarf_inlined(&d, vaddr, in, 4, &u);
	if (n > 4 || n < -1)
		abort();
	char file[64];
	for (int i = 0; i < n; i++) {
		if (in[i].name && !within(in[i].name, sec[4], slen[4]) &&
		    !within(in[i].name, sec[5], slen[5]))
			abort();
		if (at_dwarf_file(&d, u.stmt_list, in[i].call_file, file, sizeof file) &&
		    !memchr(file, 0, sizeof file))
			abort();
	}
	if (n >= 0 && u.comp_dir && !within(u.comp_dir, sec[4], slen[4]) &&
	    !within(u.comp_dir, sec[5], slen[5]))
		abort();
	unsigned line;
	if (at_dwarf_line(&d, vaddr, file, sizeof file, &line) && !memchr(file, 0, sizeof file))
		abort();
	for (int i = 0; i < 6; i++)
		free(sec[i]);
	return 0;
}
