/* Rust names for code.function.name: a Rust symbol, legacy
 * ("_ZN3std2io5stdio6_print17h0123456789abcdefE") or v0 ("_RNv..."), as
 * Rust writes the path ("std::io::stdio::_print", "<std::net::TcpStream as
 * std::io::Write>::write", "app::main::{closure#0}"), without the hashes
 * that tell crates and symbols apart (the form rustc-demangle prints with
 * {:#}). Rust programs load no C++ library, so __cxa_demangle is no help;
 * the grammar is the v0 mangling RFC's (rust-lang/rfcs 2603). Anything not
 * understood, or a name that does not end where the grammar says, is no
 * Rust name here: the symbol is left as it is. Exporter only. */
#include "demangle.h"
#include "hex.h"

#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 64 /* nesting of paths and types, backrefs included */
/* Paths and types read in all: backrefs to backrefs could make a short
 * symbol's reading last for ever. Real ones take a few hundred. */
#define MAX_STEPS 100000

struct out {
	char *b;
	size_t cap, len; /* len may pass cap: the rest is cut */
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->len < o->cap)
		memcpy(o->b + o->len, s, o->cap - o->len < n ? o->cap - o->len : n);
	o->len += n;
}

static void put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void put_u64(struct out *o, uint64_t v)
{
	char d[20];
	int n = 0;
	do
		d[sizeof d - 1 - n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < 20);
	put(o, d + sizeof d - n, (size_t)n);
}

/* ---- legacy: _ZN <length><identifier>... 17h<16 hex digits> E ---- */

static const struct {
	const char *esc, *txt;
} legacy_esc[] = {{"$SP$", "@"}, {"$BP$", "*"}, {"$RF$", "&"}, {"$LT$", "<"},
                  {"$GT$", ">"}, {"$LP$", "("}, {"$RP$", ")"}, {"$C$", ","}};

/* One identifier of a legacy path, its $...$ escapes and ".." decoded; 0
 * when an escape is not one rustc writes. */
static int legacy_ident(struct out *o, const char *s, size_t n)
{
	if (n >= 2 && s[0] == '_' && s[1] == '$')
		s++, n--;
	for (size_t i = 0; i < n;) {
		if (s[i] == '.') {
			int two = i + 1 < n && s[i + 1] == '.';
			put(o, two ? "::" : ".", two ? 2 : 1);
			i += two ? 2 : 1;
			continue;
		}
		if (s[i] != '$') {
			put(o, s + i, 1);
			i++;
			continue;
		}
		size_t k = 0;
		while (k < sizeof legacy_esc / sizeof legacy_esc[0] &&
		       (n - i < strlen(legacy_esc[k].esc) ||
		        memcmp(s + i, legacy_esc[k].esc, strlen(legacy_esc[k].esc))))
			k++;
		if (k < sizeof legacy_esc / sizeof legacy_esc[0]) {
			put_str(o, legacy_esc[k].txt);
			i += strlen(legacy_esc[k].esc);
			continue;
		}
		/* $u7e$: a character by its code, ASCII punctuation only */
		if (n - i < 4 || s[i + 1] != 'u')
			return 0;
		size_t j = i + 2;
		int v = 0;
		while (j < n && j < i + 4 && at_hexval_lower((unsigned char)s[j]) >= 0)
			v = v * 16 + at_hexval_lower((unsigned char)s[j++]);
		if (j == i + 2 || j >= n || s[j] != '$' || v < 0x20 || v > 0x7e)
			return 0;
		char c = (char)v;
		put(o, &c, 1);
		i = j + 1;
	}
	return 1;
}

