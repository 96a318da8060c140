/* The head of a CGI program's response (RFC 3875, 6.2-6.3): header lines
 * (Status, Content-Type, Location...) up to a blank line, or a
 * non-parsed-header program's "HTTP/1.1 NNN" status line first. Fed the
 * bytes as the program writes them, in any pieces; never allocates. */
#ifndef AT_CGI_HEAD_H
#define AT_CGI_HEAD_H

#include <stddef.h>

enum { AT_CGI_HEAD_LINE, AT_CGI_HEAD_DONE, AT_CGI_HEAD_BAD };
#define AT_CGI_HEAD_MAX 16384 /* a head longer than this is not one */

struct at_cgi_head {
	int state;  /* AT_CGI_HEAD_*: LINE while more is needed */
	int status; /* DONE: the response's status; 0 when not known (a local
	             * redirect, "Location: /path", which the server serves) */
	int doc, redirect, lines;
	size_t seen;
	unsigned len;
	char line[96]; /* a line's start: enough for its name and a status */
};

void at_cgi_head_init(struct at_cgi_head *h);
/* Returns h->state after the n bytes. */
int at_cgi_head_feed(struct at_cgi_head *h, const char *p, size_t n);

#endif
