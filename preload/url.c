#define _GNU_SOURCE
#include "url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int at_url_parse(const char *s, struct at_url *u)
{
	memset(u, 0, sizeof *u);
	const char *p = strstr(s, "://");
	if (!p || p - s >= (long)sizeof u->scheme || p == s)
		return -1;
	for (size_t i = 0; i < (size_t)(p - s); i++)
		u->scheme[i] = (char)(s[i] | 0x20);
	if (strcmp(u->scheme, "http") && strcmp(u->scheme, "https"))
		return -1;
	const char *auth = p + 3;
	size_t alen = strcspn(auth, "/?#");
	const char *at = memchr(auth, '@', alen);
	if (at) {
		u->has_userinfo = 1;
		alen -= (size_t)(at + 1 - auth);
		auth = at + 1;
	}
	const char *hend = auth + alen;
	const char *port = NULL;
	if (*auth == '[') {
		const char *rb = memchr(auth, ']', alen);
		if (!rb)
			return -1;
		if ((size_t)(rb - auth - 1) >= sizeof u->host)
			return -1;
		memcpy(u->host, auth + 1, (size_t)(rb - auth - 1));
		if (rb + 1 < hend && rb[1] == ':')
			port = rb + 2;
	} else {
		const char *colon = memchr(auth, ':', alen);
		size_t hl = colon ? (size_t)(colon - auth) : alen;
		if (hl == 0 || hl >= sizeof u->host)
			return -1;
		memcpy(u->host, auth, hl);
		if (colon)
			port = colon + 1;
	}
	u->port = strcmp(u->scheme, "https") ? 80 : 443;
	if (port && port < hend) {
		char *end;
		long v = strtol(port, &end, 10);
		if (end != hend || v <= 0 || v > 65535)
			return -1;
		u->port = (int)v;
		u->has_port = 1;
	}
	u->path = *hend ? hend : "/";
	return 0;
}

size_t at_url_redact(const char *s, char *out, size_t outlen)
{
	const char *p = strstr(s, "://");
	size_t n;
	if (p) {
		const char *auth = p + 3;
		size_t alen = strcspn(auth, "/?#");
		const char *at = memchr(auth, '@', alen);
		if (at) {
			n = (size_t)snprintf(out, outlen, "%.*sREDACTED:REDACTED@%s", (int)(auth - s),
					     s, at + 1);
			return n < outlen ? n : outlen - 1;
		}
	}
	n = (size_t)snprintf(out, outlen, "%s", s);
	return n < outlen ? n : outlen - 1;
}

const unsigned char at_url_authority_class[256] = {
    [0] = 3, ['/'] = 3, ['?'] = 3, ['#'] = 3, ['@'] = 1, ['['] = 1, [']'] = 1, [':'] = 2};

int at_url_split_plain(const char *s, const char **host, size_t *host_len, int *port)
{
	/* byte by byte: a shorter string ends at its NUL, never read past */
	if (s[0] != 'h' || s[1] != 't' || s[2] != 't' || s[3] != 'p')
		return 0;
	int def = 80;
	s += 4;
	if (*s == 's') {
		def = 443;
		s++;
	}
	if (s[0] != ':' || s[1] != '/' || s[2] != '/')
		return 0;
	s += 3;
	if (at_url_plain_authority(s, (size_t)-1, def, host_len, port) < 0)
		return 0;
	*host = s;
	return 1;
}
