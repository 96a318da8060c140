/* The SQL sanitizer on a corpus of tricky statements: what reaches
 * db.query.text must hold no literal, and the operation and table must be
 * the ones a reader would name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../hooks/sql_sanitize.h"

struct sample {
	const char *in, *out;
};

static const struct sample corpus[] = {
    {"SELECT 1", "SELECT ?"},
    {"  select\t*\nfrom   users  where id = 42  ", "select * from users where id = ?"},
    /* strings: doubled quotes, backslash escapes, double quotes */
    {"SELECT * FROM t WHERE name = 'O''Brien'", "SELECT * FROM t WHERE name = ?"},
    {"SELECT * FROM t WHERE name = 'it\\'s' AND x = 'a\\\\'",
     "SELECT * FROM t WHERE name = ? AND x = ?"},
    {"SELECT \"double \"\" quoted\", 'x'", "SELECT ?, ?"},
    {"SELECT 'a' 'b'", "SELECT ? ?"},
    {"SELECT 'unterminated", "SELECT ?"},
    {"SELECT 'a -- not a comment' FROM t", "SELECT ? FROM t"},
    {"SELECT 'a /* no */ b', '#x'", "SELECT ?, ?"},
    /* identifiers stay, quoted or not */
    {"SELECT `col``1`, `weird 'name'` FROM `db`.`t 1`",
     "SELECT `col``1`, `weird 'name'` FROM `db`.`t 1`"},
    {"SELECT col1, t2.c3, 1abc, 12e FROM t9", "SELECT col1, t2.c3, 1abc, 12e FROM t9"},
    /* numbers */
    {"SELECT 3.14, .5, 1e10, 1.5E-3, 2e+7, 10.", "SELECT ?, ?, ?, ?, ?, ?"},
    {"SELECT -1, +2, - 3, (-4.5)", "SELECT ?, ?, - ?, (?)"},
    {"UPDATE t SET a = a-1, b = -2, c = a - -3 WHERE d > -1e3",
     "UPDATE t SET a = a-?, b = ?, c = a - ? WHERE d > ?"},
    {"SELECT x FROM t LIMIT 10 OFFSET 20", "SELECT x FROM t LIMIT ? OFFSET ?"},
    /* hex, bit, national and charset-introduced literals */
    {"SELECT 0xDEADbeef, 0b1010, X'0aFF', x'00', b'101', B'1', N'nat', _utf8mb4'\\'x'",
     "SELECT ?, ?, ?, ?, ?, ?, ?, ?"},
    {"SELECT 0xZZ, 0b12", "SELECT 0xZZ, 0b12"},
    /* IN lists */
    {"SELECT * FROM t WHERE id IN (1,2,3)", "SELECT * FROM t WHERE id IN (?)"},
    {"SELECT * FROM t WHERE id in ( 1 , 'two' , -3 , 0x4 )", "SELECT * FROM t WHERE id in (?)"},
    {"SELECT * FROM t WHERE id NOT IN (?, ?, ?)", "SELECT * FROM t WHERE id NOT IN (?)"},
    {"SELECT * FROM t WHERE id IN (1, a, 3)", "SELECT * FROM t WHERE id IN (?, a, ?)"},
    {"SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE x IN (5,6))",
     "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE x IN (?))"},
    {"SELECT * FROM t WHERE (a,b) IN ((1,2),(3,4))",
     "SELECT * FROM t WHERE (a,b) IN ((?,?),(?,?))"},
    {"INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')",
     "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"},
    /* comments */
    {"SELECT 1 -- trailing comment\nFROM t", "SELECT ? FROM t"},
    {"SELECT 1 # hash comment 'x'\n, 2", "SELECT ? , ?"},
    {"SELECT /* inline 'secret' */ a FROM t", "SELECT a FROM t"},
    {"SELECT a/*x*/FROM t", "SELECT a FROM t"},
    {"SELECT 5--3", "SELECT ?-?"},
    {"SELECT 1 --", "SELECT ?"},
    {"/* leading */ DELETE FROM t WHERE a = 1 /* unterminated", "DELETE FROM t WHERE a = ?"},
    {"/*!40101 SET NAMES utf8 */", "SET NAMES utf8"},
    {"SELECT /*+ MAX_EXECUTION_TIME(1000) */ a FROM t", "SELECT a FROM t"},
    {"CREATE TABLE t (a INT) /*!50100 PARTITION BY HASH (a) PARTITIONS 4 */",
     "CREATE TABLE t (a INT) PARTITION BY HASH (a) PARTITIONS ?"},
    /* multi-statement */
    {"INSERT INTO a VALUES (1); SELECT 'x';", "INSERT INTO a VALUES (?); SELECT ?;"},
    /* placeholders and variables */
    {"SELECT * FROM t WHERE a = ? AND b = @v AND c = @@session.sql_mode",
     "SELECT * FROM t WHERE a = ? AND b = @v AND c = @@session.sql_mode"},
    /* unicode */
    {"SELECT * FROM tabla_ñ WHERE nombre = 'José' AND ciudad = \"Zürich\"",
     "SELECT * FROM tabla_ñ WHERE nombre = ? AND ciudad = ?"},
    {"SELECT '日本語', 名前 FROM 表", "SELECT ?, 名前 FROM 表"},
    {"", ""},
    {"   \n\t ", ""},
    {"-- only a comment", ""},
};

