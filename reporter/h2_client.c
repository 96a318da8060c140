/* HTTP/2 over cleartext TCP for the exporter (h2_client.h): the preface
 * and settings, a stream per request, flow control both ways, and the
 * frames a server may send meanwhile (SETTINGS, PING, WINDOW_UPDATE,
 * GOAWAY, RST_STREAM). Anything a server should not send ends the
 * connection with a GOAWAY and a reason in c.why; nothing is retried here
 * but a kept connection found closed. */
#define _GNU_SOURCE
#include "h2_client.h"

#include "../preload/hex.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum {
	F_DATA,
	F_HEADERS,
	F_PRIORITY,
	F_RST_STREAM,
	F_SETTINGS,
	F_PUSH_PROMISE,
	F_PING,
	F_GOAWAY,
	F_WINDOW_UPDATE,
	F_CONTINUATION,
};
#define FL_END_STREAM 0x1
#define FL_ACK 0x1
#define FL_END_HEADERS 0x4
#define FL_PADDED 0x8
#define FL_PRIORITY 0x20

enum { E_NO_ERROR, E_PROTOCOL, E_INTERNAL, E_FLOW_CONTROL, E_SETTINGS_TIMEOUT, E_STREAM_CLOSED,
       E_FRAME_SIZE, E_REFUSED_STREAM, E_CANCEL, E_COMPRESSION };

static const char *const err_names[] = {
	"NO_ERROR",          "PROTOCOL_ERROR",    "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
	"SETTINGS_TIMEOUT",  "STREAM_CLOSED",     "FRAME_SIZE_ERROR", "REFUSED_STREAM",
	"CANCEL",            "COMPRESSION_ERROR", "CONNECT_ERROR",  "ENHANCE_YOUR_CALM",
	"INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
};

static const char *err_name(uint32_t code)
{
	return code < sizeof err_names / sizeof *err_names ? err_names[code] : "unknown error";
}

/* The window we give the peer for the connection and each stream: a
 * response never comes near it, so it is topped up rarely. */
#define OUR_WINDOW (1u << 24)
#define MAX_WINDOW 0x7fffffffLL

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* The request in progress. */
struct stream {
	uint32_t id;
	int64_t window;  /* bytes we may still send on it */
	int done;        /* its response has ended (or it was reset) */
	int reset;       /* RST_STREAM, or GOAWAY below it: r->unprocessed says which */
	int seen;        /* a frame of it came */
	int cut;         /* its response ended before all its body was sent */
	struct at_h2_response *r;
};

struct frame {
	uint32_t len;
	int type, flags;
	uint32_t stream;
	uint8_t *p;
};

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put_head(uint8_t *p, size_t len, int type, int flags, uint32_t stream)
{
	p[0] = (uint8_t)(len >> 16);
	p[1] = (uint8_t)(len >> 8);
	p[2] = (uint8_t)len;
	p[3] = (uint8_t)type;
	p[4] = (uint8_t)flags;
	put32(p + 5, stream & 0x7fffffffu);
}

/* One frame whose payload is at most 16 bytes. */
static int send_small(struct at_h2 *h, int type, int flags, uint32_t stream, const void *payload,
                      size_t len, uint64_t deadline_ms)
{
	uint8_t b[9 + 16];
	put_head(b, len, type, flags, stream);
	if (len) /* a SETTINGS ack has none (NULL) */
		memcpy(b + 9, payload, len);
	if (at_conn_send_all(&h->c, b, 9 + len, deadline_ms)) {
		at_conn_failed(&h->c, "send", errno, deadline_ms);
		return -1;
	}
	return 0;
}

static int send_window_update(struct at_h2 *h, uint32_t stream, uint32_t inc, uint64_t deadline_ms)
{
	uint8_t p[4];
	put32(p, inc);
	return send_small(h, F_WINDOW_UPDATE, 0, stream, p, 4, deadline_ms);
}

