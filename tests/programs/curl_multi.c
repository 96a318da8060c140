// LIBS: -lcurl
/* Parallel transfers through curl_multi, the way async C services and PHP's
 * curl_multi_exec do them. Usage: curl_multi URL N [remove-early-URL]
 * Prints "<easy index> <curl code> <http status>" per finished transfer. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>

static size_t sink(char *p, size_t sz, size_t n, void *u)
{
	(void)p;
	(void)u;
	return sz * n;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	int n = atoi(argv[2]);
	if (n > 16)
		n = 16;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURLM *m = curl_multi_init();
	CURL *h[17];
	struct curl_slist *hdrs = curl_slist_append(NULL, "X-App: multi");
	for (int i = 0; i < n; i++) {
		h[i] = curl_easy_init();
		curl_easy_setopt(h[i], CURLOPT_URL, argv[1]);
		curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, sink);
		curl_easy_setopt(h[i], CURLOPT_PRIVATE, (void *)(long)i);
		if (i == 0)
			curl_easy_setopt(h[i], CURLOPT_HTTPHEADER, hdrs);
		curl_multi_add_handle(m, h[i]);
	}
	CURL *early = NULL;
	if (argc > 3) { /* a transfer the app abandons before it completes */
		early = curl_easy_init();
		curl_easy_setopt(early, CURLOPT_URL, argv[3]);
		curl_multi_add_handle(m, early);
	}
	int running = 1, polls = 0;
	while (running) {
		curl_multi_perform(m, &running);
		if (early && ++polls == 3) {
			curl_multi_remove_handle(m, early);
			curl_easy_cleanup(early);
			early = NULL;
			printf("removed early\n");
		}
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			long status = 0;
			char *priv;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
			printf("%ld %d %ld\n", (long)priv, (int)msg->data.result, status);
		}
		if (running)
			curl_multi_wait(m, NULL, 0, 100, NULL);
	}
	for (int i = 0; i < n; i++) {
		curl_multi_remove_handle(m, h[i]);
		curl_easy_cleanup(h[i]);
	}
	curl_multi_cleanup(m);
	curl_slist_free_all(hdrs);
	return 0;
}
