/* A Redis command's db.query.text from hiredis's argv or format, in two
 * steps: the capture (application thread) copies what the text can show of
 * the arguments into a blob (a format without conversions: all its words,
 * constants of the program), the rendering (exporter thread) writes the text.
 * Argument 0 is the command (upper-cased), argument 1 is shown as is (the
 * key, for almost every command); later ones are replaced by "?" unless
 * AUTOTRACE_REDIS_ARGS asks for them. Arguments of AUTH and HELLO are
 * secrets: never shown, never copied. Bytes outside printable ASCII are
 * escaped, so the text is valid UTF-8 whatever the values hold. */
#define _GNU_SOURCE
#include "redis_cmd.h"

#include "../preload/autotrace.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void at_redis_cmd_init(struct at_redis_cmd *c, int show_args)
{
	c->text[0] = 0;
	c->text_len = 0;
	c->op[0] = 0;
	c->op_len = 0;
	c->argc = 0;
	c->kind = AT_REDIS_PLAIN;
	c->select_db = -1;
	c->show_args = show_args;
	c->full = 0;
}

/* Only names whose first letter and length match one in kind_lookup's
 * table need a look: a bit per length, per letter. */
static const uint16_t kind_lens['z' - 'a' + 1] = {
    ['a' - 'a'] = 1 << 4,
    ['h' - 'a'] = 1 << 5,
    ['m' - 'a'] = 1 << 7,
    ['p' - 'a'] = 1 << 10 | 1 << 12,
    ['s' - 'a'] = 1 << 6 | 1 << 9 | 1 << 10 | 1 << 12,
    ['u' - 'a'] = 1 << 11,
};

static int kind_lookup(const char *name, size_t len)
{
	static const struct {
		const char *name;
		int kind;
	} names[] = {
	    {"auth", AT_REDIS_AUTH},           {"hello", AT_REDIS_AUTH},
	    {"select", AT_REDIS_SELECT},       {"monitor", AT_REDIS_PUBSUB},
	    {"subscribe", AT_REDIS_PUBSUB},    {"psubscribe", AT_REDIS_PUBSUB},
	    {"ssubscribe", AT_REDIS_PUBSUB},   {"unsubscribe", AT_REDIS_PUBSUB},
	    {"punsubscribe", AT_REDIS_PUBSUB}, {"sunsubscribe", AT_REDIS_PUBSUB},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strlen(names[i].name) == len && !strncasecmp(name, names[i].name, len))
			return names[i].kind;
	return AT_REDIS_PLAIN;
}

/* Whether a name of len bytes may be one in kind_lookup's table: its first
 * letter and length say no for almost every command. */
static inline int kind_maybe(const char *name, size_t len)
{
	unsigned c = (unsigned char)(name[0] | 0x20) - 'a';
	return len <= 12 && c <= 'z' - 'a' && (kind_lens[c] >> len & 1);
}

/* every command runs through here: almost all are plain at the first test */
static inline int kind_of(const char *name, size_t len)
{
	if (AT_LIKELY(!kind_maybe(name, len)))
		return AT_REDIS_PLAIN;
	return kind_lookup(name, len);
}

int at_redis_kind_of(const char *name, size_t len)
{
	return len ? kind_of(name, len) : AT_REDIS_PLAIN;
}

int at_redis_fmt_kind(const char *fmt)
{
	while (*fmt == ' ')
		fmt++;
	/* the first word, in one pass (most are a few letters): a '%' in it
	 * is a name known only once formatted */
	size_t n = 0;
	for (char c; (c = fmt[n]) && c != ' '; n++)
		if (c == '%')
			return AT_REDIS_UNKNOWN;
	return at_redis_kind_of(fmt, n);
}

/* Append to the text; past the limit, end it with "..." and stop. */
static void text_put(struct at_redis_cmd *c, const char *s, size_t n)
{
	if (c->full)
		return;
	size_t room = AT_REDIS_TEXT_MAX - 4 - c->text_len; /* "..." and NUL */
	if (n > room) {
		memcpy(c->text + c->text_len, s, room);
		c->text_len += room;
		memcpy(c->text + c->text_len, "...", 4);
		c->text_len += 3;
		c->full = 1;
		return;
	}
	memcpy(c->text + c->text_len, s, n);
	c->text_len += n;
	c->text[c->text_len] = 0;
}

