/* write/read pairs on a descriptor that is not traced:
 *   loop_fd N file PATH   a regular file (rewritten in place)
 *   loop_fd N unix        an AF_UNIX socketpair (an untraced socket)
 * One iteration is one write and one read. Or stdio's writing calls:
 *   loop_fd N stdio PATH  fputs, putc, fwrite, fprintf to a stream on PATH
 *                         (/dev/null), one of each per iteration
 * or its reading calls:
 *   loop_fd N stdio_read PATH  fgets (31 bytes), getc, fread (64 bytes) from
 *                         a stream on PATH (/dev/zero: it never ends), one
 *                         of each per iteration
 * or dprintf:
 *   loop_fd N dprintf PATH  one dprintf of a number and a newline to PATH
 *                         (/dev/null) per iteration */
#define _GNU_SOURCE
#include "bench.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int wfd, rfd, is_file;
static char buf[64];

static NOINLINE void op(void)
{
	if (is_file) /* rewrite the same 64 bytes: the file never grows */
		lseek(wfd, 0, SEEK_SET);
	if (write(wfd, buf, sizeof buf) != (ssize_t)sizeof buf)
		bench_die("write");
	if (is_file)
		lseek(rfd, 0, SEEK_SET);
	if (read(rfd, buf, sizeof buf) != (ssize_t)sizeof buf)
		bench_die("read");
}

static FILE *out;

static NOINLINE void op_stdio(long i)
{
	if (fputs("a line of text\n", out) == EOF || putc('x', out) == EOF ||
	    fwrite(buf, 1, sizeof buf, out) != sizeof buf || fprintf(out, "%ld\n", i) < 0)
		bench_die("stdio");
}

static FILE *in;
static int dfd = -1;

static NOINLINE void op_dprintf(long i)
{
	if (dprintf(dfd, "%ld\n", i) < 2)
		bench_die("dprintf");
}

static NOINLINE void op_stdio_read(void)
{
	char line[32];
	if (!fgets(line, sizeof line, in) || getc(in) == EOF ||
	    fread(buf, 1, sizeof buf, in) != sizeof buf)
		bench_die("stdio_read");
}

/* n iterations of the mode's operation */
static inline void iterate(long n)
{
	if (dfd >= 0)
		for (long i = 0; i < n; i++)
			op_dprintf(i);
	else if (in)
		for (long i = 0; i < n; i++)
			op_stdio_read();
	else if (out)
		for (long i = 0; i < n; i++)
			op_stdio(i);
	else
		for (long i = 0; i < n; i++)
			op();
}

/* the measured iterations (callgrind collects inside this one only) */
NOINLINE void bench_loop(long n)
{
	iterate(n);
}

int main(int argc, char **argv)
{
	long n = bench_arg(argc, argv, 1, 100000);
	memset(buf, 'x', sizeof buf);
	const char *mode = argc > 2 ? argv[2] : "", *path = argc > 3 ? argv[3] : NULL;
	if (path && !strcmp(mode, "stdio")) {
		if (!(out = fopen(path, "w")))
			bench_die(path);
	} else if (path && !strcmp(mode, "dprintf")) {
		if ((dfd = open(path, O_WRONLY)) < 0)
			bench_die(path);
	} else if (path && !strcmp(mode, "stdio_read")) {
		if (!(in = fopen(path, "r")))
			bench_die(path);
	} else if (path && !strcmp(mode, "file")) {
		is_file = 1;
		wfd = rfd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (wfd < 0)
			bench_die(path);
	} else {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			bench_die("socketpair");
		wfd = sv[0];
		rfd = sv[1];
	}
	iterate(1000); /* warm-up */
	double t0 = bench_begin();
	bench_loop(n);
	bench_report(n, t0, bench_now());
	return 0;
}
