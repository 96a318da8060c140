/* The head of a CGI program's response (cgi_head.h). */
#include "cgi_head.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static int token_char(unsigned char c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* "NNN" then the end or a space: the code, else 0 */
static int status_code(const char *v, size_t n)
{
	if (n < 3 || !isdigit((unsigned char)v[0]) || !isdigit((unsigned char)v[1]) ||
	    !isdigit((unsigned char)v[2]) || (n > 3 && v[3] != ' '))
		return 0;
	int code = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
	return code >= 100 ? code : 0;
}

static int name_is(const char *l, size_t nl, const char *name)
{
	return nl == strlen(name) && !strncasecmp(l, name, nl);
}

static void end_line(struct at_cgi_head *h)
{
	size_t n = h->len < sizeof h->line ? h->len : sizeof h->line;
	const char *l = h->line;
	if (n && n == h->len && l[n - 1] == '\r')
		n--;
	h->len = 0;
	if (!n && h->lines) { /* the blank line: the head is over */
		if (!h->status && h->doc)
			h->status = 200;
		else if (!h->status && h->redirect)
			h->status = 302; /* a client redirect (an absolute Location) */
		/* a head with neither status nor document: a local redirect, kept
		 * unknown, or no CGI head at all */
		h->state = h->status || h->doc ? AT_CGI_HEAD_DONE : AT_CGI_HEAD_BAD;
		return;
	}
	if (!h->lines++ && n >= 5 && !memcmp(l, "HTTP/", 5)) {
		/* a non-parsed-header program's status line: "HTTP/1.1 200 OK" */
		const char *sp = memchr(l, ' ', n);
		if (!sp || !(h->status = status_code(sp + 1, n - (size_t)(sp + 1 - l))))
			h->state = AT_CGI_HEAD_BAD;
		return;
	}
	size_t nl = 0;
	while (nl < n && token_char((unsigned char)l[nl]))
		nl++;
	if (!nl || nl >= n || l[nl] != ':') {
		h->state = AT_CGI_HEAD_BAD; /* not a header line: not a head */
		return;
	}
	const char *v = l + nl + 1;
	size_t vl = n - nl - 1;
	while (vl && (*v == ' ' || *v == '\t'))
		v++, vl--;
	if (name_is(l, nl, "status")) {
		if (!(h->status = status_code(v, vl)))
			h->state = AT_CGI_HEAD_BAD;
	} else if (name_is(l, nl, "content-type")) {
		h->doc = 1;
	} else if (name_is(l, nl, "location")) {
		/* "/path": the server answers with that resource instead (a local
		 * redirect; its status is not known here) */
		h->redirect = vl && v[0] != '/';
	}
}

void at_cgi_head_init(struct at_cgi_head *h)
{
	memset(h, 0, sizeof *h);
	h->state = AT_CGI_HEAD_LINE;
}

int at_cgi_head_feed(struct at_cgi_head *h, const char *p, size_t n)
{
	for (size_t i = 0; i < n && h->state == AT_CGI_HEAD_LINE; i++) {
		if (++h->seen > AT_CGI_HEAD_MAX) {
			h->state = AT_CGI_HEAD_BAD;
			break;
		}
		if (p[i] == '\n')
			end_line(h);
		else if (h->len++ < sizeof h->line)
			h->line[h->len - 1] = p[i];
	}
	return h->state;
}
