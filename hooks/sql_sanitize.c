/* SQL sanitizer: literals to ?, comments out, for db.query.text. A single
 * left-to-right pass; the only look-back is the rewind that collapses an
 * IN list, which moves the output position back and never rescans input,
 * so the cost is linear in the (bounded) input. MySQL's lexical rules:
 * '..' and ".." are strings (default sql_mode) with \ and doubled-quote
 * escapes, `..` is an identifier, "-- " needs white space after the
 * dashes, # comments to end of line. */
#include "sql_sanitize.h"

#include <string.h>
#include <strings.h>

enum { PREV_NONE, PREV_WORD, PREV_OPERAND, PREV_PUNCT };

struct out {
	char *buf;
	size_t cap; /* usable bytes (without the NUL) */
	size_t o;   /* virtual position: may run past cap, nothing is written there */
};

static void put(struct out *w, char c)
{
	if (w->o < w->cap)
		w->buf[w->o] = c;
	w->o++;
}

static void put_n(struct out *w, const char *s, size_t n)
{
	/* most tokens are short words that fit: one copy, no test per byte */
	if (w->o <= w->cap && n <= w->cap - w->o) {
		at_copy_small(w->buf + w->o, s, n);
		w->o += n;
		return;
	}
	for (size_t k = 0; k < n; k++)
		put(w, s[k]);
}

/* Character classes, one table lookup each: the predicates run on every
 * byte of a statement (twice: sanitizing, then summarizing). */
enum {
	C_SPACE = 1,
	C_DIGIT = 2,
	C_HEX = 4,
	C_IDENT = 8, /* an unquoted identifier's characters */
	C_WORD = 16, /* a word goes on over these: C_IDENT, '.' and '@' */
	C_OP = 32,   /* a statement's first keyword: letters and '_' */
};

#define C_ID (C_IDENT | C_WORD)
#define C_LETTER (C_ID | C_OP)

/* MySQL allows identifiers to start with a digit, and any non-ASCII character. */
static const unsigned char cclass[256] = {
    [' '] = C_SPACE,
    ['\t'] = C_SPACE,
    ['\n'] = C_SPACE,
    ['\r'] = C_SPACE,
    ['\f'] = C_SPACE,
    ['\v'] = C_SPACE,
    ['0' ... '9'] = C_DIGIT | C_HEX | C_ID,
    ['a' ... 'f'] = C_HEX | C_LETTER,
    ['g' ... 'z'] = C_LETTER,
    ['A' ... 'F'] = C_HEX | C_LETTER,
    ['G' ... 'Z'] = C_LETTER,
    ['_'] = C_LETTER,
    ['$'] = C_ID,
    ['.'] = C_WORD,
    ['@'] = C_WORD,
    [0x80 ... 0xff] = C_ID,
};

static inline int is_space(unsigned char c)
{
	return cclass[c] & C_SPACE;
}

static inline int is_digit(unsigned char c)
{
	return cclass[c] & C_DIGIT;
}

static inline int is_hex(unsigned char c)
{
	return cclass[c] & C_HEX;
}

static inline int is_ident(unsigned char c)
{
	return cclass[c] & C_IDENT;
}

/* An identifier character, '.' or '@': what a word is made of. */
static inline int is_word(unsigned char c)
{
	return cclass[c] & C_WORD;
}

/* w[0..n) is the keyword kw (upper case), in any case. Hot: most words
 * differ from a keyword in their first letter. */
static int word_is(const char *w, size_t n, const char *kw)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)w[i];
		if (c >= 'a' && c <= 'z')
			c = (unsigned char)(c - 32);
		if (c != (unsigned char)kw[i])
			return 0; /* also at the end of kw: words hold no NUL */
	}
	return kw[n] == 0;
}

/* After these words a - or + in front of a number is a sign, not an operator. */
static int sign_follows(const char *w, size_t n)
{
	static const char *const kw[] = {
	    "SELECT", "WHERE", "AND",    "OR",     "NOT", "THEN", "ELSE",    "WHEN",     "VALUES",
	    "VALUE",  "SET",   "LIMIT",  "OFFSET", "BY",  "IN",   "BETWEEN", "LIKE",     "IS",
	    "RETURN", "ON",    "HAVING", "CASE",   "XOR", "DIV",  "MOD",     "INTERVAL", NULL};
	for (int k = 0; kw[k]; k++)
		if (word_is(w, n, kw[k]))
			return 1;
	return 0;
}

