/* The DWARF readers (preload/dwarf_line.c, preload/dwarf_info.c) on
 * malformed sections made here byte by byte, where a loop would run for
 * ever, or for minutes, on the exporter: each lookup ends, with nothing
 * found or with what the good part says. An alarm fails the test instead
 * of a hang. (Well-formed DWARF is checked against llvm-addr2line by
 * tests/integration/test_callsite_inline.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../preload/dwarf_info.h"
#include "../../preload/dwarf_line.h"

struct out {
	uint8_t b[1 << 21];
	size_t n;
};

static void put(struct out *o, const void *p, size_t n)
{
	memcpy(o->b + o->n, p, n);
	o->n += n;
}

static void u8(struct out *o, unsigned v)
{
	uint8_t b = (uint8_t)v;
	put(o, &b, 1);
}

static void u16(struct out *o, unsigned v)
{
	put(o, &(uint16_t){(uint16_t)v}, 2);
}

static void u32(struct out *o, uint32_t v)
{
	put(o, &v, 4);
}

static void u64(struct out *o, uint64_t v)
{
	put(o, &v, 8);
}

static void uleb(struct out *o, uint64_t v)
{
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		put(o, &(uint8_t){(uint8_t)(b | (v ? 0x80 : 0))}, 1);
	} while (v);
}

/* A DWARF 5 line table whose directory table has no entry format and a
 * count of 2^62 entries: each entry reads nothing, so a reader that loops
 * count times never ends. Its program has one row at 0x1000-0x1010. */
static void v5_table_without_formats(void **state)
{
	static struct out o;
	o.n = 0;
	u32(&o, 0); /* unit_length, patched below */
	u16(&o, 5);
	u8(&o, 8); /* address_size */
	u8(&o, 0); /* segment_selector_size */
	size_t hl = o.n;
	u32(&o, 0); /* header_length, patched */
	u8(&o, 1);  /* minimum_instruction_length */
	u8(&o, 1);  /* maximum_operations_per_instruction */
	u8(&o, 1);  /* default_is_stmt */
	u8(&o, (uint8_t)-5);
	u8(&o, 14);
	u8(&o, 13); /* opcode_base */
	static const uint8_t lens[12] = {0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1};
	put(&o, lens, sizeof lens);
	u8(&o, 0);             /* directory_entry_format_count */
	uleb(&o, 1ULL << 62);  /* directories_count */
	u8(&o, 0);             /* file_name_entry_format_count */
	uleb(&o, 0);           /* file_names_count */
	uint32_t h = (uint32_t)(o.n - hl - 4);
	memcpy(o.b + hl, &h, 4);
	/* the program: set_address 0x1000, copy, advance_pc 16, end_sequence */
	u8(&o, 0), uleb(&o, 9), u8(&o, 2), u64(&o, 0x1000);
	u8(&o, 1);
	u8(&o, 2), uleb(&o, 16);
	u8(&o, 0), uleb(&o, 1), u8(&o, 1);
	uint32_t len = (uint32_t)(o.n - 4);
	memcpy(o.b, &len, 4);

	struct at_dwarf_sections d = {0};
	d.line = o.b;
	d.line_len = o.n;
	char file[64] = "x";
	unsigned line = 0;
	alarm(10);
	/* the row is found; its file cannot be named */
	assert_int_equal(at_dwarf_line(&d, 0x1004, file, sizeof file, &line), 1);
	assert_string_equal(file, "");
	assert_int_equal(line, 1);
	assert_int_equal(at_dwarf_file(&d, 0, 1, file, sizeof file), 0);
	alarm(0);
}

/* A DWARF 5 line table whose header says addresses take 16 bytes, and
 * whose file entries have an address (DW_FORM_addr) besides their name: a
 * reader that takes the size as it comes shifts a 64-bit value by 64 and
 * more (found by tests/fuzz/fuzz_dwarf.c). Only 4 and 8 are read: the
 * table is not used, the lookup finds nothing; the same table with 8 is
 * read and names its file. */
static size_t v5_table_with_address_size(struct out *o, unsigned asize)
{
	o->n = 0;
	u32(o, 0); /* unit_length, patched below */
	u16(o, 5);
	u8(o, asize);
	u8(o, 0);
	size_t hl = o->n;
	u32(o, 0);
	u8(o, 1), u8(o, 1), u8(o, 1), u8(o, (uint8_t)-5), u8(o, 14), u8(o, 13);
	static const uint8_t lens[12] = {0, 1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 1};
	put(o, lens, sizeof lens);
	u8(o, 1), uleb(o, 1), uleb(o, 0x08); /* directories: DW_LNCT_path string */
	uleb(o, 1), put(o, "/src", 5);
	/* files: DW_LNCT_path string, DW_LNCT_directory udata, an address
	 * (a vendor content code 0x2001) */
	u8(o, 3), uleb(o, 1), uleb(o, 0x08), uleb(o, 2), uleb(o, 0x0f), uleb(o, 0x2001), uleb(o, 0x01);
	uleb(o, 2);
	for (int i = 0; i < 2; i++) {
		put(o, "a.c", 4), uleb(o, 0);
		for (unsigned k = 0; k < asize; k++)
			u8(o, 0xff);
	}
	uint32_t h = (uint32_t)(o->n - hl - 4);
	memcpy(o->b + hl, &h, 4);
	u8(o, 0), uleb(o, 9), u8(o, 2), u64(o, 0x1000); /* set_address 0x1000 */
	u8(o, 1);                                      /* copy */
	u8(o, 2), uleb(o, 16);                         /* advance_pc 16 */
	u8(o, 0), uleb(o, 1), u8(o, 1);                /* end_sequence */
	uint32_t len = (uint32_t)(o->n - 4);
	memcpy(o->b, &len, 4);
	return o->n;
}

