/* Redis on a plain socket: a client that speaks RESP with no hiredis the
 * hooks can see (redis-cli, redis-benchmark and any program with hiredis
 * built in, or its own client). net.c hands over a TCP client connection
 * whose first bytes are a RESP command ("*<n>\r\n$"); from then on every
 * command the application writes becomes a CLIENT span, begun at the write
 * that started it and ended when the reply it gets back is complete,
 * with the same name and attributes as the hiredis hook's (the capture,
 * hooks/redis_cmd.h, rendered on the exporter thread). Pipelined commands
 * each get their span; replies are matched to commands in order.
 *
 * Parsing only: no byte is changed, added or held back. What cannot be
 * followed (inline commands, a byte that is not RESP, a reply nobody asked
 * for) leaves the connection alone from then on; so does a subscription or
 * MONITOR, once its first reply is in (what follows are messages, not
 * replies). The state lives in the connection's slot (fdstate.h), under
 * its lock. */
#ifndef AT_RESP_WIRE_H
#define AT_RESP_WIRE_H

#include "../preload/leaf.h"
#include "redis_cmd.h"

#include <stdint.h>
#include <sys/uio.h>

#define AT_RESP_SLOTS 32 /* commands traced at once on a connection */
#define AT_RESP_BLOB 320 /* a command's capture */
#define AT_RESP_DEPTH 16  /* nesting of a reply's aggregates */
#define AT_RESP_ERR 128   /* an error reply's text kept */

/* A command written, its reply not in yet, that records. */
struct at_resp_slot {
	struct at_leaf leaf;
	struct at_ctx parent;
	uint64_t seq; /* the command's number on the connection */
	long select_db;
	uint16_t len; /* capture bytes */
	uint8_t kind; /* enum at_redis_kind */
	char blob[AT_RESP_BLOB];
};

struct at_resp {
	/* the command being written */
	uint8_t rq_state, rq_rec, rp_state, rp_top, rp_depth, rp_err_len, rp_neg, stop;
	char rp_type; /* the type whose header number is being read */
	int64_t rq_num, rq_args, rq_left;
	uint64_t rq_t0; /* when the command's first byte was written */
	struct at_redis_cap cap;
	char scratch[AT_RESP_BLOB]; /* a command that does not record is captured here */
	uint64_t sent, replied, stop_seq;
	uint64_t untraced; /* commands that found the ring full */
	/* the reply being read */
	int64_t rp_num, rp_left;
	int64_t rp_stack[AT_RESP_DEPTH]; /* elements left at each level */
	char err[AT_RESP_ERR];
	/* the connection */
	long db, db_sent; /* confirmed, and as the commands written leave it */
	int port;
	uint8_t addr_len;
	char addr[AT_ADDR_MAX];
	uint8_t head, count; /* the ring of slots */
	struct at_resp_slot slot[AT_RESP_SLOTS];
};

/* Whether the n bytes at p (the start of a client connection's first
 * write) may begin a RESP command: as much of "*", digits, "\r\n$" as
 * they hold. The parser decides on the rest: a stream that is not RESP
 * fails it within a few bytes, before any span begins. */
int at_resp_looks(const char *p, size_t n);
/* A connection to addr (addr_len 0: unknown), port. */
void at_resp_init(struct at_resp *r, const char *addr, size_t addr_len, int port);
/* n bytes of iov went out, written by a call that began at t0 (at_stamp)
 * from caller. Returns 0, or -1 when the connection cannot be followed
 * any more (its commands under way ended: at_resp_desync). */
int at_resp_out(struct at_resp *r, const struct iovec *iov, int cnt, size_t n, uint64_t t0,
                uintptr_t caller);
/* n bytes of iov came in. Returns 0; 1 when a subscription's first reply
 * is in (stop following; what was written after it is dropped); -1 when
 * the connection cannot be followed any more. */
int at_resp_in(struct at_resp *r, const struct iovec *iov, int cnt, size_t n);
/* The commands under way end now, with no status (out of step). */
void at_resp_desync(struct at_resp *r);
/* The connection is gone (server: the peer closed it; else the
 * application closed it or the process exits): the commands under way end
 * as failed, with no reply. */
void at_resp_closed(struct at_resp *r, int server);
/* A signal kills the process: the commands under way end as killed. */
void at_resp_killed(struct at_resp *r, const char *type, const char *msg, size_t mlen);
/* Whether commands are under way (spans to end). */
static inline int at_resp_pending(const struct at_resp *r)
{
	return r->count != 0;
}

#endif
