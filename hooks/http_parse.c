/* Incremental HTTP/1.x parser: a state machine that takes bytes in runs. A
 * state scans as far as its bytes go (names, values and targets sixteen or
 * eight bytes at a time, bodies in bulk), so the cost is a few instructions
 * a byte whatever the pieces the bytes come in. A header line that is all
 * in the buffer (the common case) is taken in one go, from its first byte
 * to its LF, with no state written on the way; any other is taken a state
 * at a time, which finds the same errors at the same bytes. Strict where being wrong would
 * matter (the start line, header names, framing) and silent otherwise: an
 * error only means the connection is no longer looked at. Header values
 * are copied only for the headers the owner asked for and the framing
 * headers; the others are checked and skipped. */
#define _GNU_SOURCE
#include "http_parse.h"

#include "../preload/hex.h"

#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

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

/* nontok[c] << k in column k (see token_run) */
#define NT_ROW(c)                                                                                  \
	{                                                                                          \
		NT(c) << 0, NT(c) << 1, NT(c) << 2, NT(c) << 3, NT(c) << 4, NT(c) << 5,            \
		    NT(c) << 6, NT(c) << 7                                                         \
	}
/* 1 when c (0..255) is not a token character, as a constant expression */
#define NT(c)                                                                                      \
	(!(((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') ||                             \
	   ((c) >= '0' && (c) <= '9') || (c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' ||   \
	   (c) == '&' || (c) == '\'' || (c) == '*' || (c) == '+' || (c) == '-' || (c) == '.' ||    \
	   (c) == '^' || (c) == '_' || (c) == '`' || (c) == '|' || (c) == '~'))
#define NT_R4(c) NT_ROW(c), NT_ROW((c) + 1), NT_ROW((c) + 2), NT_ROW((c) + 3)
#define NT_R16(c) NT_R4(c), NT_R4((c) + 4), NT_R4((c) + 8), NT_R4((c) + 12)
#define NT_R64(c) NT_R16(c), NT_R16((c) + 16), NT_R16((c) + 32), NT_R16((c) + 48)
static const unsigned char ntbit[256][8] = {NT_R64(0), NT_R64(64), NT_R64(128), NT_R64(192)};
#undef NT_R64
#undef NT_R16
#undef NT_R4
#undef NT_ROW
#undef NT

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

/* The length of the run before the first NUL, CR or LF (or n): sixteen or
 * eight bytes at a time, looking closer only at bytes below 0x0e. */
static inline __attribute__((always_inline)) size_t value_run(const unsigned char *s, size_t n)
{
	size_t i = 0;
#ifdef __SSE2__
	/* sixteen at a time: the bytes up to 0x0d are those equal to their
	 * unsigned minimum with 0x0d */
	while (i + 16 <= n) {
		__m128i x = _mm_loadu_si128((const __m128i *)(s + i));
		unsigned m = (unsigned)_mm_movemask_epi8(
		    _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x0d)), x));
		if (!m) {
			i += 16;
			continue;
		}
		i += (size_t)__builtin_ctz(m);
		if (value_stop(s[i]))
			return i;
		i++;
	}
#endif
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

static inline __attribute__((always_inline)) size_t target_run(const unsigned char *s, size_t n)
{
	size_t i = 0;
#ifdef __SSE2__
	for (; i + 16 <= n; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(s + i));
		__m128i stop = _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x20)), x),
		                            _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f)));
		unsigned m = (unsigned)_mm_movemask_epi8(stop);
		if (m)
			return i + (size_t)__builtin_ctz(m);
	}
#endif
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

/* The length of the run of token characters. Without SSE2, or near the
 * end, eight bytes at a time: the row of a byte in ntbit has bit k set in
 * column k when the byte is not a token character, so OR-ing one column per
 * byte gives a mask whose lowest set bit is the first byte that ends the
 * run, with two instructions a byte and no second look. */
