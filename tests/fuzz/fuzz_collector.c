/* libFuzzer target for what the exporter reads from a collector: the
 * HTTP/1.1 response reader (reporter/http_client.c) and the HTTP/2
 * client's frames (reporter/h2_client.c, its header blocks through
 * reporter/hpack.c). A collector may be broken, hostile or something else
 * on that port; whatever it answers must not make the exporter read or
 * write out of bounds, loop, or fail a check.
 *
 * The input's first byte picks the client (bit 0: HTTP/2), how the bytes
 * arrive (bits 1-3: pieces of 1, 2, 3, 7, 64, 1000, 16384 bytes, or all
 * at once), the body sent (bits 4-5: none, 10 bytes, 70,000, 200,000) and
 * whether a second request follows on what is left (bit 6). The rest is
 * what the collector sends, read by the client through this file's
 * at_conn_* in place of reporter/conn.c's socket.
 *
 * Beyond memory safety it checks what the exporter relies on: a status is
 * -1 or 100-599, the kept body within its buffer, every message
 * NUL-terminated and printable; and that the client's own bytes are
 * right whatever it read: an HTTP/1.1 request's body is the body, each
 * HTTP/2 stream's DATA is the body in order and ends with it, no frame is
 * over 16,384 bytes, and no DATA is sent beyond the windows the collector
 * gave (the connection's 65,535 bytes and its WINDOW_UPDATEs; a stream's
 * largest INITIAL_WINDOW_SIZE and its WINDOW_UPDATEs), counting every
 * frame that had arrived when the DATA went out. */
// SRCS: reporter/http_client.c reporter/h2_client.c reporter/hpack.c
#define _GNU_SOURCE
#include "../../reporter/h2_client.h"
#include "../../reporter/http_client.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t *in;
static size_t in_len, in_pos, piece;
static int connected;

/* what the client sent on the current connection */
static uint8_t out[1 << 20];
static size_t out_len, out_parsed, conn_start; /* conn_start: in_pos at its connect */
static int h2;
static const uint8_t *body;
static size_t body_len;

/* HTTP/2: what the client sent, checked as it goes */
static struct {
	uint32_t id;
	size_t sent;
	int ended;
} st[8];
static int nst;
static uint64_t conn_sent;

/* ---- reporter/conn.c's part, over the input ---- */

int at_conn_init(struct at_conn *c, const char *url, const char **path)
{
	(void)url;
	snprintf(c->host, sizeof c->host, "127.0.0.1");
	snprintf(c->port, sizeof c->port, "4318");
	c->fd = -1;
	*path = "/v1/traces";
	return 0;
}

int at_conn_remaining(uint64_t deadline_ms)
{
	(void)deadline_ms;
	return in_pos < in_len; /* a retry only while the collector has more to say */
}

int at_conn_ours(const struct at_conn *c)
{
	(void)c;
	return connected;
}

void at_conn_close(struct at_conn *c)
{
	(void)c;
	connected = 0;
}

void at_conn_forget(struct at_conn *c)
{
	(void)c;
	connected = 0;
}

void at_conn_release(struct at_conn *c)
{
	(void)c;
	connected = 0;
}

static void check_sent(void);

int at_conn_connect(struct at_conn *c, uint64_t deadline_ms)
{
	(void)deadline_ms;
	check_sent();
	connected = 1;
	c->fd = 3;
	out_len = out_parsed = 0;
	conn_start = in_pos;
	nst = 0;
	conn_sent = 0;
	return 0;
}

void at_conn_failed(struct at_conn *c, const char *step, int err, uint64_t deadline_ms)
{
	(void)deadline_ms;
	snprintf(c->why, sizeof c->why, "%s: %s", step, strerror(err));
}

static int take(const void *p, size_t n)
{
	if (!connected)
		abort(); /* never on a connection it closed */
	if (n > sizeof out - out_len) {
		errno = EPIPE; /* more than a request could be: the test's limit */
		return -1;
	}
	memcpy(out + out_len, p, n);
	out_len += n;
	return 0;
}

int at_conn_send_all(struct at_conn *c, const void *p, size_t n, uint64_t deadline_ms)
{
	(void)c, (void)deadline_ms;
	if (take(p, n))
		return -1;
	check_sent();
	return 0;
}

int at_conn_sendv(struct at_conn *c, struct iovec *iov, int n, uint64_t deadline_ms)
{
	(void)c, (void)deadline_ms;
	for (int i = 0; i < n; i++)
		if (take(iov[i].iov_base, iov[i].iov_len))
			return -1;
	check_sent();
	return 0;
}

ssize_t at_conn_recv(struct at_conn *c, void *p, size_t n, uint64_t deadline_ms)
{
	(void)c, (void)deadline_ms;
	if (!connected)
		abort();
	size_t k = in_len - in_pos;
	if (k > n)
		k = n;
	if (k > piece)
		k = piece;
	memcpy(p, in + in_pos, k);
	in_pos += k;
	return (ssize_t)k;
}

/* ---- the checks ---- */

static uint32_t be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The windows the collector has given on this connection, from the frames
 * that had wholly arrived (whether the client has read them yet or not:
 * an upper bound). Frames are counted from the connection's first byte;
 * a stream's window is its largest INITIAL_WINDOW_SIZE and its updates. */