static int legacy(const char *m, struct out *o)
{
	size_t n = strlen(m);
	/* the last identifier is the hash: "17h" and 16 hex digits, then E */
	if (n < 3 + 2 + 20 || memcmp(m, "_ZN", 3) || m[n - 1] != 'E' ||
	    memcmp(m + n - 20, "17h", 3))
		return 0;
	for (size_t i = n - 17; i < n - 1; i++)
		if (at_hexval_lower((unsigned char)m[i]) < 0)
			return 0;
	const char *p = m + 3, *end = m + n - 20;
	if (p == end)
		return 0;
	while (p < end) {
		size_t len = 0;
		if (*p < '1' || *p > '9')
			return 0;
		while (p < end && *p >= '0' && *p <= '9' && len < 100000)
			len = len * 10 + (size_t)(*p++ - '0');
		if (len > (size_t)(end - p))
			return 0;
		if (o->len)
			put(o, "::", 2);
		if (!legacy_ident(o, p, len))
			return 0;
		p += len;
	}
	return 1;
}

/* ---- v0: _R <path> [<instantiating crate>] ---- */

struct v0 {
	const char *s; /* after "_R" */
	size_t n, pos;
	struct out *o;
	int depth, quiet, bad;
	int open; /* a dyn trait's generic arguments left open (trait_path) */
	unsigned steps;
	uint64_t bound; /* lifetimes bound by the binders around */
};

static int peek(const struct v0 *p)
{
	return p->pos < p->n ? (unsigned char)p->s[p->pos] : 0;
}

static int eat(struct v0 *p, char c)
{
	if (peek(p) != c)
		return 0;
	p->pos++;
	return 1;
}

static void fail(struct v0 *p)
{
	p->bad = 1;
	p->pos = p->n; /* every later read sees the end */
}

static void emit(struct v0 *p, const char *s, size_t n)
{
	if (!p->quiet && !p->bad)
		put(p->o, s, n);
}

static void emits(struct v0 *p, const char *s)
{
	emit(p, s, strlen(s));
}

static void emit_u64(struct v0 *p, uint64_t v)
{
	if (!p->quiet && !p->bad)
		put_u64(p->o, v);
}

/* <base-62-number>: "_" is 0, else digits then "_", their value plus 1 */
static uint64_t b62(struct v0 *p)
{
	if (eat(p, '_'))
		return 0;
	uint64_t v = 0;
	int c;
	while ((c = peek(p)) && c != '_') {
		int d = c >= '0' && c <= '9'   ? c - '0'
		        : c >= 'a' && c <= 'z' ? c - 'a' + 10
		        : c >= 'A' && c <= 'Z' ? c - 'A' + 36
		                               : -1;
		if (d < 0 || v > (UINT64_MAX - 61) / 62) {
			fail(p);
			return 0;
		}
		v = v * 62 + (uint64_t)d;
		p->pos++;
	}
	if (!eat(p, '_') || v == UINT64_MAX) {
		fail(p);
		return 0;
	}
	return v + 1;
}

/* [tag <base-62-number>]: 0 when absent, else the number plus 1 */
static uint64_t opt_b62(struct v0 *p, char tag)
{
	return eat(p, tag) ? b62(p) + 1 : 0;
}

static size_t decimal(struct v0 *p)
{
	size_t v = 0;
	if (peek(p) == '0') {
		p->pos++;
		return 0;
	}
	if (peek(p) < '1' || peek(p) > '9') {
		fail(p);
		return 0;
	}
	while (peek(p) >= '0' && peek(p) <= '9') {
		if (v > 100000) {
			fail(p);
			return 0;
		}
		v = v * 10 + (size_t)(p->s[p->pos++] - '0');
	}
	return v;
}

/* <undisambiguated-identifier>: its bytes; punycode (a non-ASCII name) is
 * not decoded here: the symbol is left as it is */
static const char *ident(struct v0 *p, size_t *len)
{
	if (eat(p, 'u')) {
		fail(p);
		return NULL;
	}
	size_t n = decimal(p);
	eat(p, '_');
	if (p->bad || n > p->n - p->pos) {
		fail(p);
		return NULL;
	}
	const char *s = p->s + p->pos;
	p->pos += n;
	*len = n;
	return s;
}

