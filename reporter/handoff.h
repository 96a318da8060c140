/* What an application hands its exporter process (reporter/helper.c),
 * in the shared memory after the ring, before starting it
 * (reporter/helper_spawn.c), and the descriptors it starts it with. */
#ifndef AT_HANDOFF_H
#define AT_HANDOFF_H

#include "../preload/config.h"

#include <stddef.h>
#include <stdint.h>

#define HANDOFF_MAGIC 0x61747278u /* "atrx" */
#define HANDOFF_VERSION 1
#define STRINGS_MAX 16384
#define RING_FD 3 /* the helper's descriptors */
#define APP_FD 4  /* a pidfd of the app */

enum at_helper_state { HELPER_NONE = 0, HELPER_RUNNING = 1, HELPER_EXITED = 2 };

/* What the app tells its exporter process, once, before starting it. */
struct handoff {
	uint32_t magic, version;
	uint32_t cfg_size, span_size; /* the same library on both sides: checked */
	int32_t app_pid;
	int32_t log_level;
	int32_t clock_tsc;  /* stamps are TSC ticks (preload/clock.h) */
	uintptr_t app_base; /* the library's load address in the app */
	size_t image_len;
	char exe_name[256]; /* process.executable.name */
	struct at_config cfg;
	uint32_t resource_attrs_off, otlp_headers_off; /* into strings; 0: none */
	char strings[STRINGS_MAX];
};

/* The library's load address and extent (the end of its last PT_LOAD), and
 * the file name the dynamic linker has for it: the same in the app and in
 * the helper, which is the same file run as a program. */
int at_helper_own_image(uintptr_t *base, size_t *len, const char **path);

#endif