static void sanitize_corpus(void **state)
{
	char out[AT_SQL_MAX];
	for (size_t k = 0; k < sizeof corpus / sizeof corpus[0]; k++) {
		int cut = -1;
		size_t n =
		    at_sql_sanitize(corpus[k].in, strlen(corpus[k].in), out, sizeof out, &cut);
		if (strcmp(out, corpus[k].out)) {
			print_error("in:   %s\nwant: %s\ngot:  %s\n", corpus[k].in, corpus[k].out,
			            out);
			fail();
		}
		assert_int_equal(n, strlen(out));
		assert_int_equal(cut, 0);
	}
}

struct summary_case {
	const char *sql, *op, *table;
};

static const struct summary_case summaries[] = {
    {"SELECT * FROM users WHERE id = ?", "SELECT", "users"},
    {"select a from `db`.`users` u where x", "SELECT", "`db`.`users`"},
    {"SELECT a FROM t1, t2", "SELECT", ""},
    {"SELECT a FROM t1 JOIN t2 ON x", "SELECT", ""},
    {"SELECT a FROM t1 AS x LEFT JOIN t2 USING (a)", "SELECT", ""},
    {"SELECT a FROM t1 x WHERE y", "SELECT", "t1"},
    {"SELECT (SELECT max(a) FROM inner_t) FROM outer_t", "SELECT", "outer_t"},
    {"SELECT a FROM (SELECT b FROM t) d", "SELECT", ""},
    {"(SELECT a FROM t1) UNION (SELECT a FROM t2)", "SELECT", "t1"},
    {"SELECT ?", "SELECT", ""},
    {"INSERT INTO orders (a, b) VALUES (?, ?)", "INSERT", "orders"},
    {"insert ignore into shop.items values (?)", "INSERT", "shop.items"},
    {"INSERT orders SET a = ?", "INSERT", "orders"},
    {"REPLACE INTO t(a) VALUES (?)", "REPLACE", "t"},
    {"UPDATE LOW_PRIORITY accounts SET x = ?", "UPDATE", "accounts"},
    {"UPDATE a, b SET a.x = b.x", "UPDATE", ""},
    {"DELETE FROM sessions WHERE t < ?", "DELETE", "sessions"},
    {"DELETE t1 FROM t1 JOIN t2", "DELETE", ""},
    {"CREATE TEMPORARY TABLE IF NOT EXISTS tmp1 (a INT)", "CREATE", "tmp1"},
    {"DROP TABLE IF EXISTS old", "DROP", "old"},
    {"ALTER TABLE t ADD c INT", "ALTER", "t"},
    {"TRUNCATE t", "TRUNCATE", "t"},
    {"TRUNCATE TABLE t", "TRUNCATE", "t"},
    {"CREATE DATABASE x", "CREATE", ""},
    {"SET NAMES utf8mb4", "SET", ""},
    {"commit", "COMMIT", ""},
    {"SHOW TABLES", "SHOW", ""},
    {"CALL proc(?)", "CALL", ""},
    {"? = 1", "", ""},
    {"", "", ""},
};

