/* Redis commands read off a plain socket (resp_wire.h): a parser for what
 * the client writes (arrays of bulk strings), one for what it reads (RESP2
 * and RESP3 replies, counted whole), and the ring of commands awaiting
 * their replies. */
#include "resp_wire.h"

#include "../preload/autotrace.h"
#include "../preload/log.h"

#include <string.h>

/* the command being written */
enum { RQ_CMD = 0, RQ_ARGC, RQ_ARGC_LF, RQ_BULK, RQ_LEN, RQ_LEN_LF, RQ_DATA, RQ_DATA_CR, RQ_DATA_LF };
/* the reply being read */
enum { RP_TYPE = 0, RP_LINE, RP_NUM, RP_NUM_LF, RP_BULK, RP_BULK_CR, RP_BULK_LF };

#define NUM_DIGITS_MAX 18

int at_resp_looks(const char *p, size_t n)
{
	/* as much of "*", 1 to 7 digits, "\r\n$" as the bytes hold */
	if (!n || p[0] != '*')
		return 0;
	size_t i = 1;
	while (i < n && i <= 7 && p[i] >= '0' && p[i] <= '9')
		i++;
	if (i == n)
		return 1;
	if (i == 1 || p[i] != '\r')
		return 0;
	return (i + 1 == n || p[i + 1] == '\n') && (i + 2 >= n || p[i + 2] == '$');
}

void at_resp_init(struct at_resp *r, const char *addr, size_t addr_len, int port)
{
	/* everything but the slots, which are set as they are taken */
	memset(r, 0, offsetof(struct at_resp, slot));
	if (addr_len >= sizeof r->addr)
		addr_len = 0;
	memcpy(r->addr, addr, addr_len);
	r->addr_len = (uint8_t)addr_len;
	r->port = port;
}

static struct at_resp_slot *slot_at(struct at_resp *r, unsigned i)
{
	return &r->slot[(r->head + i) % AT_RESP_SLOTS];
}

/* ---- the commands ---- */

/* A command's first byte went out at t0: its span begins (a slot of the
 * ring when it records and one is free) and its capture. */
static void command_begin(struct at_resp *r, uint64_t t0, uintptr_t caller)
{
	char *buf = r->scratch;
	r->rq_rec = 0;
	if (r->count < AT_RESP_SLOTS) {
		struct at_resp_slot *sl = slot_at(r, r->count);
		struct at_leaf *l = &sl->leaf;
		if (at_leaf_begin(l, AT_KIND_CLIENT, caller)) {
			at_tls.leaf = NULL; /* it outlives this call: not the thread's */
			l->start = t0;
			/* the parent's context is copied: its span may end first,
			 * and the record has no room for a tracestate */
			if (l->parent) {
				sl->parent = *l->parent;
				l->parent = &sl->parent;
			}
			l->pspan = NULL;
			buf = sl->blob;
			r->rq_rec = 1;
		}
	}
	at_redis_cap_init(&r->cap, buf, AT_RESP_BLOB, at_redis_show_args(), r->addr, r->addr_len,
	                  r->port, r->db_sent);
}

/* The command is written whole: it now waits for its reply. */
static void command_end(struct at_resp *r)
{
	uint64_t seq = r->sent++;
	if (r->cap.kind == AT_REDIS_PUBSUB && !r->stop) {
		r->stop = 1; /* its first reply is the last one followed */
		r->stop_seq = seq;
	}
	if (r->cap.kind == AT_REDIS_SELECT && r->cap.select_db >= 0)
		r->db_sent = r->cap.select_db;
	if (!r->rq_rec) {
		if (r->count == AT_RESP_SLOTS && !r->untraced++)
			at_debug("redis on the wire: more than %d commands awaiting their replies; "
			         "the others are not traced",
			         AT_RESP_SLOTS);
		return;
	}
	struct at_resp_slot *sl = slot_at(r, r->count);
	sl->seq = seq;
	sl->kind = (uint8_t)r->cap.kind;
	sl->select_db = r->cap.select_db;
	sl->len = (uint16_t)r->cap.len;
	at_leaf_raw(&sl->leaf, "db.query.text", AT_RENDER_REDIS, sl->blob, sl->len);
	r->count++;
	r->rq_rec = 0;
}

