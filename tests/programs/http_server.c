// LIBS:
/* A legacy-style HTTP/1.1 server on plain sockets, for the tests and the
 * demo. Prints its port on the first line of stdout, then serves until
 * killed.
 *   -m thread|fork|loop|prefork|dup|stdio|inetd|vfork
 *                         thread per connection (default), fork per
 *                         connection (children end with _exit), one thread
 *                         serving connections one after another, two
 *                         pre-forked children accepting on the shared socket;
 *                         dup: thread per connection, responses written on a
 *                         dup() of the connection (fdopen(dup(s), "w")
 *                         style), which is closed first; stdio: fork per
 *                         connection, the child's stdin and stdout the
 *                         connection (dup2), serving them, then exit();
 *                         vfork: per connection, a vfork child dup2's it
 *                         onto its stdin and stdout and execs this program
 *                         in inetd mode;
 *                         inetd: no listening socket, no port printed: one
 *                         connection on stdin and stdout, as inetd starts it
 *   -s status             response status (default 200)
 *   -r len|chunked|close  response framing (default len)
 *   -e                    echo: the body is the request head as received
 *   -u port               per request, GET /down from 127.0.0.1:port first
 *                         (raw socket client), with -X and tracing off
 *   -x                    fork mode: the child _exits without closing the
 *                         connection (framing "close": the response ends then)
 *   -T                    make the upstream call from a new thread
 *   -K                    the same, the thread started by C11's thrd_create
 *   -C                    per request, call a CGI-style child: fork + execv
 *                         of argv after "--" with its output as the body
 *   -P how                how -C starts the child: fork (default), system
 *                         (its output to a temporary file, "> path"), popen,
 *                         spawn (posix_spawn), spawnp (posix_spawnp); the
 *                         body then ends with "rc N" (system's status, or
 *                         posix_spawn's error, or -1 from popen) and,
 *                         for system and popen, "environ same|changed
 *                         TRACEPARENT=value|-": whether this process's
 *                         environment is as it was before the call
 *   -6                    listen on [::1] instead of 127.0.0.1
 *   -a none|full|short    how accept is called: no address (default), a
 *                         sockaddr_storage, or a buffer of 2 bytes (the
 *                         kernel cuts the address to its family)
 *   -n N                  loop mode: exit after N connections
 *   -S                    responses written with stdio: to stdout in inetd
 *                         mode, else to fdopen(dup(fd), "w") (fclose'd at
 *                         the end); flushed after each but the last, which
 *                         fclose or exit writes
 *   -R how                requests read with stdio: from stdin in inetd mode,
 *                         else from fdopen(dup(fd), "r") (fclose'd at the
 *                         end); the head line by line with fgets, getline,
 *                         fread (a byte at a time), getc, getc_unlocked
 *                         (<stdio.h>'s inline one), gets (inetd mode: an
 *                         old program's stdin) or scanf (the request
 *                         line with fscanf, the rest with fgets); a body
 *                         with one fread
 *   -D how                responses written with dprintf, vdprintf, or their
 *                         _FORTIFY_SOURCE forms (how: chk, vchk): the head
 *                         and the body in one call, a chunked body's end
 *                         in a second
 *   -L how                with -S in fork mode: the child leaves its stream
 *                         open, its last response in the buffer, and ends
 *                         with exit(0), which writes it, or with
 *                         fflush(NULL) (how: flushall) or fcloseall() then
 *                         _exit(0); held: exit(0) while a thread holds
 *                         the stream's lock
 *   -U                    with -S and -R, not in inetd mode: one stream,
 *                         fdopen(dup(fd), "r+"), for reading and writing;
 *                         no fflush: reading the next request writes the
 *                         response before it */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <threads.h>
#include <unistd.h>

static int status = 200, echo, upstream, in_thread, no_close, use_stdio, update;
static const char *framing = "len", *mode = "thread";
static char **cgi;
static const char *cgi_how = "fork"; /* -P */
extern char **environ;
static const char *accept_how = "none";
static const char *reading; /* -R */
static const char *dprinting; /* -D */
static const char *leaving;   /* -L */
static FILE *left;            /* the stream -L leaves open */
static pthread_mutex_t holding = PTHREAD_MUTEX_INITIALIZER;

/* -L held: takes the stream's lock for good */
static void *hold_stream(void *p)
{
	flockfile(left);
	pthread_mutex_unlock(&holding);
	for (;;)
		pause();
	return NULL;
}

