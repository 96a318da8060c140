/* Splitting http URLs: for the exporter's endpoint and spans' url.full. */
#ifndef AT_URL_H
#define AT_URL_H

#include <stddef.h>

struct at_url {
	char scheme[8];
	char host[256];
	int port;     /* the scheme's default when absent */
	int has_port;
	const char *path; /* into the parsed string; "/" if absent */
	int has_userinfo;
};

/* Returns 0 on success, -1 if s is not an absolute http(s) URL. */
int at_url_parse(const char *s, struct at_url *u);
/* Copies s into out with any userinfo replaced by REDACTED:REDACTED. */
size_t at_url_redact(const char *s, char *out, size_t outlen);

/* What a character is to a plain authority: 0 part of the name or port,
 * 1 not plain (userinfo, an IPv6 literal), 2 the port's ':', 3 the end
 * (a path, a query, a fragment, the string's NUL). */
extern const unsigned char at_url_authority_class[256];

/* The plain authority at s ("name" or "name:port": no userinfo, no IPv6
 * literal), at most max bytes, up to its end (class 3): its length, the
 * name's and the port (def when absent); -1 when it is not plain, and then
 * at_url_parse says what it is. One pass, the port's digits without strtol
 * (whose call alone cost ~200 instructions), inline: a hook's span takes
 * its server.address and server.port from here on every request. */
static inline long at_url_plain_authority(const char *s, size_t max, int def, size_t *name_len,
                                          int *port)
{
	size_t i = 0, colon = 0; /* colon: its offset + 1 */
	for (; i < max; i++) {
		unsigned k = at_url_authority_class[(unsigned char)s[i]];
		if (__builtin_expect(!k, 1))
			continue;
		if (k == 3)
			break;
		if (k == 1 || colon)
			return -1;
		colon = i + 1;
	}
	size_t name = colon ? colon - 1 : i;
	if (!name || name >= sizeof((struct at_url *)0)->host)
		return -1;
	int p = def;
	if (colon && colon < i) {
		if (i - colon > 5)
			return -1;
		p = 0;
		for (size_t j = colon; j < i; j++) {
			unsigned d = (unsigned)(unsigned char)s[j] - '0';
			if (d > 9)
				return -1;
			p = p * 10 + (int)d;
		}
		if (p <= 0 || p > 65535)
			return -1;
	}
	*name_len = name;
	*port = p;
	return (long)i;
}

/* A Host header's value (len bytes, not NUL-terminated) that is all a
 * plain authority: an end inside (a '/') is not plain. */
static inline int at_url_host_plain(const char *host, size_t len, int def, size_t *name_len,
                                    int *port)
{
	return at_url_plain_authority(host, len, def, name_len, port) == (long)len;
}

/* An absolute URL "http://" or "https://" (lower case) with a plain
 * authority (at_url_plain_authority) and nothing after it but a path, query or
 * fragment: the host as a slice of s (no copy) and the port. Returns 0 when
 * s is not that plain; then at_url_parse and at_url_redact. What they make
 * of such a URL: url.full is s itself (no userinfo to redact), the host and
 * port the same. */
int at_url_split_plain(const char *s, const char **host, size_t *host_len, int *port);

#endif
