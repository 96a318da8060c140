/* The exporter process follows its application's credentials
 * (AUTOTRACE_EXPORTER_MODE=process). It starts with those the application
 * had at its first span; a daemon that drops root after that must not leave
 * a root process behind it, parsing a collector's responses for as long as
 * it runs. The helper reads the application's user, group and supplementary
 * groups from /proc/<pid>/status and, when they differ from its own, takes
 * them: groups first, then the group ids, then the user ids (after which it
 * could not change groups any more). */
#ifndef AT_HELPER_CREDS_H
#define AT_HELPER_CREDS_H

#include <sys/types.h>

#define AT_CREDS_GROUPS_MAX 256

struct at_creds {
	uid_t uid[3]; /* real, effective, saved */
	gid_t gid[3];
	int ngroups;
	gid_t groups[AT_CREDS_GROUPS_MAX];
};

/* From the text of a /proc/<pid>/status: 0, or -1 if a line is missing or
 * malformed, or there are more groups than AT_CREDS_GROUPS_MAX. */
int at_creds_parse(const char *status, struct at_creds *c);
/* This process's own: 0 or -1. */
int at_creds_self(struct at_creds *c);
/* The same ids and the same set of groups (in any order). */
int at_creds_same(const struct at_creds *a, const struct at_creds *b);
/* Takes c as this process's credentials: 0, or -1 with errno. */
int at_creds_take(const struct at_creds *c);

/* In the exporter process: at most every interval_ms, reads pid's and takes
 * them if they changed. 0, or -1 when they could not be read or taken (the
 * caller stops: it must not keep more privileges than its application). */
int at_creds_follow(pid_t pid, unsigned interval_ms);

#endif