/* End of a quoted run starting at q[i] (the quote); \ escapes only in strings. */
static size_t skip_quoted(const char *q, size_t n, size_t i, char quote, int backslash)
{
	size_t j = i + 1;
	while (j < n) {
		if (backslash && q[j] == '\\') {
			j += 2;
		} else if (q[j] == quote) {
			if (j + 1 < n && q[j + 1] == quote) {
				j += 2;
			} else {
				return j + 1;
			}
		} else {
			j++;
		}
	}
	return n;
}

/* End of a numeric literal starting at q[i], or 0 if it is not one. */
static size_t skip_number(const char *q, size_t n, size_t i)
{
	size_t j = i;
	if (q[j] == '0' && j + 2 < n && (q[j + 1] == 'x' || q[j + 1] == 'X') && is_hex(q[j + 2])) {
		j += 2;
		while (j < n && is_hex(q[j]))
			j++;
		return j;
	}
	if (q[j] == '0' && j + 2 < n && (q[j + 1] == 'b' || q[j + 1] == 'B') &&
	    (q[j + 2] == '0' || q[j + 2] == '1')) {
		j += 2;
		while (j < n && (q[j] == '0' || q[j] == '1'))
			j++;
		return j;
	}
	while (j < n && is_digit(q[j]))
		j++;
	if (j < n && q[j] == '.') {
		j++;
		while (j < n && is_digit(q[j]))
			j++;
	}
	if (j == i || (j == i + 1 && q[i] == '.'))
		return 0;
	if (j < n && (q[j] == 'e' || q[j] == 'E')) {
		size_t k = j + 1;
		if (k < n && (q[k] == '+' || q[k] == '-'))
			k++;
		if (k < n && is_digit(q[k])) {
			while (k < n && is_digit(q[k]))
				k++;
			j = k;
		}
	}
	return j;
}

/* Does a number start at q[i]? */
static int number_at(const char *q, size_t n, size_t i)
{
	return i < n && (is_digit(q[i]) || (q[i] == '.' && i + 1 < n && is_digit(q[i + 1])));
}

