/* The I/O hooks' direct system calls (hooks/io_direct.h), exercised by a
 * single-threaded program whose first span starts the exporter thread.
 *   io_direct PORT check    one HTTP GET on plain sockets (the span), then
 *                           read/write/send/recv/sendto/recvfrom, each
 *                           succeeding and failing: results and errno are
 *                           compared with what the calls must give; prints
 *                           "ok N" (N calls checked) or the first mismatch
 *   io_direct PORT cancel   the GET, then a thread of the program's own
 *                           blocks in recv on a traced socket that never
 *                           answers (and another in read on a pipe); both
 *                           are cancelled: prints "cancelled 2", or exits 3
 *                           after 5 s if a cancellation point was lost
 *   io_direct PORT c11      the same with the threads started by C11's
 *                           thrd_create (glibc's does not call
 *                           pthread_create through the PLT)
 *   io_direct PORT writes N the GET, then N writes of one byte to a pipe
 *                           (a preload after the shim counts them) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

static int connect_to(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) {
		perror("connect");
		exit(2);
	}
	return fd;
}

/* one traced request: a CLIENT span, and the exporter thread started */
static void get(int port)
{
	int fd = connect_to(port);
	const char req[] = "GET /direct HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	if (write(fd, req, sizeof req - 1) != (ssize_t)sizeof req - 1) {
		perror("write");
		exit(2);
	}
	char buf[4096];
	while (read(fd, buf, sizeof buf) > 0)
		;
	close(fd);
}

static int checked;

static void expect(const char *what, ssize_t got, ssize_t want, int err)
{
	int e = errno;
	checked++;
	if (got != want || (want < 0 && e != err)) {
		printf("mismatch %s: got %zd errno %d (%s), want %zd errno %d\n", what, got,
		       got < 0 ? e : 0, got < 0 ? strerror(e) : "-", want, want < 0 ? err : 0);
		exit(1);
	}
}

static void check(void)
{
	char buf[64];
	int p[2];
	if (pipe(p))
		exit(2);
	errno = 0;
	expect("write pipe", write(p[1], "abc", 3), 3, 0);
	expect("read pipe", read(p[0], buf, sizeof buf), 3, 0);
	expect("read bad fd", read(-1, buf, 1), -1, EBADF);
	expect("write bad fd", write(12345, "x", 1), -1, EBADF);
	const void *volatile bad = (const void *)8; /* unmapped */
	expect("write bad buffer", write(p[1], bad, 1), -1, EFAULT);
	expect("send on a pipe", send(p[1], "x", 1, 0), -1, ENOTSOCK);
	expect("recv on a pipe", recv(p[0], buf, 1, 0), -1, ENOTSOCK);
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		exit(2);
	expect("send", send(sv[0], "hello", 5, 0), 5, 0);
	expect("recv", recv(sv[1], buf, sizeof buf, 0), 5, 0);
	expect("recv empty, MSG_DONTWAIT", recv(sv[1], buf, 1, MSG_DONTWAIT), -1, EAGAIN);
	int u1 = socket(AF_INET, SOCK_DGRAM, 0), u2 = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET}, b = a, from;
	a.sin_addr.s_addr = b.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t la = sizeof a, lb = sizeof b, lf = sizeof from;
	if (bind(u1, (struct sockaddr *)&a, la) || bind(u2, (struct sockaddr *)&b, lb) ||
	    getsockname(u1, (struct sockaddr *)&a, &la) ||
	    getsockname(u2, (struct sockaddr *)&b, &lb))
		exit(2);
	expect("sendto", sendto(u1, "dgram", 5, 0, (struct sockaddr *)&b, lb), 5, 0);
	memset(&from, 0, sizeof from);
	expect("recvfrom", recvfrom(u2, buf, sizeof buf, 0, (struct sockaddr *)&from, &lf), 5, 0);
	checked++;
	if (lf != sizeof from || from.sin_port != a.sin_port || memcmp(buf, "dgram", 5)) {
		printf("mismatch recvfrom: sender port %d, want %d\n", ntohs(from.sin_port),
		       ntohs(a.sin_port));
		exit(1);
	}
	expect("sendto without an address", sendto(u1, "x", 1, 0, NULL, 0), -1, EDESTADDRREQ);
	errno = 1234;
	expect("write keeps errno", write(p[1], "z", 1), 1, 0);
	checked++;
	if (errno != 1234) {
		printf("mismatch: a successful write changed errno to %d\n", errno);
		exit(1);
	}
	printf("ok %d\n", checked);
}