static void path(struct v0 *p, int in_value);
static void type(struct v0 *p);
static void constant(struct v0 *p);

/* B <base-62-number>: what was written at that earlier position, again;
 * not read again where nothing is printed (an impl's path): it was read
 * where it is */
static void backref(struct v0 *p, void (*what)(struct v0 *, int), int arg)
{
	size_t at = p->pos - 1, to = (size_t)b62(p);
	if (p->bad || to >= at || p->depth >= MAX_DEPTH) {
		fail(p);
		return;
	}
	if (p->quiet)
		return;
	size_t back = p->pos;
	p->pos = to;
	p->depth++;
	what(p, arg);
	p->depth--;
	if (!p->bad)
		p->pos = back;
}

static void type_arg(struct v0 *p, int unused)
{
	(void)unused;
	type(p);
}

static void const_arg(struct v0 *p, int unused)
{
	(void)unused;
	constant(p);
}

static void lifetime(struct v0 *p, uint64_t i)
{
	if (!i) {
		emits(p, "'_");
		return;
	}
	if (i > p->bound) {
		fail(p);
		return;
	}
	uint64_t d = p->bound - i;
	char b[3] = {'\'', (char)('a' + d), 0};
	if (d < 26) {
		emits(p, b);
	} else {
		emits(p, "'_");
		emit_u64(p, d);
	}
}

/* G <base-62-number>: lifetimes bound for what follows ("for<'a> ") */
static uint64_t binder(struct v0 *p)
{
	uint64_t k = opt_b62(p, 'G');
	if (k > 64) {
		fail(p);
		return 0;
	}
	if (k) {
		emits(p, "for<");
		for (uint64_t i = 0; i < k; i++) {
			if (i)
				emits(p, ", ");
			p->bound++;
			lifetime(p, 1);
		}
		emits(p, "> ");
	}
	return k;
}

static void generic_args(struct v0 *p)
{
	for (int i = 0; !p->bad && !eat(p, 'E'); i++) {
		if (i)
			emits(p, ", ");
		if (eat(p, 'L'))
			lifetime(p, b62(p));
		else if (eat(p, 'K'))
			constant(p);
		else
			type(p);
	}
}

static void path(struct v0 *p, int in_value)
{
	if (++p->depth > MAX_DEPTH || ++p->steps > MAX_STEPS) {
		fail(p);
		return;
	}
	int c = peek(p);
	p->pos++;
	size_t n;
	const char *id;
	switch (c) {
	case 'C': /* a crate's root; its disambiguator is its hash */
		opt_b62(p, 's');
		if ((id = ident(p, &n)))
			emit(p, id, n);
		break;
	case 'N': { /* a name in a namespace */
		int ns = peek(p);
		p->pos++;
		if (!((ns >= 'a' && ns <= 'z') || (ns >= 'A' && ns <= 'Z'))) {
			fail(p);
			break;
		}
		path(p, in_value);
		uint64_t dis = opt_b62(p, 's');
		if (!(id = ident(p, &n)))
			break;
		if (ns >= 'a' && ns <= 'z') {
			if (n) {
				emits(p, "::");
				emit(p, id, n);
			}
			break;
		}
		char other = (char)ns;
		emits(p, ns == 'C' ? "::{closure" : ns == 'S' ? "::{shim" : "::{");
		if (ns != 'C' && ns != 'S')
			emit(p, &other, 1);
		if (n) {
			emits(p, ":");
			emit(p, id, n);
		}
		emits(p, "#");
		emit_u64(p, dis);
		emits(p, "}");
		break;
	}
	case 'M': /* <T>: an inherent impl's item; the impl's own path unprinted */
	case 'X': /* <T as Trait> */
		opt_b62(p, 's');
		p->quiet++;
		path(p, 0);
		p->quiet--;
		/* fall through */
	case 'Y':
		emits(p, "<");
		type(p);
		if (c != 'M') {
			emits(p, " as ");
			path(p, 0);
		}
		emits(p, ">");
		break;
	case 'I': /* generic arguments */
		path(p, in_value);
		emits(p, in_value ? "::<" : "<");
		generic_args(p);
		emits(p, ">");
		break;
	case 'B':
		backref(p, path, in_value);
		break;
	default:
		fail(p);
	}
	p->depth--;
}

