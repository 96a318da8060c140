/* A test-only library preloaded before libautotrace.so: its constructor
 * runs before the shim has looked up libc's functions, and its first
 * hooked call is the one EARLY_IO names (write, send, sendto, sendmsg,
 * writev, read, recv, recvfrom, recvmsg, readv, __read_chk, __recv_chk,
 * __recvfrom_chk), on a socketpair made with system calls, so that it is the
 * hook's very first call. It prints "early NAME R DATA" (the call's result,
 * the bytes that came across) with a system call, or "early NAME bad". */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

ssize_t __read_chk(int, void *, size_t, size_t);
ssize_t __recv_chk(int, void *, size_t, size_t, int);
ssize_t __recvfrom_chk(int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *);

static ssize_t first_out(const char *name, int fd)
{
	struct iovec v = {"hello", 5};
	struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
	if (!strcmp(name, "write"))
		return write(fd, "hello", 5);
	if (!strcmp(name, "send"))
		return send(fd, "hello", 5, 0);
	if (!strcmp(name, "sendto"))
		return sendto(fd, "hello", 5, 0, NULL, 0);
	if (!strcmp(name, "sendmsg"))
		return sendmsg(fd, &m, 0);
	if (!strcmp(name, "writev"))
		return writev(fd, &v, 1);
	return -2;
}

static ssize_t first_in(const char *name, int fd, char *b, size_t n)
{
	struct iovec v = {b, n};
	struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
	if (!strcmp(name, "read"))
		return read(fd, b, n);
	if (!strcmp(name, "recv"))
		return recv(fd, b, n, 0);
	if (!strcmp(name, "recvfrom"))
		return recvfrom(fd, b, n, 0, NULL, NULL);
	if (!strcmp(name, "recvmsg"))
		return recvmsg(fd, &m, 0);
	if (!strcmp(name, "readv"))
		return readv(fd, &v, 1);
	if (!strcmp(name, "__read_chk"))
		return __read_chk(fd, b, n, n);
	if (!strcmp(name, "__recv_chk"))
		return __recv_chk(fd, b, n, n, 0);
	if (!strcmp(name, "__recvfrom_chk"))
		return __recvfrom_chk(fd, b, n, n, 0, NULL, NULL);
	return -2;
}

__attribute__((constructor)) static void early(void)
{
	const char *name = getenv("EARLY_IO");
	int sv[2];
	char b[16] = "";
	if (!name || syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, sv))
		return;
	ssize_t r = first_out(name, sv[0]);
	if (r == -2) { /* a reading call: the bytes are sent first */
		if (syscall(SYS_sendto, sv[0], "hello", 5, 0, NULL, 0) != 5)
			return;
		r = first_in(name, sv[1], b, sizeof b - 1);
	} else if (syscall(SYS_recvfrom, sv[1], b, sizeof b - 1, 0, NULL, NULL) != r) {
		r = -3;
	} else {
		memcpy(b, "hello", 5);
	}
	char line[64];
	int n = r == 5 ? snprintf(line, sizeof line, "early %s %zd %.5s\n", name, r, b)
	               : snprintf(line, sizeof line, "early %s bad %zd\n", name, r);
	syscall(SYS_write, 2, line, (size_t)n);
	syscall(SYS_close, sv[0]);
	syscall(SYS_close, sv[1]);
}
