/* The exporter's own HTTP/2 client (RFC 9113), cleartext with prior
 * knowledge, as gRPC speaks it to a collector's port 4317: one connection
 * to one collector, kept between exports, one request at a time (a stream
 * each), every step bounded by a deadline. Runs only on the exporter
 * thread. */
#ifndef AT_H2_CLIENT_H
#define AT_H2_CLIENT_H

#include "conn.h"
#include "hpack.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define AT_H2_FRAME 16384 /* the largest frame we take: SETTINGS_MAX_FRAME_SIZE's default */
#define AT_H2_BLOCK 65536 /* the largest header block we take (HEADERS + CONTINUATION) */

struct at_h2 {
	struct at_conn c; /* c.why: what failed, when at_h2_request gives -1 */
	char authority[272];
	int usable;
	/* the connection's state (reset with each new connection) */
	uint32_t next_stream;
	uint32_t peer_max_frame;
	int64_t conn_window;   /* bytes we may still send on the connection */
	int64_t peer_init_window; /* the peer's SETTINGS_INITIAL_WINDOW_SIZE */
	int goaway;            /* the peer sent GOAWAY: no new stream here */
	int got_settings;      /* its first frame, SETTINGS, has come */
	uint32_t unacked;      /* DATA bytes taken since our last WINDOW_UPDATE */
	struct at_hpack_dec dec;
	size_t in_len, in_used;
	uint8_t in[AT_H2_FRAME + 9];
	size_t block_len;
	uint8_t block[AT_H2_BLOCK];
};

struct at_h2_response {
	int status;       /* :status, 0 if none came */
	int grpc_status;  /* grpc-status, -1 if none came */
	char grpc_message[160]; /* grpc-message, percent-decoded, printable */
	size_t body_len;  /* DATA bytes of the response */
	uint8_t body[1024]; /* the first of them */
	int unprocessed;  /* on -1: the peer says it did not process the request
	                   * (REFUSED_STREAM, or GOAWAY below its stream) */
};

/* 0, or -1 with a warning when the URL cannot be used. */
int at_h2_init(struct at_h2 *h, const char *url);
/* Connects now (the preface and settings sent), unless a connection is
 * kept: 0, or -1 (h->c.why). */
int at_h2_open(struct at_h2 *h, uint64_t deadline_ms);
/* Sends one request: hblock, an HPACK header block with every field, the
 * pseudo-headers first; then the body's iovecs, the stream ended after
 * them. Reads the response to its stream's end. Returns 0 with r filled,
 * or -1 (h->c.why says what failed). A connection kept from an earlier
 * request that turns out closed is opened again once. */
int at_h2_request(struct at_h2 *h, const uint8_t *hblock, size_t hlen, const struct iovec *body,
                  int nbody, uint64_t deadline_ms, struct at_h2_response *r);
void at_h2_close(struct at_h2 *h);

#endif
