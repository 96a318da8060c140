/* Start-up and exit cost: runs a command N times, one after the other, and
 * prints the mean wall time per run. With PRELOAD other than "-", only the
 * child gets LD_PRELOAD (the timer itself is never traced).
 *
 *   spawn N PRELOAD|- CMD [ARGS...] */
#define _GNU_SOURCE
#include "bench.h"

#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	long n = atol(argv[1]);
	int ne = 0;
	while (environ[ne])
		ne++;
	char **env = calloc((size_t)ne + 2, sizeof *env);
	int k = 0;
	for (int i = 0; i < ne; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11))
			env[k++] = environ[i];
	char pre[4096];
	if (strcmp(argv[2], "-")) {
		snprintf(pre, sizeof pre, "LD_PRELOAD=%s", argv[2]);
		env[k++] = pre;
	}
	env[k] = NULL;
	double t0 = bench_now();
	for (long i = 0; i < n; i++) {
		pid_t pid;
		int st;
		if (posix_spawn(&pid, argv[3], NULL, NULL, argv + 3, env))
			bench_die("posix_spawn");
		if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			fprintf(stderr, "spawn: %s failed\n", argv[3]);
	}
	bench_report(n, t0, bench_now());
	return 0;
}
