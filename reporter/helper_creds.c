/* The exporter process follows its application's credentials (see
 * helper_creds.h). */
#define _GNU_SOURCE
#include "helper_creds.h"

#include "../preload/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The value of the line "key:\t..." in a status text, or NULL. */
static const char *field(const char *status, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = status; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, kl) && p[kl] == ':')
			return p + kl + 1;
	return NULL;
}

/* n decimal ids, separated by blanks, the line going on after them. */
static int ids(const char *p, unsigned *out, int n)
{
	for (int i = 0; i < n; i++) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			return -1;
		char *end;
		errno = 0;
		unsigned long v = strtoul(p, &end, 10);
		if (errno || v > (unsigned)-1)
			return -1;
		out[i] = (unsigned)v;
		p = end;
	}
	return 0;
}

int at_creds_parse(const char *status, struct at_creds *c)
{
	unsigned u[3], g[3];
	const char *up = field(status, "Uid"), *gp = field(status, "Gid");
	const char *grp = field(status, "Groups");
	if (!up || !gp || !grp || ids(up, u, 3) || ids(gp, g, 3))
		return -1;
	for (int i = 0; i < 3; i++) {
		c->uid[i] = (uid_t)u[i];
		c->gid[i] = (gid_t)g[i];
	}
	c->ngroups = 0;
	const char *p = grp;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '\n')
			return 0;
		unsigned v;
		if (c->ngroups == AT_CREDS_GROUPS_MAX || ids(p, &v, 1))
			return -1;
		c->groups[c->ngroups++] = (gid_t)v;
		while (*p >= '0' && *p <= '9')
			p++;
	}
}

int at_creds_self(struct at_creds *c)
{
	if (getresuid(&c->uid[0], &c->uid[1], &c->uid[2]) ||
	    getresgid(&c->gid[0], &c->gid[1], &c->gid[2]))
		return -1;
	int n = getgroups(AT_CREDS_GROUPS_MAX, c->groups);
	if (n < 0)
		return -1;
	c->ngroups = n;
	return 0;
}

static int has(const struct at_creds *c, gid_t g)
{
	for (int i = 0; i < c->ngroups; i++)
		if (c->groups[i] == g)
			return 1;
	return 0;
}

int at_creds_same(const struct at_creds *a, const struct at_creds *b)
{
	if (memcmp(a->uid, b->uid, sizeof a->uid) || memcmp(a->gid, b->gid, sizeof a->gid))
		return 0;
	for (int i = 0; i < a->ngroups; i++)
		if (!has(b, a->groups[i]))
			return 0;
	for (int i = 0; i < b->ngroups; i++)
		if (!has(a, b->groups[i]))
			return 0;
	return 1;
}

int at_creds_take(const struct at_creds *c)
{
	/* glibc applies each to every thread of the process */
	if (setgroups((size_t)c->ngroups, c->groups) && errno != EPERM)
		return -1;
	if (setresgid(c->gid[0], c->gid[1], c->gid[2]) ||
	    setresuid(c->uid[0], c->uid[1], c->uid[2]))
		return -1;
	/* an unprivileged process cannot set its groups: then they must
	 * already be those asked for */
	struct at_creds now;
	if (at_creds_self(&now) || !at_creds_same(&now, c)) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

int at_creds_follow(pid_t pid, unsigned interval_ms)
{
	static uint64_t next;
	uint64_t now = at_mono_ms();
	if (now < next)
		return 0;
	next = now + interval_ms;
	char name[32], buf[8192];
	snprintf(name, sizeof name, "/proc/%d/status", (int)pid);
	int fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? 0 : -1; /* gone: the pidfd says */
	ssize_t n = read(fd, buf, sizeof buf - 1);
	int err = errno;
	close(fd);
	if (n <= 0)
		return n == 0 || err == ESRCH ? 0 : -1;
	buf[n] = 0;
	struct at_creds app, self;
	if (at_creds_parse(buf, &app) || at_creds_self(&self))
		return -1;
	if (at_creds_same(&app, &self))
		return 0;
	return at_creds_take(&app);
}
