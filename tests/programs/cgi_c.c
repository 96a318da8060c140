/* A CGI program in C, for tests/integration/test_cgi.py: what it does is
 * chosen by its QUERY_STRING, as a web server passes it.
 *   printf  the head and body through stdio, left to exit to write
 *   fflush  the head through stdio and fflush, then 8 KiB of body
 *   write   the head through write(2): a 503
 *   quit    the head through stdio, then _exit: nothing is written
 *   crash   the head, fflush, then a SIGSEGV
 *   child   the head, then a fork child execs argv-less "curl URL" (URL in
 *           the CHILD_URL variable) and is waited for */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	const char *q = getenv("QUERY_STRING");
	q = q ? q : "";
	if (!strcmp(q, "write")) {
		const char h[] = "Status: 503 Busy\r\nContent-Type: text/plain\r\n\r\nbusy\n";
		return write(1, h, sizeof h - 1) == (ssize_t)(sizeof h - 1) ? 0 : 1;
	}
	printf("Status: 418 Teapot\r\nContent-Type: text/plain\r\n\r\n");
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
	if (!strcmp(q, "fflush"))
		for (int i = 0; i < 128; i++)
			printf("%063d\n", i);
	printf("short and stout\n");
	return 0;
}
