/* libcurl keep-alive GET loop: loop_curl N URL */
// LIBS: -lcurl
#include "bench.h"

#include <curl/curl.h>

static size_t sink(char *p, size_t sz, size_t n, void *u)
{
	(void)p;
	(void)u;
	return sz * n;
}

static CURL *h;

static NOINLINE void op(void)
{
	if (curl_easy_perform(h) != CURLE_OK) {
		fprintf(stderr, "curl_easy_perform failed\n");
		exit(2);
	}
}

NOINLINE void bench_loop(long n)
{
	for (long i = 0; i < n; i++)
		op();
}

int main(int argc, char **argv)
{
	long n = bench_arg(argc, argv, 1, 1000);
	if (argc < 3)
		return 2;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_URL, argv[2]);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	for (int i = 0; i < 20; i++)
		op();
	double t0 = bench_begin();
	bench_loop(n);
	bench_report(n, t0, bench_now());
	curl_easy_cleanup(h);
	curl_global_cleanup();
	return 0;
}
