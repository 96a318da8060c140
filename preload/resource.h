/* The resource every span of this process is reported with. */
#ifndef AT_RESOURCE_H
#define AT_RESOURCE_H

#include <stdint.h>

struct at_kv {
	const char *key;
	const char *str; /* NULL: integer value */
	int64_t i;
};

#define AT_RESOURCE_MAX 48
extern struct at_kv at_resource[AT_RESOURCE_MAX];
extern int at_resource_n;

/* Built at init; rebuilt in a fork child (process.pid changes). */
void at_resource_init(void);
void at_resource_set_pid(int pid);
/* process.executable.name, for an exporter process speaking for its app. */
void at_resource_set_exe(const char *name);
const char *at_resource_get(const char *key);

#endif
