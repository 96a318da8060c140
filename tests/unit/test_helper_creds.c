/* The exporter process's view of its application's credentials
 * (reporter/helper_creds.c): the user, group and supplementary groups read
 * from a /proc/<pid>/status text, compared with its own as sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../reporter/helper_creds.h"

static const char status[] = "Name:\tdaemon\n"
                             "Umask:\t0022\n"
                             "State:\tS (sleeping)\n"
                             "Tgid:\t4242\n"
                             "Uid:\t1000\t1001\t1002\t1001\n"
                             "Gid:\t2000\t2001\t2002\t2001\n"
                             "FDSize:\t64\n"
                             "Groups:\t27 100 2000 \n"
                             "NStgid:\t4242\n";

static void parses_the_three_ids_and_the_groups(void **state)
{
	(void)state;
	struct at_creds c;
	assert_int_equal(at_creds_parse(status, &c), 0);
	assert_int_equal(c.uid[0], 1000);
	assert_int_equal(c.uid[1], 1001);
	assert_int_equal(c.uid[2], 1002);
	assert_int_equal(c.gid[0], 2000);
	assert_int_equal(c.gid[2], 2002);
	assert_int_equal(c.ngroups, 3);
	assert_int_equal(c.groups[0], 27);
	assert_int_equal(c.groups[2], 2000);
}

static void no_groups_is_an_empty_set(void **state)
{
	(void)state;
	struct at_creds c;
	assert_int_equal(at_creds_parse("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n", &c), 0);
	assert_int_equal(c.ngroups, 0);
	assert_int_equal(c.uid[1], 0);
}

static void a_missing_or_malformed_line_is_refused(void **state)
{
	(void)state;
	struct at_creds c;
	assert_int_equal(at_creds_parse("Uid:\t0\t0\t0\t0\nGroups:\t\n", &c), -1);
	assert_int_equal(at_creds_parse("Uid:\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n", &c), -1);
	assert_int_equal(at_creds_parse("Uid:\t0\tx\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n", &c),
	                 -1);
	assert_int_equal(at_creds_parse("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t1 -2\n", &c),
	                 -1);
	/* the key must be the whole name: "Uidx" is not "Uid" */
	assert_int_equal(at_creds_parse("Uidx:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n", &c),
	                 -1);
	assert_int_equal(
	    at_creds_parse("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t99999999999\n", &c), -1);
}

static void more_groups_than_it_holds_is_refused(void **state)
{
	(void)state;
	static char big[16384];
	size_t n = (size_t)snprintf(big, sizeof big, "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t");
	for (int g = 0; g <= AT_CREDS_GROUPS_MAX; g++)
		n += (size_t)snprintf(big + n, sizeof big - n, "%d ", g);
	snprintf(big + n, sizeof big - n, "\n");
	struct at_creds c;
	assert_int_equal(at_creds_parse(big, &c), -1);
}

static void groups_compare_as_sets(void **state)
{
	(void)state;
	struct at_creds a, b;
	assert_int_equal(at_creds_parse(status, &a), 0);
	b = a;
	b.groups[0] = a.groups[2];
	b.groups[2] = a.groups[0];
	assert_true(at_creds_same(&a, &b));
	b.groups[1] = 101;
	assert_false(at_creds_same(&a, &b));
	b = a;
	b.ngroups = 2;
	assert_false(at_creds_same(&a, &b));
	b = a;
	b.uid[2] = 0; /* a saved id kept is a privilege kept */
	assert_false(at_creds_same(&a, &b));
	b = a;
	b.gid[1] = 0;
	assert_false(at_creds_same(&a, &b));
}

static void this_process_reads_as_itself(void **state)
{
	(void)state;
	char buf[8192];
	FILE *f = fopen("/proc/self/status", "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	struct at_creds mine, read;
	assert_int_equal(at_creds_self(&mine), 0);
	assert_int_equal(at_creds_parse(buf, &read), 0);
	assert_true(at_creds_same(&mine, &read));
	/* and taking one's own credentials changes nothing */
	assert_int_equal(at_creds_take(&mine), 0);
	assert_int_equal(at_creds_follow(getpid(), 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parses_the_three_ids_and_the_groups),
	    cmocka_unit_test(no_groups_is_an_empty_set),
	    cmocka_unit_test(a_missing_or_malformed_line_is_refused),
	    cmocka_unit_test(more_groups_than_it_holds_is_refused),
	    cmocka_unit_test(groups_compare_as_sets),
	    cmocka_unit_test(this_process_reads_as_itself),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