/* Bytes the text shows escaped, inside quotes: 1. */
static const unsigned char quoted_byte[256] = {
    [0 ... ' '] = 1,
    ['"'] = 1,
    ['\\'] = 1,
    [0x7f ... 0xff] = 1,
};

static int needs_quotes(const unsigned char *s, size_t n)
{
	unsigned q = !n;
	for (size_t i = 0; i < n; i++)
		q |= quoted_byte[s[i]];
	return (int)q;
}

static void text_put_quoted(struct at_redis_cmd *c, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	text_put(c, "\"", 1);
	for (size_t i = 0; i < n && !c->full; i++) {
		if (s[i] == '"' || s[i] == '\\') {
			char e[2] = {'\\', (char)s[i]};
			text_put(c, e, 2);
		} else if (s[i] < ' ' || s[i] >= 0x7f) {
			char e[4] = {'\\', 'x', hex[s[i] >> 4], hex[s[i] & 15]};
			text_put(c, e, 4);
		} else {
			text_put(c, (const char *)&s[i], 1);
		}
	}
	text_put(c, "\"", 1);
}

/* Argument 0, the first thing in the text: upper-cased into op and, in the
 * same pass, into the text, where it stays unless it needs quotes. */
static void render_op(struct at_redis_cmd *c, const char *a, size_t n)
{
	size_t m = n < AT_REDIS_OP_MAX - 1 ? n : AT_REDIS_OP_MAX - 1;
	unsigned q = !m;
	for (size_t k = 0; k < m; k++) {
		unsigned char ch = (unsigned char)a[k];
		q |= quoted_byte[ch];
		c->op[k] = c->text[k] = (char)(ch >= 'a' && ch <= 'z' ? ch - 'a' + 'A' : ch);
	}
	c->op[m] = 0;
	c->op_len = m;
	if (q) { /* rewritten from the start */
		text_put_quoted(c, (const unsigned char *)c->op, m);
		return;
	}
	c->text[m] = 0;
	c->text_len = m;
}

/* Argument i (0: the command) into the text, as the capture kept it. */
static void render_arg(struct at_redis_cmd *c, const char *a, size_t n, int cut)
{
	int i = c->argc++;
	if (i == 0) { /* the text is still empty */
		render_op(c, a, n);
		return;
	}
	size_t at = c->text_len;
	if (!c->full && n && n < AT_REDIS_TEXT_MAX - 4 - at) {
		/* " " and the argument fit: copied, checked on the way */
		unsigned q = 0;
		char *t = c->text + at;
		*t++ = ' ';
		for (size_t k = 0; k < n; k++) {
			q |= quoted_byte[(unsigned char)a[k]];
			t[k] = a[k];
		}
		if (!q) {
			c->text_len = at + 1 + n;
			c->text[c->text_len] = 0;
			if (cut)
				text_put(c, "...", 3);
			return;
		}
	}
	text_put(c, " ", 1);
	if (needs_quotes((const unsigned char *)a, n))
		text_put_quoted(c, (const unsigned char *)a, n);
	else
		text_put(c, a, n);
	if (cut)
		text_put(c, "...", 3);
}

/* ---- capture ----
 *
 * The blob: AT_REDIS_CAP_HEAD bytes (flags, address length, port as 16 bits,
 * database as 32 bits, little-endian), the address, then one entry per
 * argument: a flags byte, a 16-bit length and that many bytes; a run of
 * hidden arguments is one entry whose length is their count. */

enum { CAP_SHOW_ARGS = AT_REDIS_CAP_SHOW_ARGS, CAP_CUT = 2 }; /* blob flags */
/* entry flags, entry header size; ENT_WORDS: a format's words, split when rendered */
enum { ENT_CUT = 1, ENT_HIDDEN = 2, ENT_WORDS = 4, ENT_HEAD = 3 };