static void v5_table_with_wide_addresses(void **state)
{
	static struct out o;
	struct at_dwarf_sections d = {0};
	char file[64];
	unsigned line = 0;
	d.line = o.b;
	d.line_len = v5_table_with_address_size(&o, 8);
	assert_int_equal(at_dwarf_line(&d, 0x1004, file, sizeof file, &line), 1);
	assert_string_equal(file, "/src/a.c");
	d.line_len = v5_table_with_address_size(&o, 16);
	assert_int_equal(at_dwarf_line(&d, 0x1004, file, sizeof file, &line), 0);
	d.line_len = v5_table_with_address_size(&o, 255);
	assert_int_equal(at_dwarf_line(&d, 0x1004, file, sizeof file, &line), 0);
}

/* A DWARF 4 unit of 100,000 lexical blocks, each with the same range list
 * of 65,535 entries (none holding the address): read once per block, 6.5
 * billion entries. A lookup reads at most a few million (STEPS_MAX) and
 * gives up. */
static void range_list_read_for_every_entry(void **state)
{
	static struct out info, abbrev, ranges, line;
	info.n = abbrev.n = ranges.n = line.n = 0;
	/* abbreviations: 1 compile_unit (children: low_pc, high_pc data8,
	 * stmt_list), 2 subprogram (children: low_pc, high_pc), 3 lexical_block
	 * (ranges sec_offset) */
	uleb(&abbrev, 1), uleb(&abbrev, 0x11), u8(&abbrev, 1);
	uleb(&abbrev, 0x11), uleb(&abbrev, 0x01), uleb(&abbrev, 0x12), uleb(&abbrev, 0x07);
	uleb(&abbrev, 0x10), uleb(&abbrev, 0x17), uleb(&abbrev, 0), uleb(&abbrev, 0);
	uleb(&abbrev, 2), uleb(&abbrev, 0x2e), u8(&abbrev, 1);
	uleb(&abbrev, 0x11), uleb(&abbrev, 0x01), uleb(&abbrev, 0x12), uleb(&abbrev, 0x07);
	uleb(&abbrev, 0), uleb(&abbrev, 0);
	uleb(&abbrev, 3), uleb(&abbrev, 0x0b), u8(&abbrev, 0);
	uleb(&abbrev, 0x55), uleb(&abbrev, 0x17), uleb(&abbrev, 0), uleb(&abbrev, 0);
	uleb(&abbrev, 0);
	for (int i = 0; i < 65535; i++)
		u64(&ranges, 0x10), u64(&ranges, 0x20);
	u64(&ranges, 0), u64(&ranges, 0);

	u32(&info, 0); /* unit_length, patched */
	u16(&info, 4);
	u32(&info, 0); /* debug_abbrev_offset */
	u8(&info, 8);
	uleb(&info, 1), u64(&info, 0), u64(&info, 0x100000), u32(&info, 0);
	uleb(&info, 2), u64(&info, 0x1000), u64(&info, 0x1000);
	for (int i = 0; i < 100000; i++)
		uleb(&info, 3), u32(&info, 0);
	uleb(&info, 0); /* end of the subprogram's children */
	uleb(&info, 0); /* end of the unit's */
	uint32_t len = (uint32_t)(info.n - 4);
	memcpy(info.b, &len, 4);

	struct at_dwarf_sections d = {0};
	d.info = info.b, d.info_len = info.n;
	d.abbrev = abbrev.b, d.abbrev_len = abbrev.n;
	d.ranges = ranges.b, d.ranges_len = ranges.n;
	struct at_dwarf_inlined in[4];
	struct at_dwarf_unit u;
	alarm(10);
	/* in the subprogram, in no block: given up (the budget), not found */
	assert_int_equal(at_dwarf_inlined(&d, 0x1500, in, 4, &u), -1);
	/* outside the subprogram: its blocks are never read */
	assert_int_equal(at_dwarf_inlined(&d, 0x3000, in, 4, &u), 0);
	assert_int_equal(u.stmt_list, 0);
	alarm(0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(v5_table_without_formats),
	    cmocka_unit_test(range_list_read_for_every_entry),
	    cmocka_unit_test(v5_table_with_wide_addresses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
