/* libFuzzer target for the Redis command capture (application thread) and
 * its rendering (exporter thread), make fuzz. The input is a command as
 * arguments (split on NUL bytes) or, when its first byte is '*', as the
 * protocol text; a room byte and a flags byte come first. Beyond memory
 * safety it checks what the hook relies on: the capture never writes past
 * its room, the exporter reads every blob the capture wrote, the text is
 * printable ASCII within its limit, and secrets (AUTH's arguments) never
 * reach the blob. */
// SRCS: hooks/redis_cmd.c
#define _GNU_SOURCE
#include "../../hooks/redis_cmd.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t room = AT_REDIS_CAP_HEAD + 4 + data[0] * 3; /* 12 .. 777 */
	int show = data[1] & 1;
	const char *in = (const char *)data + 2;
	size_t n = size - 2;

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