/* <basic-type>: a lowercase letter */
static const char *basic(int c)
{
	static const char *const t[26] = {
	    ['a' - 'a'] = "i8",   ['b' - 'a'] = "bool",  ['c' - 'a'] = "char",
	    ['d' - 'a'] = "f64",  ['e' - 'a'] = "str",   ['f' - 'a'] = "f32",
	    ['h' - 'a'] = "u8",   ['i' - 'a'] = "isize", ['j' - 'a'] = "usize",
	    ['l' - 'a'] = "i32",  ['m' - 'a'] = "u32",   ['n' - 'a'] = "i128",
	    ['o' - 'a'] = "u128", ['p' - 'a'] = "_",     ['s' - 'a'] = "i16",
	    ['t' - 'a'] = "u16",  ['u' - 'a'] = "()",    ['v' - 'a'] = "...",
	    ['x' - 'a'] = "i64",  ['y' - 'a'] = "u64",   ['z' - 'a'] = "!"};
	return c >= 'a' && c <= 'z' ? t[c - 'a'] : NULL;
}

static void fn_sig(struct v0 *p)
{
	uint64_t k = binder(p);
	if (eat(p, 'U'))
		emits(p, "unsafe ");
	if (eat(p, 'K')) {
		emits(p, "extern \"");
		if (eat(p, 'C')) {
			emits(p, "C");
		} else {
			size_t n;
			const char *abi = ident(p, &n);
			for (size_t i = 0; abi && i < n; i++)
				emit(p, abi[i] == '_' ? "-" : abi + i, 1);
		}
		emits(p, "\" ");
	}
	emits(p, "fn(");
	for (int i = 0; !p->bad && !eat(p, 'E'); i++) {
		if (i)
			emits(p, ", ");
		type(p);
	}
	emits(p, ")");
	if (eat(p, 'u')) {
		/* returns () */
	} else {
		emits(p, " -> ");
		type(p);
	}
	p->bound -= k;
}

/* A dyn trait's path, its generic arguments left open for the associated
 * types that follow ("FnOnce<(), Output = ()>"): p->open when they were. */
static void trait_here(struct v0 *p, int unused)
{
	(void)unused;
	p->open = eat(p, 'I');
	path(p, 0);
	if (p->open) {
		emits(p, "<");
		generic_args(p);
	}
}

static int trait_path(struct v0 *p)
{
	p->open = 0;
	if (eat(p, 'B')) /* the same trait as before: read it there */
		backref(p, trait_here, 0);
	else
		trait_here(p, 0);
	return p->open;
}

static void dyn_bounds(struct v0 *p)
{
	uint64_t k = binder(p);
	for (int i = 0; !p->bad && !eat(p, 'E'); i++) {
		if (i)
			emits(p, " + ");
		int open = trait_path(p);
		for (; !p->bad && eat(p, 'p'); open = 1) {
			size_t n;
			const char *name = ident(p, &n);
			emits(p, open ? ", " : "<");
			if (name)
				emit(p, name, n);
			emits(p, " = ");
			type(p);
		}
		if (open)
			emits(p, ">");
	}
	p->bound -= k;
}

