/* Building a Redis command's db.query.text from hiredis's argv or format.
 * Argument 0 is the command (upper-cased), argument 1 is shown as is (the
 * key, for almost every command); later ones are replaced by "?" unless
 * AUTOTRACE_REDIS_ARGS asks for them. Arguments of AUTH and HELLO are
 * secrets and never shown. Bytes outside printable ASCII are escaped, so the
 * text is valid UTF-8 whatever the values hold. */
#define _GNU_SOURCE
#include "redis_cmd.h"

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
	c->arg_len = 0;
	c->arg_cut = 0;
}

int at_redis_kind_of(const char *name, size_t len)
{
	/* every command runs through here: the length picks the candidates */
	static const struct {
		const char *name;
		int kind;
	} * k,
	    by4[] = {{"auth", AT_REDIS_AUTH}, {NULL, 0}},
	    by5[] = {{"hello", AT_REDIS_AUTH}, {NULL, 0}},
	    by6[] = {{"select", AT_REDIS_SELECT}, {NULL, 0}},
	    by7[] = {{"monitor", AT_REDIS_PUBSUB}, {NULL, 0}},
	    by9[] = {{"subscribe", AT_REDIS_PUBSUB}, {NULL, 0}},
	    by10[] = {{"psubscribe", AT_REDIS_PUBSUB}, {"ssubscribe", AT_REDIS_PUBSUB}, {NULL, 0}},
	    by11[] = {{"unsubscribe", AT_REDIS_PUBSUB}, {NULL, 0}},
	    by12[] = {
	        {"punsubscribe", AT_REDIS_PUBSUB}, {"sunsubscribe", AT_REDIS_PUBSUB}, {NULL, 0}};
	switch (len) {
	case 4:
		k = by4;
		break;
	case 5:
		k = by5;
		break;
	case 6:
		k = by6;
		break;
	case 7:
		k = by7;
		break;
	case 9:
		k = by9;
		break;
	case 10:
		k = by10;
		break;
	case 11:
		k = by11;
		break;
	case 12:
		k = by12;
		break;
	default:
		return AT_REDIS_PLAIN;
	}
	for (; k->name; k++)
		if ((name[0] | 0x20) == k->name[0] && !strncasecmp(name, k->name, len))
			return k->kind;
	return AT_REDIS_PLAIN;
}

int at_redis_fmt_kind(const char *fmt)
{
	while (*fmt == ' ')
		fmt++;
	size_t n = strcspn(fmt, " ");
	if (memchr(fmt, '%', n))
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

static int needs_quotes(const unsigned char *s, size_t n)
{
	if (!n)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] >= 0x7f || s[i] == '"' || s[i] == '\\')
			return 1;
	return 0;
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

static void arg_begin(struct at_redis_cmd *c)
{
	c->arg_len = 0;
	c->arg_cut = 0;
}

static void arg_put(struct at_redis_cmd *c, const char *s, size_t n)
{
	size_t room = sizeof c->arg - c->arg_len;
	if (n > room) {
		n = room;
		c->arg_cut = 1;
	}
	memcpy(c->arg + c->arg_len, s, n);
	c->arg_len += n;
}

static void arg_end(struct at_redis_cmd *c)
{
	int i = c->argc++;
	if (i == 0) {
		size_t n = c->arg_len < AT_REDIS_OP_MAX - 1 ? c->arg_len : AT_REDIS_OP_MAX - 1;
		for (size_t k = 0; k < n; k++) {
			char ch = c->arg[k];
			c->op[k] = ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
		}
		c->op[n] = 0;
		c->op_len = n;
		c->kind = at_redis_kind_of(c->arg, c->arg_len);
		if (needs_quotes((const unsigned char *)c->op, n))
			text_put_quoted(c, (const unsigned char *)c->op, n);
		else
			text_put(c, c->op, n);
		return;
	}
	if (i == 1 && c->kind == AT_REDIS_SELECT && c->arg_len && c->arg_len < 12) {
		long v = 0;
		size_t k = 0;
		while (k < c->arg_len && c->arg[k] >= '0' && c->arg[k] <= '9')
			v = v * 10 + (c->arg[k++] - '0');
		if (k == c->arg_len)
			c->select_db = v;
	}
	text_put(c, " ", 1);
	int shown = c->kind != AT_REDIS_AUTH && (i == 1 || c->show_args);
	if (!shown)
		text_put(c, "?", 1);
	else if (needs_quotes((const unsigned char *)c->arg, c->arg_len))
		text_put_quoted(c, (const unsigned char *)c->arg, c->arg_len);
	else
		text_put(c, c->arg, c->arg_len);
	if (shown && c->arg_cut)
		text_put(c, "...", 3);
}

void at_redis_cmd_argv(struct at_redis_cmd *c, int argc, const char *const *argv,
                       const size_t *argvlen)
{
	for (int i = 0; i < argc && !c->full; i++) {
		arg_begin(c);
		if (argv[i])
			arg_put(c, argv[i], argvlen ? argvlen[i] : strlen(argv[i]));
		arg_end(c);
	}
}

/* One printf conversion after '%' at *pp, as hiredis accepts them: flags,
 * width, precision, then an integer (hh, h, l, ll) or a double. Formats it
 * into out and consumes its argument; returns 0, or -1 when hiredis would
 * reject the format. */
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
	out[0] = 0;
	va_list cp;
	va_copy(cp, *ap);
	if (n < sizeof spec - 2) { /* hiredis skips longer ones, consuming the value */
		memcpy(spec, start, n);
		spec[n] = 0;
		vsnprintf(out, outlen, spec, cp);
	}
	va_end(cp);
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

static int format(struct at_redis_cmd *c, const char *fmt, va_list *ap)
{
	int in_arg = 0;
	for (const char *p = fmt; *p && !c->full; p++) {
		if (*p == ' ') {
			if (in_arg)
				arg_end(c);
			in_arg = 0;
			continue;
		}
		if (!in_arg)
			arg_begin(c);
		in_arg = 1;
		if (*p != '%' || !p[1]) {
			/* a run of literal bytes in one copy */
			const char *q = p + 1;
			while (*q && *q != ' ' && *q != '%')
				q++;
			arg_put(c, p, (size_t)(q - p));
			p = q - 1;
			continue;
		}
		p++;
		if (*p == 's') {
			const char *s = va_arg(*ap, const char *);
			arg_put(c, s, strlen(s));
		} else if (*p == 'b') {
			const char *s = va_arg(*ap, const char *);
			size_t n = va_arg(*ap, size_t);
			arg_put(c, s, n);
		} else if (*p == '%') {
			arg_put(c, "%", 1);
		} else {
			char num[64];
			if (conversion(&p, ap, num, sizeof num))
				return -1;
			arg_put(c, num, strlen(num));
		}
	}
	if (in_arg && !c->full)
		arg_end(c);
	return 0;
}

int at_redis_cmd_format(struct at_redis_cmd *c, const char *fmt, va_list ap)
{
	/* through a pointer: va_list may be an array type, and va_arg in a
	 * callee must advance the caller's position */
	va_list cp;
	va_copy(cp, ap);
	int rc = format(c, fmt, &cp);
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

int at_redis_cmd_resp(struct at_redis_cmd *c, const char *buf, size_t len)
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
		arg_begin(c);
		arg_put(c, p, (size_t)l);
		arg_end(c);
		p += l + 2;
	}
	return 0;
}