static void *blocked_recv(void *arg)
{
	char c;
	recv(*(int *)arg, &c, 1, 0); /* the server never answers */
	return NULL;
}

static void *blocked_read(void *arg)
{
	char c;
	read(*(int *)arg, &c, 1); /* nobody writes */
	return NULL;
}

static int c11_recv(void *arg)
{
	blocked_recv(arg);
	return 0;
}

static int c11_read(void *arg)
{
	blocked_read(arg);
	return 0;
}

static void cancel(int port, int c11)
{
	/* a traced connection whose request is sent and never answered: the
	 * bench's server, or any, answers only after a whole request */
	int fd = connect_to(port);
	const char part[] = "GET /never HTTP/1.1\r\nHost: x\r\n"; /* no blank line */
	if (write(fd, part, sizeof part - 1) < 0)
		exit(2);
	int p[2];
	if (pipe(p))
		exit(2);
	alarm(5); /* a lost cancellation point: the join would wait forever */
	pthread_t t1, t2;
	if (c11) { /* glibc: a thrd_t is the thread's pthread_t */
		thrd_t c1, c2;
		if (thrd_create(&c1, c11_recv, &fd) != thrd_success ||
		    thrd_create(&c2, c11_read, &p[0]) != thrd_success)
			exit(2);
		t1 = (pthread_t)c1;
		t2 = (pthread_t)c2;
	} else if (pthread_create(&t1, NULL, blocked_recv, &fd) ||
	           pthread_create(&t2, NULL, blocked_read, &p[0]))
		exit(2);
	usleep(200 * 1000); /* both inside their calls */
	pthread_cancel(t1);
	pthread_cancel(t2);
	void *r1, *r2;
	pthread_join(t1, &r1);
	pthread_join(t2, &r2);
	printf("cancelled %d\n", (r1 == PTHREAD_CANCELED) + (r2 == PTHREAD_CANCELED));
}

static int timer_fd, done_pipe[2];
static pthread_t timer_thread;
static volatile int timer_ready;

static void tell_cancelled(void *arg)
{
	(void)!write(done_pipe[1], "c", 1);
}

static void on_timer(union sigval v)
{
	char c;
	timer_thread = pthread_self();
	timer_ready = 1;
	pthread_cleanup_push(tell_cancelled, NULL);
	recv(timer_fd, &c, 1, 0); /* the server never answers */
	pthread_cleanup_pop(0);
	(void)!write(done_pipe[1], "r", 1);
}

static void timer_cancel(int port)
{
	timer_fd = connect_to(port);
	const char part[] = "GET /never HTTP/1.1\r\nHost: x\r\n";
	if (write(timer_fd, part, sizeof part - 1) < 0 || pipe(done_pipe))
		exit(2);
	alarm(5); /* a lost cancellation point: the read below waits forever */
	struct sigevent ev = {.sigev_notify = SIGEV_THREAD, .sigev_notify_function = on_timer};
	struct itimerspec in = {.it_value = {0, 1000000}};
	timer_t tm;
	if (timer_create(CLOCK_MONOTONIC, &ev, &tm) || timer_settime(tm, 0, &in, NULL))
		exit(2);
	while (!timer_ready)
		usleep(1000);
	usleep(200 * 1000); /* inside its recv */
	pthread_cancel(timer_thread);
	char c = 0;
	if (read(done_pipe[0], &c, 1) != 1)
		exit(2);
	printf("cancelled %d\n", c == 'c');
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGPIPE, SIG_IGN);
	int port = atoi(argv[1]);
	get(port);
	if (!strcmp(argv[2], "check"))
		check();
	else if (!strcmp(argv[2], "cancel") || !strcmp(argv[2], "c11"))
		cancel(port, !strcmp(argv[2], "c11"));
	else if (!strcmp(argv[2], "timer"))
		timer_cancel(port);
	else if (!strcmp(argv[2], "writes") && argc > 3) {
		int p[2];
		if (pipe(p))
			return 2;
		fcntl(p[1], F_SETFL, O_NONBLOCK);
		long n = atol(argv[3]);
		for (long i = 0; i < n; i++) {
			char c;
			if (write(p[1], "w", 1) == 1)
				(void)!read(p[0], &c, 1);
		}
		printf("wrote %ld\n", n);
	}
	return 0;
}