static void put16(char *p, size_t v)
{
	p[0] = (char)(v & 0xff);
	p[1] = (char)(v >> 8 & 0xff);
}

static size_t get16(const char *p)
{
	return (size_t)(unsigned char)p[0] | (size_t)(unsigned char)p[1] << 8;
}

void at_redis_cap_set_db(char *blob, long db)
{
	uint32_t v = at_redis_db32(db);
	for (int i = 0; i < 4; i++)
		blob[4 + i] = (char)(v >> (8 * i) & 0xff);
}

/* Out of room: the rendering ends the text with "..." */
static void cap_cut(struct at_redis_cap *c)
{
	c->buf[0] = (char)(c->buf[0] | CAP_CUT);
	c->full = 1;
}

static AT_ALWAYS_INLINE void cap_begin(struct at_redis_cap *c)
{
	int i = c->argc++;
	c->in_arg = 1;
	c->skip = c->full || (i >= 2 && !c->show_args) || (i >= 1 && c->kind == AT_REDIS_AUTH);
	if (c->full)
		return;
	if (c->skip) {
		c->text += 2; /* " ?" */
		if (c->text > AT_REDIS_TEXT_MAX)
			c->full = 1;
		/* a run of hidden arguments: one entry, counted */
		size_t n = c->hidden_run ? get16(c->buf + c->arg + 1) : 0xffff;
		if (n < 0xffff) {
			put16(c->buf + c->arg + 1, n + 1);
			return;
		}
		if (c->room - c->len < ENT_HEAD) {
			cap_cut(c);
			return;
		}
		c->arg = c->len;
		c->buf[c->len] = ENT_HIDDEN;
		put16(c->buf + c->len + 1, 1);
		c->len += ENT_HEAD;
		c->hidden_run = 1;
		return;
	}
	c->hidden_run = 0;
	if (c->room - c->len < ENT_HEAD) {
		cap_cut(c);
		c->skip = 1;
		return;
	}
	c->arg = c->len;
	c->buf[c->len] = 0;
	c->len += ENT_HEAD;
}

static AT_ALWAYS_INLINE void cap_put(struct at_redis_cap *c, const char *s, size_t n)
{
	if (c->skip || c->full)
		return;
	size_t have = c->len - c->arg - ENT_HEAD;
	size_t keep = AT_REDIS_TEXT_MAX - have; /* an argument's bytes the text could show */
	int cut = n > keep;
	if (cut)
		n = keep;
	if (n > c->room - c->len) {
		/* the blob's cut ends the text with "...": not the argument's too
		 * (it would show twice) */
		n = c->room - c->len;
		cap_cut(c);
		cut = 0;
	}
	if (cut)
		c->buf[c->arg] = (char)(c->buf[c->arg] | ENT_CUT);
	at_copy_small(c->buf + c->len, s, n); /* a name, a key: mostly short */
	c->len += n;
}

static AT_ALWAYS_INLINE void cap_end(struct at_redis_cap *c)
{
	c->in_arg = 0;
	if (c->skip)
		return;
	const char *a = c->buf + c->arg + ENT_HEAD;
	size_t n = c->len - c->arg - ENT_HEAD;
	put16(c->buf + c->arg + 1, n);
	if (c->argc == 1) {
		c->kind = n ? kind_of(a, n) : AT_REDIS_PLAIN;
	} else if (c->argc == 2 && c->kind == AT_REDIS_SELECT && n && n < 12) {
		long v = 0;
		size_t k = 0;
		while (k < n && a[k] >= '0' && a[k] <= '9')
			v = v * 10 + (a[k++] - '0');
		if (k == n)
			c->select_db = v;
	}
	c->text += (c->argc > 1) + (n ? n : 2);
	if (c->text > AT_REDIS_TEXT_MAX)
		c->full = 1; /* the text is cut before what follows */
}

void at_redis_cap_arg_begin(struct at_redis_cap *c)
{
	cap_begin(c);
}

void at_redis_cap_arg_put(struct at_redis_cap *c, const char *s, size_t n)
{
	cap_put(c, s, n);
}

void at_redis_cap_arg_end(struct at_redis_cap *c)
{
	cap_end(c);
}