static void type(struct v0 *p)
{
	if (++p->depth > MAX_DEPTH || ++p->steps > MAX_STEPS) {
		fail(p);
		return;
	}
	int c = peek(p);
	const char *b = basic(c);
	if (b) {
		p->pos++;
		emits(p, b);
		p->depth--;
		return;
	}
	switch (c) {
	case 'R':
	case 'Q':
		p->pos++;
		emits(p, "&");
		if (eat(p, 'L')) {
			uint64_t l = b62(p);
			if (l) {
				lifetime(p, l);
				emits(p, " ");
			}
		}
		if (c == 'Q')
			emits(p, "mut ");
		type(p);
		break;
	case 'P':
	case 'O':
		p->pos++;
		emits(p, c == 'P' ? "*const " : "*mut ");
		type(p);
		break;
	case 'A':
	case 'S':
		p->pos++;
		emits(p, "[");
		type(p);
		if (c == 'A') {
			emits(p, "; ");
			constant(p);
		}
		emits(p, "]");
		break;
	case 'T': {
		p->pos++;
		emits(p, "(");
		int i = 0;
		for (; !p->bad && !eat(p, 'E'); i++) {
			if (i)
				emits(p, ", ");
			type(p);
		}
		emits(p, i == 1 ? ",)" : ")");
		break;
	}
	case 'F':
		p->pos++;
		fn_sig(p);
		break;
	case 'D':
		p->pos++;
		emits(p, "dyn ");
		dyn_bounds(p);
		if (eat(p, 'L')) {
			uint64_t l = b62(p);
			if (l) {
				emits(p, " + ");
				lifetime(p, l);
			}
		} else {
			fail(p);
		}
		break;
	case 'B':
		p->pos++;
		backref(p, type_arg, 0);
		break;
	default:
		path(p, 0);
	}
	p->depth--;
}

/* <const>: an integer, bool or char value of its type, a placeholder, or
 * a backref; the structural constants of newer compilers are not read */
static void constant(struct v0 *p)
{
	if (eat(p, 'p')) {
		emits(p, "_");
		return;
	}
	if (eat(p, 'B')) {
		backref(p, const_arg, 0);
		return;
	}
	int t = peek(p);
	p->pos++;
	if (!t || !strchr("hmtyojasxlnibc", t)) {
		fail(p);
		return;
	}
	int neg = strchr("asxlni", t) && eat(p, 'n');
	uint64_t v = 0;
	int digits = 0, c;
	while ((c = peek(p)) && c != '_') {
		int d = at_hexval_lower((unsigned char)c);
		if (d < 0 || ++digits > 16) {
			fail(p);
			return;
		}
		v = v * 16 + (uint64_t)d;
		p->pos++;
	}
	if (!eat(p, '_')) {
		fail(p);
		return;
	}
	if (t == 'b') {
		if (v > 1)
			fail(p);
		emits(p, v ? "true" : "false");
	} else if (t == 'c') {
		if (v < 0x20 || v > 0x7e || v == '\'' || v == '\\') {
			fail(p); /* printable ASCII only */
			return;
		}
		char q[4] = {'\'', (char)v, '\'', 0};
		emits(p, q);
	} else {
		if (neg)
			emits(p, "-");
		emit_u64(p, v);
	}
}

static int v0(const char *m, struct out *o)
{
	size_t n = strlen(m);
	const char *dot = memchr(m, '.', n); /* a suffix: ".llvm.123" */
	if (dot)
		n = (size_t)(dot - m);
	if (n < 3 || memcmp(m, "_R", 2) || !(m[2] >= 'A' && m[2] <= 'Z'))
		return 0; /* an encoding version (a digit) is one not known here */
	struct v0 p = {.s = m + 2, .n = n - 2, .o = o};
	path(&p, 1);
	if (!p.bad && p.pos < p.n && p.s[p.pos] >= 'A' && p.s[p.pos] <= 'Z') {
		p.quiet = 1; /* the instantiating crate */
		path(&p, 0);
	}
	return !p.bad && p.pos == p.n && o->len;
}

int at_demangle_rust(const char *mangled, char *out, size_t len)
{
	if (!mangled || len < 2)
		return 0;
	struct out o = {out, len - 1, 0};
	if (mangled[0] != '_' || !(mangled[1] == 'R' ? v0(mangled, &o) : legacy(mangled, &o)))
		return 0;
	out[o.len < o.cap ? o.len : o.cap] = 0;
	return 1;
}