/* _FORTIFY_SOURCE's forms, called by name (this file is built without it) */
int __dprintf_chk(int, int, const char *, ...);
int __vdprintf_chk(int, int, const char *, va_list);

static int vdpf(int fd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = !strcmp(dprinting, "vchk") ? __vdprintf_chk(fd, 1, fmt, ap) : vdprintf(fd, fmt, ap);
	va_end(ap);
	return r;
}

/* A dprintf of the kind -D says */
#define DPF(fd, ...)                                                                       \
	(!strcmp(dprinting, "dprintf") ? dprintf(fd, __VA_ARGS__)                           \
	 : !strcmp(dprinting, "chk")   ? __dprintf_chk(fd, 1, __VA_ARGS__)                  \
	                               : vdpf(fd, __VA_ARGS__))

char *gets(char *); /* gone from <stdio.h> (C11); still in libc for old programs */

/* One line of a request's head, its newline included, into buf (0 ended);
 * its length, 0 when the connection ended. */
static size_t stdio_line(FILE *r, char *buf, size_t cap)
{
	size_t n = 0;
	if (!strcmp(reading, "fgets") || !strcmp(reading, "scanf")) {
		if (!fgets(buf, (int)cap, r))
			return 0;
		return strlen(buf);
	}
	if (!strcmp(reading, "gets")) { /* the line without its newline */
		if (r != stdin || !gets(buf))
			return 0;
		n = strlen(buf);
		buf[n++] = '\n';
		buf[n] = 0;
		return n;
	}
	if (!strcmp(reading, "getline")) {
		char *l = NULL;
		size_t lc = 0;
		ssize_t k = getline(&l, &lc, r);
		if (k > 0 && (size_t)k < cap) {
			memcpy(buf, l, (size_t)k + 1);
			n = (size_t)k;
		}
		free(l);
		return n;
	}
	while (n + 1 < cap) {
		int c;
		unsigned char b;
		if (!strcmp(reading, "fread"))
			c = fread(&b, 1, 1, r) == 1 ? b : EOF;
		else if (!strcmp(reading, "getc_unlocked"))
			c = getc_unlocked(r);
		else
			c = getc(r);
		if (c == EOF)
			break;
		buf[n++] = (char)c;
		if (c == '\n')
			break;
	}
	buf[n] = 0;
	return n;
}

/* A request's head read with stdio (-R) into buf; its length, or -1. */
static int stdio_head(FILE *r, char *buf, size_t cap)
{
	size_t have = 0;
	if (!strcmp(reading, "scanf")) {
		char m[32], u[1024], v[16];
		if (fscanf(r, "%31s %1023s %15s", m, u, v) != 3)
			return -1;
		have = (size_t)snprintf(buf, cap, "%s %s %s", m, u, v);
		if (!stdio_line(r, buf + have, cap - have)) /* the line's end */
			return -1;
		have += strlen(buf + have);
	}
	for (;;) {
		size_t n = stdio_line(r, buf + have, cap - have);
		if (!n)
			return -1;
		have += n;
		if (!strcmp(buf + have - n, "\r\n") || !strcmp(buf + have - n, "\n"))
			return (int)have;
	}
}

static int read_head(int fd, char *buf, size_t cap, size_t *have)
{
	for (;;) {
		char *e = memmem(buf, *have, "\r\n\r\n", 4);
		if (e)
			return (int)(e - buf) + 4;
		if (*have >= cap)
			return -1;
		ssize_t r = read(fd, buf + *have, cap - *have);
		if (r <= 0)
			return -1;
		*have += (size_t)r;
	}
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t r = write(fd, p, n);
		if (r <= 0)
			return;
		p += r;
		n -= (size_t)r;
	}
}

/* A plain HTTP client call: connect, write, read to the end. */
static int call_upstream(char *out, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)upstream)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
		close(fd);
		return snprintf(out, cap, "upstream: %s\n", strerror(errno));
	}
	char req[256];
	int n = snprintf(req, sizeof req,
	                 "GET /down HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
	                 upstream);
	write_all(fd, req, (size_t)n);
	size_t have = 0;
	ssize_t r;
	while (have + 1 < cap && (r = read(fd, out + have, cap - 1 - have)) > 0)
		have += (size_t)r;
	out[have] = 0;
	close(fd);
	char *body = strstr(out, "\r\n\r\n");
	if (body) {
		memmove(out, body + 4, strlen(body + 4) + 1);
		return (int)strlen(out);
	}
	return (int)have;
}