void at_redis_cap_argv(struct at_redis_cap *c, int argc, const char *const *argv,
                       const size_t *argvlen)
{
	for (int i = 0; i < argc && !c->full; i++) {
		cap_begin(c);
		if (argv[i] && !c->skip)
			cap_put(c, argv[i], argvlen ? argvlen[i] : strlen(argv[i]));
		cap_end(c);
	}
}

/* One printf conversion after '%' at *pp, as hiredis accepts them: flags,
 * width, precision, then an integer (hh, h, l, ll) or a double. Consumes its
 * argument and, when out is not NULL, formats it there; returns 0, or -1 when
 * hiredis would reject the format. */
static int conversion(const char **pp, va_list *ap, char *out, size_t outlen)
{
	const char *start = *pp - 1; /* the '%' */
	const char *q = *pp;
	while (*q && strchr("#0-+ ", *q))
		q++;
	while (isdigit((unsigned char)*q))
		q++;
	if (*q == '.') {
		q++;
		while (isdigit((unsigned char)*q))
			q++;
	}
	enum { T_INT, T_LONG, T_LLONG, T_DOUBLE } type;
	if (*q && strchr("diouxX", *q)) {
		type = T_INT;
	} else if (*q && strchr("eEfFgGaA", *q)) {
		type = T_DOUBLE;
	} else if (q[0] == 'h') {
		q += q[1] == 'h' ? 2 : 1;
		type = T_INT; /* char and short are promoted to int */
	} else if (q[0] == 'l' && q[1] == 'l') {
		q += 2;
		type = T_LLONG;
	} else if (q[0] == 'l') {
		q += 1;
		type = T_LONG;
	} else {
		return -1;
	}
	if (type != T_DOUBLE && !(*q && strchr("diouxX", *q)))
		return -1;
	char spec[16];
	size_t n = (size_t)(q + 1 - start);
	if (out) {
		out[0] = 0;
		va_list cp;
		va_copy(cp, *ap);
		if (n < sizeof spec - 2) { /* hiredis skips longer ones, consuming the value */
			memcpy(spec, start, n);
			spec[n] = 0;
			vsnprintf(out, outlen, spec, cp);
		}
		va_end(cp);
	}
	switch (type) {
	case T_INT:
		(void)va_arg(*ap, int);
		break;
	case T_LONG:
		(void)va_arg(*ap, long);
		break;
	case T_LLONG:
		(void)va_arg(*ap, long long);
		break;
	case T_DOUBLE:
		(void)va_arg(*ap, double);
		break;
	}
	*pp = q;
	return 0;
}

static int cap_fmt(struct at_redis_cap *c, const char *fmt, va_list *ap)
{
	for (const char *p = fmt; *p; p++) {
		if (*p == ' ') {
			if (c->in_arg)
				cap_end(c);
			if (c->full && c->argc >= 2)
				return 0; /* kind and database known; nothing more shows */
			continue;
		}
		if (!c->in_arg)
			cap_begin(c);
		if (*p != '%' || !p[1]) {
			/* a run of literal bytes in one copy */
			const char *q = p + 1;
			while (*q && *q != ' ' && *q != '%')
				q++;
			cap_put(c, p, (size_t)(q - p));
			p = q - 1;
			continue;
		}
		p++;
		if (*p == 's') {
			const char *s = va_arg(*ap, const char *);
			if (!c->skip)
				cap_put(c, s, strlen(s));
		} else if (*p == 'b') {
			const char *s = va_arg(*ap, const char *);
			size_t n = va_arg(*ap, size_t);
			cap_put(c, s, n);
		} else if (*p == '%') {
			cap_put(c, "%", 1);
		} else {
			char num[64];
			if (conversion(&p, ap, c->skip ? NULL : num, sizeof num)) {
				if (!c->skip && !c->full)
					c->len = c->arg; /* the argument never completes */
				else if (c->hidden_run && !c->full)
					put16(c->buf + c->arg + 1, get16(c->buf + c->arg + 1) - 1);
				c->in_arg = 0;
				return -1;
			}
			if (!c->skip)
				cap_put(c, num, strlen(num));
		}
	}
	if (c->in_arg)
		cap_end(c);
	return 0;
}

