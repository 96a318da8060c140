/* Incremental HTTP/1.x parser: a state machine that takes bytes in runs. A
 * state scans as far as its bytes go (header values and targets eight bytes
 * at a time, bodies in bulk), so the cost is a few instructions a byte
 * whatever the pieces the bytes come in. Strict where being wrong would
 * matter (the start line, header names, framing) and silent otherwise: an
 * error only means the connection is no longer looked at. Header values
 * are copied only for the headers the owner asked for and the framing
 * headers; the others are checked and skipped. */
#define _GNU_SOURCE
#include "http_parse.h"

#include <string.h>

enum {
	S_METHOD = 1,
	S_TARGET,
	S_VERSION,  /* request: "HTTP/1.x" */
	S_RVERSION, /* response: "HTTP/1.x" */
	S_STATUS,   /* three digits */
	S_REASON,
	S_LINE_LF, /* CR seen at the end of the start line */
	S_HLINE,   /* start of a header line */
	S_HNAME,
	S_HOWS,
	S_HVAL,
	S_HVAL_LF,
	S_HEND_LF,
	S_BODY_LEN,
	S_CHUNK_SIZE,
	S_CHUNK_EXT,
	S_CHUNK_SIZE_LF,
	S_CHUNK_DATA,
	S_CHUNK_CR,
	S_CHUNK_LF,
	S_TLINE, /* trailer section */
	S_TSKIP,
	S_TEND_LF,
	S_BODY_EOF,
	S_DONE,
	S_ERROR,
};

static const char http1[] = "HTTP/1.";

/* RFC 9110 token characters (ALPHA, DIGIT and !#$%&'*+-.^_`|~), lowercased;
 * 0 for every other byte. */
// clang-format off
static const unsigned char lctok[256] = {
       0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
       0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,
       0,  '!',    0,  '#',  '$',  '%',  '&', '\'',    0,    0,  '*',  '+',    0,  '-',  '.',    0,
     '0',  '1',  '2',  '3',  '4',  '5',  '6',  '7',  '8',  '9',    0,    0,    0,    0,    0,    0,
       0,  'a',  'b',  'c',  'd',  'e',  'f',  'g',  'h',  'i',  'j',  'k',  'l',  'm',  'n',  'o',
     'p',  'q',  'r',  's',  't',  'u',  'v',  'w',  'x',  'y',  'z',    0,    0,    0,  '^',  '_',
     '`',  'a',  'b',  'c',  'd',  'e',  'f',  'g',  'h',  'i',  'j',  'k',  'l',  'm',  'n',  'o',
     'p',  'q',  'r',  's',  't',  'u',  'v',  'w',  'x',  'y',  'z',    0,  '|',    0,  '~',    0,
};

/* 1 for every byte that is not a token character */
static const unsigned char nontok[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1,
    1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};
// clang-format on

/* ---- scanning runs of bytes ---- */

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
/* nonzero when some byte of x is below n (n <= 128) */
static inline uint64_t has_less(uint64_t x, unsigned n)
{
	return (x - ONES * n) & ~x & HIGHS;
}