struct up {
	char *out;
	size_t cap;
	int n;
};

static void *up_thread(void *p)
{
	struct up *u = p;
	u->n = call_upstream(u->out, u->cap);
	return NULL;
}

static int up_c11(void *p)
{
	up_thread(p);
	return 0;
}

/* -P system, popen: the child's command line, each word in single quotes,
 * its output to path (NULL: stdout) */
static void cgi_command(char *cmd, size_t cap, const char *path)
{
	size_t n = 0;
	for (char **a = cgi; *a && n + 4 < cap; a++)
		n += (size_t)snprintf(cmd + n, cap - n, "'%s' ", *a);
	if (path && n < cap)
		snprintf(cmd + n, cap - n, "> '%s'", path);
}

static size_t read_all(int fd, char *out, size_t cap)
{
	size_t have = 0;
	ssize_t r;
	while (have + 1 < cap && (r = read(fd, out + have, cap - 1 - have)) > 0)
		have += (size_t)r;
	return have;
}

/* -P: the call's result after the child's output, and for system and popen
 * (before: environ then) this process's environment after the call */
static int cgi_result(char *out, size_t have, size_t cap, int rc, char **before)
{
	have += (size_t)snprintf(out + have, cap - have, "rc %d\n", rc);
	if (before) {
		const char *tp = getenv("TRACEPARENT");
		have += (size_t)snprintf(out + have, cap - have, "environ %s TRACEPARENT=%s\n",
		                         environ == before ? "same" : "changed", tp ? tp : "-");
	}
	return (int)have;
}

static int run_cgi(char *out, size_t cap)
{
	char cmd[1024];
	size_t have = 0;
	int rc = 0;
	char **before = environ;
	if (!strcmp(cgi_how, "popen")) {
		cgi_command(cmd, sizeof cmd, NULL);
		FILE *f = popen(cmd, "r");
		if (f) {
			have = fread(out, 1, cap - 1, f);
			rc = pclose(f);
		} else {
			rc = -1;
		}
		return cgi_result(out, have, cap, rc, before);
	}
	if (!strcmp(cgi_how, "system")) {
		char path[] = "/tmp/http_server_XXXXXX";
		int fd = mkstemp(path);
		if (fd < 0)
			return 0;
		cgi_command(cmd, sizeof cmd, path);
		rc = system(cmd);
		unlink(path);
		have = read_all(fd, out, cap);
		close(fd);
		return cgi_result(out, have, cap, rc, before);
	}
	int p[2];
	if (pipe(p))
		return 0;
	if (!strncmp(cgi_how, "spawn", 5)) {
		posix_spawn_file_actions_t fa;
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, p[1], 1);
		posix_spawn_file_actions_addclose(&fa, p[0]);
		pid_t pid;
		rc = (cgi_how[5] == 'p' ? posix_spawnp : posix_spawn)(&pid, cgi[0], &fa, NULL, cgi,
		                                                      environ);
		posix_spawn_file_actions_destroy(&fa);
		close(p[1]);
		have = read_all(p[0], out, cap);
		if (!rc)
			waitpid(pid, NULL, 0);
		close(p[0]);
		return cgi_result(out, have, cap, rc, NULL);
	}
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execv(cgi[0], cgi);
		_exit(127);
	}
	close(p[1]);
	have = read_all(p[0], out, cap);
	close(p[0]);
	waitpid(pid, NULL, 0);
	out[have] = 0;
	return (int)have;
}