size_t at_sql_sanitize(const char *q, size_t n, char *out, size_t cap, int *truncated)
{
	int cut = 0;
	if (n > AT_SQL_SCAN_MAX) {
		n = AT_SQL_SCAN_MAX;
		cut = 1;
	}
	if (!cap) {
		if (truncated)
			*truncated = n > 0;
		return 0;
	}
	struct out w = {out, cap - 1, 0};
	int prev = PREV_NONE, space = 0, in_exec = 0;
	int after_in = 0;               /* last word emitted was IN */
	size_t word_at = 0, word_n = 0; /* the last word, when prev is PREV_WORD */
	size_t in_open = (size_t)-1;    /* output position of the ( of an IN list */
	int in_pure = 0, in_count = 0;
	size_t i = 0;

	while (i < n) {
		unsigned char c = (unsigned char)q[i];
		/* white space and comments: at most one space in the output */
		if (is_space(c)) {
			space = 1;
			i++;
			continue;
		}
		if (c == '#' || (c == '-' && i + 1 < n && q[i + 1] == '-' &&
		                 (i + 2 == n || is_space((unsigned char)q[i + 2])))) {
			while (i < n && q[i] != '\n')
				i++;
			space = 1;
			continue;
		}
		if (c == '/' && i + 1 < n && q[i + 1] == '*') {
			size_t j = i + 2;
			/* executable comments (/ *!50110 ... * /, MariaDB's / *M!...)
			 * hold SQL: drop only the markers */
			if (j < n && q[j] == 'M' && j + 1 < n && q[j + 1] == '!')
				j++;
			if (j < n && q[j] == '!' && !in_exec) {
				j++;
				while (j < n && is_digit((unsigned char)q[j]))
					j++;
				in_exec = 1;
				i = j;
				space = 1;
				continue;
			}
			while (j + 1 < n && !(q[j] == '*' && q[j + 1] == '/'))
				j++;
			i = j + 2 > n ? n : j + 2;
			space = 1;
			continue;
		}
		if (in_exec && c == '*' && i + 1 < n && q[i + 1] == '/') {
			in_exec = 0;
			i += 2;
			space = 1;
			continue;
		}

		/* a token: classify it, then emit */
		size_t start = i, end;
		int kind; /* PREV_WORD: copy verbatim; PREV_OPERAND: a literal, ?; PREV_PUNCT */
		if (c == '\'' || c == '"') {
			end = skip_quoted(q, n, i, (char)c, 1);
			kind = PREV_OPERAND;
		} else if (c == '`') {
			end = skip_quoted(q, n, i, '`', 0);
			kind = PREV_WORD;
		} else if ((c == '-' || c == '+') && number_at(q, n, i + 1) &&
		           (prev == PREV_NONE || prev == PREV_PUNCT ||
		            (prev == PREV_WORD && sign_follows(q + word_at, word_n)))) {
			end = skip_number(q, n, i + 1);
			kind = PREV_OPERAND;
			if (end < n && is_ident((unsigned char)q[end])) {
				/* -1abc: an operator and an identifier */
				end = i + 1;
				kind = PREV_PUNCT;
			}
		} else if (number_at(q, n, i)) {
			end = skip_number(q, n, i);
			kind = PREV_OPERAND;
			if (end < n && is_ident((unsigned char)q[end])) {
				/* MySQL identifiers may start with digits: 1e5x, 0xZZ, 123abc */
				while (end < n && is_ident((unsigned char)q[end]))
					end++;
				kind = PREV_WORD;
			}
		} else if (is_ident(c) || c == '@' || (c == '.' && prev == PREV_WORD)) {
			end = i + 1;
			while (end < n && is_word((unsigned char)q[end]))
				end++;
			kind = PREV_WORD;
			/* X'..', B'..', N'..', _utf8mb4'..': the prefix belongs to the literal */
			size_t wn = end - i;
			if (end < n && q[end] == '\'' &&
			    ((wn == 1 && strchr("xXbBnN", c)) || (c == '_' && wn > 1))) {
				end = skip_quoted(q, n, end, '\'', 1);
				kind = PREV_OPERAND;
			}
		} else if (c == '?') {
			end = i + 1;
			kind = PREV_OPERAND;
		} else {
			end = i + 1;
			kind = PREV_PUNCT;
			/* keep multi-byte UTF-8 characters whole */
			while (end < n && ((unsigned char)q[end] & 0xc0) == 0x80)
				end++;
		}

		/* "--" followed by a space would read as a comment when sanitized again */
		if (c == '-' && kind == PREV_PUNCT && w.o > 0 && w.o <= w.cap &&
		    w.buf[w.o - 1] == '-')
			space = 1;
		if (space && w.o > 0)
			put(&w, ' ');
		space = 0;
		if (kind == PREV_OPERAND) {
			put(&w, '?');
			if (in_open != (size_t)-1)
				in_count++;
		} else if (c == '(' && kind == PREV_PUNCT) {
			in_open = after_in ? w.o : (size_t)-1;
			in_pure = 1;
			in_count = 0;
			put(&w, '(');
		} else if (c == ')' && kind == PREV_PUNCT) {
			if (in_open != (size_t)-1 && in_pure && in_count > 0) {
				w.o = in_open + 1;
				put(&w, '?');
			}
			in_open = (size_t)-1;
			put(&w, ')');
		} else {
			if (!(c == ',' && kind == PREV_PUNCT))
				in_pure = 0;
			put_n(&w, q + start, end - start);
		}

		after_in = kind == PREV_WORD && end - start == 2 && word_is(q + start, 2, "IN");
		if (kind == PREV_WORD) {
			word_at = start;
			word_n = end - start;
		}
		prev = (kind == PREV_PUNCT && c == ')') ? PREV_OPERAND : kind;
		i = end;
	}

	size_t len = w.o;
	if (len > w.cap) {
		len = w.cap;
		cut = 1;
		/* back off to the start of a UTF-8 sequence that is not complete */
		size_t k = len;
		while (k > 0 && len - k < 4 && ((unsigned char)out[k - 1] & 0xc0) == 0x80)
			k--;
		if (k > 0 && ((unsigned char)out[k - 1] & 0x80)) {
			unsigned char lead = (unsigned char)out[k - 1];
			size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
			if (len - (k - 1) < need)
				len = k - 1;
		}
	}
	out[len] = 0;
	if (truncated)
		*truncated = cut;
	return len;
}

