/* The head of a CGI program's response (hooks/cgi_head.c): the status a
 * CGI span reports, from the bytes the program writes, in any pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "../../hooks/cgi_head.h"

/* Fed whole, then byte by byte: the same state and status both ways. */
static int status_of(const char *text, size_t n, int *state)
{
	struct at_cgi_head a, b;
	at_cgi_head_init(&a);
	at_cgi_head_init(&b);
	at_cgi_head_feed(&a, text, n);
	for (size_t i = 0; i < n; i++)
		at_cgi_head_feed(&b, text + i, 1);
	assert_int_equal(a.state, b.state);
	assert_int_equal(a.status, b.status);
	*state = a.state;
	return a.status;
}

#define STATUS(lit, st) status_of(lit, sizeof lit - 1, st)

static void a_document_is_200(void **unused)
{
	(void)unused;
	int st;
	assert_int_equal(STATUS("Content-Type: text/html\r\n\r\n<html>", &st), 200);
	assert_int_equal(st, AT_CGI_HEAD_DONE);
	assert_int_equal(STATUS("Content-type: text/plain\n\nLF only", &st), 200);
	assert_int_equal(st, AT_CGI_HEAD_DONE);
}

static void the_status_line_wins(void **unused)
{
	(void)unused;
	int st;
	assert_int_equal(STATUS("Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n", &st),
	                 404);
	assert_int_equal(STATUS("Content-Type: text/plain\r\nSTATUS: 418\r\n\r\n", &st), 418);
	assert_int_equal(STATUS("Status: 301 Moved\r\nLocation: http://x/\r\n\r\n", &st), 301);
	assert_int_equal(st, AT_CGI_HEAD_DONE);
}

static void redirects(void **unused)
{
	(void)unused;
	int st;
	/* a client redirect */
	assert_int_equal(STATUS("Location: https://elsewhere.example/a\r\n\r\n", &st), 302);
	assert_int_equal(st, AT_CGI_HEAD_DONE);
	/* a local one: the server answers with another resource, status unknown */
	assert_int_equal(STATUS("Location: /other/page\r\n\r\n", &st), 0);
	assert_int_equal(st, AT_CGI_HEAD_BAD);
}

static void a_non_parsed_header_status_line(void **unused)
{
	(void)unused;
	int st;
	assert_int_equal(STATUS("HTTP/1.1 503 Service Unavailable\r\nContent-Type: x\r\n\r\n", &st),
	                 503);
	assert_int_equal(st, AT_CGI_HEAD_DONE);
	assert_int_equal(STATUS("HTTP/1.1 OK\r\n\r\n", &st), 0);
	assert_int_equal(st, AT_CGI_HEAD_BAD);
}

static void what_is_not_a_head(void **unused)
{
	(void)unused;
	int st;
	const char *bad[] = {
	    "hello world\n",                      /* no name */
	    "\r\nContent-Type: x\r\n\r\n",        /* blank first */
	    "Status: abc\r\n\r\n",                /* not a code */
	    "Status: 20\r\n\r\n",                 /* two digits */
	    "Status: 2000\r\n\r\n",               /* four */
	    "Status: 099 Low\r\n\r\n",            /* below 100 */
	    ": no name\r\n\r\n",                  /* empty name */
	    "X-Other: 1\r\n\r\n",                 /* neither status nor document */
	    "Conte nt-Type: x\r\n\r\n",           /* a space in the name */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(status_of(bad[i], strlen(bad[i]), &st), 0);
		assert_int_equal(st, AT_CGI_HEAD_BAD);
	}
	/* a NUL inside a name */
	static const char nul[] = "Sta\0tus: 200\r\nContent-Type: x\r\n\r\n";
	status_of(nul, sizeof nul - 1, &st);
	assert_int_equal(st, AT_CGI_HEAD_BAD);
}

static void long_lines_and_long_heads(void **unused)
{
	(void)unused;
	char buf[AT_CGI_HEAD_MAX + 64];
	int n = snprintf(buf, sizeof buf, "Set-Cookie: %0500d\r\nStatus: 201 Created\r\n\r\n", 7);
	int st;
	assert_int_equal(status_of(buf, (size_t)n, &st), 201);
	assert_int_equal(st, AT_CGI_HEAD_DONE);
	/* a head that never ends within the bound */
	size_t used = 0;
	while (used + 8 < AT_CGI_HEAD_MAX + 32) {
		memcpy(buf + used, "X-A: b\r\n", 8);
		used += 8;
	}
	assert_int_equal(status_of(buf, used, &st), 0);
	assert_int_equal(st, AT_CGI_HEAD_BAD);
	/* still waiting: no blank line yet */
	struct at_cgi_head h;
	at_cgi_head_init(&h);
	assert_int_equal(at_cgi_head_feed(&h, "Status: 200\r\n", 13), AT_CGI_HEAD_LINE);
}

static void the_body_changes_nothing(void **unused)
{
	(void)unused;
	int st;
	assert_int_equal(STATUS("Content-Type: text/plain\r\n\r\nStatus: 500\r\n\r\n", &st), 200);
	assert_int_equal(st, AT_CGI_HEAD_DONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(a_document_is_200),
	    cmocka_unit_test(the_status_line_wins),
	    cmocka_unit_test(redirects),
	    cmocka_unit_test(a_non_parsed_header_status_line),
	    cmocka_unit_test(what_is_not_a_head),
	    cmocka_unit_test(long_lines_and_long_heads),
	    cmocka_unit_test(the_body_changes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
