// LIBS: -lcurl
/* A libcurl program that knows nothing of tracing. Modes:
 *   curl_client get URL [N]     N keep-alive GETs with an app header (X-App: 1)
 *   curl_client own-tp URL      the app sets its own traceparent
 *   curl_client dup URL         duphandle + reset bookkeeping
 *   curl_client fork URL        a forked child requests and ends with _exit
 *   curl_client linger URL MS   one request, then MS ms more before exit
 *   curl_client chdir URL DIR   chdir to DIR (as a daemon does), then one request
 *   curl_client threads URL N   N threads, one request each
 *   curl_client closeall URL F  request, close every fd >= 3, open F, request
 *   curl_client options URL     setopt with every argument type
 *   curl_client vfork URL       request, vfork a child that _exits, request
 *   curl_client bodies URL      keep-alive POSTs: small, a body that reads
 *                               like a request, 3 MiB (Expect: 100-continue),
 *                               chunked; then a GET
 *   curl_client redirect URL    FOLLOWLOCATION on (the server redirects),
 *                               then off, the same URL again
 *   curl_client shared URL      a request through the app's multi handle,
 *                               then two through curl_easy_perform on another
 *                               handle sharing its connections (CURLSH)
 *   curl_client unix URL SOCK TCPURL
 *                               URL over the unix socket SOCK (a name the
 *                               app rewrites after setting it), on the
 *                               handle, its duphandle and a multi transfer;
 *                               between them, TCPURL on the handle with the
 *                               socket unset and on the duphandle after a
 *                               reset
 * Prints one line per request: "<curl code> <http status>"; the last three
 * modes add libcurl's count of the header bytes it sent
 * (CURLINFO_REQUEST_SIZE). */
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static size_t sink(char *p, size_t sz, size_t n, void *u)
{
	(void)p;
	(void)u;
	return sz * n;
}

static void perform(CURL *h)
{
	long status = 0;
	CURLcode rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	printf("%d %ld\n", (int)rc, status);
	fflush(stdout);
}

static void perform_size(CURL *h)
{
	long status = 0, size = 0;
	CURLcode rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &size);
	printf("%d %ld %ld\n", (int)rc, status, size);
	fflush(stdout);
}

static size_t chunk_read(char *buf, size_t sz, size_t n, void *u)
{
	static const char *const pieces[] = {"chunk-one;", "chunk-two"};
	int *next = u;
	if (*next >= 2 || sz * n < 16)
		return 0;
	size_t l = strlen(pieces[*next]);
	memcpy(buf, pieces[(*next)++], l);
	return l;
}

static CURL *handle(const char *url)
{
	CURL *h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	return h;
}

/* h's transfer through the multi handle m, run to its end; its status */
static long multi_transfer(CURLM *m, CURL *h)
{
	curl_multi_add_handle(m, h);
	int running = 1;
	while (running) {
		curl_multi_perform(m, &running);
		if (running)
			curl_multi_wait(m, NULL, 0, 1000, NULL);
	}
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(m, h);
	return status;
}

