/* Incremental HTTP/1.x parser: a byte-at-a-time state machine (bodies are
 * skipped in bulk). Strict where being wrong would matter (the start line,
 * header names, framing) and silent otherwise: an error only means the
 * connection is no longer looked at. */
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

/* RFC 9110 token characters: ALPHA, DIGIT and !#$%&'*+-.^_`|~ (a table:
 * this runs for every byte of every method and header name). */
static const unsigned char tchar[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
	0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static inline int is_tchar(unsigned char c)
{
	return tchar[c];
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

void at_http_parser_init(struct at_http_parser *p, int type, unsigned flags, char *vbuf,
                         size_t vcap, at_http_header_fn on_header, void *ctx)
{
	memset(p, 0, offsetof(struct at_http_parser, method));
	p->type = (uint8_t)type;
	p->flags = (uint8_t)flags;
	p->vbuf = vbuf;
	p->vcap = (uint32_t)(vbuf ? vcap : 0);
	p->on_header = on_header;
	p->ctx = ctx;
	p->state = type == AT_HTTP_REQUEST ? S_METHOD : S_RVERSION;
}

void at_http_parser_reset(struct at_http_parser *p, unsigned keep_flags)
{
	at_http_parser_init(p, p->type, p->flags & keep_flags, p->vbuf, p->vcap, p->on_header,
	                    p->ctx);
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

/* A complete header line: framing headers are the parser's own business;
 * every header also goes to the owner. Returns 0 or AT_HTTP_ERROR. */
static int header_done(struct at_http_parser *p)
{
	size_t vl = p->value_len;
	const char *v = p->vbuf;
	int complete = p->value_total == p->value_len;
	while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	if (p->name_long) {
		p->name_len = 0;
		p->name_long = 0;
		return 0;
	}
	/* framing headers are read from the tail, whatever the caller's buffer */
	char fb[sizeof p->tail];
	size_t fl = p->value_total < sizeof fb ? p->value_total : sizeof fb;
	for (size_t i = 0; i < fl; i++)
		fb[i] = p->tail[(p->value_total - fl + i) % sizeof fb];
	while (fl && (fb[fl - 1] == ' ' || fb[fl - 1] == '\t'))
		fl--;
	const char *n = p->name;
	size_t nl = p->name_len;
	if (nl == 14 && !memcmp(n, "content-length", 14)) {
		/* digits only; a second, different value is an attack (smuggling) */
		if (p->value_total > sizeof fb || fl == 0 || fl > 18)
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
	} else if (nl == 17 && !memcmp(n, "transfer-encoding", 17)) {
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
	} else if (nl == 10 && !memcmp(n, "connection", 10)) {
		for (size_t i = 0; i + 5 <= fl; i++)
			if (ieq(fb + i, 5, "close") &&
			    (i == 0 || fb[i - 1] == ' ' || fb[i - 1] == ','))
				p->flags |= AT_HTTP_F_CLOSE;
	}
	if (p->on_header)
		p->on_header(p, n, nl, v ? v : "", v ? vl : 0, complete);
	p->name_len = 0;
	return 0;
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

static void add_value(struct at_http_parser *p, char c)
{
	if (p->value_len < p->vcap)
		p->vbuf[p->value_len++] = c;
	if (p->value_total < UINT32_MAX) {
		p->tail[p->value_total % sizeof p->tail] = c;
		p->value_total++;
	}
}

int at_http_parse(struct at_http_parser *p, const char *buf, size_t n, size_t *used)
{
	size_t i = 0;
	int ev = 0;
	if (p->state == S_ERROR) {
		*used = 0;
		return AT_HTTP_ERROR;
	}
	while (i < n && !ev) {
		unsigned char c = (unsigned char)buf[i];
		switch (p->state) {
		case S_METHOD:
			if (c == ' ' && p->method_len) {
				p->state = S_TARGET;
				if (p->method_len == 7 && !memcmp(p->method, "CONNECT", 7))
					p->flags |= AT_HTTP_F_CONNECT;
				break;
			}
			if ((p->flags & AT_HTTP_F_STRICT) ? !(c >= 'A' && c <= 'Z') : !is_tchar(c))
				return *used = i, fail(p);
			if (p->method_len >= AT_HTTP_METHOD_MAX - 1)
				return *used = i, fail(p);
			p->method[p->method_len++] = (char)c;
			p->method[p->method_len] = 0;
			break;
		case S_TARGET:
			if (c == ' ' && p->target_total) {
				p->state = S_VERSION;
				p->sub = 0;
				break;
			}
			if (c <= 0x20 || c == 0x7f)
				return *used = i, fail(p);
			if (p->target_len < AT_HTTP_TARGET_MAX - 1) {
				p->target[p->target_len++] = (char)c;
				p->target[p->target_len] = 0;
			}
			if (p->target_total < UINT32_MAX)
				p->target_total++;
			break;
		case S_VERSION:
		case S_RVERSION:
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
			} else if (c == '\n') {
				p->state = S_HLINE;
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
			} else {
				return *used = i, fail(p);
			}
			break;
		case S_REASON:
			if (c == '\r')
				p->state = S_LINE_LF;
			else if (c == '\n')
				p->state = S_HLINE;
			else if (c == 0)
				return *used = i, fail(p);
			break;
		case S_LINE_LF:
			if (c != '\n')
				return *used = i, fail(p);
			p->state = S_HLINE;
			break;
		case S_HLINE:
			if (c == '\r' || c == '\n') {
				if ((p->flags & AT_HTTP_F_STOP_BLANK) && p->sub != 0xff) {
					/* stop before the empty line: the owner may add lines */
					p->sub = 0xff;
					*used = i;
					return AT_HTTP_HEAD_END;
				}
				if (c == '\r') {
					p->state = S_HEND_LF;
					break;
				}
				ev = headers_end(p);
				break;
			}
			if (!is_tchar(c)) /* also rejects obsolete line folding */
				return *used = i, fail(p);
			p->state = S_HNAME;
			p->name_len = 0;
			p->name_long = 0;
			/* fall through */
		case S_HNAME:
			if (p->state == S_HNAME && c == ':') {
				if (!p->name_len && !p->name_long)
					return *used = i, fail(p);
				p->state = S_HOWS;
				p->value_len = p->value_total = 0;
				break;
			}
			if (!is_tchar(c))
				return *used = i, fail(p);
			if (p->name_len < AT_HTTP_NAME_MAX - 1) {
				p->name[p->name_len++] =
				    (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
				p->name[p->name_len] = 0;
			} else {
				p->name_long = 1;
			}
			break;
		case S_HOWS:
			if (c == ' ' || c == '\t')
				break;
			p->state = S_HVAL;
			/* fall through */
		case S_HVAL:
			if (c == '\r') {
				p->state = S_HVAL_LF;
			} else if (c == '\n') {
				if (header_done(p))
					return *used = i, AT_HTTP_ERROR;
				p->state = S_HLINE;
			} else if (c == 0) {
				return *used = i, fail(p);
			} else {
				add_value(p, (char)c);
			}
			break;
		case S_HVAL_LF:
			if (c != '\n')
				return *used = i, fail(p);
			if (header_done(p))
				return *used = i, AT_HTTP_ERROR;
			p->state = S_HLINE;
			break;
		case S_HEND_LF:
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
		case S_TSKIP:
			if (c == '\n')
				p->state = S_TLINE;
			break;
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