static inline __attribute__((always_inline)) size_t token_run(const unsigned char *s, size_t n)
{
	size_t i = 0;
#ifdef __SSE2__
	/* sixteen at a time, looking closer (at the table) only at bytes that
	 * are not a letter, a digit or '-'. The compares are signed: bytes from
	 * 0x80 up are below every bound. */
	while (i + 16 <= n) {
		__m128i x = _mm_loadu_si128((const __m128i *)(s + i));
		__m128i y = _mm_or_si128(x, _mm_set1_epi8(0x20));
		__m128i letter = _mm_and_si128(_mm_cmpgt_epi8(y, _mm_set1_epi8(0x60)),
		                               _mm_cmplt_epi8(y, _mm_set1_epi8(0x7b)));
		__m128i digit = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(0x2f)),
		                              _mm_cmplt_epi8(x, _mm_set1_epi8(0x3a)));
		__m128i ok = _mm_or_si128(_mm_or_si128(letter, digit),
		                          _mm_cmpeq_epi8(x, _mm_set1_epi8('-')));
		unsigned m = ~(unsigned)_mm_movemask_epi8(ok) & 0xffff;
		if (!m) {
			i += 16;
			continue;
		}
		i += (size_t)__builtin_ctz(m);
		if (nontok[s[i]])
			return i;
		i++; /* '.', '_', '!'…: still a token character */
	}
#endif
	while (i + 8 <= n) {
		unsigned m = ntbit[s[i]][0] | ntbit[s[i + 1]][1] | ntbit[s[i + 2]][2] |
		             ntbit[s[i + 3]][3] | ntbit[s[i + 4]][4] | ntbit[s[i + 5]][5] |
		             ntbit[s[i + 6]][6] | ntbit[s[i + 7]][7];
		if (m)
			return i + (size_t)__builtin_ctz(m);
		i += 8;
	}
	while (i < n && !nontok[s[i]])
		i++;
	return i;
}

/* ---- header names ---- */

/* s (token characters, any case) equals lit (lowercase letters, digits and
 * '-'). Setting bit 5 of every byte is an exact case fold here: of the
 * token characters, only 'A'-'Z' and 'a'-'z' end up on a letter, and only
 * '-' and the digits on themselves. Whole words, the last one overlapping
 * the one before: no byte past either string is read. */
static inline int tok_eq(const unsigned char *s, const char *lit, size_t len)
{
	const unsigned char *l = (const unsigned char *)lit;
	if (len >= 8) {
		for (size_t i = 0; i + 8 < len; i += 8)
			if ((load8(s + i) | ONES * 0x20) != load8(l + i))
				return 0;
		return (load8(s + len - 8) | ONES * 0x20) == load8(l + len - 8);
	}
	if (len >= 4) {
		uint32_t x, y, u, v;
		memcpy(&x, s, 4);
		memcpy(&y, s + len - 4, 4);
		memcpy(&u, l, 4);
		memcpy(&v, l + len - 4, 4);
		return ((x | 0x20202020u) == u) & ((y | 0x20202020u) == v);
	}
	for (size_t i = 0; i < len; i++)
		if ((s[i] | 0x20) != l[i])
			return 0;
	return 1;
}

/* The names the parser knows, by a hash of their length, first and last
 * but one bytes (case folded as in tok_eq) that no two of them share: one
 * compare tells a known name from any other. Each name is padded with NULs
 * (to 30 bytes: an entry is 32), so that it is copied as three words. */
#define HASH3(c0, c2, len) ((((c0) | 0x20) + ((c2) | 0x20) + 9 * (len)) & 31)
#define NAME_HASH(s, len) HASH3((s)[0], (s)[(len)-2], len)
struct known_name {
	char lit[30];
	uint8_t len, id;
};
/* (the first and last but one letters spelled out: a constant expression) */
#define KN(lit, c0, c2, id) [HASH3(c0, c2, sizeof lit - 1)] = {lit, sizeof lit - 1, id}
static const struct known_name known[32] = {
    KN("b3", 'b', 'b', AT_HTTP_H_B3),
    KN("host", 'h', 's', AT_HTTP_H_HOST),
    KN("baggage", 'b', 'g', AT_HTTP_H_BAGGAGE),
    KN("user-agent", 'u', 'n', AT_HTTP_H_USER_AGENT),
    KN("connection", 'c', 'o', AT_HTTP_H_CONNECTION),
    KN("tracestate", 't', 't', AT_HTTP_H_TRACESTATE),
    KN("x-b3-flags", 'x', 'g', AT_HTTP_H_X_B3_FLAGS),
    KN("traceparent", 't', 'n', AT_HTTP_H_TRACEPARENT),
    KN("x-b3-spanid", 'x', 'i', AT_HTTP_H_X_B3_SPANID),
    KN("x-b3-traceid", 'x', 'i', AT_HTTP_H_X_B3_TRACEID),
    KN("x-b3-sampled", 'x', 'e', AT_HTTP_H_X_B3_SAMPLED),
    KN("uber-trace-id", 'u', 'i', AT_HTTP_H_UBER_TRACE_ID),
    KN("content-length", 'c', 't', AT_HTTP_H_CONTENT_LENGTH),
    KN("transfer-encoding", 't', 'n', AT_HTTP_H_TRANSFER_ENCODING),
    KN("upgrade", 'u', 'd', AT_HTTP_H_UPGRADE),
    KN("expect", 'e', 'c', AT_HTTP_H_EXPECT),
};
#undef KN