/* The peer broke the protocol: say so (best effort) and say why. */
static int conn_error(struct at_h2 *h, uint32_t code, const char *what, uint64_t deadline_ms)
{
	uint8_t p[8];
	put32(p, 0);
	put32(p + 4, code);
	send_small(h, F_GOAWAY, 0, 0, p, 8, deadline_ms);
	snprintf(h->c.why, sizeof h->c.why, "HTTP/2 %s: %s", err_name(code), what);
	return -1;
}

int at_h2_init(struct at_h2 *h, const char *url)
{
	const char *path;
	memset(h, 0, sizeof *h);
	if (at_conn_init(&h->c, url, &path))
		return -1;
	snprintf(h->authority, sizeof h->authority, "%s:%s", h->c.host, h->c.port);
	h->c.alpn_h2 = 1;
	h->usable = 1;
	return 0;
}

void at_h2_close(struct at_h2 *h)
{
	at_conn_release(&h->c);
}

/* Connects and sends the preface, our settings (no push; our window) and
 * the connection's window; the server's settings are read with the first
 * response (a client need not wait for them). */
static int open_conn(struct at_h2 *h, uint64_t deadline_ms)
{
	if (at_conn_connect(&h->c, deadline_ms))
		return -1;
	h->next_stream = 1;
	h->peer_max_frame = 16384;
	h->conn_window = 65535;
	h->peer_init_window = 65535;
	h->goaway = 0;
	h->got_settings = 0;
	h->in_len = h->in_used = 0;
	h->unacked = 0;
	at_hpack_dec_init(&h->dec);

	uint8_t b[sizeof preface - 1 + 9 + 12 + 9 + 4], *p = b;
	memcpy(p, preface, sizeof preface - 1);
	p += sizeof preface - 1;
	put_head(p, 12, F_SETTINGS, 0, 0);
	p += 9;
	static const uint8_t settings[12] = {0, 2, 0, 0, 0, 0, /* ENABLE_PUSH 0 */
	                                     0, 4, (uint8_t)(OUR_WINDOW >> 24),
	                                     (uint8_t)(OUR_WINDOW >> 16), (uint8_t)(OUR_WINDOW >> 8),
	                                     (uint8_t)OUR_WINDOW}; /* INITIAL_WINDOW_SIZE */
	memcpy(p, settings, sizeof settings);
	p += sizeof settings;
	put_head(p, 4, F_WINDOW_UPDATE, 0, 0);
	put32(p + 9, OUR_WINDOW - 65535);
	p += 13;
	if (at_conn_send_all(&h->c, b, (size_t)(p - b), deadline_ms)) {
		at_conn_failed(&h->c, "send", errno, deadline_ms);
		at_conn_close(&h->c);
		return -1;
	}
	return 0;
}

/* The next whole frame into h->in. */
static int next_frame(struct at_h2 *h, uint64_t deadline_ms, struct frame *f)
{
	if (h->in_used) {
		memmove(h->in, h->in + h->in_used, h->in_len - h->in_used);
		h->in_len -= h->in_used;
		h->in_used = 0;
	}
	for (;;) {
		if (h->in_len >= 9) {
			if (!h->got_settings && (h->in[3] != F_SETTINGS || h->in[4] & FL_ACK)) {
				int text = 1;
				for (int i = 0; i < 9; i++)
					text &= h->in[i] >= 0x20 && h->in[i] < 0x7f;
				snprintf(h->c.why, sizeof h->c.why,
				         "the collector does not speak HTTP/2 (%s): is this its OTLP/gRPC "
				         "port (usually 4317)?",
				         !memcmp(h->in, "HTTP/", 5) ? "it answered in HTTP/1.x"
				         : text                      ? "it answered in text"
				                                     : "its first frame is not SETTINGS");
				return -1;
			}
			f->len = (uint32_t)h->in[0] << 16 | (uint32_t)h->in[1] << 8 | h->in[2];
			if (f->len > AT_H2_FRAME) {
				char w[64];
				snprintf(w, sizeof w, "a frame of %u bytes", f->len);
				return conn_error(h, E_FRAME_SIZE, w, deadline_ms);
			}
			if (h->in_len >= 9 + f->len) {
				f->type = h->in[3];
				f->flags = h->in[4];
				f->stream = be32(h->in + 5) & 0x7fffffffu;
				f->p = h->in + 9;
				h->in_used = 9 + f->len;
				return 0;
			}
		}
		ssize_t n = at_conn_recv(&h->c, h->in + h->in_len, sizeof h->in - h->in_len, deadline_ms);
		if (n < 0) {
			at_conn_failed(&h->c, "response", errno, deadline_ms);
			return -1;
		}
		if (n == 0) {
			snprintf(h->c.why, sizeof h->c.why, "connection closed by the collector");
			return -1;
		}
		h->in_len += (size_t)n;
	}
}

