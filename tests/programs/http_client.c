// LIBS: -O2 -D_FORTIFY_SOURCE=2
/* A legacy-style HTTP/1.1 client on plain sockets (built with
 * _FORTIFY_SOURCE, so its reads go through __read_chk / __recv_chk).
 *   http_client [options] port [path]
 *   -n N        N requests on one keep-alive connection (default 1)
 *   -b          write the request one byte per call
 *   -w          write the request with writev, split in three pieces
 *   -M          write the request with sendmsg, split in three pieces
 *   -S size     SO_SNDBUF (tiny: short writes)
 *   -N          non-blocking socket (poll for every write and read)
 *   -H line     an extra header line (repeatable)
 *   -B size     an extra header X-Big of that many bytes
 *   -d body     a request body (POST)
 *   -X method
 *   -R size     read in pieces of at most size bytes (default 4096)
 *   -F          read the responses with stdio, from fdopen(fd, "r"): the
 *               head with fgets, a body with fread, a chunk's size line
 *               with fgets; fclose at the end closes the socket
 *   -P          write each request with one dprintf (__dprintf_chk here)
 *   -W how      write each request with stdio: fwrite to fdopen(dup(fd), "w")
 *               then fflush (how: fflush), the same a line at a time into a
 *               small buffer (lines, -V), each request on a new stream that
 *               fclose writes (fclose), on an unbuffered stream (unbuf), or
 *               with -F on the one fdopen(fd, "r+") stream the responses
 *               are read from, with no fflush: the read writes it (rplus)
 *   -V size     the buffer of -W lines (default 160; glibc writes a call's
 *               bytes that do not fit in a buffer under 128 bytes itself)
 * Prints "status N" and the body of each response. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static int nonblock, bytewise, use_writev, use_sendmsg, use_stdio, use_dprintf;
static const char *writing; /* -W */
static size_t line_buf = 160; /* -V */

static void wait_for(int fd, short ev)
{
	struct pollfd p = {.fd = fd, .events = ev};
	poll(&p, 1, 5000);
}

/* Writes n bytes however the options say; returns 0 or -1. */
static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t r;
		size_t chunk = bytewise ? 1 : n;
		if (use_writev || use_sendmsg) {
			/* three pieces: 1 byte, a third, the rest */
			struct iovec v[3];
			size_t a = n > 1 ? 1 : n, b = (n - a) / 3, c = n - a - b;
			v[0].iov_base = (void *)p;
			v[0].iov_len = a;
			v[1].iov_base = (void *)(p + a);
			v[1].iov_len = b;
			v[2].iov_base = (void *)(p + a + b);
			v[2].iov_len = c;
			if (use_writev) {
				r = writev(fd, v, 3);
			} else {
				struct msghdr m = {.msg_iov = v, .msg_iovlen = 3};
				r = sendmsg(fd, &m, MSG_NOSIGNAL);
			}
		} else if (nonblock) {
			r = send(fd, p, chunk, 0);
		} else {
			r = write(fd, p, chunk);
		}
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			wait_for(fd, POLLOUT);
			continue;
		}
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* A request written with stdio (-W) on w, or on a new stream for fd; 0 or -1 */
static int stdio_request(FILE *w, int fd, const char *req, size_t len)
{
	int own = !w;
	if (own && !(w = fdopen(dup(fd), "w")))
		return -1;
	static char *lbuf; /* glibc takes the size only with a buffer */
	if (own && !strcmp(writing, "lines") &&
	    ((!lbuf && !(lbuf = malloc(line_buf))) || setvbuf(w, lbuf, _IOFBF, line_buf)))
		return -1;
	if (own && !strcmp(writing, "unbuf"))
		setvbuf(w, NULL, _IONBF, 0);
	size_t done = 0;
	while (done < len) { /* a line at a time, the body at once */
		const char *e = memmem(req + done, len - done, "\r\n", 2);
		size_t k = e && strcmp(writing, "fflush") ? (size_t)(e - req) + 2 - done : len - done;
		if (fwrite(req + done, 1, k, w) != k)
			return -1;
		done += k;
	}
	if (!strcmp(writing, "rplus"))
		return 0; /* the response's read writes it */
	if (!own && fflush(w))
		return -1;
	return own && fclose(w) ? -1 : 0;
}