/* A format without conversions: its words go into the blob as they are, one
 * entry (ENT_WORDS), and the rendering splits them the way cap_fmt does (on
 * runs of spaces). Only where the text cannot differ from cap_fmt's: a
 * plain command and a short format, so that nothing is cut. Captured
 * argument by argument, a PING cost 124 instructions here, in a loop per
 * word and the state the general walk keeps. */

/* the bytes that end the command's name, or the fast path */
static const unsigned char word_end[256] = {[0] = 1, [' '] = 1, ['%'] = 1};

/* n bytes without a call (a call would give at_redis_cap_words a frame) */
static inline void copy_nocall(char *d, const char *s, size_t n)
{
	if (n <= 32) {
		at_copy_small(d, s, n);
		return;
	}
	for (size_t i = 0; i + 16 < n; i += 16)
		*(at_v16 *)(d + i) = *(const at_v16 *)(s + i);
	*(at_v16 *)(d + n - 16) = *(const at_v16 *)(s + n - 16);
}

/* The blob, once the format is known to qualify: n bytes of words at w. */
static inline size_t put_words(char *buf, size_t room, uint64_t h, const char *addr,
                               size_t addr_len, const char *w, size_t n)
{
	size_t len = AT_REDIS_CAP_HEAD + addr_len + ENT_HEAD + n;
	if (n > AT_REDIS_WORDS_MAX || addr_len > 255 || len > room)
		return 0;
	at_redis_cap_put_h(buf, h);
	copy_nocall(buf + AT_REDIS_CAP_HEAD, addr, addr_len);
	char *e = buf + AT_REDIS_CAP_HEAD + addr_len;
	e[0] = ENT_WORDS;
	put16(e + 1, n);
	copy_nocall(e + ENT_HEAD, w, n);
	return len;
}

size_t at_redis_cap_words(char *buf, size_t room, uint64_t h, const char *addr, size_t addr_len,
                          const char *fmt)
{
	const unsigned char *w = (const unsigned char *)fmt;
	while (*w == ' ')
		w++;
	const unsigned char *p = w;
	while (!word_end[*p])
		p++;
	size_t name = (size_t)(p - w);
	if (*p == '%' || !name)
		return 0;
	while (*p && *p != '%')
		p++;
	if (*p)
		return 0;
	size_t n = (size_t)(p - w);
	/* a name that may be in kind_lookup's table (SELECT, AUTH, also HMGET,
	 * SCRIPT...): the general walk, which looks it up; here the function
	 * stays a leaf, without a frame */
	if (AT_UNLIKELY(kind_maybe((const char *)w, name)))
		return 0;
	return put_words(buf, room, h, addr, addr_len, (const char *)w, n);
}

int at_redis_cap_format(struct at_redis_cap *c, const char *fmt, va_list ap)
{
	/* through a pointer: va_list may be an array type, and va_arg in a
	 * callee must advance the caller's position */
	va_list cp;
	va_copy(cp, ap);
	int rc = cap_fmt(c, fmt, &cp);
	va_end(cp);
	return rc;
}

/* A decimal number ending in CRLF at *p; advances past it. */
static long resp_num(const char **p, const char *end)
{
	long v = 0;
	const char *q = *p;
	if (q >= end || *q < '0' || *q > '9')
		return -1;
	while (q < end && *q >= '0' && *q <= '9' && v < 100000000)
		v = v * 10 + (*q++ - '0');
	if (end - q < 2 || q[0] != '\r' || q[1] != '\n')
		return -1;
	*p = q + 2;
	return v;
}

int at_redis_cap_resp(struct at_redis_cap *c, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	if (!len || *p++ != '*')
		return -1;
	long n = resp_num(&p, end);
	if (n < 0)
		return -1;
	for (long i = 0; i < n && !c->full; i++) {
		if (p >= end || *p++ != '$')
			return -1;
		long l = resp_num(&p, end);
		if (l < 0 || end - p < l + 2)
			return -1;
		cap_begin(c);
		cap_put(c, p, (size_t)l);
		cap_end(c);
		p += l + 2;
	}
	return 0;
}

