/* SQL text for db.query.text, db.operation.name and db.collection.name.
 * Runs on the application's thread inside a database hook: one pass over a
 * bounded prefix of the statement, no allocation, output into the caller's
 * buffer. */
#ifndef AT_SQL_SANITIZE_H
#define AT_SQL_SANITIZE_H

#include <stddef.h>

/* Sanitized text kept at most (bytes, including the NUL). */
#define AT_SQL_MAX 1024
/* Bytes of a statement looked at; a longer one (a bulk INSERT) is cut. */
#define AT_SQL_SCAN_MAX (256 * 1024)

/* Copies q[0..n) into out (cap bytes, NUL-terminated) with every literal
 * (strings with '' and \ escapes, double-quoted strings, numbers with sign,
 * fraction and exponent, 0x../0b.., X'..', B'..', N'..', _charset'..')
 * replaced by ?, comments removed (-- , #, / * * /; the body of MySQL's
 * executable comments / *! * / is kept), runs of white space made one
 * space, and IN (?, ?, ...) collapsed to IN (?). Identifiers, `quoted`
 * ones included, are kept. Returns the length written; *truncated (if not
 * NULL) says the text was cut, never in the middle of a UTF-8 sequence. */
size_t at_sql_sanitize(const char *q, size_t n, char *out, size_t cap, int *truncated);

struct at_sql_summary {
	char op[24];    /* first keyword, upper case: "SELECT"; "" if none */
	char table[96]; /* the one table the statement targets, as written; "" if not clear */
	unsigned char op_len, table_len; /* strlen(op), strlen(table) */
	int rendered; /* the text was sanitized by the hook itself (not deferred) */
};

/* First keyword and target table of sanitized text (comments already gone),
 * with their lengths (no strlen needed). */
void at_sql_summarize(const char *s, size_t n, struct at_sql_summary *sum);

/* No operation, no table (the strings and their lengths together). */
static inline void at_sql_summary_clear(struct at_sql_summary *sum)
{
	sum->op[0] = sum->table[0] = 0;
	sum->op_len = sum->table_len = 0;
}

/* Whether q (n bytes) may be "USE name": the cheap test before
 * at_sql_use_db, for every statement that worked. */
static inline int at_sql_maybe_use(const char *q, size_t n)
{
	return n >= 5 && ((q[0] | 0x20) == 'u' || q[0] == ' ' || q[0] == '\t' || q[0] == '\n' ||
	                  q[0] == '\r');
}

/* The database a whole statement "USE name" makes the connection's
 * default (the client's COM_INIT_DB in a statement): name plain or
 * `quoted` (`` a backquote), white space around, one ';' after. Into out
 * (cap bytes, NUL-terminated); returns its length, 0 when q is not that
 * or the name does not fit. */
size_t at_sql_use_db(const char *q, size_t n, char *out, size_t cap);

#include "../preload/span.h"

/* Renders a deferred db.query.text (raw statement in a) on the exporter
 * thread: sanitized in place (unless keep_literals), and the span named
 * "{operation} {table}" with db.operation.name and db.collection.name. */
void at_sql_render(struct at_span *s, struct at_attr *a, int keep_literals);

#endif
