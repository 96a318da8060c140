/* Exporter throughput: how many spans per second one thread encodes (and,
 * for OTLP protobuf, also ships to a collector that answers at once), for
 * each encoder. Spans are shaped like an HTTP client span (6 attributes).
 * Linked against libatcore.a; the Jaeger encoder is used when the tree has
 * it (run.py builds with -DHAVE_JAEGER then).
 *
 *   exporter_tput SECONDS_PER_ENCODER [ship]
 *
 * Prints one "encoder=... spans_per_s=... bytes_per_span=..." line each.
 * "ship" posts OTLP protobuf batches to OTEL_EXPORTER_OTLP_ENDPOINT. */
// LIBS: ATCORE
#define _GNU_SOURCE
#include "bench.h"

#include "../preload/autotrace.h"
#include "../preload/clock.h"
#include "../reporter/backend.h"
#include "../reporter/buf.h"
#include "../reporter/otlp.h"
#ifdef HAVE_JAEGER
#include "../reporter/jaeger.h"
#endif

#include <string.h>

#define BATCH 512

static struct at_span spans[BATCH];
static struct at_span *batch[BATCH];

static void fill(void)
{
	char url[96];
	for (int i = 0; i < BATCH; i++) {
		struct at_span *s = &spans[i];
		at_span_start_detached(s, "GET", AT_KIND_CLIENT, NULL);
		s->caller = (uintptr_t)fill;
		snprintf(url, sizeof url, "http://127.0.0.1:8080/api/v1/items/%d?x=1", i);
		at_span_set_str(s, "http.request.method", "GET");
		at_span_set_str(s, "url.full", url);
		at_span_set_str(s, "server.address", "127.0.0.1");
		at_span_set_int(s, "server.port", 8080);
		at_span_set_int(s, "http.response.status_code", 200);
		at_span_set_str(s, "network.protocol.version", "1.1");
		s->end_ns = s->start_ns + 47000;
		batch[i] = s;
	}
}

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

typedef int (*encode_fn)(struct at_buf *, struct at_span *const *, size_t);

static struct at_buf buf;

static int enc_proto(struct at_buf *b, struct at_span *const *s, size_t n)
{
	return at_otlp_encode_proto(b, s, n);
}
static int enc_json(struct at_buf *b, struct at_span *const *s, size_t n)
{
	return at_otlp_encode_json(b, s, n);
}
#ifdef HAVE_JAEGER
static int enc_jaeger_compact(struct at_buf *b, struct at_span *const *s, size_t n)
{
	return at_jaeger_encode_batch(b, 1, s, n);
}
static int enc_jaeger_binary(struct at_buf *b, struct at_span *const *s, size_t n)
{
	return at_jaeger_encode_batch(b, 0, s, n);
}
static size_t packet_bytes;
static int count_packet(void *ctx, const void *pkt, size_t len)
{
	(void)ctx;
	(void)pkt;
	packet_bytes += len;
	return 0;
}
static struct at_jaeger_packer packer;
static int enc_jaeger_agent(struct at_buf *b, struct at_span *const *s, size_t n)
{
	packet_bytes = 0;
	at_jaeger_pack(&packer, s, n, AT_JAEGER_UDP_MAX, count_packet, NULL);
	b->len = packet_bytes;
	return 0;
}
#endif

static struct at_backend *backend;
static int ship_proto(struct at_buf *b, struct at_span *const *s, size_t n)
{
	(void)b;
	size_t d = backend->export_batch(backend, s, n, at_mono_ms() + 10000);
	return d == n ? 0 : -1;
}

static void run(const char *name, encode_fn fn, double seconds)
{
	long rounds = 0, failed = 0;
	size_t bytes = 0;
	double w0 = bench_now(), c0 = cpu_now(), w1;
	do {
		for (int k = 0; k < 8; k++) {
			at_buf_reset(&buf);
			if (fn(&buf, batch, BATCH))
				failed++;
			bytes += buf.len;
			rounds++;
		}
		w1 = bench_now();
	} while (w1 - w0 < seconds * 1e9);
	double cpu = cpu_now() - c0;
	double n = (double)rounds * BATCH;
	printf("encoder=%s spans=%.0f spans_per_s=%.0f spans_per_cpu_s=%.0f bytes_per_span=%.1f "
	       "failed_batches=%ld\n",
	       name, n, n / (w1 - w0) * 1e9, n / cpu * 1e9, (double)bytes / n, failed);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 0.5;
	if (!at_on()) {
		fprintf(stderr, "shim is off\n");
		return 2;
	}
	at_tls.depth = 1; /* like the exporter thread: our own I/O is never traced */
	fill();
	if (argc > 2 && !strcmp(argv[2], "ship")) {
		backend = at_backend_otlp_new();
		if (!backend)
			return 2;
		run("otlp_proto_http", ship_proto, secs);
		return 0;
	}
	run("otlp_proto", enc_proto, secs);
	run("otlp_json", enc_json, secs);
#ifdef HAVE_JAEGER
	run("jaeger_compact", enc_jaeger_compact, secs);
	run("jaeger_agent_udp_packets", enc_jaeger_agent, secs);
	run("jaeger_binary", enc_jaeger_binary, secs);
#endif
	return 0;
}