/* ---- rendering ---- */

/* An ENT_WORDS entry: its words, hidden as cap_begin would hide them. */
static void render_words(struct at_redis_cmd *c, const char *p, size_t n)
{
	const char *end = p + n;
	while (p < end && !c->full) {
		if (*p == ' ') {
			p++;
			continue;
		}
		const char *q = p;
		while (q < end && *q != ' ')
			q++;
		if (c->argc >= 2 && !c->show_args) {
			c->argc++;
			text_put(c, " ?", 2);
		} else {
			render_arg(c, p, (size_t)(q - p), 0);
		}
		p = q;
	}
}

int at_redis_blob_read(struct at_redis_cmd *c, struct at_redis_conninfo *ci, const char *blob,
                       size_t len)
{
	if (len < AT_REDIS_CAP_HEAD)
		return -1;
	unsigned flags = (unsigned char)blob[0];
	size_t alen = (unsigned char)blob[1];
	uint32_t db = 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(&db, blob + 4, 4);
#else
	for (int i = 0; i < 4; i++)
		db |= (uint32_t)(unsigned char)blob[4 + i] << (8 * i);
#endif
	if (len < AT_REDIS_CAP_HEAD + alen)
		return -1;
	ci->addr = blob + AT_REDIS_CAP_HEAD;
	ci->addr_len = alen;
	ci->port = (int)get16(blob + 2);
	ci->db = db == UINT32_MAX ? -1 : (long)db;
	at_redis_cmd_init(c, flags & CAP_SHOW_ARGS);
	const char *p = blob + AT_REDIS_CAP_HEAD + alen, *end = blob + len;
	while (end - p >= ENT_HEAD && !c->full) {
		unsigned f = (unsigned char)p[0];
		size_t n = get16(p + 1);
		p += ENT_HEAD;
		if (f & ENT_HIDDEN) { /* never argument 0 */
			for (size_t k = 0; k < n && !c->full; k++) {
				c->argc++;
				text_put(c, " ?", 2);
			}
			continue;
		}
		if ((size_t)(end - p) < n)
			return -1;
		if (f & ENT_WORDS)
			render_words(c, p, n);
		else
			render_arg(c, p, n, f & ENT_CUT);
		p += n;
	}
	if (p != end && !c->full)
		return -1;
	if ((flags & CAP_CUT) && !c->full)
		text_put(c, "...", 3);
	return 0;
}

/* Capture, then render: what the two threads do, in one call. */
static int cap_render(struct at_redis_cmd *c, struct at_redis_cap *cap, int rc)
{
	struct at_redis_conninfo ci;
	at_redis_blob_read(c, &ci, cap->buf, cap->len);
	c->kind = cap->kind;
	c->select_db = cap->select_db;
	return rc;
}

void at_redis_cmd_argv(struct at_redis_cmd *c, int argc, const char *const *argv,
                       const size_t *argvlen)
{
	char blob[AT_REDIS_CAP_MAX];
	struct at_redis_cap cap;
	at_redis_cap_init(&cap, blob, sizeof blob, c->show_args, NULL, 0, 0, -1);
	at_redis_cap_argv(&cap, argc, argv, argvlen);
	cap_render(c, &cap, 0);
}

int at_redis_cmd_format(struct at_redis_cmd *c, const char *fmt, va_list ap)
{
	char blob[AT_REDIS_CAP_MAX];
	struct at_redis_cap cap;
	at_redis_cap_init(&cap, blob, sizeof blob, c->show_args, NULL, 0, 0, -1);
	return cap_render(c, &cap, at_redis_cap_format(&cap, fmt, ap));
}

int at_redis_cmd_resp(struct at_redis_cmd *c, const char *buf, size_t len)
{
	char blob[AT_REDIS_CAP_MAX];
	struct at_redis_cap cap;
	at_redis_cap_init(&cap, blob, sizeof blob, c->show_args, NULL, 0, 0, -1);
	return cap_render(c, &cap, at_redis_cap_resp(&cap, buf, len));
}

