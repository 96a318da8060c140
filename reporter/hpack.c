/* HPACK (hpack.h): integers and strings (RFC 7541 5), the static and the
 * dynamic table (2.3, 4), Huffman strings (5.2, Appendix B), and the
 * field representations (6). */
#include "hpack.h"

#include <string.h>

static const struct {
	const char *name, *value;
} statics[] = {
	{":authority", ""}, {":method", "GET"}, {":method", "POST"}, {":path", "/"},
	{":path", "/index.html"}, {":scheme", "http"}, {":scheme", "https"}, {":status", "200"},
	{":status", "204"}, {":status", "206"}, {":status", "304"}, {":status", "400"},
	{":status", "404"}, {":status", "500"}, {"accept-charset", ""},
	{"accept-encoding", "gzip, deflate"}, {"accept-language", ""}, {"accept-ranges", ""},
	{"accept", ""}, {"access-control-allow-origin", ""}, {"age", ""}, {"allow", ""},
	{"authorization", ""}, {"cache-control", ""}, {"content-disposition", ""},
	{"content-encoding", ""}, {"content-language", ""}, {"content-length", ""},
	{"content-location", ""}, {"content-range", ""}, {"content-type", ""}, {"cookie", ""},
	{"date", ""}, {"etag", ""}, {"expect", ""}, {"expires", ""}, {"from", ""}, {"host", ""},
	{"if-match", ""}, {"if-modified-since", ""}, {"if-none-match", ""}, {"if-range", ""},
	{"if-unmodified-since", ""}, {"last-modified", ""}, {"link", ""}, {"location", ""},
	{"max-forwards", ""}, {"proxy-authenticate", ""}, {"proxy-authorization", ""},
	{"range", ""}, {"referer", ""}, {"refresh", ""}, {"retry-after", ""}, {"server", ""},
	{"set-cookie", ""}, {"strict-transport-security", ""}, {"transfer-encoding", ""},
	{"user-agent", ""}, {"vary", ""}, {"via", ""}, {"www-authenticate", ""},
};
#define NSTATIC (sizeof statics / sizeof *statics)

/* The Huffman code's lengths by symbol (Appendix B; 256 is EOS). The code
 * is canonical: within a length, codes go up with the symbol, so these
 * lengths are the whole code. */
static const uint8_t huff_len[257] = {
	13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
	28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
	6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
	5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
	13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
	7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
	15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
	6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
	20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
	24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
	22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
	21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
	26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
	19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
	20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
	26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
	30,
};

/* For each length: its first code, how many codes, and where its symbols
 * start in huff_sym (symbols ordered by length, then value). */
static struct {
	uint32_t first[31];
	uint16_t count[31], start[31];
	uint16_t sym[257];
	int ready;
} huff;

static void huff_init(void)
{
	if (huff.ready)
		return;
	for (int s = 0; s < 257; s++)
		huff.count[huff_len[s]]++;
	uint32_t code = 0;
	uint16_t at = 0;
	for (int l = 1; l <= 30; l++) {
		huff.first[l] = code;
		huff.start[l] = at;
		code = (code + huff.count[l]) << 1;
		at += huff.count[l];
	}
	uint16_t fill[31];
	memcpy(fill, huff.start, sizeof fill);
	for (int s = 0; s < 257; s++)
		huff.sym[fill[huff_len[s]]++] = (uint16_t)s;
	huff.ready = 1;
}

/* Decodes n bytes of Huffman code into out: its length, or -1. */
static long huff_decode(const uint8_t *p, size_t n, char *out, size_t cap)
{
	uint32_t code = 0;
	int len = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		for (int b = 7; b >= 0; b--) {
			code = code << 1 | (uint32_t)(p[i] >> b & 1);
			len++;
			uint32_t k = code - huff.first[len];
			if (code >= huff.first[len] && k < huff.count[len]) {
				uint16_t s = huff.sym[huff.start[len] + k];
				if (s == 256 || o == cap)
					return -1; /* EOS inside a string (5.2), or too long */
				out[o++] = (char)s;
				code = 0;
				len = 0;
			} else if (len == 30) {
				return -1;
			}
		}
	}
	/* padding: under 8 bits, all ones (the EOS code's first bits) */
	if (len > 7 || code != (1u << len) - 1)
		return -1;
	return (long)o;
}

