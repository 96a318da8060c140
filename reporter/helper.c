/* The exporter process (AUTOTRACE_EXPORTER_MODE=process): this library
 * run as a program, started by the application at its first span
 * (helper_spawn.c). It maps the application's ring (fd 3), takes its
 * configuration, resource and clock from the hand-off after the ring,
 * watches it through a pidfd (fd 4), and runs the exporter's loop
 * (exporter.c, at_exporter_serve) until the application has exited or
 * replaced its image, then exports what is left, for at most
 * AUTOTRACE_EXIT_TIMEOUT. Spans hold pointers into the application's copy
 * of the library (keys, literal values, event names): the same file is
 * mapped here at another address, so they move by one offset. */
#define _GNU_SOURCE
#include "helper.h"

#include "handoff.h"
#include "helper_creds.h"

#include "../preload/autotrace.h"
#include "../preload/callsite.h"
#include "../preload/clock.h"
#include "../preload/config.h"
#include "../preload/log.h"
#include "../preload/resource.h"
#include "exporter.h"
#include "queue.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

static pid_t app_pid;
static uintptr_t app_lo, app_hi;
static intptr_t delta;
static ino_t ring_ino;

/* The app still maps the ring: it has not replaced its image (execve keeps
 * the pid, so only its mappings tell). Read only while an exec is pending. */
static int app_maps_ring(void)
{
	char name[64], line[4096];
	snprintf(name, sizeof name, "/proc/%d/maps", (int)app_pid);
	FILE *f = fopen(name, "re");
	if (!f)
		return 0;
	int found = 0;
	while (!found && fgets(line, sizeof line, f)) {
		unsigned long ino;
		if (!strstr(line, "/memfd:autotrace-queue"))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %lu", &ino) == 1 && (ino_t)ino == ring_ino)
			found = 1;
	}
	fclose(f);
	return found;
}

int at_helper_app_gone(void)
{
	struct pollfd p = {APP_FD, POLLIN, 0};
	if (poll(&p, 1, 0) != 0) /* readable when it has exited (or an error) */
		return 1;
	struct at_queue_ctl *c = at_queue_ctl();
	return atomic_load(&c->exec_pending) && !app_maps_ring();
}

/* How often the app's credentials are compared with this process's. */
#define CREDS_POLL_MS 200

void at_helper_watch(void)
{
	if (!at_creds_follow(app_pid, CREDS_POLL_MS))
		return;
	int err = errno;
	/* an image the app exec'd (a set-user-ID program: no LD_PRELOAD) is
	 * not ours to follow: the loop sees it gone and ends quietly */
	if (at_helper_app_gone())
		return;
	/* never more privileges than the app: no exporter at all */
	at_warn("exporter process: cannot take the credentials pid %d has now (%s); "
	        "spans are no longer exported",
	        (int)app_pid, strerror(err));
	atomic_store(&at_queue_ctl()->helper_state, HELPER_EXITED);
	_exit(4);
}

static const char *move(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	return a >= app_lo && a < app_hi ? (const char *)(a + delta) : NULL;
}

/* Attributes whose key (or literal value) is not in the library's image
 * cannot be read here: dropped, and counted as dropped. */
static uint8_t move_attrs(struct at_attr *at, uint8_t n, uint32_t *dropped)
{
	uint8_t k = 0;
	for (uint8_t i = 0; i < n; i++) {
		struct at_attr a = at[i];
		a.key = move(a.key);
		if (a.key && a.type == AT_ATTR_LIT)
			a.v.lit = move(a.v.lit);
		if (!a.key || (a.type == AT_ATTR_LIT && !a.v.lit)) {
			(*dropped)++;
			continue;
		}
		at[k++] = a;
	}
	return k;
}

void at_helper_relocate(struct at_span *const *spans, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct at_span *s = spans[i];
		s->prev = NULL; /* the app's stack */
		s->nattrs =
		    move_attrs(s->attrs, s->nattrs < AT_MAX_ATTRS ? s->nattrs : AT_MAX_ATTRS,
		               &s->dropped_attrs);
		uint8_t ne = s->nevents < AT_MAX_EVENTS ? s->nevents : AT_MAX_EVENTS, k = 0;
		for (uint8_t e = 0; e < ne; e++) {
			struct at_event ev = s->events[e];
			ev.name = move(ev.name);
			if (!ev.name) {
				s->dropped_events++;
				continue;
			}
			uint32_t lost = 0;
			ev.nattrs = move_attrs(
			    ev.attrs, ev.nattrs < AT_EVENT_ATTRS ? ev.nattrs : AT_EVENT_ATTRS,
			    &lost);
			s->events[k++] = ev;
		}
		s->nevents = k;
		/* the key mask hashes key addresses: this image's, from now on
		 * (the renderers and the call site add keys here) */
		uint64_t mask = 0;
		for (uint8_t a = 0; a < s->nattrs; a++)
			mask |= at_span_keybit(s->attrs[a].key);
		s->keymask = mask;
	}
}

