/* A test-only interposer, preloaded after libautotrace.so (so that the
 * shim's "real" write is this one): a write or writev on a socket returns
 * only AT_TEST_LATE_RETURN_MS milliseconds after its bytes went out. It
 * stands in for a server thread that is preempted the moment its response
 * leaves, while the client goes on. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static void late(int fd, ssize_t r)
{
	const char *ms = getenv("AT_TEST_LATE_RETURN_MS");
	struct stat st;
	if (r <= 0 || !ms || fstat(fd, &st) || !S_ISSOCK(st.st_mode))
		return;
	long v = atol(ms);
	struct timespec ts = {v / 1000, (v % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

ssize_t write(int fd, const void *buf, size_t n)
{
	static ssize_t (*real)(int, const void *, size_t);
	if (!real)
		real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	ssize_t r = real(fd, buf, n);
	int e = errno;
	late(fd, r);
	errno = e;
	return r;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	static ssize_t (*real)(int, const struct iovec *, int);
	if (!real)
		real = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
	ssize_t r = real(fd, iov, cnt);
	int e = errno;
	late(fd, r);
	errno = e;
	return r;
}
