/* HPACK (RFC 7541): the header blocks the exporter's HTTP/2 client writes
 * (literals, never indexed: nothing to keep in step) and reads (a whole
 * decoder: the peer's dynamic table, Huffman strings). Runs only on the
 * exporter thread; no allocation. */
#ifndef AT_HPACK_H
#define AT_HPACK_H

#include <stddef.h>
#include <stdint.h>

#define AT_HPACK_TABLE 4096  /* SETTINGS_HEADER_TABLE_SIZE: the default, which the client keeps */
#define AT_HPACK_STRING 8192 /* the longest name or value decoded; longer is an error */

struct at_hpack_dec {
	size_t max;  /* the table's size limit now (size updates move it, never over AT_HPACK_TABLE) */
	size_t size; /* the entries' size as RFC 7541 4.1 counts it (32 + name + value each) */
	/* the dynamic table, oldest entry first: its names and values end
	 * to end in data */
	size_t n, used;
	struct {
		uint16_t off, nlen, vlen;
	} e[AT_HPACK_TABLE / 32];
	char data[AT_HPACK_TABLE];
	/* the field being reported, NUL-terminated */
	char name[AT_HPACK_STRING + 1], value[AT_HPACK_STRING + 1];
};

void at_hpack_dec_init(struct at_hpack_dec *d);
/* The table's limit (evicting what no longer fits): for tests, as a
 * decoder's SETTINGS_HEADER_TABLE_SIZE would. */
void at_hpack_dec_set_max(struct at_hpack_dec *d, size_t max);

/* Called for each field of a block, in order; name and value are valid
 * during the call only (a NUL follows each). Nonzero stops decoding, and
 * at_hpack_decode returns -1. */
typedef int (*at_hpack_field_fn)(void *ctx, const char *name, size_t nlen, const char *value,
                                 size_t vlen);

/* Decodes one whole header block (a HEADERS frame's fragment with its
 * CONTINUATIONs joined). Returns 0, or -1 when it is malformed (an HTTP/2
 * COMPRESSION_ERROR: the connection is over): an index out of range, an
 * integer over 2^31 or running off the end, a string running off the end
 * or over AT_HPACK_STRING, a bad Huffman string (EOS inside, padding over
 * 7 bits or not all ones), a size update over AT_HPACK_TABLE or after a
 * field. */
int at_hpack_decode(struct at_hpack_dec *d, const uint8_t *p, size_t n, at_hpack_field_fn fn,
                    void *ctx);

/* Encoding into out (cap bytes); each returns the bytes written, 0 when
 * they do not fit. An indexed field of the static table (6.1), e.g. 3
 * for ":method: POST": */
size_t at_hpack_put_indexed(uint8_t *out, size_t cap, unsigned index);
/* A literal field without indexing (6.2.2), raw strings: the name by its
 * static-table index (name_index > 0; name ignored) or given (0). */
size_t at_hpack_put_literal(uint8_t *out, size_t cap, unsigned name_index, const char *name,
                            size_t nlen, const char *value, size_t vlen);

#endif