static void summarize_corpus(void **state)
{
	for (size_t k = 0; k < sizeof summaries / sizeof summaries[0]; k++) {
		struct at_sql_summary s;
		const char *q = summaries[k].sql;
		at_sql_summarize(q, strlen(q), &s);
		if (strcmp(s.op, summaries[k].op) || strcmp(s.table, summaries[k].table)) {
			print_error("sql: %s\nwant: %s|%s\ngot:  %s|%s\n", q, summaries[k].op,
			            summaries[k].table, s.op, s.table);
			fail();
		}
	}
}

/* The lengths the summary returns (at_sql_render names the span with them,
 * no strlen): the strings' own, on the sanitized text of statements with
 * comments, quotes, several statements, or nothing at all. */
struct length_case {
	const char *sql;
	size_t len; /* 0: strlen(sql) */
	const char *op, *table;
};

static const struct length_case lengths[] = {
    {"SELECT 1", 0, "SELECT", ""},
    {"select * from `db`.`t 1` /* c */ where a = 'x'", 0, "SELECT", "`db`.`t 1`"},
    {"/* lead */ -- dash\n# hash\nDELETE FROM sessions WHERE k = 'it''s'", 0, "DELETE", "sessions"},
    {"INSERT INTO a VALUES (1); SELECT 'x' FROM b;", 0, "INSERT", "a"},
    {"((select a from t1)) union select b from t2", 0, "SELECT", "t1"},
    {"update LOW_PRIORITY ignore `acc``ounts` set x = ?", 0, "UPDATE", "`acc``ounts`"},
    {"CREATE TABLE IF NOT EXISTS very_long_table_name_that_still_fits (a INT)", 0, "CREATE",
     "very_long_table_name_that_still_fits"},
    {"TRUNCATE t", 0, "TRUNCATE", "t"},
    {"Select_Something_Longer x", 0, "SELECT_SOMETHING_LONGER", ""}, /* 23: the most */
    {"Select_Something_Longerx y", 0, "", ""}, /* 24 letters: no room for the NUL */
    {"SELECT1 FROM t", 0, "", ""},
    {"", 0, "", ""},
    {"   ", 0, "", ""},
    {";", 0, "", ""},
    /* a NUL inside a quoted name (the statement's length is given): the
     * table's length stops at it, as strlen does */
    {"DELETE FROM `a\0b` WHERE x", 25, "DELETE", "`a"},
};

static void summary_lengths(void **state)
{
	char out[AT_SQL_MAX];
	for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
		const struct length_case *c = &lengths[k];
		size_t n = c->len ? c->len : strlen(c->sql);
		n = at_sql_sanitize(c->sql, n, out, sizeof out, NULL); /* as at_sql_render does */
		struct at_sql_summary s;
		memset(&s, 0x5a, sizeof s);
		at_sql_summarize(out, n, &s);
		if (strcmp(s.op, c->op) || strcmp(s.table, c->table) || s.op_len != strlen(c->op) ||
		    s.table_len != strlen(c->table)) {
			print_error("sql: %s\nwant: %s|%s %zu|%zu\ngot:  %s|%s %u|%u\n", c->sql,
			            c->op, c->table, strlen(c->op), strlen(c->table), s.op, s.table,
			            s.op_len, s.table_len);
			fail();
		}
	}
}

/* A huge IN list collapses even though it is far longer than the output. */
static void long_in_list(void **state)
{
	size_t cap = 200000, n = 0;
	char *q = malloc(cap);
	n += (size_t)sprintf(q, "SELECT * FROM t WHERE id IN (");
	for (int k = 0; k < 20000; k++)
		n += (size_t)sprintf(q + n, "%s%d", k ? ", " : "", k);
	n += (size_t)sprintf(q + n, ") AND b = 'x'");
	char out[AT_SQL_MAX];
	int cut = -1;
	at_sql_sanitize(q, n, out, sizeof out, &cut);
	assert_string_equal(out, "SELECT * FROM t WHERE id IN (?) AND b = ?");
	assert_int_equal(cut, 0);
	free(q);
}

