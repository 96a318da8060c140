#ifndef AT_HEX_H
#define AT_HEX_H

/* A hexadecimal digit's value, either case, else -1 (an HTTP chunk size,
 * a percent-encoded byte). W3C trace ids take lowercase only: not this
 * (at_hexval_lower). */
static inline int at_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Lowercase only, else -1: W3C trace ids, Rust symbols' hashes. */
static inline int at_hexval_lower(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

#endif