static size_t chunk = 4096; /* not a constant: reads go through __read_chk */

static ssize_t recv_some(int fd, char *buf, size_t cap)
{
	for (;;) {
		char tmp[65536];
		if (chunk > cap)
			chunk = cap;
		ssize_t r = nonblock ? recv(fd, tmp, chunk, 0) : read(fd, tmp, chunk);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			wait_for(fd, POLLIN);
			continue;
		}
		if (r > 0)
			memcpy(buf, tmp, (size_t)r);
		return r;
	}
}

/* Reads one response; prints it. Returns 0, or -1 if the connection ended. */
static int read_response(int fd, char *buf, size_t cap, size_t *have)
{
	char *e;
	while (!(e = memmem(buf, *have, "\r\n\r\n", 4))) {
		ssize_t r = recv_some(fd, buf + *have, cap - *have);
		if (r <= 0)
			return -1;
		*have += (size_t)r;
	}
	size_t hl = (size_t)(e - buf) + 4;
	printf("status %d\n", atoi(buf + 9));
	char *cl = strcasestr(buf, "\r\ncontent-length:");
	size_t need;
	char *te = strcasestr(buf, "\r\ntransfer-encoding: chunked");
	if (cl && cl < buf + hl) {
		need = hl + strtoul(cl + 17, NULL, 10);
	} else if (te && te < buf + hl) { /* the test servers send one chunk */
		char *end;
		while (!(end = memmem(buf + hl, *have - hl, "\r\n0\r\n\r\n", 7))) {
			ssize_t r = recv_some(fd, buf + *have, cap - *have);
			if (r <= 0)
				return -1;
			*have += (size_t)r;
		}
		need = (size_t)(end - buf) + 7;
	} else { /* until close */
		ssize_t r;
		while ((r = recv_some(fd, buf + *have, cap - *have)) > 0)
			*have += (size_t)r;
		need = *have;
	}
	while (*have < need) {
		ssize_t r = recv_some(fd, buf + *have, cap - *have);
		if (r <= 0)
			break;
		*have += (size_t)r;
	}
	fwrite(buf + hl, 1, need - hl, stdout);
	printf("\n");
	memmove(buf, buf + need, *have - need);
	*have -= need;
	return 0;
}

/* Not constants: the calls that take them are fgets's and fread's _chk
 * forms (_FORTIFY_SOURCE), the others the plain ones. */
int line_cap = 8192; /* not static: gcc would take it for a constant */
size_t small_cap = 64;

/* One response read with stdio (-F); printed. 0, or -1 if it ended. */
static int read_response_stdio(FILE *in)
{
	char line[8192];
	if (!fgets(line, line_cap, in)) /* __fgets_chk */
		return -1;
	printf("status %d\n", atoi(line + 9));
	long clen = -1;
	int chunked = 0;
	while (fgets(line, sizeof line, in) && strcmp(line, "\r\n")) {
		if (!strncasecmp(line, "content-length:", 15))
			clen = strtol(line + 15, NULL, 10);
		if (!strncasecmp(line, "transfer-encoding: chunked", 26))
			chunked = 1;
	}
	char small[64];
	size_t got;
	if (chunked) {
		long size;
		while (fgets(line, sizeof line, in) && (size = strtol(line, NULL, 16)) > 0) {
			char *b = malloc((size_t)size);
			if (!b || fread(b, 1, (size_t)size, in) != (size_t)size)
				return -1;
			fwrite(b, 1, (size_t)size, stdout);
			free(b);
			if (!fgets(line, sizeof line, in)) /* the chunk's CRLF */
				return -1;
		}
		if (!fgets(line, sizeof line, in)) /* the last chunk's CRLF */
			return -1;
	} else if (clen >= 0 && (size_t)clen <= small_cap) { /* __fread_chk */
		if (fread(small, 1, (size_t)clen, in) != (size_t)clen)
			return -1;
		fwrite(small, 1, (size_t)clen, stdout);
	} else if (clen >= 0) {
		char *b = malloc((size_t)clen);
		if (!b || fread(b, 1, (size_t)clen, in) != (size_t)clen)
			return -1;
		fwrite(b, 1, (size_t)clen, stdout);
		free(b);
	} else { /* until close */
		while ((got = fread(small, 1, sizeof small, in)) > 0)
			fwrite(small, 1, got, stdout);
	}
	printf("\n");
	return 0;
}