/* Digit c into the number being read; -1 past NUM_DIGITS_MAX digits. */
static int digit(int64_t *num, char c)
{
	if (c < '0' || c > '9' || *num > 99999999999999999LL)
		return -1;
	*num = *num * 10 + (c - '0');
	return 0;
}

/* A number ended by "\r\n" at p[*i] (within n bytes): it, or -1 when the
 * bytes are not that (or end first). */
static AT_ALWAYS_INLINE int64_t whole_num(const char *p, size_t n, size_t *i)
{
	size_t k = *i;
	int64_t v = 0;
	while (k < n && p[k] >= '0' && p[k] <= '9' && k - *i < NUM_DIGITS_MAX)
		v = v * 10 + (p[k++] - '0');
	if (k == *i || k + 1 >= n || p[k] != '\r' || p[k + 1] != '\n')
		return -1;
	*i = k + 2;
	return v;
}

/* The common write: whole commands, each within the piece. The command at
 * p, when all of it is there, taken at once (checked, then captured);
 * returns its length, 0 when it is not whole here (the byte-by-byte path
 * takes it). */
static size_t whole_command(struct at_resp *r, const char *p, size_t n, uint64_t t0,
                            uintptr_t caller)
{
	size_t i = 1;
	int64_t argc = whole_num(p, n, &i);
	if (argc <= 0 || argc > 4096)
		return 0;
	size_t args = i;
	for (int64_t a = 0; a < argc; a++) {
		if (i >= n || p[i] != '$')
			return 0;
		i++;
		int64_t len = whole_num(p, n, &i);
		if (len < 0 || (uint64_t)len + 2 > n - i || p[i + len] != '\r' || p[i + len + 1] != '\n')
			return 0;
		i += (size_t)len + 2;
	}
	command_begin(r, t0, caller);
	for (size_t k = args; k < i;) {
		k++; /* '$' */
		size_t len = (size_t)whole_num(p, n, &k);
		at_redis_cap_arg_begin(&r->cap);
		at_redis_cap_arg_put(&r->cap, p + k, len);
		at_redis_cap_arg_end(&r->cap);
		k += len + 2;
	}
	command_end(r);
	return i;
}

/* Bytes of one piece that went out; -1: not a command as RESP writes it. */
static int out_bytes(struct at_resp *r, const char *p, size_t n, uint64_t t0, uintptr_t caller)
{
	size_t i = 0;
	while (i < n) {
		if (r->rq_state == RQ_CMD && p[i] == '*') {
			size_t m = whole_command(r, p + i, n - i, t0, caller);
			if (m) {
				i += m;
				continue;
			}
		}
		char c = p[i];
		switch (r->rq_state) {
		case RQ_CMD:
			if (c != '*')
				return -1; /* an inline command: not followed */
			r->rq_num = 0;
			r->rq_t0 = t0;
			r->rq_state = RQ_ARGC;
			break;
		case RQ_ARGC:
		case RQ_LEN:
			if (c == '\r')
				r->rq_state++;
			else if (digit(&r->rq_num, c))
				return -1;
			break;
		case RQ_ARGC_LF:
			if (c != '\n')
				return -1;
			r->rq_args = r->rq_num;
			if (r->rq_args > 0) {
				r->rq_state = RQ_BULK;
				command_begin(r, r->rq_t0, caller);
			} else { /* "*0": the server reads nothing, answers nothing */
				r->rq_state = RQ_CMD;
			}
			break;
		case RQ_BULK:
			if (c != '$')
				return -1;
			r->rq_num = 0;
			r->rq_state = RQ_LEN;
			break;
		case RQ_LEN_LF:
			if (c != '\n')
				return -1;
			r->rq_left = r->rq_num;
			at_redis_cap_arg_begin(&r->cap);
			if (!r->rq_left) {
				at_redis_cap_arg_end(&r->cap);
				r->rq_state = RQ_DATA_CR;
			} else {
				r->rq_state = RQ_DATA;
			}
			break;
		case RQ_DATA: {
			size_t m = n - i;
			if ((uint64_t)r->rq_left < m)
				m = (size_t)r->rq_left;
			at_redis_cap_arg_put(&r->cap, p + i, m);
			r->rq_left -= (int64_t)m;
			i += m;
			if (!r->rq_left) {
				at_redis_cap_arg_end(&r->cap);
				r->rq_state = RQ_DATA_CR;
			}
			continue;
		}
		case RQ_DATA_CR:
			if (c != '\r')
				return -1;
			r->rq_state = RQ_DATA_LF;
			break;
		case RQ_DATA_LF:
			if (c != '\n')
				return -1;
			if (--r->rq_args > 0) {
				r->rq_state = RQ_BULK;
			} else {
				r->rq_state = RQ_CMD;
				command_end(r);
			}
			break;
		}
		i++;
	}
	return 0;
}