static void respond(int fd, FILE *w, const char *body, size_t blen, int keep)
{
	char head[256];
	int n;
	if (w) {
		if (!strcmp(framing, "chunked"))
			fprintf(w, "HTTP/1.1 %d X\r\nTransfer-Encoding: chunked\r\n%s\r\n%zx\r\n",
			        status, keep ? "" : "Connection: close\r\n", blen);
		else if (!strcmp(framing, "close"))
			fprintf(w, "HTTP/1.1 %d X\r\nConnection: close\r\n\r\n", status);
		else
			fprintf(w, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", status, blen,
			        keep ? "" : "Connection: close\r\n");
		fwrite(body, 1, blen, w);
		if (!strcmp(framing, "chunked"))
			fputs("\r\n0\r\n\r\n", w);
		if (keep && !update)
			fflush(w);
		return;
	}
	if (dprinting) {
		const char *conn = keep ? "" : "Connection: close\r\n";
		if (!strcmp(framing, "chunked")) {
			DPF(fd, "HTTP/1.1 %d X\r\nTransfer-Encoding: chunked\r\n%s\r\n%zx\r\n%.*s",
			    status, conn, blen, (int)blen, body);
			DPF(fd, "\r\n0\r\n\r\n");
		} else if (!strcmp(framing, "close")) {
			DPF(fd, "HTTP/1.1 %d X\r\nConnection: close\r\n\r\n%.*s", status, (int)blen,
			    body);
		} else {
			DPF(fd, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n%.*s", status, blen,
			    conn, (int)blen, body);
		}
		return;
	}
	if (!strcmp(framing, "chunked")) {
		n = snprintf(head, sizeof head,
		             "HTTP/1.1 %d X\r\nTransfer-Encoding: chunked\r\n%s\r\n%zx\r\n", status,
		             keep ? "" : "Connection: close\r\n", blen);
		write_all(fd, head, (size_t)n);
		write_all(fd, body, blen);
		write_all(fd, "\r\n0\r\n\r\n", 7);
	} else if (!strcmp(framing, "close")) {
		n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nConnection: close\r\n\r\n",
		             status);
		write_all(fd, head, (size_t)n);
		write_all(fd, body, blen);
	} else {
		n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n",
		             status, blen, keep ? "" : "Connection: close\r\n");
		/* head and body in one writev */
		struct iovec v[2] = {{head, (size_t)n}, {(void *)body, blen}};
		ssize_t r = writev(fd, v, 2);
		if (r < 0)
			return;
		if ((size_t)r < (size_t)n) {
			write_all(fd, head + r, (size_t)n - (size_t)r);
			write_all(fd, body, blen);
		} else {
			write_all(fd, body + (r - n), blen - (size_t)(r - n));
		}
	}
}

static void serve(int fd, int out)
{
	static __thread char buf[65536];
	static __thread char body[70000];
	size_t have = 0;
	FILE *w = !use_stdio ? NULL : out == 1 ? stdout : fdopen(dup(out), update ? "r+" : "w");
	FILE *rd = !reading ? NULL : fd == 0 ? stdin : update ? w : fdopen(dup(fd), "r");
	for (;;) {
		int hl = rd ? stdio_head(rd, buf, sizeof buf - 1)
		            : read_head(fd, buf, sizeof buf, &have);
		if (hl < 0)
			break;
		/* a request body, by Content-Length */
		size_t clen = 0;
		char *cl = strcasestr(buf, "\r\ncontent-length:");
		if (cl && cl < buf + hl)
			clen = strtoul(cl + 17, NULL, 10);
		if (rd) {
			if (clen > sizeof buf - (size_t)hl || fread(buf + hl, 1, clen, rd) != clen)
				break;
			have = (size_t)hl + clen;
		}
		while (have < (size_t)hl + clen && have < sizeof buf) {
			ssize_t r = read(fd, buf + have, sizeof buf - have);
			if (r <= 0)
				return;
			have += (size_t)r;
		}
		int keep = !strcmp(framing, "close") ? 0 : !strcasestr(buf, "connection: close");
		if (memmem(buf, (size_t)hl, "HTTP/1.0", 8))
			keep = 0;
		size_t blen;
		if (echo) {
			memcpy(body, buf, (size_t)hl);
			blen = (size_t)hl;
		} else if (upstream && in_thread) {
			struct up u = {body, sizeof body, 0};
			if (in_thread == 'K') {
				thrd_t t;
				if (thrd_create(&t, up_c11, &u) == thrd_success)
					thrd_join(t, NULL);
			} else {
				pthread_t t;
				pthread_create(&t, NULL, up_thread, &u);
				pthread_join(t, NULL);
			}
			blen = (size_t)u.n;
		} else if (upstream) {
			blen = (size_t)call_upstream(body, sizeof body);
		} else if (cgi) {
			blen = (size_t)run_cgi(body, sizeof body);
		} else {
			blen =
			    (size_t)snprintf(body, sizeof body, "hello from %d\n", (int)getpid());
		}
		respond(out, w, body, blen, keep);
		size_t used = (size_t)hl + clen;
		memmove(buf, buf + used, have - used);
		have -= used;
		if (!keep)
			break;
	}
	if (w && w != stdout && !leaving)
		fclose(w);
	left = w;
	if (rd && rd != stdin && rd != w)
		fclose(rd);
}