/* Output is bounded, NUL-terminated, and never ends inside a UTF-8 sequence. */
static void truncation(void **state)
{
	char q[4000], out[64];
	size_t n = (size_t)sprintf(q, "SELECT ");
	for (int k = 0; k < 300; k++)
		n += (size_t)sprintf(q + n, "é");
	for (size_t cap = 1; cap <= sizeof out; cap++) {
		int cut = -1;
		memset(out, 'Z', sizeof out);
		size_t len = at_sql_sanitize(q, n, out, cap, &cut);
		assert_true(len < cap);
		assert_int_equal(out[len], 0);
		assert_int_equal(cut, 1);
		/* complete sequences only: "SELECT " then pairs of bytes */
		if (len > 7)
			assert_int_equal((len - 7) % 2, 0);
	}
	/* a statement beyond the scan bound is cut, not read to its end */
	size_t big = AT_SQL_SCAN_MAX + 100;
	char *b = malloc(big);
	memset(b, 'a', big);
	memcpy(b, "SELECT ", 7);
	int cut = 0;
	char o[AT_SQL_MAX];
	at_sql_sanitize(b, big, o, sizeof o, &cut);
	assert_int_equal(cut, 1);
	assert_int_equal(strlen(o), AT_SQL_MAX - 1);
	free(b);
}

/* No digit and no quote character of a literal survives. */
static void no_literal_leaks(void **state)
{
	static const char *const qs[] = {
	    "SELECT 123, -456, 7.89, 1e5, 0x1f, X'ab', 'str', \"dq\"",
	    "SELECT * FROM t WHERE a IN (1, 2) AND b = 'x''y\\'z' OR c = -0.5e-7",
	};
	char out[AT_SQL_MAX];
	for (size_t k = 0; k < 2; k++) {
		at_sql_sanitize(qs[k], strlen(qs[k]), out, sizeof out, NULL);
		assert_null(strpbrk(out, "0123456789'\""));
	}
}

/* "USE name" statements and what is not one */
static void use_db(void **state)
{
	(void)state;
	static const struct {
		const char *q, *db;
	} cases[] = {
	    {"USE other", "other"},
	    {"use app", "app"},
	    {"  Use\tapp_2$x ;  \n", "app_2$x"},
	    {"USE `my db`", "my db"},
	    {"USE `we``ird`;", "we`ird"},
	    {"USE caf\xc3\xa9", "caf\xc3\xa9"},
	    {"USE", NULL},
	    {"USE ", NULL},
	    {"USEother", NULL},
	    {"USE a b", NULL},
	    {"USE a; SELECT 1", NULL},
	    {"USE `open", NULL},
	    {"USE ``", NULL},
	    {"UPDATE t SET a = 1", NULL},
	    {"use other -- comment", NULL},
	    {"SELECT 1", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char out[64];
		memset(out, 'x', sizeof out);
		size_t n = at_sql_use_db(cases[i].q, strlen(cases[i].q), out, sizeof out);
		if (!cases[i].db) {
			assert_int_equal(n, 0);
			continue;
		}
		assert_int_equal(n, strlen(cases[i].db));
		assert_string_equal(out, cases[i].db);
		assert_true(at_sql_maybe_use(cases[i].q, strlen(cases[i].q)));
	}
	/* a name longer than the room: none */
	char small[4];
	assert_int_equal(at_sql_use_db("USE abcd", 8, small, sizeof small), 0);
	assert_int_equal(at_sql_use_db("USE abc", 7, small, sizeof small), 3);
	assert_int_equal(at_sql_use_db("USE `abcd`", 10, small, sizeof small), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sanitize_corpus),  cmocka_unit_test(summarize_corpus),
	    cmocka_unit_test(long_in_list),     cmocka_unit_test(truncation),
	    cmocka_unit_test(no_literal_leaks), cmocka_unit_test(summary_lengths),
	    cmocka_unit_test(use_db),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