int at_resp_out(struct at_resp *r, const struct iovec *iov, int cnt, size_t n, uint64_t t0,
                uintptr_t caller)
{
	for (int k = 0; k < cnt && n; k++) {
		size_t m = iov[k].iov_len < n ? iov[k].iov_len : n;
		if (m && out_bytes(r, iov[k].iov_base, m, t0, caller) < 0) {
			at_debug("redis on the wire: a write that is not RESP; no longer followed");
			at_resp_desync(r);
			return -1;
		}
		n -= m;
	}
	return 0;
}

/* ---- the replies ---- */

/* The oldest command under way, if it records, ends with the reply just
 * read: an error (err_len bytes of its text in r->err) or not. */
static void reply_end(struct at_resp *r, uint64_t seq, int error)
{
	if (!r->count || r->slot[r->head].seq != seq)
		return; /* a command that does not record */
	struct at_resp_slot *sl = &r->slot[r->head];
	r->head = (uint8_t)((r->head + 1) % AT_RESP_SLOTS);
	r->count--;
	if (!error && sl->kind == AT_REDIS_SELECT && sl->select_db >= 0) {
		r->db = sl->select_db;
		at_redis_cap_set_db(sl->blob, r->db);
	} else if (error && sl->kind == AT_REDIS_SELECT) {
		r->db_sent = r->db;
	}
	if (!error) {
		at_leaf_end(&sl->leaf);
		return;
	}
	struct at_span s;
	at_leaf_span(&sl->leaf, &s);
	at_redis_fail_reply(&s, r->err, r->rp_err_len);
	at_span_end(&s);
}

/* A reply is whole (top: its first byte). Returns 1 once the reply that
 * ends the following is in, -1 for a reply nobody asked for. */
static int reply_done(struct at_resp *r)
{
	/* a push, an attribute: not a reply; but under RESP3 a subscription
	 * is answered with a push */
	if (r->rp_top == '|' ||
	    (r->rp_top == '>' && !(r->stop && r->replied == r->stop_seq && r->sent > r->replied)))
		return 0;
	if (r->replied == r->sent)
		return -1;
	uint64_t seq = r->replied++;
	reply_end(r, seq, r->rp_top == '-' || r->rp_top == '!');
	return r->stop && seq == r->stop_seq;
}

/* An element is whole: the aggregates it completes, then maybe the reply. */
static int element_done(struct at_resp *r)
{
	while (r->rp_depth) {
		if (--r->rp_stack[r->rp_depth - 1] > 0)
			return 0;
		r->rp_depth--;
	}
	return reply_done(r);
}

/* A type's header number is read: what it announces. */
static int header_done(struct at_resp *r, char type)
{
	int64_t v = r->rp_neg ? -r->rp_num : r->rp_num;
	switch (type) {
	case '$':
	case '!':
	case '=':
		if (v < 0)
			return element_done(r); /* a null */
		r->rp_left = v;
		r->rp_state = v ? RP_BULK : RP_BULK_CR;
		return 0;
	case '%':
	case '|':
		v *= 2; /* pairs */
		/* fall through */
	default: /* '*', '~', '>' */
		if (v <= 0)
			return element_done(r);
		if (r->rp_depth == AT_RESP_DEPTH)
			return -1;
		r->rp_stack[r->rp_depth++] = v;
		return 0;
	}
}

static void err_put(struct at_resp *r, const char *p, size_t n)
{
	size_t room = sizeof r->err - r->rp_err_len;
	if (n > room)
		n = room;
	memcpy(r->err + r->rp_err_len, p, n);
	r->rp_err_len = (uint8_t)(r->rp_err_len + n);
}