static void *thread_main(void *url)
{
	CURL *h = handle(url);
	perform(h);
	curl_easy_cleanup(h);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	const char *mode = argv[1], *url = argv[2];
	curl_global_init(CURL_GLOBAL_DEFAULT);
	struct curl_slist *hdrs = curl_slist_append(NULL, "X-App: 1");
	CURL *h = handle(url);
	if (!strcmp(mode, "get")) {
		int n = argc > 3 ? atoi(argv[3]) : 1;
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		for (int i = 0; i < n; i++)
			perform(h);
	} else if (!strcmp(mode, "own-tp")) {
		hdrs = curl_slist_append(
			hdrs, "traceparent: 00-11111111111111111111111111111111-2222222222222222-01");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		perform(h);
	} else if (!strcmp(mode, "dup")) {
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		CURL *d = curl_easy_duphandle(h);
		perform(d); /* inherits X-App */
		curl_easy_reset(d);
		curl_easy_setopt(d, CURLOPT_URL, url);
		curl_easy_setopt(d, CURLOPT_WRITEFUNCTION, sink);
		perform(d); /* no X-App after reset */
		curl_easy_cleanup(d);
	} else if (!strcmp(mode, "fork")) {
		pid_t pid = fork();
		if (pid == 0) {
			CURL *c = handle(url);
			perform(c);
			_exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
		perform(h);
	} else if (!strcmp(mode, "threads")) {
		int n = atoi(argv[3]);
		pthread_t t[64];
		for (int i = 0; i < n && i < 64; i++)
			pthread_create(&t[i], NULL, thread_main, (void *)url);
		for (int i = 0; i < n && i < 64; i++)
			pthread_join(t[i], NULL);
	} else if (!strcmp(mode, "closeall")) {
		perform(h);
		curl_easy_cleanup(h);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		int f = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		printf("file fd %d\n", f);
		usleep(300 * 1000); /* the exporter runs meanwhile */
		h = handle(url);
		perform(h);
		usleep(300 * 1000);
		close(f);
	} else if (!strcmp(mode, "chdir") && argc > 3) {
		if (chdir(argv[3]))
			return 2;
		perform(h);
	} else if (!strcmp(mode, "linger")) {
		perform(h);
		usleep((useconds_t)atoi(argv[3]) * 1000);
	} else if (!strcmp(mode, "vfork")) {
		perform(h);
		/* the child shares our memory: the shim must not flush or queue there */
		pid_t pid = vfork();
		if (pid == 0)
			_exit(7);
		int st;
		waitpid(pid, &st, 0);
		printf("child %d\n", WEXITSTATUS(st));
		perform(h);
	} else if (!strcmp(mode, "options")) {
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);           /* object */
		curl_easy_setopt(h, CURLOPT_TIMEOUT, 5L);                /* long */
		curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)1 << 40); /* off_t */
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);         /* function */
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "a=1&b=2");
		curl_easy_setopt(h, CURLOPT_USERAGENT, "options-test/1");
		perform(h);
	} else if (!strcmp(mode, "bodies")) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "a=1");
		perform_size(h);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "GET /inner HTTP/1.1\r\nHost: x\r\n\r\n");
		perform_size(h);
		size_t big = (size_t)3 << 20;
		char *b = malloc(big);
		for (size_t i = 0; i < big; i++)
			b[i] = (char)('a' + i % 26);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)big);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, b);
		perform_size(h);
		int next = 0;
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, chunk_read);
		curl_easy_setopt(h, CURLOPT_READDATA, &next);
		perform_size(h);
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		perform_size(h);
		free(b);
	} else if (!strcmp(mode, "redirect")) {
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
		perform_size(h);
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* same connection, again */
		perform_size(h);
	} else if (!strcmp(mode, "shared")) {
		CURLSH *sh = curl_share_init();
		curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
		curl_easy_setopt(h, CURLOPT_SHARE, sh);
		CURLM *m = curl_multi_init();
		printf("0 %ld 0\n", multi_transfer(m, h));
		CURL *b = handle(url);
		curl_easy_setopt(b, CURLOPT_SHARE, sh);
		perform_size(b);
		perform_size(b);
		curl_easy_cleanup(b);
		curl_easy_cleanup(h);
		h = NULL;
		curl_multi_cleanup(m);
		curl_share_cleanup(sh);
	} else if (!strcmp(mode, "unix") && argc > 4) {
		char sock[256];
		snprintf(sock, sizeof sock, "%s", argv[3]);
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock);
		curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L); /* one connection each */
		memset(sock, 'x', strlen(sock)); /* libcurl keeps its own copy */
		perform(h);
		CURL *d = curl_easy_duphandle(h);
		perform(d);
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, NULL);
		curl_easy_setopt(h, CURLOPT_URL, argv[4]);
		perform(h);
		curl_easy_reset(d);
		curl_easy_setopt(d, CURLOPT_URL, argv[4]);
		curl_easy_setopt(d, CURLOPT_WRITEFUNCTION, sink);
		perform(d);
		curl_easy_cleanup(d);
		CURLM *m = curl_multi_init();
		CURL *x = handle(url);
		curl_easy_setopt(x, CURLOPT_UNIX_SOCKET_PATH, argv[3]);
		curl_easy_setopt(x, CURLOPT_FORBID_REUSE, 1L);
		printf("0 %ld\n", multi_transfer(m, x));
		curl_easy_cleanup(x);
		curl_multi_cleanup(m);
	} else {
		return 2;
	}
	curl_slist_free_all(hdrs);
	return 0;
}
