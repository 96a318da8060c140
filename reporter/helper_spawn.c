/* Starting the exporter process (AUTOTRACE_EXPORTER_MODE=process), on the
 * application's side: at its first span, as the exporter thread would be.
 * The helper is this very library, which is also a program (the ELF entry
 * point at_helper_entry in helper.c; see the Makefile).
 *
 * Started with clone(CLONE_VM | CLONE_VFORK) twice, then execve: no fork of
 * the host's memory and no pthread_atfork handler of the host runs. The
 * middle process, a "clone" child (exit signal 0), exits as soon as the
 * helper has exec'd and is reaped here at once: the helper is then not the
 * app's child, so no SIGCHLD reaches the app and its wait()/waitpid(-1)
 * never return the helper. (execve makes a child an ordinary one again:
 * one clone would not do.) The helper gets the ring's memfd as fd 3 and a
 * pidfd of the app as fd 4 (opened while the app is suspended in the
 * vfork, so it is this app's), /dev/null for stdin and stdout, the app's
 * stderr for its diagnostics until the app exits (a thread then puts
 * /dev/null there: a reader waiting for end-of-file on a pipe must not
 * wait for the helper), no other descriptor of the host, a session of its
 * own (no terminal signals) and an empty environment but LD_LIBRARY_PATH:
 * its configuration is the app's, copied into the hand-off area after the
 * ring. */
#define _GNU_SOURCE
#include "helper.h"

#include "handoff.h"

#include "../preload/autotrace.h"
#include "../preload/callsite.h"
#include "../preload/clock.h"
#include "../preload/config.h"
#include "../preload/log.h"
#include "../preload/stdfd.h"
#include "queue.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

size_t at_helper_extra_size(void)
{
	return sizeof(struct handoff);
}

int at_helper_own_image(uintptr_t *base, size_t *len, const char **path)
{
	Dl_info di;
	if (!dladdr((void *)at_helper_own_image, &di) || !di.dli_fbase)
		return -1;
	const ElfW(Ehdr) *eh = di.dli_fbase;
	const ElfW(Phdr) *ph = (const void *)((const char *)eh + eh->e_phoff);
	uintptr_t end = 0;
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_vaddr + ph[i].p_memsz > end)
			end = ph[i].p_vaddr + ph[i].p_memsz;
	*base = (uintptr_t)di.dli_fbase;
	*len = end;
	if (path)
		*path = di.dli_fname;
	return end ? 0 : -1;
}

static int helper_started, helper_gone_said;
static pid_t helper_pid;

/* The library's file: dladdr gives the name LD_PRELOAD gave, which may be
 * relative to a directory left since; then its path in /proc/self/maps. */
static int own_path(uintptr_t base, const char *given, char *out, size_t len)
{
	if (given && given[0] == '/' && strlen(given) < len) {
		strcpy(out, given);
		return 0;
	}
	return at_maps_path(getpid(), base, out, len);
}

static uint32_t put_string(struct handoff *h, size_t *used, const char *s)
{
	if (!s)
		return 0;
	size_t n = strlen(s) + 1;
	if (*used + n > sizeof h->strings)
		return UINT32_MAX;
	memcpy(h->strings + *used, s, n);
	uint32_t off = (uint32_t)*used;
	*used += n;
	return off;
}

static int fill_handoff(struct handoff *h, uintptr_t base, size_t len)
{
	extern char *program_invocation_short_name;
	memset(h, 0, offsetof(struct handoff, strings));
	h->magic = HANDOFF_MAGIC;
	h->version = HANDOFF_VERSION;
	h->cfg_size = sizeof(struct at_config);
	h->span_size = sizeof(struct at_span);
	h->app_pid = getpid();
	h->log_level = at_log_level;
	/* emulated stamps (the app forbade itself the TSC) are ticks too, at
	 * the rate the counter ran: the helper maps them with the counter */
	h->clock_tsc = atomic_load(&at_clock_tsc) || atomic_load(&at_clock_emul);
	h->app_base = base;
	h->image_len = len;
	snprintf(h->exe_name, sizeof h->exe_name, "%s", program_invocation_short_name);
	h->cfg = at_cfg;
	size_t used = 1; /* offset 0 means none */
	h->resource_attrs_off = put_string(h, &used, at_cfg.resource_attrs);
	h->otlp_headers_off = put_string(h, &used, at_cfg.otlp_headers);
	if (h->resource_attrs_off == UINT32_MAX || h->otlp_headers_off == UINT32_MAX)
		return -1;
	return 0;
}

