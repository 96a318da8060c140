/* Single mysql_query("SELECT 1") calls (with mysql_store_result and
 * mysql_free_result, as loop_mysql's) timed one by one, the server played
 * by this thread: call_mysql N PORT
 *
 * The client connects to the real mariadbd at PORT and sends it one
 * SELECT 1 by hand, to record the server's answer (the result set's
 * packets). Then its socket is replaced (dup2) by one end of a loopback TCP
 * connection whose other end this program holds: before each call it writes
 * the recorded answer there, after it it reads the query back, both outside
 * the timed part. Each timed call is then what the application's thread
 * does for the query (the packet's write, the reads, the result set's
 * parse, and whatever the shim adds) and nothing of a server's. With
 * BENCH_EVICT_KB, a walk through that many KiB before each call (see
 * call_redis.c). Prints the p50 and p99 of the calls, in ns. */
// LIBS: -I/usr/include/mariadb -lmariadb
#include "calls.h"
#include "mariadb.h"

static const unsigned char query[] = "\x09\x00\x00\x00\x03SELECT 1";
#define QUERY_LEN (sizeof query - 1)

static void read_full(int fd, unsigned char *b, size_t n)
{
	while (n) {
		ssize_t r = read(fd, b, n);
		if (r <= 0)
			bench_die("read");
		b += r;
		n -= (size_t)r;
	}
}

/* One packet of the server's answer appended at rec + *len; its first
 * payload byte returned, its payload length in *pl. */
static int packet(int fd, unsigned char *rec, size_t cap, size_t *len, size_t *pl)
{
	if (*len + 4 > cap)
		bench_die("answer too long");
	read_full(fd, rec + *len, 4);
	*pl = rec[*len] | (size_t)rec[*len + 1] << 8 | (size_t)rec[*len + 2] << 16;
	if (!*pl || *len + 4 + *pl > cap)
		bench_die("answer too long");
	read_full(fd, rec + *len + 4, *pl);
	int first = rec[*len + 4];
	*len += 4 + *pl;
	return first;
}

/* The server's answer to SELECT 1: the column count (1), the column's
 * definition, then either an EOF packet, the row and an EOF packet, or
 * (CLIENT_DEPRECATE_EOF) the row and an OK packet (0xFE too). */
static size_t record(int fd, unsigned char *rec, size_t cap)
{
	size_t len = 0, pl;
	if (write(fd, query, QUERY_LEN) != (ssize_t)QUERY_LEN)
		bench_die("write query");
	if (packet(fd, rec, cap, &len, &pl) != 1)
		bench_die("not one column");
	packet(fd, rec, cap, &len, &pl);
	int ends = packet(fd, rec, cap, &len, &pl) == 0xfe && pl < 9 ? 1 : 0;
	while (ends < 2) {
		if (packet(fd, rec, cap, &len, &pl) == 0xfe)
			ends = 2;
	}
	return len;
}

static void op(MYSQL *m)
{
	if (mysql_query(m, "SELECT 1")) {
		fprintf(stderr, "mysql: %s\n", mysql_error(m));
		exit(2);
	}
	MYSQL_RES *r = mysql_store_result(m);
	if (!r || mysql_num_rows(r) != 1) {
		fprintf(stderr, "mysql: no row\n");
		exit(2);
	}
	mysql_free_result(r);
}

int main(int argc, char **argv)
{
	long n = bench_arg(argc, argv, 1, 20000);
	MYSQL *m = bench_mysql_connect((unsigned)bench_arg(argc, argv, 2, 3306));
	op(m);
	int fd = (int)mysql_get_socket(m);
	static unsigned char rec[4096];
	size_t rl = record(fd, rec, sizeof rec);

	/* the client's socket becomes its end of a loopback connection */
	int port, ls = calls_listen(&port), cl = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (cl < 0 || connect(cl, (struct sockaddr *)&sa, sizeof sa))
		bench_die("loopback");
	int srv = calls_accept(ls), one = 1;
	if (dup2(cl, fd) != fd)
		bench_die("dup2");
	close(cl);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

	struct calls k;
	calls_init(&k, n);
	for (long i = -200; i < k.n; i++) { /* 200 warm-up calls */
		if (write(srv, rec, rl) != (ssize_t)rl)
			bench_die("write answer");
		bench_evict(&k.ev);
		double a = bench_now();
		op(m);
		double b = bench_now();
		unsigned char q[QUERY_LEN];
		read_full(srv, q, QUERY_LEN);
		if (memcmp(q, query, QUERY_LEN))
			bench_die("unexpected query");
		if (i >= 0)
			k.lat[i] = b - a;
	}
	calls_report(&k);
	close(srv);
	close(ls);
	return 0;
}