int main(int argc, char **argv)
{
	int o, n = 1, sndbuf = 0, big = 0;
	const char *method = "GET", *body = NULL;
	char extra[4096] = "";
	while ((o = getopt(argc, argv, "n:bwMS:NH:B:d:X:R:FPW:V:")) != -1) {
		switch (o) {
		case 'n':
			n = atoi(optarg);
			break;
		case 'b':
			bytewise = 1;
			break;
		case 'w':
			use_writev = 1;
			break;
		case 'M':
			use_sendmsg = 1;
			break;
		case 'S':
			sndbuf = atoi(optarg);
			break;
		case 'N':
			nonblock = 1;
			break;
		case 'H':
			strncat(extra, optarg, sizeof extra - strlen(extra) - 3);
			strcat(extra, "\r\n");
			break;
		case 'B':
			big = atoi(optarg);
			break;
		case 'd':
			body = optarg;
			method = "POST";
			break;
		case 'X':
			method = optarg;
			break;
		case 'R':
			chunk = (size_t)atoi(optarg);
			break;
		case 'F':
			use_stdio = 1;
			break;
		case 'P':
			use_dprintf = 1;
			break;
		case 'W':
			writing = optarg;
			break;
		case 'V':
			line_buf = strtoul(optarg, NULL, 10);
			break;
		default:
			return 2;
		}
	}
	if (optind >= argc)
		return 2;
	int port = atoi(argv[optind]);
	const char *path = optind + 1 < argc ? argv[optind + 1] : "/";
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (sndbuf)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	if (nonblock)
		fcntl(fd, F_SETFL, O_NONBLOCK);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) && errno != EINPROGRESS) {
		perror("connect");
		return 1;
	}
	if (nonblock)
		wait_for(fd, POLLOUT);
	size_t reqcap = 4096 + (size_t)big + (body ? strlen(body) : 0);
	char *req = malloc(reqcap), *buf = malloc(1 << 20);
	size_t have = 0;
	int rplus = writing && !strcmp(writing, "rplus");
	FILE *in = use_stdio ? fdopen(fd, rplus ? "r+" : "r") : NULL;
	/* fflush: one stream for all the requests; the others make their own */
	FILE *out = writing && !strcmp(writing, "fflush") ? fdopen(dup(fd), "w") : rplus ? in : NULL;
	for (int i = 0; i < n; i++) {
		int len = snprintf(req, reqcap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s",
		                   method, path, port, extra);
		if (big) {
			len += snprintf(req + len, reqcap - (size_t)len, "X-Big: ");
			memset(req + len, 'a', (size_t)big);
			len += big;
			len += snprintf(req + len, reqcap - (size_t)len, "\r\n");
		}
		if (body)
			len += snprintf(req + len, reqcap - (size_t)len, "Content-Length: %zu\r\n",
			                strlen(body));
		if (i == n - 1)
			len += snprintf(req + len, reqcap - (size_t)len, "Connection: close\r\n");
		len += snprintf(req + len, reqcap - (size_t)len, "\r\n%s", body ? body : "");
		if (writing     ? stdio_request(out, fd, req, (size_t)len)
		    : use_dprintf ? dprintf(fd, "%.*s", len, req) != len
		                  : send_all(fd, req, (size_t)len)) {
			perror("send");
			return 1;
		}
		if (in ? read_response_stdio(in) : read_response(fd, buf, 1 << 20, &have))
			return 1;
	}
	if (out && out != in)
		fclose(out);
	if (in)
		fclose(in);
	else
		close(fd);
	return 0;
}
