/* A test-only interposer of dlopen, preloaded beside libautotrace.so: it
 * stands in for a machine that lacks a library, or loads it slowly, which
 * the shim's lazy loads (preload/unwinder.c, reporter/gzip.c, both through
 * at_load_library) must survive.
 *   AT_TEST_DLOPEN_FAIL=libunwind.so.8,libz.so.1   these sonames fail, as if
 *                                                 not installed
 *   AT_TEST_DLOPEN_DELAY=libunwind.so.8:800        this soname loads 800 ms
 *                                                 late, in the process that
 *                                                 was started only (not in a
 *                                                 forked child)
 * Every soname it fails or delays is reported on stderr, so that a test
 * can tell that the fault was really injected. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pid_t first_pid;

__attribute__((constructor)) static void note_pid(void)
{
	first_pid = getpid();
}

/* Whether name is one of the comma-separated entries of list (an entry
 * may end with ":N"); *arg gets N. */
static int listed(const char *list, const char *name, long *arg)
{
	size_t n = strlen(name);
	for (const char *p = list; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len >= n && !strncmp(p, name, n) && (len == n || p[n] == ':')) {
			*arg = len > n ? atol(p + n + 1) : 0;
			return 1;
		}
		p = end ? end + 1 : NULL;
	}
	return 0;
}

void *dlopen(const char *file, int flags)
{
	static void *(*real)(const char *, int);
	if (!real)
		real = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
	long ms = 0;
	if (file && listed(getenv("AT_TEST_DLOPEN_FAIL"), file, &ms)) {
		fprintf(stderr, "dlopen_fault: %s fails\n", file);
		errno = ENOENT;
		return NULL;
	}
	if (file && getpid() == first_pid && listed(getenv("AT_TEST_DLOPEN_DELAY"), file, &ms)) {
		fprintf(stderr, "dlopen_fault: %s delayed %ld ms\n", file, ms);
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
	return real(file, flags);
}
