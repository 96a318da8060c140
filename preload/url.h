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

#endif