/* ---- operation and table ---- */

struct lex {
	const char *s;
	size_t n, i;
	const char *t; /* current token */
	size_t tn;
	int word;
	int depth; /* parentheses around the current token */
};

static int lex_next(struct lex *l)
{
	while (l->i < l->n && is_space((unsigned char)l->s[l->i]))
		l->i++;
	if (l->i >= l->n) {
		l->tn = 0;
		return 0;
	}
	size_t j = l->i;
	unsigned char c = (unsigned char)l->s[j];
	if (is_ident(c) || c == '`' || c == '@') {
		while (j < l->n) {
			unsigned char d = (unsigned char)l->s[j];
			if (is_word(d))
				j++;
			else if (d == '`')
				j = skip_quoted(l->s, l->n, j, '`', 0);
			else
				break;
		}
		l->word = 1;
	} else {
		j++;
		l->word = 0;
		if (c == '(')
			l->depth++;
		else if (c == ')' && l->depth > 0)
			l->depth--;
	}
	l->t = l->s + l->i;
	l->tn = j - l->i;
	l->i = j;
	return 1;
}

static int tok_is(const struct lex *l, const char *kw)
{
	return l->word && word_is(l->t, l->tn, kw);
}

/* Skip any of the words in kws (NULL-terminated); returns with the first other token. */
static void skip_words(struct lex *l, const char *const *kws)
{
	for (;;) {
		int hit = 0;
		for (int k = 0; kws[k] && !hit; k++)
			hit = tok_is(l, kws[k]);
		if (!hit || !lex_next(l))
			return;
	}
}

static int is_join_word(const struct lex *l)
{
	static const char *const kw[] = {"JOIN",    "INNER",         "LEFT", "RIGHT", "CROSS",
	                                 "NATURAL", "STRAIGHT_JOIN", "FULL", "OUTER", NULL};
	for (int k = 0; kw[k]; k++)
		if (tok_is(l, kw[k]))
			return 1;
	return 0;
}

/* Words that can follow a table name and are not an alias. */
static int is_clause_word(const struct lex *l)
{
	static const char *const kw[] = {
	    "WHERE",  "GROUP",     "ORDER",  "LIMIT",  "HAVING",    "SET",    "UNION", "FOR",
	    "LOCK",   "PARTITION", "USE",    "IGNORE", "FORCE",     "WINDOW", "INTO",  "PROCEDURE",
	    "VALUES", "VALUE",     "SELECT", "ON",     "RETURNING", NULL};
	for (int k = 0; kw[k]; k++)
		if (tok_is(l, kw[k]))
			return 1;
	return is_join_word(l);
}

static void set_table(struct at_sql_summary *sum, const struct lex *l)
{
	if (!l->word || l->tn >= sizeof sum->table || l->t[0] == '@')
		return;
	memcpy(sum->table, l->t, l->tn);
	sum->table[l->tn] = 0;
	/* a `quoted` name may hold a NUL: the length is the string's */
	sum->table_len = (unsigned char)strnlen(sum->table, l->tn);
}

/* The table at the current token, unless others follow (a join, a list). */
static void single_table(struct at_sql_summary *sum, struct lex *l)
{
	if (!l->word || is_clause_word(l))
		return;
	struct lex t = *l;
	if (lex_next(l)) {
		if (tok_is(l, "AS"))
			lex_next(l);
		if (l->tn && l->word && !is_clause_word(l))
			lex_next(l); /* alias */
		if (l->tn && ((!l->word && l->t[0] == ',') || is_join_word(l)))
			return;
	}
	set_table(sum, &t);
}

/* The operation is the keyword kw (a literal) exactly: a length and one
 * compare, no strcmp. */
#define OP_IS(sum, kw) ((sum)->op_len == sizeof kw - 1 && !memcmp((sum)->op, kw, sizeof kw - 1))

