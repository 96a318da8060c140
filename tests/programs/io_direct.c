/* The I/O hooks' direct system calls (hooks/io_direct.h), exercised by a
 * single-threaded program whose first span starts the exporter thread.
 *   io_direct PORT check    one HTTP GET on plain sockets (the span), then
 *                           read/write/send/recv/sendto/recvfrom/sendmsg/
 *                           poll/__poll_chk/connect/accept/accept4/close,
 *                           each succeeding and failing:
 *                           results and errno are compared with what the
 *                           calls must give; prints "ok N" (N calls
 *                           checked) or the first mismatch
 *   io_direct PORT cancel   the GET, then a thread of the program's own
 *                           blocks in recv on a traced socket that never
 *                           answers (another in read on a pipe, a third in
 *                           poll, a fourth in accept); all are cancelled:
 *                           prints "cancelled 4",
 *                           or exits 142 after 5 s if a cancellation point
 *                           was lost
 *   io_direct PORT c11      the same with the threads started by C11's
 *                           thrd_create (glibc's does not call
 *                           pthread_create through the PLT)
 *   io_direct PORT timer    the GET, then a SIGEV_THREAD timer's thread
 *                           (glibc starts it, no hook sees it) blocks in
 *                           recv and is cancelled: prints "cancelled 1"
 *   io_direct PORT timer_poll  the same, blocked in poll
 *   io_direct PORT writes N the GET, then N rounds of a one-byte write to
 *                           a pipe, a poll and a read (a preload after the
 *                           shim counts them) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
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

/* _FORTIFY_SOURCE's poll, called by name */
extern int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);

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

/* a result that is a new fd */
static int expect_fd(const char *what, int got)
{
	int e = errno;
	checked++;
	if (got < 0) {
		printf("mismatch %s: got %d errno %d (%s), want an fd\n", what, got, e,
		       strerror(e));
		exit(1);
	}
	return got;
}

/* a TCP socket listening on 127.0.0.1, its address in *a */
static int listener(struct sockaddr_in *a)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	socklen_t la = sizeof *a;
	memset(a, 0, sizeof *a);
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)a, la) || listen(l, 8) ||
	    getsockname(l, (struct sockaddr *)a, &la))
		exit(2);
	return l;
}