struct spawn_args {
	const char *path;
	char *const *argv, *const *envp;
	int ring_fd, keep_stderr;
	pid_t app;
	char *stack2;         /* the helper's stack until execve */
	volatile int err;     /* set by the helper when it could not exec */
	volatile pid_t child; /* the helper's pid, set by the middle process */
};

static long sys_dup_to(int from, int to)
{
	if (from == to)
		return syscall(SYS_fcntl, to, F_SETFD, 0); /* keep it across exec */
	return syscall(SYS_dup3, from, to, 0);
}

/* The helper, until execve: it shares the app's memory and its thread's
 * TLS, and the app's thread is suspended (CLONE_VFORK). Only system calls,
 * and not through libc's wrappers that this library interposes (close,
 * dup2...): those would update the app's own tables. */
static int spawn_helper(void *arg)
{
	struct spawn_args *a = arg;
	long nul, pidfd;
	if (sys_dup_to(a->ring_fd, RING_FD) < 0)
		goto fail;
	pidfd = syscall(SYS_pidfd_open, a->app, 0);
	if (pidfd < 0 || sys_dup_to((int)pidfd, APP_FD) < 0)
		goto fail;
	nul = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR);
	if (nul < 0)
		goto fail;
	if (sys_dup_to((int)nul, 0) < 0 || sys_dup_to((int)nul, 1) < 0 ||
	    (!a->keep_stderr && sys_dup_to((int)nul, 2) < 0))
		goto fail;
	/* every other descriptor of the app: a socket or pipe held open here
	 * would change what its peers see when the app closes it */
	if (syscall(SYS_close_range, APP_FD + 1, ~0U, 0) < 0) {
		long max = sysconf(_SC_OPEN_MAX);
		for (long fd = APP_FD + 1; fd < (max > 0 && max < 65536 ? max : 65536); fd++)
			syscall(SYS_close, fd);
	}
	syscall(SYS_setsid);
	/* a thread that forbade itself the TSC passes that on to its children
	 * and through execve, and the dynamic linker reads the TSC at once */
	syscall(SYS_prctl, PR_SET_TSC, PR_TSC_ENABLE, 0, 0, 0);
	syscall(SYS_execve, a->path, a->argv, a->envp);
fail:
	a->err = errno ? errno : EINVAL;
	syscall(SYS_exit, 127);
	return 127;
}

/* The middle process: starts the helper and, once it has exec'd, exits. */
static int spawn_mid(void *arg)
{
	struct spawn_args *a = arg;
	pid_t p = clone(spawn_helper, a->stack2, CLONE_VM | CLONE_VFORK | SIGCHLD, a);
	if (p < 0)
		a->err = errno ? errno : EAGAIN;
	else
		a->child = p;
	syscall(SYS_exit, 0);
	return 0;
}

/* Why this program must not have a helper, or NULL. The middle process's
 * exit leaves the helper to the nearest child subreaper above it, or to
 * its PID namespace's init: where that is the program itself, the helper
 * would be its child after all (SIGCHLD, wait() returning it), and an init
 * or supervisor that waits for all its children before it exits would wait
 * forever for a helper that waits for it. */
static const char *own_reaper(void)
{
	int sub = 0;
	if (getpid() == 1)
		return "this program is its PID namespace's init (PID 1)";
	if (syscall(SYS_prctl, PR_GET_CHILD_SUBREAPER, &sub, 0, 0, 0) == 0 && sub)
		return "this program is a child subreaper";
	return NULL;
}

