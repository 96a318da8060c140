/* Raw HTTP client over one keep-alive TCP connection with send/recv:
 * loop_rawhttp N PORT; with "new" after the port, a new connection for each
 * request, closed after its answer (a client that never keeps a connection). */
#include "bench.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fd, port, fresh;

static void dial(void)
{
	fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa))
		bench_die("connect");
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}
static const char req[] = "GET /bench HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\n\r\n";

static NOINLINE void op(void)
{
	char buf[512];
	if (fresh)
		dial();
	if (send(fd, req, sizeof req - 1, 0) != (ssize_t)sizeof req - 1)
		bench_die("send");
	size_t got = 0;
	/* the bench server's answer is fixed: headers and a 2-byte body */
	while (got < 4 || memcmp(buf + got - 4, "\r\nok", 4)) {
		ssize_t r = recv(fd, buf + got, sizeof buf - got, 0);
		if (r <= 0)
			bench_die("recv");
		got += (size_t)r;
	}
	if (fresh)
		close(fd);
}

NOINLINE void bench_loop(long n)
{
	for (long i = 0; i < n; i++)
		op();
}

int main(int argc, char **argv)
{
	long n = bench_arg(argc, argv, 1, 1000);
	port = (int)bench_arg(argc, argv, 2, 0);
	fresh = argc > 3 && !strcmp(argv[3], "new");
	if (!fresh)
		dial();
	for (int i = 0; i < 20; i++)
		op();
	double t0 = bench_begin();
	bench_loop(n);
	bench_report(n, t0, bench_now());
	if (!fresh)
		close(fd);
	return 0;
}
