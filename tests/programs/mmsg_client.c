/* HTTP/1.1 requests over one keep-alive connection, written with sendmmsg
 * and read with recvmmsg, as a program batching its socket calls might.
 *   mmsg_client PORT N   N requests GET /m0, /m1...: each head in two
 *                        messages of one sendmmsg (its last header and
 *                        the empty line in the second), each response read
 *                        with recvmmsg into small buffers; prints each
 *                        response's status and body length, one a line. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char *what)
{
	perror(what);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa))
		return fail("connect");
	for (int i = 0; i < atoi(argv[2]); i++) {
		char first[64];
		char second[] = "X-A: 1\r\n\r\n";
		int fl = snprintf(first, sizeof first, "GET /m%d HTTP/1.1\r\nHost: x\r\n", i);
		struct iovec v[2] = {{first, (size_t)fl}, {second, sizeof second - 1}};
		struct mmsghdr out[2];
		memset(out, 0, sizeof out);
		for (int m = 0; m < 2; m++) {
			out[m].msg_hdr.msg_iov = &v[m];
			out[m].msg_hdr.msg_iovlen = 1;
		}
		int sent = sendmmsg(fd, out, 2, 0);
		if (sent != 2 || out[0].msg_len != v[0].iov_len || out[1].msg_len != v[1].iov_len) {
			fprintf(stderr, "sendmmsg: %d (%u %u)\n", sent, out[0].msg_len,
			        out[1].msg_len);
			return 1;
		}
		/* the response, in pieces of at most 1000 bytes, two at a time */
		static char buf[1 << 20];
		size_t have = 0, need = 0;
		char *end = NULL;
		while (!end || have < need) {
			char a[1000], b[1000];
			struct iovec iv[2] = {{a, sizeof a}, {b, sizeof b}};
			struct mmsghdr in[2];
			memset(in, 0, sizeof in);
			for (int m = 0; m < 2; m++) {
				in[m].msg_hdr.msg_iov = &iv[m];
				in[m].msg_hdr.msg_iovlen = 1;
			}
			int got = recvmmsg(fd, in, 2, MSG_WAITFORONE, NULL);
			if (got <= 0)
				return fail("recvmmsg");
			for (int m = 0; m < got; m++) {
				if (have + in[m].msg_len > sizeof buf || !in[m].msg_len)
					return fail("response");
				memcpy(buf + have, iv[m].iov_base, in[m].msg_len);
				have += in[m].msg_len;
			}
			buf[have] = 0;
			if (!end && (end = strstr(buf, "\r\n\r\n"))) {
				const char *cl = strcasestr(buf, "content-length:");
				need = (size_t)(end + 4 - buf) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
			}
		}
		if (have != need)
			return fail("bytes past the response");
		printf("%d %zu\n", atoi(buf + 9), need - (size_t)(end + 4 - buf));
	}
	close(fd);
	return 0;
}