/* Bytes of one piece read; -1: not RESP, 1: stop following. */
static int in_bytes(struct at_resp *r, const char *p, size_t n)
{
	size_t i = 0;
	int rc = 0;
	while (i < n && !rc) {
		char c = p[i];
		switch (r->rp_state) {
		case RP_TYPE:
			r->rp_type = c;
			if (!r->rp_depth) {
				r->rp_top = (uint8_t)c;
				r->rp_err_len = 0;
			}
			switch (c) {
			case '+':
			case '-':
			case ':':
			case '_':
			case ',':
			case '#':
			case '(':
				r->rp_state = RP_LINE;
				break;
			case '$':
			case '!':
			case '=':
			case '*':
			case '~':
			case '>':
			case '%':
			case '|':
				r->rp_num = 0;
				r->rp_neg = 0;
				r->rp_state = RP_NUM;
				break;
			default:
				return -1;
			}
			break;
		case RP_LINE: {
			const char *e = memchr(p + i, '\n', n - i);
			size_t m = e ? (size_t)(e - (p + i)) : n - i;
			if (!r->rp_depth && r->rp_top == '-')
				err_put(r, p + i, m);
			i += m;
			if (!e)
				continue;
			if (!r->rp_depth && r->rp_top == '-' && r->rp_err_len &&
			    r->err[r->rp_err_len - 1] == '\r')
				r->rp_err_len--;
			r->rp_state = RP_TYPE;
			rc = element_done(r);
			break;
		}
		case RP_NUM:
			if (c == '\r')
				r->rp_state = RP_NUM_LF;
			else if (c == '-' && !r->rp_neg && !r->rp_num)
				r->rp_neg = 1;
			else if (digit(&r->rp_num, c))
				return -1;
			break;
		case RP_NUM_LF:
			if (c != '\n')
				return -1;
			r->rp_state = RP_TYPE;
			rc = header_done(r, r->rp_type);
			break;
		case RP_BULK: {
			size_t m = n - i;
			if ((uint64_t)r->rp_left < m)
				m = (size_t)r->rp_left;
			if (!r->rp_depth && r->rp_top == '!')
				err_put(r, p + i, m);
			r->rp_left -= (int64_t)m;
			i += m;
			if (!r->rp_left)
				r->rp_state = RP_BULK_CR;
			continue;
		}
		case RP_BULK_CR:
			if (c != '\r')
				return -1;
			r->rp_state = RP_BULK_LF;
			break;
		case RP_BULK_LF:
			if (c != '\n')
				return -1;
			r->rp_state = RP_TYPE;
			rc = element_done(r);
			break;
		}
		i++;
	}
	return rc;
}

int at_resp_in(struct at_resp *r, const struct iovec *iov, int cnt, size_t n)
{
	for (int k = 0; k < cnt && n; k++) {
		size_t m = iov[k].iov_len < n ? iov[k].iov_len : n;
		int rc = m ? in_bytes(r, iov[k].iov_base, m) : 0;
		n -= m;
		if (rc < 0) {
			at_debug("redis on the wire: a reply that is not RESP, or not asked for; no "
			         "longer followed");
			at_resp_desync(r);
			return -1;
		}
		if (rc > 0) {
			at_debug("redis on the wire: a subscription; no longer followed");
			r->count = 0; /* commands written after it: their replies never come */
			return 1;
		}
	}
	return 0;
}

/* ---- endings ---- */

/* Every command under way ends: failed (f), or with no status (f NULL). */
static void end_each(struct at_resp *r, const struct at_leaf_failure *f)
{
	while (r->count) {
		struct at_resp_slot *sl = &r->slot[r->head];
		r->head = (uint8_t)((r->head + 1) % AT_RESP_SLOTS);
		r->count--;
		at_leaf_end_as(&sl->leaf, f);
	}
}

void at_resp_desync(struct at_resp *r)
{
	end_each(r, NULL);
}

void at_resp_closed(struct at_resp *r, int server)
{
	static const char eof[] = "the server closed the connection before the reply";
	static const char gone[] = "the connection was closed before the reply was read";
	const char *type = server ? "REDIS_ERR_EOF" : "REDIS_ERR_NO_REPLY";
	struct at_leaf_failure f = {type, server ? eof : gone, strlen(type),
	                            server ? sizeof eof - 1 : sizeof gone - 1, 0};
	end_each(r, &f);
}

void at_resp_killed(struct at_resp *r, const char *type, const char *msg, size_t mlen)
{
	struct at_leaf_failure f = {type, msg, strlen(type), mlen, 0};
	end_each(r, &f);
}