/* An integer with an N-bit prefix (5.1); -1 off the end or over 2^31. */
static int get_int(const uint8_t *p, size_t n, size_t *i, int bits, uint32_t *v)
{
	uint32_t mask = (1u << bits) - 1;
	if (*i >= n)
		return -1;
	uint64_t x = p[(*i)++] & mask;
	if (x == mask) {
		for (int m = 0;; m += 7) {
			if (*i >= n || m > 28)
				return -1;
			uint8_t b = p[(*i)++];
			x += (uint64_t)(b & 0x7f) << m;
			if (x > 0x7fffffffu)
				return -1;
			if (!(b & 0x80))
				break;
		}
	}
	*v = (uint32_t)x;
	return 0;
}

/* A string literal (5.2) into out (cap bytes and a NUL): its length, or -1. */
static long get_string(const uint8_t *p, size_t n, size_t *i, char *out, size_t cap)
{
	if (*i >= n)
		return -1;
	int h = p[*i] & 0x80;
	uint32_t len;
	if (get_int(p, n, i, 7, &len) || len > n - *i)
		return -1;
	long r;
	if (h) {
		r = huff_decode(p + *i, len, out, cap);
	} else {
		if (len > cap)
			return -1;
		memcpy(out, p + *i, len);
		r = len;
	}
	*i += len;
	if (r >= 0)
		out[r] = 0;
	return r;
}

static void evict_to(struct at_hpack_dec *d, size_t limit)
{
	size_t k = 0, freed = 0;
	while (k < d->n && d->size > limit) {
		d->size -= 32 + d->e[k].nlen + d->e[k].vlen;
		freed += d->e[k].nlen + d->e[k].vlen;
		k++;
	}
	if (!k)
		return;
	memmove(d->data, d->data + freed, d->used - freed);
	d->used -= freed;
	d->n -= k;
	memmove(d->e, d->e + k, d->n * sizeof d->e[0]);
	for (size_t j = 0; j < d->n; j++)
		d->e[j].off = (uint16_t)(d->e[j].off - freed);
}

/* Adds name and value (not in the table: the scratch buffers) as the
 * newest entry (4.4): one bigger than the table empties it. */
static void insert(struct at_hpack_dec *d, const char *name, size_t nl, const char *value,
                   size_t vl)
{
	size_t es = 32 + nl + vl;
	if (es > d->max) {
		evict_to(d, 0);
		return;
	}
	evict_to(d, d->max - es);
	d->e[d->n].off = (uint16_t)d->used;
	d->e[d->n].nlen = (uint16_t)nl;
	d->e[d->n].vlen = (uint16_t)vl;
	memcpy(d->data + d->used, name, nl);
	memcpy(d->data + d->used + nl, value, vl);
	d->used += nl + vl;
	d->n++;
	d->size += es;
}

/* Index i (2.3.3: the static table, then the dynamic one, newest first)
 * copied into the scratch name (and value, if want_value); -1 if none. */
static int lookup(struct at_hpack_dec *d, uint32_t i, int want_value, size_t *nl, size_t *vl)
{
	const char *n, *v;
	size_t nlen, vlen;
	if (i >= 1 && i <= NSTATIC) {
		n = statics[i - 1].name;
		v = statics[i - 1].value;
		nlen = strlen(n);
		vlen = strlen(v);
	} else if (i > NSTATIC && i - NSTATIC <= d->n) {
		size_t k = d->n - (i - NSTATIC);
		n = d->data + d->e[k].off;
		nlen = d->e[k].nlen;
		v = n + nlen;
		vlen = d->e[k].vlen;
	} else {
		return -1;
	}
	memcpy(d->name, n, nlen);
	d->name[nlen] = 0;
	*nl = nlen;
	if (want_value) {
		memcpy(d->value, v, vlen);
		d->value[vlen] = 0;
		*vl = vlen;
	}
	return 0;
}

