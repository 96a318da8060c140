/* libFuzzer target for an OTLP answer's partial_success
 * (reporter/otlp_partial.c), make fuzz: whatever a collector answers, read
 * as protobuf and as JSON. Beyond memory safety: the message is
 * NUL-terminated within its buffer and printable, and the count of
 * rejected spans the exporter takes off a batch stays within the batch. */
// SRCS: reporter/otlp_partial.c preload/log.c preload/stdfd.c
#include "../../reporter/otlp_partial.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int json = 0; json < 2; json++) {
		int64_t rejected;
		char msg[64];
		memset(msg, 'x', sizeof msg);
		int found = at_otlp_partial(data, size, json, &rejected, msg, sizeof msg);
		size_t len = strnlen(msg, sizeof msg);
		if (len == sizeof msg)
			abort();
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
				abort();
		if (found && rejected <= 0 && !len)
			abort();
		int warned = 0;
		size_t r = at_partial_success("otlp", "http://x", json + 1, data, size, 10, &warned);
		if (r > 10)
			abort();
	}
	return 0;
}
