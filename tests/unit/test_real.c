/* preload/real.c's at_caller_needs: an object's version needs, read from
 * its dynamic section in memory. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>

#include "../../preload/real.h"

/* This test program, built now, needs a recent glibc (__libc_start_main
 * at GLIBC_2.34, printf at GLIBC_2.2.5): at or after 2.15, not after 99. */
static void this_program(void **state)
{
	(void)state;
	const void *here = (const void *)&this_program;
	printf("%p\n", here); /* a use of printf's versioned symbol */
	assert_int_equal(at_caller_needs(here, "libc.so.6", "GLIBC_", 2, 15), 1);
	assert_int_equal(at_caller_needs(here, "libc.so.6", "GLIBC_", 2, 2), 1);
	assert_int_equal(at_caller_needs(here, "libc.so.6", "GLIBC_", 99, 0), 0);
	assert_int_equal(at_caller_needs(here, "libc.so.6", "GLIBC_", 2, 999), 0);
}

/* No object there, an object with no needs on that library: not known;
 * needs on the library, none of them of that kind: 0. */
static void unknown(void **state)
{
	(void)state;
	const void *here = (const void *)&this_program;
	assert_int_equal(at_caller_needs((const void *)16, "libc.so.6", "GLIBC_", 2, 15), -1);
	assert_int_equal(at_caller_needs(here, "libnothing.so.1", "GLIBC_", 2, 15), -1);
	assert_int_equal(at_caller_needs(here, "libc.so.6", "NOPE_", 2, 15), 0);
	/* the vDSO has no version needs */
	const void *vdso = (const void *)getauxval(AT_SYSINFO_EHDR);
	if (vdso)
		assert_int_equal(at_caller_needs(vdso, "libc.so.6", "GLIBC_", 2, 15), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(this_program),
	    cmocka_unit_test(unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