void at_hpack_dec_init(struct at_hpack_dec *d)
{
	huff_init();
	d->max = AT_HPACK_TABLE;
	d->size = d->n = d->used = 0;
}

void at_hpack_dec_set_max(struct at_hpack_dec *d, size_t max)
{
	d->max = max > AT_HPACK_TABLE ? AT_HPACK_TABLE : max;
	evict_to(d, d->max);
}

int at_hpack_decode(struct at_hpack_dec *d, const uint8_t *p, size_t n, at_hpack_field_fn fn,
                    void *ctx)
{
	size_t i = 0, nl = 0, vl = 0;
	int fields = 0;
	while (i < n) {
		uint8_t b = p[i];
		uint32_t idx;
		if ((b & 0xe0) == 0x20) { /* a dynamic table size update (6.3) */
			if (fields || get_int(p, n, &i, 5, &idx) || idx > AT_HPACK_TABLE)
				return -1;
			at_hpack_dec_set_max(d, idx);
			continue;
		}
		fields = 1;
		if (b & 0x80) { /* indexed (6.1) */
			if (get_int(p, n, &i, 7, &idx) || lookup(d, idx, 1, &nl, &vl))
				return -1;
		} else {
			/* literal: with incremental indexing (01, 6-bit index),
			 * without (0000) or never indexed (0001), 4-bit index */
			int add = (b & 0xc0) == 0x40;
			if (get_int(p, n, &i, add ? 6 : 4, &idx))
				return -1;
			long r;
			if (idx) {
				if (lookup(d, idx, 0, &nl, &vl))
					return -1;
			} else if ((r = get_string(p, n, &i, d->name, AT_HPACK_STRING)) < 0) {
				return -1;
			} else {
				nl = (size_t)r;
			}
			if ((r = get_string(p, n, &i, d->value, AT_HPACK_STRING)) < 0)
				return -1;
			vl = (size_t)r;
			if (add)
				insert(d, d->name, nl, d->value, vl);
		}
		if (fn(ctx, d->name, nl, d->value, vl))
			return -1;
	}
	return 0;
}

/* An integer with an N-bit prefix, the first byte's other bits given. */
static size_t put_int(uint8_t *out, size_t cap, int bits, uint8_t high, size_t v)
{
	size_t mask = ((size_t)1 << bits) - 1, o = 0;
	if (!cap)
		return 0;
	if (v < mask) {
		out[o++] = (uint8_t)(high | v);
		return o;
	}
	out[o++] = (uint8_t)(high | mask);
	for (v -= mask; v >= 0x80; v >>= 7) {
		if (o == cap)
			return 0;
		out[o++] = (uint8_t)(v | 0x80);
	}
	if (o == cap)
		return 0;
	out[o++] = (uint8_t)v;
	return o;
}

static size_t put_string(uint8_t *out, size_t cap, const char *s, size_t n)
{
	size_t k = put_int(out, cap, 7, 0, n);
	if (!k || cap - k < n)
		return 0;
	memcpy(out + k, s, n);
	return k + n;
}

size_t at_hpack_put_indexed(uint8_t *out, size_t cap, unsigned index)
{
	return put_int(out, cap, 7, 0x80, index);
}

size_t at_hpack_put_literal(uint8_t *out, size_t cap, unsigned name_index, const char *name,
                            size_t nlen, const char *value, size_t vlen)
{
	size_t o = put_int(out, cap, 4, 0, name_index), k;
	if (!o)
		return 0;
	if (!name_index) {
		if (!(k = put_string(out + o, cap - o, name, nlen)))
			return 0;
		o += k;
	}
	if (!(k = put_string(out + o, cap - o, value, vlen)))
		return 0;
	return o + k;
}