/* Blocks until the app has exited, then lets go of its stderr at once:
 * the exporter itself may be busy for a while yet (a slow collector). */
static void *release_stderr(void *arg)
{
	(void)arg;
	struct pollfd p = {APP_FD, POLLIN, 0};
	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
	int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (nul >= 0) {
		dup2(nul, 2);
		close(nul);
	}
	return NULL;
}

static void helper_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	/* a closed collector connection is an error return, not a death; the
	 * app's terminal is not this process's (setsid). A SIGTERM to every
	 * process of a service (systemd's stop, to its cgroup) would end this
	 * one before it has exported what the program flushes as it dies: it
	 * goes when the program has gone (at_exporter_serve, bounded). */
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static AT_NOINLINE __attribute__((noreturn)) void helper_main(void)
{
	/* the hooks are this program's own functions here: they pass through */
	atomic_store(&at_state, AT_OFF);
	at_tls.depth = 1;
	helper_signals();
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	if (pthread_create(&t, &attr, release_stderr, NULL))
		release_stderr(NULL); /* cannot watch: no stderr at all then */
	pthread_attr_destroy(&attr);
	struct stat st;
	if (fstat(RING_FD, &st) || at_queue_attach(RING_FD)) {
		at_warn("exporter process: fd %d is not a span ring; nothing exported", RING_FD);
		_exit(2);
	}
	ring_ino = st.st_ino;
	size_t extra;
	const struct handoff *h = at_queue_extra(&extra);
	uintptr_t base;
	size_t len;
	if (!h || extra < sizeof *h || h->magic != HANDOFF_MAGIC || h->version != HANDOFF_VERSION ||
	    h->cfg_size != sizeof(struct at_config) || h->span_size != sizeof(struct at_span) ||
	    at_helper_own_image(&base, &len, NULL) || len != h->image_len) {
		/* not the same library as the app's: said, so that the app's
		 * exit flush does not wait for it */
		at_warn("exporter process: not the library the program loaded; nothing exported");
		atomic_store(&at_queue_ctl()->helper_state, HELPER_EXITED);
		_exit(3);
	}
	app_pid = h->app_pid;
	app_lo = h->app_base;
	app_hi = h->app_base + h->image_len;
	delta = (intptr_t)(base - h->app_base);
	at_cfg = h->cfg;
	at_cfg.resource_attrs =
	    h->resource_attrs_off ? (char *)h->strings + h->resource_attrs_off : NULL;
	at_cfg.otlp_headers = h->otlp_headers_off ? (char *)h->strings + h->otlp_headers_off : NULL;
	at_log_level = h->log_level;
	at_log_file = at_cfg.log_file[0] ? at_cfg.log_file : NULL;
	at_clock_init_as(h->clock_tsc);
	at_resource_init();
	at_resource_set_pid(app_pid);
	at_resource_set_exe(h->exe_name);
	at_callsite_set_remote(app_pid);
	prctl(PR_SET_NAME, "autotrace-exp", 0, 0, 0);
	struct at_queue_ctl *c = at_queue_ctl();
	atomic_store(&c->helper_pid, (uint32_t)getpid());
	atomic_store(&c->helper_state, HELPER_RUNNING);
	at_debug("exporter process %d serving pid %d", (int)getpid(), (int)app_pid);
	at_exporter_serve();
	atomic_store(&c->helper_state, HELPER_EXITED);
	exit(0);
}

/* The ELF entry point when this library is run as a program (Makefile:
 * -Wl,-e,at_helper_entry and an .interp section): the dynamic linker has
 * loaded and initialised libc; nothing called main, and the stack is only
 * 16-byte aligned as at a process's first instruction. */
__attribute__((used, noreturn, force_align_arg_pointer)) void at_helper_entry(void)
{
	helper_main();
}

/* Makes the library runnable: the dynamic linker to load it with. */
#if defined(__x86_64__)
__attribute__((used, section(".interp"))) static const char interp[] =
    "/lib64/ld-linux-x86-64.so.2";
#elif defined(__aarch64__)
__attribute__((used, section(".interp"))) static const char interp[] = "/lib/ld-linux-aarch64.so.1";
#endif
