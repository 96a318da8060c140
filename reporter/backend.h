/* An export destination. The exporter thread hands every backend the same
 * batch (spans still in the queue's slots), then releases the slots. */
#ifndef AT_BACKEND_H
#define AT_BACKEND_H

#include "../preload/span.h"

#include <stddef.h>
#include <stdint.h>

struct at_backend {
	const char *name;
	/* Returns how many spans were delivered (0..n). Must give up at deadline_ms
	 * (CLOCK_MONOTONIC milliseconds). */
	size_t (*export_batch)(struct at_backend *b, struct at_span *const *spans, size_t n,
			       uint64_t deadline_ms);
	void (*close)(struct at_backend *b);
	/* Optional: connects (TLS handshake included) ahead of the first batch,
	 * by deadline_ms; a failure is the first export's business. */
	void (*open)(struct at_backend *b, uint64_t deadline_ms);
	/* Optional, in a fork's child: closes the socket inherited from the
	 * parent if it is still the backend's, and touches nothing else. */
	void (*drop)(struct at_backend *b);
	void *state;
};

/* Each returns NULL (after a warning) when its configuration is unusable. */
struct at_backend *at_backend_otlp_new(void);
struct at_backend *at_backend_otlp_grpc_new(void); /* otlp_grpc.c */
struct at_backend *at_backend_jaeger_udp_new(void);  /* jaeger_udp.c */
struct at_backend *at_backend_jaeger_http_new(void); /* jaeger_http.c */
struct at_backend *at_backend_zipkin_new(void);
struct at_backend *at_backend_console_new(void);
struct at_backend *at_backend_file_new(void);        /* file_export.c */

#endif