/* the lengths of the known names */
#define KNOWN_LENS                                                                                 \
	((1ull << 2) | (1ull << 4) | (1ull << 6) | (1ull << 7) | (1ull << 10) | (1ull << 11) |     \
	 (1ull << 12) | (1ull << 13) | (1ull << 14) | (1ull << 17))

/* The known name s[0..len) is (token characters, any case), or NULL: most
 * names are ruled out by their length alone. */
static inline __attribute__((always_inline)) const struct known_name *
known_name(const unsigned char *s, size_t len)
{
	if (len >= 64 || !((KNOWN_LENS >> len) & 1))
		return NULL;
	const struct known_name *k = &known[NAME_HASH(s, len)];
	if (k->len != len)
		return NULL;
	/* tok_eq, in straight lines: no known name is longer than 24 */
	const unsigned char *l = (const unsigned char *)k->lit;
	if (len >= 8) {
		uint64_t d = ((load8(s) | ONES * 0x20) ^ load8(l)) |
		             ((load8(s + len - 8) | ONES * 0x20) ^ load8(l + len - 8));
		if (len > 16)
			d |= (load8(s + 8) | ONES * 0x20) ^ load8(l + 8);
		return d ? NULL : k;
	}
	return tok_eq(s, k->lit, len) ? k : NULL;
}

/* The id of s[0..len), k being known_name(s, len). */
static inline __attribute__((always_inline)) int name_id(const unsigned char *s, size_t len,
                                                         const struct known_name *k)
{
	if (k)
		return k->id;
	if (len > 8 && (s[0] | 0x20) == 'u' && tok_eq(s, "uberctx-", 8))
		return AT_HTTP_H_UBERCTX;
	return AT_HTTP_H_OTHER;
}

static inline __attribute__((always_inline)) int header_id(const unsigned char *s, size_t len)
{
	return name_id(s, len, known_name(s, len));
}

int at_http_header_id(const char *name, size_t len)
{
	return header_id((const unsigned char *)name, len);
}

#define FRAMING                                                                                    \
	(AT_HTTP_H_BIT(AT_HTTP_H_CONTENT_LENGTH) | AT_HTTP_H_BIT(AT_HTTP_H_TRANSFER_ENCODING) |    \
	 AT_HTTP_H_BIT(AT_HTTP_H_CONNECTION))

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
	p->collect = (uint8_t)(((p->report | FRAMING) >> id) & 1);
	p->value_len = p->value_total = 0;
}

/* A name that came whole in one piece, s[0..len) (token characters, len <
 * AT_HTTP_NAME_MAX), with its id and known_name(): the lowercase copy is
 * made only when the owner will see it. */
static inline void header_begin_id(struct at_http_parser *p, const unsigned char *s, size_t len,
                                   int id, const struct known_name *k)
{
	p->name_len = (uint8_t)len;
	if (p->report & AT_HTTP_H_BIT(id)) {
		if (k) { /* a known name: its lowercase form is the table's */
			memcpy(p->name, k->lit, 24); /* (the longest is 17) */
		} else {
			for (size_t i = 0; i < len; i++)
				p->name[i] = (char)lctok[s[i]];
			p->name[len] = 0;
		}
	}
	header_begin(p, id);
}