int at_helper_spawn(const char **why)
{
	*why = own_reaper();
	if (*why)
		return -1;
	size_t extra;
	struct handoff *h = at_queue_extra(&extra);
	uintptr_t base;
	size_t len;
	const char *given;
	static char path[4096];
	if (!h || extra < sizeof *h || !at_queue_shared_fd_intact() ||
	    at_helper_own_image(&base, &len, &given) || own_path(base, given, path, sizeof path) ||
	    fill_handoff(h, base, len))
		return -1;
	atomic_store(&at_queue_ctl()->helper_state, HELPER_NONE);

	static char ldpath[4096];
	/* ps shows which app a helper serves: "autotrace-exporter <pid>" */
	static char pidarg[16];
	static char *envp[2], *argv[3] = {"autotrace-exporter", pidarg, NULL};
	snprintf(pidarg, sizeof pidarg, "%d", (int)getpid());
	const char *lp = getenv("LD_LIBRARY_PATH");
	envp[0] = envp[1] = NULL;
	if (lp && (size_t)snprintf(ldpath, sizeof ldpath, "LD_LIBRARY_PATH=%s", lp) < sizeof ldpath)
		envp[0] = ldpath;

	struct spawn_args a = {path, argv, envp, at_queue_shared_fd(), 0, getpid(), NULL, 0, 0};
	a.keep_stderr = at_stderr_usable(); /* else /dev/null there */

	size_t stack_len = 64 * 1024; /* two stacks, one for each child */
	char *stack = mmap(NULL, 2 * stack_len, PROT_READ | PROT_WRITE,
	                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		return -1;
	a.stack2 = stack + 2 * stack_len;
	sigset_t all, old;
	sigfillset(&all);
	/* no handler of the app may run in the children, which share its
	 * memory; the helper starts with every signal blocked, sets its own */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid_t mid = clone(spawn_mid, stack + stack_len, CLONE_VM | CLONE_VFORK, &a);
	if (mid > 0)
		waitpid(mid, NULL, __WCLONE); /* it has exited: reaped, unseen */
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	munmap(stack, 2 * stack_len);
	if (mid < 0)
		return -1;
	if (a.err) {
		at_debug("exporter process: cannot run %s: %s", path, strerror(a.err));
		return -1;
	}
	helper_started = 1;
	helper_pid = a.child; /* 0 where the children did not share our memory (valgrind) */
	at_debug("exporter process started (%s)", path);
	return 0;
}

int at_helper_spawned(void)
{
	return helper_started;
}

/* Whether pid runs: not gone, not a zombie (once its app's child is gone,
 * the helper belongs to init, which may be slow to reap it). */
static int process_alive(pid_t pid)
{
	char name[32], buf[256];
	snprintf(name, sizeof name, "/proc/%d/stat", (int)pid);
	int fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno != ENOENT;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = 0;
	const char *p = strrchr(buf, ')'); /* the name may hold anything */
	return !(p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
}

/* The helper says when it ends (and when it started serving, with its pid);
 * one that died without saying is seen in /proc (gone, or a zombie). */
int at_helper_dead(void)
{
	if (!helper_started)
		return 1;
	struct at_queue_ctl *c = at_queue_ctl();
	uint32_t state = atomic_load(&c->helper_state);
	/* known from the start: a helper killed before it said it serves is
	 * seen too */
	pid_t pid = helper_pid ? helper_pid : (pid_t)atomic_load(&c->helper_pid);
	int dead = state == HELPER_EXITED || (pid > 0 && !process_alive(pid));
	if (dead && !helper_gone_said) {
		helper_gone_said = 1;
		at_warn("the exporter process has exited; spans are no longer exported");
	}
	return dead;
}

void at_helper_atfork_child(void)
{
	helper_started = 0;
	helper_gone_said = 0;
	helper_pid = 0;
}

void at_helper_exec_begin(void)
{
	struct at_queue_ctl *c = at_queue_ctl();
	if (helper_started && c)
		atomic_store(&c->exec_pending, 1);
}

void at_helper_exec_failed(void)
{
	struct at_queue_ctl *c = at_queue_ctl();
	if (helper_started && c)
		atomic_store(&c->exec_pending, 0);
}
