#ifndef AT_UTF8_H
#define AT_UTF8_H

#include <stddef.h>

/* Length of s[0..len) cut to at most max bytes, never inside a UTF-8
 * sequence (so a cut value stays valid text). */
static inline size_t at_utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

#endif