/* The same, of any length */
static void header_begin_at(struct at_http_parser *p, const unsigned char *s, size_t len)
{
	if (len >= AT_HTTP_NAME_MAX) {
		p->name_len = AT_HTTP_NAME_MAX - 1;
		p->name_long = 1;
		header_begin(p, AT_HTTP_H_SKIP);
		return;
	}
	const struct known_name *k = known_name(s, len);
	header_begin_id(p, s, len, name_id(s, len, k), k);
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

/* A header line from its colon, at j: the index of the LF that ends it
 * when it is all in b[0..n) and ends as a line should (CR LF or LF, no NUL
 * or bare CR), with its value at b[*vs..*ve); else 0, and the state
 * machine takes it a state at a time (and finds the error where it is). */
static inline size_t line_end(const unsigned char *b, size_t j, size_t n, size_t *vs, size_t *ve)
{
	if (j + 1 < n && b[j] == ' ' && b[j + 1] > ' ') /* the usual single space */
		j++;
	else
		while (j < n && (b[j] == ' ' || b[j] == '\t'))
			j++;
	if (j == n)
		return 0;
	*vs = j;
	size_t m = value_run(b + j, n - j);
	if (m > UINT32_MAX)
		return 0;
	j += m;
	if (j == n)
		return 0;
	*ve = j;
	if (b[j] == '\n')
		return j;
	if (b[j] == '\r' && j + 1 < n && b[j + 1] == '\n')
		return j + 1;
	return 0;
}

/* A whole header line, name s[0..len) (token characters), value v[0..vl):
 * what header_begin_at, the value's bytes and header_value do for it a
 * state at a time, in one go, and nothing at all for a header that is
 * neither framing nor asked for. Returns 0 or AT_HTTP_ERROR. */
static inline int whole_line(struct at_http_parser *p, const unsigned char *s, size_t len,
                             const unsigned char *v, size_t vl)
{
	if (len >= AT_HTTP_NAME_MAX) {
		p->name_len = 0; /* not reported (as header_value's AT_HTTP_H_SKIP) */
		p->name_long = 0;
		return 0;
	}
	const struct known_name *k = known_name(s, len);
	int id = name_id(s, len, k);
	if (!(((p->report | FRAMING) >> id) & 1))
		return 0; /* nothing to look at */
	header_begin_id(p, s, len, id, k);
	size_t fl = vl < sizeof p->tail ? vl : sizeof p->tail;
	return header_value(p, p->vbuf ? (const char *)v : NULL, vl < p->vcap ? vl : p->vcap, vl,
	                    (const char *)v + vl - fl, fl);
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
	size_t i = 0, m, lf, vs, ve;
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
			if (!p->method_len && n - i >= AT_HTTP_METHOD_MAX) {
				/* the whole method and its space: copied in one go (the
				 * loop below takes any other case, and finds the error) */
				size_t k = 0;
				if (p->flags & AT_HTTP_F_STRICT)
					while (k < AT_HTTP_METHOD_MAX - 1 &&
					       (unsigned)(b[i + k] - 'A') < 26)
						k++;
				else
					while (k < AT_HTTP_METHOD_MAX - 1 && !nontok[b[i + k]])
						k++;
				if (k && b[i + k] == ' ') {
					memcpy(p->method, b + i, AT_HTTP_METHOD_MAX);
					p->method[k] = 0;
					p->method_len = (uint8_t)k;
					i += k;
					c = ' ';
				}
			}
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
				if (k <= 16 && n - i >= 16 && room >= 16) /* a short one: inline */
					memcpy(p->target + p->target_len, b + i, 16);
				else
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
			m = token_run(b + i, n - i);
			if (!m) /* also rejects obsolete line folding */
				return *used = i, fail(p);
			p->name_long = 0;
			if (i + m == n) { /* the name goes on in the next piece */
				p->name_len = 0;
				p->state = S_HNAME;
				goto hname;
			}
			if (b[i + m] != ':')
				return *used = i + m, fail(p);
			/* the common case: the whole line is here, and well formed */
			if ((lf = line_end(b, i + m + 1, n, &vs, &ve))) {
				int r = whole_line(p, b + i, m, b + vs, ve - vs);
				if (r)
					return *used = lf, r;
				i = lf;
				goto next_line;
			}
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
			int h = at_hexval(c);
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

int at_http_skip(struct at_http_parser *p, uint64_t n)
{
	if (!n)
		return p->state == S_ERROR ? AT_HTTP_ERROR : 0;
	switch (p->state) {
	case S_BODY_EOF:
		return 0;
	case S_BODY_LEN:
	case S_CHUNK_DATA:
		if (n > p->body_left)
			break;
		p->body_left -= n;
		if (p->body_left)
			return 0;
		if (p->state == S_CHUNK_DATA) {
			p->state = S_CHUNK_CR;
			return 0;
		}
		p->state = S_DONE;
		return AT_HTTP_DONE;
	default:
		break;
	}
	return fail(p);
}

int at_http_parse_eof(struct at_http_parser *p)
{
	if (p->state == S_BODY_EOF || p->state == S_DONE) {
		p->state = S_DONE;
		return AT_HTTP_DONE;
	}
	return fail(p);
}