static void windows(uint64_t *conn, uint64_t *init, uint32_t id, uint64_t *stream_upd)
{
	*conn = 65535;
	*init = 65535;
	*stream_upd = 0;
	for (size_t o = conn_start; o + 9 <= in_pos;) {
		uint32_t len = be24(in + o);
		if (o + 9 + len > in_pos)
			break;
		const uint8_t *p = in + o + 9;
		uint32_t sid = be32(in + o + 5) & 0x7fffffffu;
		if (in[o + 3] == 8 && len == 4) {
			uint32_t inc = be32(p) & 0x7fffffffu;
			if (!sid)
				*conn += inc;
			else if (sid == id)
				*stream_upd += inc;
		} else if (in[o + 3] == 4 && !sid && !(in[o + 4] & 1) && len % 6 == 0) {
			for (uint32_t i = 0; i < len; i += 6)
				if ((p[i] << 8 | p[i + 1]) == 4 && be32(p + i + 2) > *init)
					*init = be32(p + i + 2);
		}
		o += 9 + len;
	}
}

/* HTTP/2: each frame the client wrote since the last look. */
static void check_h2(void)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	if (out_parsed == 0) {
		if (out_len < 24)
			return;
		if (memcmp(out, preface, 24))
			abort();
		out_parsed = 24;
	}
	while (out_len - out_parsed >= 9) {
		const uint8_t *f = out + out_parsed;
		uint32_t len = be24(f), sid = be32(f + 5);
		if (len > 16384 || sid >> 31)
			abort();
		if (out_len - out_parsed < 9 + len)
			return; /* the rest of it comes with the next send */
		if (f[3] == 0) { /* DATA: the body, in order, within the windows */
			int i;
			for (i = 0; i < nst && st[i].id != sid; i++)
				;
			if (i == nst) {
				if (nst == (int)(sizeof st / sizeof *st))
					abort();
				st[nst++] = (typeof(st[0])){sid, 0, 0};
			}
			if (st[i].ended || f[4] & 0x8 || len > body_len - st[i].sent ||
			    memcmp(f + 9, body + st[i].sent, len))
				abort();
			st[i].sent += len;
			conn_sent += len;
			if (f[4] & 1) {
				if (st[i].sent != body_len)
					abort();
				st[i].ended = 1;
			}
			uint64_t cw, init, su;
			windows(&cw, &init, sid, &su);
			if (conn_sent > cw || st[i].sent > init + su)
				abort();
		}
		out_parsed += 9 + len;
	}
}

/* HTTP/1.1: each request is the head and then exactly the body. */
static void check_h1(void)
{
	for (;;) {
		uint8_t *end = memmem(out + out_parsed, out_len - out_parsed, "\r\n\r\n", 4);
		if (!end)
			return;
		size_t head = (size_t)(end + 4 - out - out_parsed);
		if (out_len - out_parsed - head < body_len)
			return;
		if (memcmp(out + out_parsed, "POST /v1/traces HTTP/1.1\r\n", 26) ||
		    !memmem(out + out_parsed, head, "Content-Length: ", 16) ||
		    memcmp(end + 4, body, body_len))
			abort();
		out_parsed += head + body_len;
	}
}

static void check_sent(void)
{
	if (h2)
		check_h2();
	else
		check_h1();
}

static void check_text(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);
	if (n == cap)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
}

static struct at_http hc;
static struct at_h2 hc2;
static uint8_t bodies[200000];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t pieces[8] = {1, 2, 3, 7, 64, 1000, 16384, SIZE_MAX};
	static const size_t sizes[4] = {0, 10, 70000, 200000};
	if (!size)
		return 0;
	if (!bodies[1])
		for (size_t i = 0; i < sizeof bodies; i++)
			bodies[i] = (uint8_t)(i * 7 + i / 251);
	h2 = data[0] & 1;
	piece = pieces[data[0] >> 1 & 7];
	body = bodies;
	body_len = sizes[data[0] >> 4 & 3];
	int requests = data[0] & 0x40 ? 2 : 1;
	in = data + 1;
	in_len = size - 1;
	in_pos = 0;
	connected = 0;
	out_len = out_parsed = 0;

	/* the body as two iovecs, as the exporter gives a batch */
	struct iovec v[2] = {{(void *)body, body_len / 3}, {(void *)(body + body_len / 3),
	                                                     body_len - body_len / 3}};
	for (int q = 0; q < requests; q++) {
		if (h2) {
			if (q == 0 && at_h2_init(&hc2, "http://127.0.0.1:4317"))
				abort();
			uint8_t blk[64];
			size_t n = at_hpack_put_indexed(blk, sizeof blk, 3); /* :method: POST */
			n += at_hpack_put_literal(blk + n, sizeof blk - n, 4, NULL, 0,
			                          "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
			                          59);
			struct at_h2_response r;
			int rc = at_h2_request(&hc2, blk, n, v, 2, 0, &r);
			check_h2();
			if (rc == 0 && r.status && (r.status < 100 || r.status > 599))
				abort();
			if (r.grpc_status < -1)
				abort();
			check_text(r.grpc_message, sizeof r.grpc_message);
			if (rc)
				check_text(hc2.c.why, sizeof hc2.c.why);
		} else {
			if (q == 0 && at_http_init(&hc, "http://127.0.0.1:4318/v1/traces"))
				abort();
			int status = at_http_post(&hc, "application/x-protobuf", NULL, body, body_len, 0);
			check_h1();
			if (status != -1 && (status < 100 || status > 599))
				abort();
			if (hc.body_len > sizeof hc.body)
				abort();
			if (status < 0)
				check_text(hc.c.why, sizeof hc.c.why);
		}
	}
	if (h2)
		at_h2_close(&hc2);
	else
		at_http_close(&hc);
	return 0;
}
