/* A CGI program in C, for tests/integration/test_cgi.py: what it does is
 * chosen by its QUERY_STRING, as a web server passes it.
 *   printf  the head and body through stdio, left to exit to write
 *   fflush  the head through stdio and fflush, then 8 KiB of body
 *   big     the same with no fflush: stdio writes the head by itself, when
 *           the body fills its buffer
 *   linebuf stdout line-buffered (as bash's is): stdio writes each line
 *   unbuf   stdout unbuffered: stdio writes each call's bytes
 *   putc    head and body a character at a time with the inline
 *           putchar_unlocked, which calls __overflow when the buffer fills
 *   fwrite  head and body each one fwrite: the body goes out directly
 *   errno   unbuffered, then a line printf'ed with %m (errno ERANGE)
 *   unlocked head and a line with fputs_unlocked under flockfile, then
 *           fflush_unlocked and _exit
 *   write   the head through write(2): a 503
 *   dprintf the head and a body through dprintf(1, ...): a 502 (not
 *           through stdio's stdout; libc writes each call's bytes itself)
 *   quit    the head through stdio, then _exit: nothing is written
 *   crash   the head, fflush, then a SIGSEGV
 *   child   the head, then a fork child execs argv-less "curl URL" (URL in
 *           the CHILD_URL variable) and is waited for
 * Each stdio call's result is checked: a wrong one ends the program with
 * _exit(3), its output dropped. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void check(long got, long want)
{
	if (got != want) {
		fprintf(stderr, "cgi_c: a stdio call returned %ld, not %ld\n", got, want);
		_exit(3);
	}
}

static const char *const long_body[] = {"fflush", "big", "linebuf", "unbuf", "putc", NULL};

static int is_one_of(const char *q, const char *const *modes)
{
	for (; *modes; modes++)
		if (!strcmp(q, *modes))
			return 1;
	return 0;
}

int main(void)
{
	const char *q = getenv("QUERY_STRING");
	q = q ? q : "";
	if (!strcmp(q, "write")) {
		const char h[] = "Status: 503 Busy\r\nContent-Type: text/plain\r\n\r\nbusy\n";
		return write(1, h, sizeof h - 1) == (ssize_t)(sizeof h - 1) ? 0 : 1;
	}
	if (!strcmp(q, "dprintf")) {
		check(dprintf(1, "Status: %d Bad\r\nContent-Type: text/plain\r\n\r\n", 502), 45);
		check(dprintf(1, "%s\n", "bad gateway"), 12);
		return 0;
	}
	static const char head[] = "Status: 418 Teapot\r\nContent-Type: text/plain\r\n\r\n";
	int chars = !strcmp(q, "putc");
	if (!strcmp(q, "linebuf"))
		setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(q, "unbuf") || !strcmp(q, "errno"))
		setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(q, "unlocked")) {
		flockfile(stdout);
		check(fputs_unlocked(head, stdout) >= 0, 1);
		check(fputs_unlocked("unlocked\n", stdout) >= 0, 1);
		check(fflush_unlocked(stdout), 0);
		funlockfile(stdout);
		_exit(0);
	}
	if (chars) {
		for (const char *c = head; *c; c++)
			check(putchar_unlocked(*c), (unsigned char)*c);
	} else if (!strcmp(q, "fwrite")) {
		check((long)fwrite(head, 1, sizeof head - 1, stdout), sizeof head - 1);
	} else {
		check(printf("%s", head), sizeof head - 1);
	}
	if (!strcmp(q, "quit"))
		_exit(0);
	if (!strcmp(q, "fflush") || !strcmp(q, "crash") || !strcmp(q, "child"))
		fflush(stdout);
	if (!strcmp(q, "crash"))
		raise(SIGSEGV);
	if (!strcmp(q, "child")) {
		pid_t p = fork();
		if (p == 0) {
			const char *url = getenv("CHILD_URL");
			execlp("curl", "curl", "-s", "-o", "/dev/null", url ? url : "", (char *)NULL);
			_exit(127);
		}
		int st;
		waitpid(p, &st, 0);
	}
	if (!strcmp(q, "errno")) {
		errno = ERANGE;
		check(printf("%m\n"), (long)strlen(strerror(ERANGE)) + 1);
	}
	if (!strcmp(q, "fwrite")) {
		static char body[128 * 64];
		for (int i = 0; i < 128; i++)
			snprintf(body + 64 * i, 65, "%063d\n", i);
		check((long)fwrite(body, 1, sizeof body, stdout), sizeof body);
	} else if (is_one_of(q, long_body)) {
		for (int i = 0; i < 128; i++) {
			char line[65];
			snprintf(line, sizeof line, "%063d\n", i);
			if (chars)
				for (const char *c = line; *c; c++)
					check(putchar_unlocked(*c), (unsigned char)*c);
			else
				check(printf("%s", line), 64);
		}
	}
	check(printf("short and stout\n"), 16);
	return 0;
}
