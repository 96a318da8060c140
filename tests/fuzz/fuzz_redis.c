/* libFuzzer target for the Redis command capture (application thread) and
 * its rendering (exporter thread), make fuzz. The input is a command as
 * arguments (split on NUL bytes) or, when its first byte is '*', as the
 * protocol text; a room byte and a flags byte come first. Beyond memory
 * safety it checks what the hook relies on: the capture never writes past
 * its room, the exporter reads every blob the capture wrote, the text is
 * printable ASCII within its limit, and secrets (AUTH's arguments) never
 * reach the blob. With flag bit 2 the input (up to its first NUL) is also a
 * format for the words capture, whose blob, when it takes the format, must
 * render as the general capture's does. */
// SRCS: hooks/redis_cmd.c
#define _GNU_SOURCE
#include "../../hooks/redis_cmd.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ARGS 64

static int cap_fmt(struct at_redis_cap *cap, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int rc = at_redis_cap_format(cap, f, ap);
	va_end(ap);
	return rc;
}

/* A format without conversions through at_redis_cap_words. */
static void words(const char *in, size_t n, size_t room, int show)
{
	char f[1024], b1[AT_REDIS_CAP_MAX + 64], b2[AT_REDIS_CAP_MAX];
	size_t fn = strnlen(in, n < sizeof f - 1 ? n : sizeof f - 1);
	memcpy(f, in, fn);
	f[fn] = 0;
	memset(b1, 0xa5, sizeof b1);
	size_t len =
	    at_redis_cap_words(b1, room, at_redis_cap_head(show, 4, 6379, 2), "host", 4, f);
	for (size_t i = len; i < sizeof b1; i++)
		if ((unsigned char)b1[i] != 0xa5)
			abort(); /* written past the blob */
	if (!len)
		return;
	if (len > room || strchr(f, '%'))
		abort();
	struct at_redis_cap cap;
	at_redis_cap_init(&cap, b2, sizeof b2, show, "host", 4, 6379, 2);
	if (cap_fmt(&cap, f) || cap.kind != AT_REDIS_PLAIN)
		abort(); /* taken, but not a plain command */
	struct at_redis_cmd c1, c2;
	struct at_redis_conninfo i1, i2;
	if (at_redis_blob_read(&c1, &i1, b1, len) || at_redis_blob_read(&c2, &i2, b2, cap.len))
		abort();
	if (c1.text_len != c2.text_len || strcmp(c1.text, c2.text) || strcmp(c1.op, c2.op) ||
	    c1.argc != c2.argc || i1.db != i2.db)
		abort(); /* the two captures render differently */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t room = AT_REDIS_CAP_HEAD + 4 + data[0] * 3; /* 12 .. 777 */
	int show = data[1] & 1;
	const char *in = (const char *)data + 2;
	size_t n = size - 2;
	if (data[1] & 2)
		words(in, n, room, show);

	char blob[AT_REDIS_CAP_MAX + 64];
	memset(blob, 0xa5, sizeof blob);
	struct at_redis_cap cap;
	if (at_redis_cap_init(&cap, blob, room, show, "host", 4, 6379, data[1] >> 1))
		abort(); /* room is at least the head and the address */
	if (n && in[0] == '*') {
		at_redis_cap_resp(&cap, in, n);
	} else {
		const char *argv[MAX_ARGS];
		size_t lens[MAX_ARGS];
		int argc = 0;
		size_t start = 0;
		for (size_t i = 0; i <= n && argc < MAX_ARGS; i++)
			if (i == n || in[i] == 0) {
				argv[argc] = in + start;
				lens[argc++] = i - start;
				start = i + 1;
			}
		at_redis_cap_argv(&cap, argc, argv, lens);
	}
	size_t limit = room < AT_REDIS_CAP_MAX ? room : AT_REDIS_CAP_MAX;
	if (cap.len > limit)
		abort();
	for (size_t i = limit; i < sizeof blob; i++)
		if ((unsigned char)blob[i] != 0xa5)
			abort(); /* written past the room */

	struct at_redis_cmd c;
	struct at_redis_conninfo ci;
	if (at_redis_blob_read(&c, &ci, blob, cap.len))
		abort(); /* the exporter could not read what the capture wrote */
	if (c.text_len >= AT_REDIS_TEXT_MAX || strlen(c.text) != c.text_len)
		abort();
	for (size_t i = 0; i < c.text_len; i++)
		if (c.text[i] < ' ' || c.text[i] > '~')
			abort();
	if (ci.port != 6379 || ci.addr_len != 4 || memcmp(ci.addr, "host", 4))
		abort();
	/* AUTH and HELLO: nothing after the name reaches the blob */
	if (cap.kind == AT_REDIS_AUTH) {
		size_t args = AT_REDIS_CAP_HEAD + 4;
		const unsigned char *p = (const unsigned char *)blob + args;
		size_t first = 3 + (p[1] | p[2] << 8); /* the name's entry */
		for (size_t i = args + first; i + 3 <= cap.len; i += 3)
			if (!(blob[i] & 2)) /* every later entry a hidden run */
				abort();
	}
	return 0;
}