static inline uint64_t load8(const unsigned char *s)
{
	uint64_t x;
	memcpy(&x, s, 8);
	return x;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* the lowest flagged byte of a has_less() mask is a true match */
#define FIRST(mask) ((size_t)__builtin_ctzll(mask) >> 3)
#endif

/* Bytes that end a header value or a reason phrase: NUL, CR, LF. */
static inline int value_stop(unsigned char c)
{
	return c == '\n' || c == '\r' || c == 0;
}

/* The length of the run before the first NUL, CR or LF (or n): eight bytes
 * at a time, looking closer only at bytes below 0x0e. */
static inline size_t value_run(const unsigned char *s, size_t n)
{
	size_t i = 0;
#ifdef FIRST
	while (i + 8 <= n) {
		uint64_t m = has_less(load8(s + i), 0x0e);
		if (!m) {
			i += 8;
			continue;
		}
		i += FIRST(m);
		if (value_stop(s[i]))
			return i;
		i++; /* a tab or another control byte: part of the value */
	}
#endif
	while (i < n && !value_stop(s[i]))
		i++;
	return i;
}

/* Bytes not allowed in a request target: controls, space and DEL. */
static inline int target_stop(unsigned char c)
{
	return c <= 0x20 || c == 0x7f;
}

static inline size_t target_run(const unsigned char *s, size_t n)
{
	size_t i = 0;
#ifdef FIRST
	for (; i + 8 <= n; i += 8) {
		uint64_t x = load8(s + i);
		uint64_t m = has_less(x, 0x21) | has_less(x ^ (ONES * 0x7f), 1);
		if (m)
			return i + FIRST(m);
	}
#endif
	while (i < n && !target_stop(s[i]))
		i++;
	return i;
}

/* The length of the run of token characters, four at a time. */
static inline size_t token_run(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i + 4 <= n &&
	       !(nontok[s[i]] | nontok[s[i + 1]] | nontok[s[i + 2]] | nontok[s[i + 3]]))
		i += 4;
	while (i < n && !nontok[s[i]])
		i++;
	return i;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ---- header names ---- */

/* s (token characters, any case) equals lit (lowercase letters, digits and
 * '-'). Setting bit 5 of every byte is an exact case fold here: of the
 * token characters, only 'A'-'Z' and 'a'-'z' end up on a letter, and only
 * '-' and the digits on themselves. */
static inline int tok_eq(const unsigned char *s, const char *lit, size_t len)
{
	const unsigned char *l = (const unsigned char *)lit;
	if (len >= 8) {
		for (size_t i = 0; i + 8 < len; i += 8)
			if ((load8(s + i) | ONES * 0x20) != load8(l + i))
				return 0;
		return (load8(s + len - 8) | ONES * 0x20) == load8(l + len - 8);
	}
	for (size_t i = 0; i < len; i++)
		if ((s[i] | 0x20) != l[i])
			return 0;
	return 1;
}

#define IS(lit) (len == sizeof lit - 1 && tok_eq(s, lit, sizeof lit - 1))

/* By first letter and length before any compare; s may be in any case. */
static int header_id(const unsigned char *s, size_t len)
{
	if (!len)
		return AT_HTTP_H_OTHER;
	switch (lctok[s[0]]) {
	case 'b':
		if (IS("b3"))
			return AT_HTTP_H_B3;
		if (IS("baggage"))
			return AT_HTTP_H_BAGGAGE;
		break;
	case 'c':
		if (IS("content-length"))
			return AT_HTTP_H_CONTENT_LENGTH;
		if (IS("connection"))
			return AT_HTTP_H_CONNECTION;
		break;
	case 'h':
		if (IS("host"))
			return AT_HTTP_H_HOST;
		break;
	case 't':
		if (IS("traceparent"))
			return AT_HTTP_H_TRACEPARENT;
		if (IS("tracestate"))
			return AT_HTTP_H_TRACESTATE;
		if (IS("transfer-encoding"))
			return AT_HTTP_H_TRANSFER_ENCODING;
		break;
	case 'u':
		if (IS("user-agent"))
			return AT_HTTP_H_USER_AGENT;
		if (IS("uber-trace-id"))
			return AT_HTTP_H_UBER_TRACE_ID;
		if (len > 8 && tok_eq(s, "uberctx-", 8))
			return AT_HTTP_H_UBERCTX;
		break;
	case 'x':
		if (len < 10 || !tok_eq(s, "x-b3-", 5))
			break;
		if (IS("x-b3-traceid"))
			return AT_HTTP_H_X_B3_TRACEID;
		if (IS("x-b3-spanid"))
			return AT_HTTP_H_X_B3_SPANID;
		if (IS("x-b3-sampled"))
			return AT_HTTP_H_X_B3_SAMPLED;
		if (IS("x-b3-flags"))
			return AT_HTTP_H_X_B3_FLAGS;
		break;
	}
	return AT_HTTP_H_OTHER;
}

int at_http_header_id(const char *name, size_t len)
{
	return header_id((const unsigned char *)name, len);
}

#undef IS

static inline int is_framing(int id)
{
	return id == AT_HTTP_H_CONTENT_LENGTH || id == AT_HTTP_H_TRANSFER_ENCODING ||
	       id == AT_HTTP_H_CONNECTION;
}

/* ---- the parser ---- */

void at_http_parser_init(struct at_http_parser *p, int type, unsigned flags, char *vbuf,
                         size_t vcap, at_http_header_fn on_header, uint32_t report, void *ctx)
{
	memset(p, 0, offsetof(struct at_http_parser, vcap));
	p->type = (uint8_t)type;
	p->flags = (uint8_t)flags;
	p->vbuf = vbuf;
	p->vcap = (uint32_t)(vbuf ? vcap : 0);
	p->on_header = on_header;
	p->report = on_header ? report : 0;
	p->ctx = ctx;
	p->state = type == AT_HTTP_REQUEST ? S_METHOD : S_RVERSION;
}

void at_http_parser_reset(struct at_http_parser *p, unsigned keep_flags)
{
	at_http_parser_init(p, p->type, p->flags & keep_flags, p->vbuf, p->vcap, p->on_header,
	                    p->report, p->ctx);
}

int at_http_headers_done(const struct at_http_parser *p)
{
	return p->state >= S_BODY_LEN && p->state != S_ERROR;
}

int at_http_is_done(const struct at_http_parser *p)
{
	return p->state == S_DONE;
}

static int fail(struct at_http_parser *p)
{
	p->state = S_ERROR;
	return AT_HTTP_ERROR;
}

static int ieq(const char *a, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	if (n != l)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = a[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		if (c != lit[i])
			return 0;
	}
	return 1;
}

/* The name is complete (at the colon): is its value wanted? */
static void header_begin(struct at_http_parser *p, int id)
{
	p->hid = (uint8_t)id;
	p->collect = is_framing(id) || (p->report & AT_HTTP_H_BIT(id));
	p->value_len = p->value_total = 0;
}

/* A name that came whole in one piece, s[0..len) (token characters): the
 * lowercase copy is made only when the owner will see it. */
static void header_begin_at(struct at_http_parser *p, const unsigned char *s, size_t len)
{
	if (len >= AT_HTTP_NAME_MAX) {
		p->name_len = AT_HTTP_NAME_MAX - 1;
		p->name_long = 1;
		header_begin(p, AT_HTTP_H_SKIP);
		return;
	}
	int id = header_id(s, len);
	p->name_len = (uint8_t)len;
	if (p->report & AT_HTTP_H_BIT(id)) {
		for (size_t i = 0; i < len; i++)
			p->name[i] = (char)lctok[s[i]];
		p->name[len] = 0;
	}
	header_begin(p, id);
}

/* n more bytes of a value that is kept */
static void add_value(struct at_http_parser *p, const unsigned char *s, size_t n)
{
	size_t room = p->vcap - p->value_len, k = n < room ? n : room;
	if (k) {
		memcpy(p->vbuf + p->value_len, s, k);
		p->value_len += (uint32_t)k;
	}
	size_t left = UINT32_MAX - p->value_total;
	if (n > left)
		n = left;
	if (is_framing(p->hid)) { /* only the last bytes matter */
		size_t j = n > sizeof p->tail ? n - sizeof p->tail : 0;
		for (; j < n; j++)
			p->tail[(p->value_total + j) % sizeof p->tail] = (char)s[j];
	}
	p->value_total += (uint32_t)n;
}

/* A complete header line. v[0..vl): its value as kept (cut to the value
 * buffer; v NULL when there is none), total: the value's whole length,
 * fb[0..fl): its last bytes (up to 32) for the framing headers, which are
 * the parser's own business. The headers asked for also go to the owner.
 * Returns 0 or AT_HTTP_ERROR. */
static inline __attribute__((always_inline)) int header_value(struct at_http_parser *p,
                                                              const char *v, size_t vl,
                                                              size_t total, const char *fb,
                                                              size_t fl)
{
	int id = p->hid;
	if (id == AT_HTTP_H_SKIP) {
		p->name_len = 0;
		p->name_long = 0;
		return 0;
	}
	if (is_framing(id)) {
		while (fl && (fb[fl - 1] == ' ' || fb[fl - 1] == '\t'))
			fl--;
		if (id == AT_HTTP_H_CONTENT_LENGTH) {
			/* digits only; a second, different value is an attack (smuggling) */
			if (total > sizeof p->tail || fl == 0 || fl > 18)
				return fail(p);
			uint64_t x = 0;
			for (size_t i = 0; i < fl; i++) {
				if (fb[i] < '0' || fb[i] > '9')
					return fail(p);
				x = x * 10 + (uint64_t)(fb[i] - '0');
			}
			if ((p->flags & AT_HTTP_F_LENGTH) && x != p->content_length)
				return fail(p);
			p->content_length = x;
			p->flags |= AT_HTTP_F_LENGTH;
		} else if (id == AT_HTTP_H_TRANSFER_ENCODING) {
			/* chunked must be the last coding; anything else has no length */
			size_t e = fl;
			while (e && (fb[e - 1] == ' ' || fb[e - 1] == '\t' || fb[e - 1] == ','))
				e--;
			if (e >= 7 && ieq(fb + e - 7, 7, "chunked") &&
			    (e == 7 || fb[e - 8] == ',' || fb[e - 8] == ' ' || fb[e - 8] == '\t'))
				p->flags |= AT_HTTP_F_CHUNKED;
			else if (p->type == AT_HTTP_REQUEST)
				return fail(p);
			else
				p->flags &= (uint8_t)~AT_HTTP_F_CHUNKED;
		} else {
			for (size_t i = 0; i + 5 <= fl; i++)
				if (ieq(fb + i, 5, "close") &&
				    (i == 0 || fb[i - 1] == ' ' || fb[i - 1] == ','))
					p->flags |= AT_HTTP_F_CLOSE;
		}
	}
	if (p->report & AT_HTTP_H_BIT(id)) {
		int complete = total == vl;
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		p->on_header(p, id, p->name, p->name_len, v ? v : "", v ? vl : 0, complete);
	}
	p->name_len = 0;
	return 0;
}

/* The same for a value gathered in pieces (vbuf, tail). */
static int header_done(struct at_http_parser *p)
{
	char fb[sizeof p->tail];
	size_t fl = 0;
	if (is_framing(p->hid)) {
		fl = p->value_total < sizeof fb ? p->value_total : sizeof fb;
		for (size_t i = 0; i < fl; i++)
			fb[i] = p->tail[(p->value_total - fl + i) % sizeof fb];
	}
	return header_value(p, p->vbuf, p->value_len, p->value_total, fb, fl);
}

/* The header section is complete: decide how the body is framed. */
static int headers_end(struct at_http_parser *p)
{
	if (p->type == AT_HTTP_RESPONSE) {
		if (p->status == 101 ||
		    ((p->flags & AT_HTTP_F_CONNECT) && p->status >= 200 && p->status < 300)) {
			p->flags |= AT_HTTP_F_UPGRADED;
			p->state = S_DONE;
			return AT_HTTP_HEADERS | AT_HTTP_DONE;
		}
		if (p->status >= 100 && p->status < 200) {
			/* interim response: the real one follows */
			uint8_t keep = p->flags & (AT_HTTP_F_HEAD | AT_HTTP_F_CONNECT);
			at_http_parser_reset(p, 0);
			p->flags = keep;
			return 0;
		}
		if ((p->flags & AT_HTTP_F_HEAD) || p->status == 204 || p->status == 304) {
			p->state = S_DONE;
			return AT_HTTP_HEADERS | AT_HTTP_DONE;
		}
		if (p->flags & AT_HTTP_F_CHUNKED) {
			p->state = S_CHUNK_SIZE;
		} else if (p->flags & AT_HTTP_F_LENGTH) {
			p->body_left = p->content_length;
			p->state = p->body_left ? S_BODY_LEN : S_DONE;
		} else {
			p->state = S_BODY_EOF;
		}
	} else {
		if (p->flags & AT_HTTP_F_CHUNKED) {
			p->state = S_CHUNK_SIZE;
		} else {
			p->body_left = p->content_length;
			p->state = p->body_left ? S_BODY_LEN : S_DONE;
		}
	}
	p->ndigits = 0;
	return AT_HTTP_HEADERS | (p->state == S_DONE ? AT_HTTP_DONE : 0);
}

/* Each state either handles the byte at i (then `break`: it is consumed),
 * or a run of bytes from i (then it moves i itself and `continue`s), or goes
 * straight on to the state that follows with c = b[i] (fall through, goto):
 * a line that is all there is parsed in one go. */
int at_http_parse(struct at_http_parser *p, const char *buf, size_t n, size_t *used)
{
	const unsigned char *b = (const unsigned char *)buf;
	size_t i = 0, m;
	int ev = 0;
	unsigned char c;
	if (p->state == S_ERROR) {
		*used = 0;
		return AT_HTTP_ERROR;
	}
	while (i < n && !ev) {
		c = b[i];
		switch (p->state) {
		case S_METHOD:
			while (!(c == ' ' && p->method_len)) {
				if ((p->flags & AT_HTTP_F_STRICT) ? !(c >= 'A' && c <= 'Z')
				                                  : nontok[c])
					return *used = i, fail(p);
				if (p->method_len >= AT_HTTP_METHOD_MAX - 1)
					return *used = i, fail(p);
				p->method[p->method_len++] = (char)c;
				p->method[p->method_len] = 0;
				if (++i == n)
					break;
				c = b[i];
			}
			if (i == n)
				continue;
			p->state = S_TARGET;
			if (p->method_len == 7 && !memcmp(p->method, "CONNECT", 7))
				p->flags |= AT_HTTP_F_CONNECT;
			if (++i == n)
				continue;
			c = b[i];
			/* fall through */
		case S_TARGET:
			m = target_run(b + i, n - i);
			if (m) {
				size_t room = AT_HTTP_TARGET_MAX - 1 - p->target_len;
				size_t k = m < room ? m : room;
				memcpy(p->target + p->target_len, b + i, k);
				p->target_len = (uint16_t)(p->target_len + k);
				p->target[p->target_len] = 0;
				p->target_total = m < UINT32_MAX - p->target_total
				                      ? p->target_total + (uint32_t)m
				                      : UINT32_MAX;
				i += m;
				if (i == n)
					continue;
				c = b[i];
			}
			if (c != ' ' || !p->target_total)
				return *used = i, fail(p);
			p->state = S_VERSION;
			p->sub = 0;
			if (++i == n)
				continue;
			c = b[i];
			/* fall through */
		case S_VERSION:
		case S_RVERSION:
			if (p->sub == 0 && n - i >= 9 && !memcmp(b + i, http1, 7) &&
			    (b[i + 7] == '0' || b[i + 7] == '1')) {
				/* the whole version, and what follows it when it is there */
				p->version_minor = (uint8_t)(b[i + 7] - '0');
				p->sub = 8;
				i += 8;
				c = b[i];
				if (p->state == S_VERSION) {
					if (c == '\n') {
						p->state = S_HLINE;
						goto next_line;
					}
					if (c != '\r')
						continue;
					p->state = S_LINE_LF;
					if (++i == n)
						continue;
					c = b[i];
					goto line_lf;
				}
				if (c == ' ' && n - i >= 5 && b[i + 1] >= '1' && b[i + 1] <= '9' &&
				    b[i + 2] >= '0' && b[i + 2] <= '9' && b[i + 3] >= '0' &&
				    b[i + 3] <= '9') {
					p->status =
					    (uint16_t)((b[i + 1] - '0') * 100 +
					               (b[i + 2] - '0') * 10 + (b[i + 3] - '0'));
					p->state = S_STATUS;
					p->sub = 3;
					i += 4;
					c = b[i];
					if (c == ' ') {
						p->state = S_REASON;
						if (++i == n)
							continue;
						c = b[i];
						goto reason;
					}
				}
				continue;
			}
			if (p->sub < 7) {
				if (c != (unsigned char)http1[p->sub])
					return *used = i, fail(p);
				p->sub++;
			} else if (p->sub == 7) {
				if (c != '0' && c != '1')
					return *used = i, fail(p);
				p->version_minor = (uint8_t)(c - '0');
				p->sub++;
			} else if (p->state == S_RVERSION) {
				if (c != ' ')
					return *used = i, fail(p);
				p->state = S_STATUS;
				p->sub = 0;
			} else if (c == '\r') {
				p->state = S_LINE_LF;
				if (++i == n)
					continue;
				c = b[i];
				goto line_lf;
			} else if (c == '\n') {
				p->state = S_HLINE;
				goto next_line;
			} else {
				return *used = i, fail(p);
			}
			break;
		case S_STATUS:
			if (p->sub < 3) {
				if (c < '0' || c > '9')
					return *used = i, fail(p);
				p->status = (uint16_t)(p->status * 10 + (c - '0'));
				p->sub++;
				if (p->sub == 3 && p->status < 100)
					return *used = i, fail(p);
			} else if (c == ' ') {
				p->state = S_REASON;
			} else if (c == '\r') {
				p->state = S_LINE_LF;
			} else if (c == '\n') {
				p->state = S_HLINE;
				goto next_line;
			} else {
				return *used = i, fail(p);
			}
			break;
		case S_REASON:
		reason:
			i += value_run(b + i, n - i);
			if (i == n)
				continue;
			c = b[i];
			if (c == '\n') {
				p->state = S_HLINE;
				goto next_line;
			}
			if (c != '\r')
				return *used = i, fail(p);
			p->state = S_LINE_LF;
			if (++i == n)
				continue;
			c = b[i];
			/* fall through */
		case S_LINE_LF:
		line_lf:
			if (c != '\n')
				return *used = i, fail(p);
			p->state = S_HLINE;
		next_line: /* c, at i, ended a line: on with the next one */
			if (++i == n)
				continue;
			c = b[i];
			/* fall through */
		case S_HLINE:
			if (c == '\r' || c == '\n') {
				if ((p->flags & AT_HTTP_F_STOP_BLANK) && p->sub != 0xff) {
					/* stop before the empty line: the owner may add lines */
					p->sub = 0xff;
					*used = i;
					return AT_HTTP_HEAD_END;
				}
				if (c == '\n') {
					ev = headers_end(p);
					break;
				}
				p->state = S_HEND_LF;
				if (++i == n)
					continue;
				c = b[i];
				goto hend_lf;
			}
			if (nontok[c]) /* also rejects obsolete line folding */
				return *used = i, fail(p);
			p->name_long = 0;
			m = 1 + token_run(b + i + 1, n - i - 1);
			if (i + m == n) { /* the name goes on in the next piece */
				p->name_len = 0;
				p->state = S_HNAME;
				goto hname;
			}
			if (b[i + m] != ':')
				return *used = i + m, fail(p);
			header_begin_at(p, b + i, m);
			i += m;
			goto colon;
		case S_HNAME:
		hname : {
			unsigned nl = p->name_len;
			while (!nontok[c]) {
				if (nl < AT_HTTP_NAME_MAX - 1)
					p->name[nl++] = (char)lctok[c];
				else
					p->name_long = 1;
				if (++i == n)
					break;
				c = b[i];
			}
			p->name_len = (uint8_t)nl;
			if (i == n)
				continue;
			if (c != ':' || (!nl && !p->name_long))
				return *used = i, fail(p);
			p->name[nl] = 0;
			header_begin(p, p->name_long
			                    ? AT_HTTP_H_SKIP
			                    : header_id((const unsigned char *)p->name, nl));
		}
		colon:
			p->state = S_HOWS;
			if (++i == n)
				continue;
			c = b[i];
			/* fall through */
		case S_HOWS:
			while (c == ' ' || c == '\t') {
				if (++i == n)
					break;
				c = b[i];
			}
			if (i == n)
				continue;
			p->state = S_HVAL;
			/* fall through */
		case S_HVAL:
			m = value_run(b + i, n - i);
			if (i + m < n && !p->value_total && m <= UINT32_MAX) {
				/* the whole value is here: read in place, not copied */
				size_t lf = i + m;
				if (b[lf] == '\r')
					lf = lf + 1 < n && b[lf + 1] == '\n' ? lf + 1 : 0;
				else if (b[lf] != '\n')
					lf = 0; /* a NUL: the error is found below */
				if (lf) {
					size_t fl = m < sizeof p->tail ? m : sizeof p->tail;
					const char *v = (const char *)b + i;
					if (p->collect && header_value(p, p->vbuf ? v : NULL,
					                               m < p->vcap ? m : p->vcap, m,
					                               v + m - fl, fl))
						return *used = lf, AT_HTTP_ERROR;
					if (!p->collect) /* nothing to look at */
						p->name_len = p->name_long = 0;
					i = lf;
					p->state = S_HLINE;
					goto next_line;
				}
			}
			if (m && p->collect)
				add_value(p, b + i, m);
			i += m;
			if (i == n)
				continue;
			c = b[i];
			if (c == '\r') {
				p->state = S_HVAL_LF;
				if (++i == n)
					continue;
				c = b[i];
			} else if (c == '\n') {
				goto header_end;
			} else {
				return *used = i, fail(p);
			}
			/* fall through */
		case S_HVAL_LF:
			if (c != '\n')
				return *used = i, fail(p);
		header_end:
			if (header_done(p))
				return *used = i, AT_HTTP_ERROR;
			p->state = S_HLINE;
			goto next_line;
		case S_HEND_LF:
		hend_lf:
			if (c != '\n')
				return *used = i, fail(p);
			ev = headers_end(p);
			break;
		case S_BODY_LEN: {
			uint64_t k = n - i;
			if (k > p->body_left)
				k = p->body_left;
			p->body_left -= k;
			i += (size_t)k;
			if (!p->body_left) {
				p->state = S_DONE;
				ev = AT_HTTP_DONE;
			}
			continue;
		}
		case S_CHUNK_SIZE: {
			int h = hexval(c);
			if (h >= 0) {
				if (++p->ndigits > 15)
					return *used = i, fail(p);
				p->body_left = p->body_left * 16 + (uint64_t)h;
				break;
			}
			if (!p->ndigits)
				return *used = i, fail(p);
			if (c == ';' || c == ' ' || c == '\t')
				p->state = S_CHUNK_EXT;
			else if (c == '\r')
				p->state = S_CHUNK_SIZE_LF;
			else if (c == '\n')
				goto size_done;
			else
				return *used = i, fail(p);
			break;
		}
		case S_CHUNK_EXT:
			if (c == '\r')
				p->state = S_CHUNK_SIZE_LF;
			else if (c == '\n')
				goto size_done;
			break;
		case S_CHUNK_SIZE_LF:
			if (c != '\n')
				return *used = i, fail(p);
		size_done:
			p->ndigits = 0;
			p->state = p->body_left ? S_CHUNK_DATA : S_TLINE;
			break;
		case S_CHUNK_DATA: {
			uint64_t k = n - i;
			if (k > p->body_left)
				k = p->body_left;
			p->body_left -= k;
			i += (size_t)k;
			if (!p->body_left)
				p->state = S_CHUNK_CR;
			continue;
		}
		case S_CHUNK_CR:
			if (c == '\r')
				p->state = S_CHUNK_LF;
			else if (c == '\n')
				p->state = S_CHUNK_SIZE;
			else
				return *used = i, fail(p);
			break;
		case S_CHUNK_LF:
			if (c != '\n')
				return *used = i, fail(p);
			p->state = S_CHUNK_SIZE;
			break;
		case S_TLINE:
			if (c == '\r') {
				p->state = S_TEND_LF;
			} else if (c == '\n') {
				p->state = S_DONE;
				ev = AT_HTTP_DONE;
			} else {
				p->state = S_TSKIP;
			}
			break;
		case S_TSKIP: {
			const unsigned char *lf = memchr(b + i, '\n', n - i);
			if (!lf) {
				i = n;
				continue;
			}
			i = (size_t)(lf - b);
			p->state = S_TLINE;
			break;
		}
		case S_TEND_LF:
			if (c != '\n')
				return *used = i, fail(p);
			p->state = S_DONE;
			ev = AT_HTTP_DONE;
			break;
		case S_BODY_EOF:
			i = n;
			continue;
		case S_DONE:
			/* bytes after a complete message: the owner resets first */
			*used = i;
			return AT_HTTP_DONE;
		default:
			return *used = i, fail(p);
		}
		i++;
	}
	*used = i;
	return ev;
}

int at_http_parse_eof(struct at_http_parser *p)
{
	if (p->state == S_BODY_EOF || p->state == S_DONE) {
		p->state = S_DONE;
		return AT_HTTP_DONE;
	}
	return fail(p);
}