/* A value of 1 to max decimal digits, else -1 (no sign, no space). */
static int digits(const char *v, size_t n, size_t max)
{
	int x = 0;
	if (!n || n > max)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return x;
}

/* What the response's fields say: :status, grpc-status, grpc-message. */
static int on_field(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen)
{
	struct at_h2_response *r = ctx;
	if (nlen == 7 && !memcmp(name, ":status", 7)) {
		int v = digits(value, vlen, 3);
		r->status = vlen == 3 && v >= 100 && v <= 599 ? v : 0;
	} else if (nlen == 11 && !memcmp(name, "grpc-status", 11)) {
		int v = digits(value, vlen, 4);
		if (v >= 0)
			r->grpc_status = v;
	} else if (nlen == 12 && !memcmp(name, "grpc-message", 12)) {
		/* percent-encoded (gRPC's spec); shown in a one-line warning */
		size_t o = 0;
		for (size_t i = 0; i < vlen && o + 1 < sizeof r->grpc_message; i++) {
			unsigned c = (unsigned char)value[i];
			const unsigned char *x = (const unsigned char *)value + i + 1;
			int hi, lo;
			if (c == '%' && i + 2 < vlen && (hi = at_hexval(x[0])) >= 0 &&
			    (lo = at_hexval(x[1])) >= 0) {
				c = (unsigned)(hi << 4 | lo);
				i += 2;
			}
			r->grpc_message[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
		r->grpc_message[o] = 0;
	}
	return 0;
}

/* HEADERS and its CONTINUATIONs: one block, always decoded (the table is
 * the connection's), its fields ours only when the stream is. */
static int take_headers(struct at_h2 *h, struct frame *f, struct stream *s, uint64_t deadline_ms)
{
	const uint8_t *p = f->p;
	size_t len = f->len;
	if (!f->stream)
		return conn_error(h, E_PROTOCOL, "HEADERS on stream 0", deadline_ms);
	if (f->flags & FL_PADDED) {
		if (len < 1 || p[0] >= len)
			return conn_error(h, E_PROTOCOL, "HEADERS padding", deadline_ms);
		len -= 1 + p[0];
		p++;
	}
	if (f->flags & FL_PRIORITY) {
		if (len < 5)
			return conn_error(h, E_FRAME_SIZE, "HEADERS priority", deadline_ms);
		p += 5;
		len -= 5;
	}
	uint32_t stream = f->stream;
	int end_stream = f->flags & FL_END_STREAM, end = f->flags & FL_END_HEADERS;
	h->block_len = 0;
	for (;;) {
		if (len > sizeof h->block - h->block_len)
			return conn_error(h, E_INTERNAL, "a header block over 64 KiB", deadline_ms);
		memcpy(h->block + h->block_len, p, len);
		h->block_len += len;
		if (end)
			break;
		if (next_frame(h, deadline_ms, f))
			return -1;
		if (f->type != F_CONTINUATION || f->stream != stream)
			return conn_error(h, E_PROTOCOL, "a header block not continued", deadline_ms);
		p = f->p;
		len = f->len;
		end = f->flags & FL_END_HEADERS;
	}
	struct at_h2_response scratch;
	struct at_h2_response *r = stream == s->id ? s->r : &scratch;
	if (at_hpack_decode(&h->dec, h->block, h->block_len, on_field, r))
		return conn_error(h, E_COMPRESSION, "a header block HPACK cannot decode", deadline_ms);
	if (stream == s->id) {
		s->seen = 1;
		if (end_stream)
			s->done = 1;
	}
	return 0;
}

static int take_settings(struct at_h2 *h, struct frame *f, struct stream *s, uint64_t deadline_ms)
{
	if (f->stream)
		return conn_error(h, E_PROTOCOL, "SETTINGS on a stream", deadline_ms);
	if (f->flags & FL_ACK)
		return 0;
	if (f->len % 6)
		return conn_error(h, E_FRAME_SIZE, "SETTINGS length", deadline_ms);
	for (uint32_t i = 0; i < f->len; i += 6) {
		unsigned id = (unsigned)f->p[i] << 8 | f->p[i + 1];
		uint32_t v = be32(f->p + i + 2);
		if (id == 4) { /* INITIAL_WINDOW_SIZE: open streams' windows move too */
			if (v > MAX_WINDOW)
				return conn_error(h, E_FLOW_CONTROL, "INITIAL_WINDOW_SIZE", deadline_ms);
			if (s->id)
				s->window += (int64_t)v - h->peer_init_window;
			h->peer_init_window = v;
		} else if (id == 5) { /* MAX_FRAME_SIZE */
			if (v < 16384 || v > 16777215)
				return conn_error(h, E_PROTOCOL, "MAX_FRAME_SIZE", deadline_ms);
			h->peer_max_frame = v < AT_H2_FRAME ? v : AT_H2_FRAME;
		}
		/* HEADER_TABLE_SIZE: we never index; the rest do not concern us */
	}
	h->got_settings = 1;
	return send_small(h, F_SETTINGS, FL_ACK, 0, NULL, 0, deadline_ms);
}

/* One frame of whatever the server sends while a request is in progress. */
static int take_frame(struct at_h2 *h, struct frame *f, struct stream *s, uint64_t deadline_ms)
{
	switch (f->type) {
	case F_DATA: {
		if (!f->stream)
			return conn_error(h, E_PROTOCOL, "DATA on stream 0", deadline_ms);
		uint32_t data = f->len;
		if (f->flags & FL_PADDED) {
			if (!f->len || f->p[0] >= f->len)
				return conn_error(h, E_PROTOCOL, "DATA padding", deadline_ms);
			data = f->len - 1 - f->p[0];
		}
		/* the connection's window, topped up when half used (a stream's
		 * never is: no response comes near it) */
		h->unacked += f->len;
		if (h->unacked >= OUR_WINDOW / 2) {
			if (send_window_update(h, 0, h->unacked, deadline_ms))
				return -1;
			h->unacked = 0;
		}
		if (f->stream == s->id) {
			s->seen = 1;
			const uint8_t *d = f->p + (f->flags & FL_PADDED ? 1 : 0);
			size_t have = s->r->body_len < sizeof s->r->body ? s->r->body_len
			                                                 : sizeof s->r->body;
			size_t k = sizeof s->r->body - have < data ? sizeof s->r->body - have : data;
			memcpy(s->r->body + have, d, k);
			s->r->body_len += data;
			if (f->flags & FL_END_STREAM)
				s->done = 1;
		}
		return 0;
	}
	case F_HEADERS:
		return take_headers(h, f, s, deadline_ms);
	case F_RST_STREAM:
		if (f->len != 4)
			return conn_error(h, E_FRAME_SIZE, "RST_STREAM length", deadline_ms);
		if (f->stream && f->stream == s->id) {
			uint32_t code = be32(f->p);
			s->done = s->reset = 1;
			s->r->unprocessed = code == E_REFUSED_STREAM;
			snprintf(h->c.why, sizeof h->c.why, "the collector reset the stream (%s)",
			         err_name(code));
		}
		return 0;
	case F_SETTINGS:
		return take_settings(h, f, s, deadline_ms);
	case F_PUSH_PROMISE:
		return conn_error(h, E_PROTOCOL, "PUSH_PROMISE, which we disabled", deadline_ms);
	case F_PING:
		if (f->len != 8 || f->stream)
			return conn_error(h, E_FRAME_SIZE, "PING length", deadline_ms);
		if (f->flags & FL_ACK)
			return 0;
		return send_small(h, F_PING, FL_ACK, 0, f->p, 8, deadline_ms);
	case F_GOAWAY: {
		if (f->len < 8 || f->stream)
			return conn_error(h, E_FRAME_SIZE, "GOAWAY length", deadline_ms);
		uint32_t last = be32(f->p) & 0x7fffffffu, code = be32(f->p + 4);
		h->goaway = 1;
		if (s->id > last) { /* ours was not processed: the next connection may take it */
			int dl = (int)(f->len - 8 < 60 ? f->len - 8 : 60);
			s->done = s->reset = 1;
			s->r->unprocessed = 1;
			snprintf(h->c.why, sizeof h->c.why, "the collector is going away (GOAWAY %s%s%.*s)",
			         err_name(code), dl ? ": " : "", dl, (const char *)f->p + 8);
			for (char *c = h->c.why; *c; c++)
				if ((unsigned char)*c < 0x20 || *c == 0x7f)
					*c = '?';
		}
		return 0; /* else ours is finished first */
	}
	case F_WINDOW_UPDATE: {
		if (f->len != 4)
			return conn_error(h, E_FRAME_SIZE, "WINDOW_UPDATE length", deadline_ms);
		uint32_t inc = be32(f->p) & 0x7fffffffu;
		if (!inc)
			return conn_error(h, E_PROTOCOL, "WINDOW_UPDATE of 0", deadline_ms);
		int64_t *w = !f->stream ? &h->conn_window : f->stream == s->id ? &s->window : NULL;
		if (w && (*w += inc) > MAX_WINDOW)
			return conn_error(h, E_FLOW_CONTROL, "a window over 2^31-1", deadline_ms);
		return 0;
	}
	case F_CONTINUATION:
		return conn_error(h, E_PROTOCOL, "CONTINUATION out of place", deadline_ms);
	default: /* PRIORITY, and types we do not know: ignored */
		return 0;
	}
}

static int read_one(struct at_h2 *h, struct stream *s, uint64_t deadline_ms)
{
	struct frame f;
	if (next_frame(h, deadline_ms, &f))
		return -1;
	return take_frame(h, &f, s, deadline_ms);
}

/* HEADERS, CONTINUATION if the block is over a frame. */
static int send_headers(struct at_h2 *h, uint32_t id, const uint8_t *blk, size_t n, int end_stream,
                        uint64_t deadline_ms)
{
	int type = F_HEADERS;
	do {
		size_t k = n < h->peer_max_frame ? n : h->peer_max_frame;
		int flags = (k == n ? FL_END_HEADERS : 0) | (type == F_HEADERS && end_stream ? FL_END_STREAM : 0);
		uint8_t head[9];
		put_head(head, k, type, flags, id);
		struct iovec v[2] = {{head, 9}, {(void *)blk, k}};
		if (at_conn_sendv(&h->c, v, 2, deadline_ms)) {
			at_conn_failed(&h->c, "send", errno, deadline_ms);
			return -1;
		}
		blk += k;
		n -= k;
		type = F_CONTINUATION;
	} while (n);
	return 0;
}

/* The body as DATA frames, as the windows allow, several frames to a
 * sendmsg, each frame's bytes where the caller has them (no copy); frames
 * the server sends meanwhile are taken when a window is shut (it opening,
 * or the server's answer before the end). */
#define FRAMES 16
static int send_body(struct at_h2 *h, struct stream *s, const struct iovec *iov, int niov,
                     uint64_t deadline_ms)
{
	size_t left = 0, off = 0;
	for (int j = 0; j < niov; j++)
		left += iov[j].iov_len;
	int i = 0;
	while (left && !s->done) {
		struct iovec v[FRAMES * 4];
		uint8_t heads[FRAMES][9];
		int nv = 0, nf = 0;
		while (left && nf < FRAMES && nv + niov + 1 <= (int)(sizeof v / sizeof *v)) {
			int64_t room = h->peer_max_frame;
			if (h->conn_window < room)
				room = h->conn_window;
			if (s->window < room)
				room = s->window;
			if (room <= 0)
				break;
			size_t k = left < (size_t)room ? left : (size_t)room;
			left -= k;
			put_head(heads[nf], k, F_DATA, left ? 0 : FL_END_STREAM, s->id);
			v[nv++] = (struct iovec){heads[nf++], 9};
			for (size_t o = 0; o < k;) { /* k bytes from the caller's iovecs */
				size_t c = iov[i].iov_len - off;
				if (c > k - o)
					c = k - o;
				if (c)
					v[nv++] = (struct iovec){(char *)iov[i].iov_base + off, c};
				o += c;
				off += c;
				if (off == iov[i].iov_len) {
					i++;
					off = 0;
				}
			}
			h->conn_window -= (int64_t)k;
			s->window -= (int64_t)k;
		}
		if (!nv) {
			if (read_one(h, s, deadline_ms))
				return -1;
			continue;
		}
		if (at_conn_sendv(&h->c, v, nv, deadline_ms)) {
			at_conn_failed(&h->c, "send", errno, deadline_ms);
			return -1;
		}
	}
	s->cut = left != 0;
	return 0;
}

static int exchange(struct at_h2 *h, const uint8_t *blk, size_t n, const struct iovec *iov,
                    int niov, uint64_t deadline_ms, struct stream *s)
{
	size_t body = 0;
	for (int i = 0; i < niov; i++)
		body += iov[i].iov_len;
	/* a new connection's windows are the server's SETTINGS' (its first
	 * frame): sending on the defaults before they come may overrun a
	 * window that they make smaller */
	while (!h->got_settings)
		if (read_one(h, s, deadline_ms))
			return -1;
	s->id = h->next_stream;
	h->next_stream += 2;
	s->window = h->peer_init_window;
	if (send_headers(h, s->id, blk, n, !body, deadline_ms) ||
	    send_body(h, s, iov, niov, deadline_ms))
		return -1;
	while (!s->done)
		if (read_one(h, s, deadline_ms))
			return -1;
	if (s->cut && !s->reset) { /* answered early (an error): our half ends here */
		uint8_t code[4];
		put32(code, E_NO_ERROR);
		send_small(h, F_RST_STREAM, 0, s->id, code, 4, deadline_ms);
	}
	return s->reset ? -1 : 0;
}

/* The kept connection if it is still ours and has streams left, else a
 * new one (*fresh). */
static int connection(struct at_h2 *h, uint64_t deadline_ms, int *fresh)
{
	*fresh = 0;
	if (at_conn_ours(&h->c) && !h->goaway && h->next_stream < 0x7ffffff0u)
		return 0;
	at_conn_close(&h->c); /* closed under us, or used up */
	*fresh = 1;
	return open_conn(h, deadline_ms);
}

int at_h2_open(struct at_h2 *h, uint64_t deadline_ms)
{
	int fresh;
	return h->usable ? connection(h, deadline_ms, &fresh) : -1;
}

int at_h2_request(struct at_h2 *h, const uint8_t *blk, size_t n, const struct iovec *body,
                  int nbody, uint64_t deadline_ms, struct at_h2_response *r)
{
	if (!h->usable) {
		snprintf(h->c.why, sizeof h->c.why, "the endpoint cannot be used");
		return -1;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		memset(r, 0, sizeof *r);
		r->grpc_status = -1;
		int fresh;
		if (connection(h, deadline_ms, &fresh))
			return -1;
		struct stream s = {0};
		s.r = r;
		int rc = exchange(h, blk, n, body, nbody, deadline_ms, &s);
		if (rc || h->goaway)
			at_conn_close(&h->c);
		if (!rc)
			return 0;
		/* a kept connection the collector had closed, or a request it
		 * says it did not take: once more on a new one */
		if (((!fresh && !s.seen) || r->unprocessed) && at_conn_remaining(deadline_ms) > 0)
			continue;
		return -1;
	}
	return -1;
}
