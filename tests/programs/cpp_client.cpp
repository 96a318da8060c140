// A C++ client for the call-site tests (tests/integration/test_demangle.py
// builds it with g++; the Makefile builds only the .c programs): libcurl
// called from a method of a class in a namespace and its overload, an
// operator, a lambda in a method with parameters, a lambda in an operator(),
// a function template, a function of an anonymous namespace.
// Usage: cpp_client URL
#include <curl/curl.h>

#include <string>

namespace shop {

static size_t sink(char *, size_t size, size_t n, void *)
{
	return size * n;
}

static long perform(const std::string &url, CURL *h)
{
	curl_easy_setopt(h, CURLOPT_URL, url.c_str());
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	return 0;
}

class Client {
public:
	explicit Client(const char *url) : url_(url) {}
	__attribute__((noinline)) long fetch();
	__attribute__((noinline)) long fetch(int times);
	__attribute__((noinline)) long operator()(int);
	__attribute__((noinline)) long each(int times);

private:
	std::string url_;
};

long Client::fetch()
{
	CURL *h = curl_easy_init();
	perform(url_, h);
	long rc = curl_easy_perform(h); // Client::fetch()
	curl_easy_cleanup(h);
	return rc;
}

long Client::fetch(int times)
{
	long rc = 0;
	CURL *h = curl_easy_init();
	perform(url_, h);
	for (int i = 0; i < times; i++)
		rc += curl_easy_perform(h); // Client::fetch(int)
	curl_easy_cleanup(h);
	return rc;
}

long Client::operator()(int)
{
	CURL *h = curl_easy_init();
	perform(url_, h);
	long rc = curl_easy_perform(h); // Client::operator()
	curl_easy_cleanup(h);
	return rc;
}

long Client::each(int times)
{
	CURL *h = curl_easy_init();
	perform(url_, h);
	auto one = [h]() __attribute__((noinline)) {
		return (long)curl_easy_perform(h); // Client::each lambda
	};
	long rc = 0;
	for (int i = 0; i < times; i++)
		rc += one();
	curl_easy_cleanup(h);
	return rc;
}

struct Retry {
	__attribute__((noinline)) long operator()(const char *url) const;
};

long Retry::operator()(const char *url) const
{
	CURL *h = curl_easy_init();
	perform(url, h);
	auto go = [h]() __attribute__((noinline)) {
		return (long)curl_easy_perform(h); // Retry lambda
	};
	long rc = go();
	curl_easy_cleanup(h);
	return rc;
}

template <typename T> __attribute__((noinline)) T get(const char *url)
{
	CURL *h = curl_easy_init();
	perform(url, h);
	T rc = (T)curl_easy_perform(h); // get<T>
	curl_easy_cleanup(h);
	return rc;
}

} // namespace shop

namespace {
__attribute__((noinline)) long direct(const char *url)
{
	CURL *h = curl_easy_init();
	shop::perform(url, h);
	long rc = curl_easy_perform(h); // direct
	curl_easy_cleanup(h);
	return rc;
}
} // namespace

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	shop::Client c(argv[1]);
	long rc = c.fetch() + c.fetch(1) + c(0) + c.each(1) + shop::Retry()(argv[1]) +
	          shop::get<long>(argv[1]) + direct(argv[1]);
	return rc ? 1 : 0;
}