static void *conn_thread(void *p)
{
	int fd = (int)(intptr_t)p;
	if (!strcmp(mode, "dup")) {
		int w = dup(fd);
		serve(fd, w);
		close(w);
	} else {
		serve(fd, fd);
	}
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	int o;
	int v6 = 0, conns = -1;
	while ((o = getopt(argc, argv, "m:s:r:eu:TKCP:x6a:n:SR:UD:L:")) != -1) {
		switch (o) {
		case '6':
			v6 = 1;
			break;
		case 'a':
			accept_how = optarg;
			break;
		case 'n':
			conns = atoi(optarg);
			break;
		case 'm':
			mode = optarg;
			break;
		case 's':
			status = atoi(optarg);
			break;
		case 'r':
			framing = optarg;
			break;
		case 'e':
			echo = 1;
			break;
		case 'u':
			upstream = atoi(optarg);
			break;
		case 'x':
			no_close = 1;
			break;
		case 'T':
		case 'K':
			in_thread = o;
			break;
		case 'C':
			cgi = argv;
			break;
		case 'P':
			cgi_how = optarg;
			break;
		case 'S':
			use_stdio = 1;
			break;
		case 'R':
			reading = optarg;
			break;
		case 'U':
			update = 1;
			break;
		case 'D':
			dprinting = optarg;
			break;
		case 'L':
			leaving = optarg;
			break;
		default:
			return 2;
		}
	}
	if (cgi)
		cgi = argv + optind;
	signal(SIGPIPE, SIG_IGN);
	int forks = !strcmp(mode, "fork") || !strcmp(mode, "stdio") || !strcmp(mode, "vfork");
	signal(SIGCHLD, forks ? SIG_IGN : SIG_DFL); /* no zombies */
	if (!strcmp(mode, "inetd")) {
		serve(0, 1);
		return 0;
	}
	int ls = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct sockaddr *la = v6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a;
	socklen_t al = v6 ? sizeof a6 : sizeof a;
	if (bind(ls, la, al) || listen(ls, 64) || getsockname(ls, la, &al)) {
		perror("listen");
		return 1;
	}
	printf("%d\n", ntohs(v6 ? a6.sin6_port : a.sin_port));
	fflush(stdout);
	if (!strcmp(mode, "prefork")) {
		for (int i = 0; i < 2; i++)
			if (fork() == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				mode = "loop";
				break;
			}
		if (strcmp(mode, "loop"))
			for (;;)
				pause();
	}
	for (; conns; conns -= conns > 0) {
		struct sockaddr_storage peer;
		socklen_t pl = !strcmp(accept_how, "short") ? 2 : sizeof peer;
		int fd = !strcmp(accept_how, "none") ? accept(ls, NULL, NULL)
		                                     : accept(ls, (struct sockaddr *)&peer, &pl);
		if (fd < 0)
			continue;
		if (!strcmp(mode, "fork")) {
			pid_t pid = fork();
			if (pid == 0) {
				close(ls);
				serve(fd, fd);
				if (!no_close)
					close(fd);
				if (leaving && !strcmp(leaving, "held")) {
					pthread_t t;
					pthread_mutex_lock(&holding);
					pthread_create(&t, NULL, hold_stream, NULL);
					pthread_mutex_lock(&holding); /* until it holds it */
				}
				if (leaving && (!strcmp(leaving, "exit") || !strcmp(leaving, "held")))
					exit(0);
				if (leaving && !strcmp(leaving, "fcloseall"))
					fcloseall();
				else if (leaving)
					fflush(NULL);
				_exit(0);
			}
			close(fd);
		} else if (!strcmp(mode, "vfork")) {
			if (vfork() == 0) {
				dup2(fd, 0);
				dup2(fd, 1);
				close(fd);
				execl("/proc/self/exe", "http_server", "-m", "inetd", (char *)NULL);
				_exit(127);
			}
			close(fd);
		} else if (!strcmp(mode, "stdio")) {
			if (fork() == 0) {
				close(ls);
				dup2(fd, 0);
				dup2(fd, 1);
				close(fd);
				serve(0, 1);
				exit(0);
			}
			close(fd);
		} else if (!strcmp(mode, "loop")) {
			serve(fd, fd);
			close(fd);
		} else {
			pthread_t t;
			pthread_create(&t, NULL, conn_thread, (void *)(intptr_t)fd);
			pthread_detach(t);
		}
	}
	return 0;
}
