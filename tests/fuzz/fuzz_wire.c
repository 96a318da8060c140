/* libFuzzer target for the parsers that follow Redis (hooks/resp_wire.c)
 * and MySQL (hooks/mysql_wire.c) on a plain socket: they read whatever a
 * client writes and a server answers, on the application's thread, so no
 * bytes may make them read or write out of bounds, loop, or fail a check.
 * The input's first byte picks the protocol, the rest is a conversation:
 * a byte per piece (its top bit the direction, the rest its length - 1)
 * and the piece, given as one or two iovecs. Spans record (the sampler
 * always on) and their leaf records are rendered as the exporter would
 * (at_queue_push_leaf is this file's: hooks/redis_render.c and
 * hooks/mysql_render.c on each). Seeds (tests/fuzz/seeds/fuzz_wire): real
 * conversations recorded through a proxy, a Python client's pipelined
 * Redis commands against redis-server, the mariadb CLI's and PyMySQL's
 * statements against mariadbd, cut in pieces of at most 128 bytes. */
// SRCS: hooks/resp_wire.c hooks/mysql_wire.c hooks/redis_cmd.c hooks/redis_render.c hooks/mysql_render.c hooks/sql_sanitize.c hooks/sql_render.c preload/span.c preload/leaf.c preload/ids.c preload/clock.c preload/config.c preload/config_export.c preload/config_tls.c preload/log.c preload/stdfd.c preload/sampler.c preload/errors.c reporter/finalize.c
#define _GNU_SOURCE
#include "../../hooks/mysql_wire.h"
#include "../../hooks/resp_wire.h"

#include "../../preload/callsite.h"
#include "../../preload/config.h"
#include "../../preload/errors.h"
#include "../../reporter/helper.h"
#include "../../reporter/exporter.h"
#include "../../reporter/finalize.h"
#include "../../reporter/queue.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- what the parsers reach of the rest of the shim ---- */

AT_TLS struct at_tls at_tls;
struct at_span at_env_carrier;
_Atomic int at_exporter_started = 1;
void at_exporter_start(void)
{
}
AT_TLS uint8_t at_crash_thread_ready = 1;
void at_crash_thread_setup(void)
{
}
int at_redis_show_args(void)
{
	return 0;
}
void at_redis_fail_reply(struct at_span *s, const char *str, size_t len)
{
	at_span_fail(s, "ERR", 3, str, len);
}

/* the exporter's parts that need a file or another process: none here */
void at_callsite_annotate_one(struct at_span *s)
{
}
void at_helper_relocate(struct at_span *const *spans, size_t n)
{
}

static struct at_span made;

/* A whole span ends (an error, a long statement): rendered. */
int at_queue_push(const struct at_span *s)
{
	struct at_span *one[1] = {&made};
	made = *s;
	at_span_finalize(one, 1);
	return 0;
}

/* A leaf's record, as the queue writes it and the exporter reads it back,
 * rendered. */
int at_queue_push_leaf(const struct at_leaf *l, uint64_t end)
{
	static char rec[AT_LEAF_REC + 4096];
	if (l->len > sizeof rec - AT_LEAF_REC)
		abort(); /* a record the queue's units could not hold */
	at_leaf_record((struct at_leaf_rec *)rec, l, end);
	memcpy(rec + AT_LEAF_REC, l->raw, l->len);
	struct at_leaf_rec h;
	memcpy(&h, rec, sizeof h);
	at_leaf_expand(&made, &h, rec + AT_LEAF_REC, l->len);
	struct at_span *one[1] = {&made};
	at_span_finalize(one, 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		at_config_load();
		ready = 1;
	}
	static struct at_resp r;
	static struct at_myw m;
	if (size < 1)
		return 0;
	int mysql = data[0] & 1;
	if (mysql)
		at_myw_init(&m, "127.0.0.1", 9, 3306);
	else
		at_resp_init(&r, "127.0.0.1", 9, 6379);
	size_t i = 1;
	uint64_t t = 1000;
	while (i < size) {
		int out = data[i] >> 7;
		size_t n = (size_t)(data[i] & 0x7f) + 1;
		i++;
		if (n > size - i)
			n = size - i;
		struct iovec v[2] = {{(void *)(data + i), n / 2}, {(void *)(data + i + n / 2), n - n / 2}};
		int rc;
		if (mysql)
			rc = out ? at_myw_out(&m, v, 2, n, t, 0x1234) : at_myw_in(&m, v, 2, n);
		else
			rc = out ? at_resp_out(&r, v, 2, n, t, 0x1234) : at_resp_in(&r, v, 2, n);
		i += n;
		t += 10;
		if (rc)
			return 0;
	}
	if (mysql)
		at_myw_closed(&m, data[0] & 2);
	else
		at_resp_closed(&r, data[0] & 2);
	return 0;
}