void at_sql_summarize(const char *s, size_t n, struct at_sql_summary *sum)
{
	at_sql_summary_clear(sum);
	struct lex l = {s, n, 0, NULL, 0, 0, 0};
	while (lex_next(&l) && !l.word && l.t[0] == '(')
		;
	if (!l.tn || !l.word || l.tn >= sizeof sum->op)
		return;
	/* a keyword is letters and '_' only; clearing 0x20 makes letters
	 * upper case and leaves '_' as it is */
	for (size_t k = 0; k < l.tn; k++) {
		unsigned char c = (unsigned char)l.t[k];
		if (!(cclass[c] & C_OP)) {
			sum->op[0] = 0;
			return;
		}
		sum->op[k] = (char)(c & ~0x20);
	}
	sum->op[l.tn] = 0;
	sum->op_len = (unsigned char)l.tn;
	int base = l.depth;

	if (OP_IS(sum, "SELECT")) {
		while (lex_next(&l)) {
			if (!l.word && l.t[0] == ';')
				return;
			if (l.depth == base && tok_is(&l, "FROM")) {
				if (lex_next(&l))
					single_table(sum, &l);
				return;
			}
		}
	} else if (OP_IS(sum, "INSERT") || OP_IS(sum, "REPLACE")) {
		static const char *const kw[] = {"LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY",
		                                 "IGNORE",       "INTO",    NULL};
		if (lex_next(&l)) {
			skip_words(&l, kw);
			if (!is_clause_word(&l))
				set_table(sum, &l);
		}
	} else if (OP_IS(sum, "UPDATE")) {
		static const char *const kw[] = {"LOW_PRIORITY", "IGNORE", NULL};
		if (lex_next(&l)) {
			skip_words(&l, kw);
			single_table(sum, &l);
		}
	} else if (OP_IS(sum, "DELETE")) {
		static const char *const kw[] = {"LOW_PRIORITY", "QUICK", "IGNORE", NULL};
		if (lex_next(&l)) {
			skip_words(&l, kw);
			if (tok_is(&l, "FROM") && lex_next(&l))
				single_table(sum, &l);
		}
	} else if (OP_IS(sum, "CREATE") || OP_IS(sum, "DROP") || OP_IS(sum, "ALTER") ||
	           OP_IS(sum, "TRUNCATE") || OP_IS(sum, "RENAME")) {
		static const char *const pre[] = {"TEMPORARY", "OR",      "REPLACE", "IGNORE",
		                                  "ONLINE",    "OFFLINE", NULL};
		static const char *const cond[] = {"IF", "NOT", "EXISTS", NULL};
		if (!lex_next(&l))
			return;
		skip_words(&l, pre);
		if (tok_is(&l, "TABLE")) {
			if (!lex_next(&l))
				return;
		} else if (!OP_IS(sum, "TRUNCATE")) {
			return;
		}
		skip_words(&l, cond);
		set_table(sum, &l);
	}
}

/* The first index from i on that is not white space. */
static size_t skip_space(const char *q, size_t n, size_t i)
{
	while (i < n && is_space((unsigned char)q[i]))
		i++;
	return i;
}

size_t at_sql_use_db(const char *q, size_t n, char *out, size_t cap)
{
	size_t i = skip_space(q, n, 0), o = 0;
	if (n - i < 5 || strncasecmp(q + i, "use", 3) || !is_space((unsigned char)q[i + 3]))
		return 0;
	i = skip_space(q, n, i + 4);
	if (i < n && q[i] == '`') {
		for (i++;; i++) {
			if (i >= n)
				return 0; /* not closed */
			if (q[i] == '`') {
				if (i + 1 < n && q[i + 1] == '`')
					i++; /* a doubled one: the name holds one */
				else
					break;
			}
			if (o + 1 >= cap)
				return 0;
			out[o++] = q[i];
		}
		i++;
	} else {
		for (; i < n && is_ident((unsigned char)q[i]); i++) {
			if (o + 1 >= cap)
				return 0;
			out[o++] = q[i];
		}
	}
	i = skip_space(q, n, i);
	if (i < n && q[i] == ';')
		i = skip_space(q, n, i + 1);
	if (i != n || !o)
		return 0;
	out[o] = 0;
	return o;
}