static void check_connections(void)
{
	struct sockaddr_in a, peer, local;
	int l = listener(&a);
	int t = socket(AF_INET, SOCK_STREAM, 0);
	expect("accept on a socket not listening", accept(t, NULL, NULL), -1, EINVAL);
	expect("connect bad fd", connect(-1, (struct sockaddr *)&a, sizeof a), -1, EBADF);
	fcntl(l, F_SETFL, O_NONBLOCK);
	expect("accept, none pending", accept(l, NULL, NULL), -1, EAGAIN);
	expect("connect", connect(t, (struct sockaddr *)&a, sizeof a), 0, 0);
	expect("connect again", connect(t, (struct sockaddr *)&a, sizeof a), -1, EISCONN);
	socklen_t pl = sizeof peer, ll = sizeof local;
	memset(&peer, 0, sizeof peer);
	int s = expect_fd("accept4", accept4(l, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC));
	checked++;
	if (getsockname(t, (struct sockaddr *)&local, &ll) || pl != sizeof peer ||
	    peer.sin_port != local.sin_port || !(fcntl(s, F_GETFD) & FD_CLOEXEC)) {
		printf("mismatch accept4: peer port %d, want %d; cloexec %d\n",
		       ntohs(peer.sin_port), ntohs(local.sin_port), fcntl(s, F_GETFD) & FD_CLOEXEC);
		exit(1);
	}
	int t2 = socket(AF_INET, SOCK_STREAM, 0);
	expect("connect a second", connect(t2, (struct sockaddr *)&a, sizeof a), 0, 0);
	int s2 = expect_fd("accept", accept(l, NULL, NULL));
	expect("close", close(s2), 0, 0);
	expect("close again", close(s2), -1, EBADF);
	expect("close", close(l), 0, 0); /* the port is free now */
	int t3 = socket(AF_INET, SOCK_STREAM, 0);
	expect("connect to a closed port", connect(t3, (struct sockaddr *)&a, sizeof a), -1,
	       ECONNREFUSED);
	close(t);
	close(t2);
	close(t3);
	close(s);
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
	struct iovec iov[2] = {{"hel", 3}, {"lo", 2}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
	expect("sendmsg", sendmsg(sv[0], &mh, 0), 5, 0);
	expect("recv after sendmsg", recv(sv[1], buf, sizeof buf, 0), 5, 0);
	expect("sendmsg on a pipe", sendmsg(p[1], &mh, 0), -1, ENOTSOCK);
	expect("sendmsg bad fd", sendmsg(-1, &mh, 0), -1, EBADF);
	struct msghdr bad_iov = {.msg_iov = (struct iovec *)bad, .msg_iovlen = 1};
	expect("sendmsg bad iovec", sendmsg(sv[0], &bad_iov, 0), -1, EFAULT);
	struct pollfd pf[2] = {{.fd = p[0], .events = POLLIN}, {.fd = -1, .events = POLLIN}};
	expect("poll, nothing ready", poll(pf, 2, 0), 0, 0);
	expect("write before poll", write(p[1], "q", 1), 1, 0);
	pf[0].revents = pf[1].revents = -1;
	expect("poll, one ready", poll(pf, 2, 1000), 1, 0);
	checked++;
	if (pf[0].revents != POLLIN || pf[1].revents != 0) {
		printf("mismatch poll revents: %#x %#x\n", pf[0].revents, pf[1].revents);
		exit(1);
	}
	expect("__poll_chk, one ready", __poll_chk(pf, 1, 0, sizeof pf), 1, 0);
	expect("read after poll", read(p[0], buf, sizeof buf), 1, 0);
	expect("poll, 20 ms timeout", poll(pf, 1, 20), 0, 0);
	expect("poll bad array", poll((struct pollfd *)bad, 1, 0), -1, EFAULT);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		exit(2);
	expect("poll too many fds", poll(pf, (nfds_t)rl.rlim_cur + 1, 0), -1, EINVAL);
	errno = 1234;
	expect("write keeps errno", write(p[1], "z", 1), 1, 0);
	checked++;
	if (errno != 1234) {
		printf("mismatch: a successful write changed errno to %d\n", errno);
		exit(1);
	}
	check_connections();
	errno = 1234;
	expect("poll keeps errno", poll(pf, 1, 0), 1, 0);
	checked++;
	if (errno != 1234) {
		printf("mismatch: a successful poll changed errno to %d\n", errno);
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

static void *blocked_poll(void *arg)
{
	struct pollfd pf = {.fd = *(int *)arg, .events = POLLIN};
	poll(&pf, 1, -1); /* nobody writes */
	return NULL;
}

static void *blocked_accept(void *arg)
{
	accept(*(int *)arg, NULL, NULL); /* nobody connects */
	return NULL;
}

/* the same calls in threads of C11's thrd_create */
#define C11(call)                                                                                  \
	static int c11_##call(void *arg)                                                           \
	{                                                                                          \
		blocked_##call(arg);                                                               \
		return 0;                                                                          \
	}
C11(recv)
C11(read)
C11(poll)
C11(accept)

static void cancel(int port, int c11)
{
	/* a traced connection whose request is sent and never answered: the
	 * bench's server, or any, answers only after a whole request */
	int fd = connect_to(port);
	const char part[] = "GET /never HTTP/1.1\r\nHost: x\r\n"; /* no blank line */
	if (write(fd, part, sizeof part - 1) < 0)
		exit(2);
	int p[2], q[2];
	struct sockaddr_in a;
	int l = listener(&a);
	if (pipe(p) || pipe(q))
		exit(2);
	alarm(5); /* a lost cancellation point: the join would wait forever */
	pthread_t t[4];
	if (c11) { /* glibc: a thrd_t is the thread's pthread_t */
		thrd_t c[4];
		if (thrd_create(&c[0], c11_recv, &fd) != thrd_success ||
		    thrd_create(&c[1], c11_read, &p[0]) != thrd_success ||
		    thrd_create(&c[2], c11_poll, &q[0]) != thrd_success ||
		    thrd_create(&c[3], c11_accept, &l) != thrd_success)
			exit(2);
		for (int i = 0; i < 4; i++)
			t[i] = (pthread_t)c[i];
	} else if (pthread_create(&t[0], NULL, blocked_recv, &fd) ||
	           pthread_create(&t[1], NULL, blocked_read, &p[0]) ||
	           pthread_create(&t[2], NULL, blocked_poll, &q[0]) ||
	           pthread_create(&t[3], NULL, blocked_accept, &l))
		exit(2);
	usleep(200 * 1000); /* all inside their calls */
	int n = 0;
	for (int i = 0; i < 4; i++)
		pthread_cancel(t[i]);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		n += r == PTHREAD_CANCELED;
	}
	printf("cancelled %d\n", n);
}

static int timer_fd, timer_poll, done_pipe[2];
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
	if (timer_poll) {
		struct pollfd pf = {.fd = timer_fd, .events = POLLIN};
		poll(&pf, 1, -1); /* the server never answers */
	} else {
		recv(timer_fd, &c, 1, 0);
	}
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
	else if (!strcmp(argv[2], "timer") || !strcmp(argv[2], "timer_poll")) {
		timer_poll = !strcmp(argv[2], "timer_poll");
		timer_cancel(port);
	} else if (!strcmp(argv[2], "writes") && argc > 3) {
		int p[2];
		if (pipe(p))
			return 2;
		fcntl(p[1], F_SETFL, O_NONBLOCK);
		long n = atol(argv[3]);
		for (long i = 0; i < n; i++) {
			char c;
			struct pollfd pf = {.fd = p[0], .events = POLLIN};
			if (write(p[1], "w", 1) == 1 && poll(&pf, 1, 0) == 1)
				(void)!read(p[0], &c, 1);
		}
		printf("wrote %ld\n", n);
	}
	return 0;
}
