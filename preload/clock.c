/* Span timestamps: whether they are TSC ticks, and how the exporter turns
 * them into wall-clock nanoseconds (see clock.h). */
#define _GNU_SOURCE
#include "clock.h"

#include "config.h"
#include "log.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

_Atomic int at_clock_tsc;
_Atomic int at_clock_emul;
_Atomic int at_clock_sys;
static struct at_clock_anchor first;
/* emulation: ticks = tsc + (CLOCK_MONOTONIC - mono) * ticks_per_ns */
static struct {
	uint64_t tsc, mono, mult;
	double ticks_per_ns;
} emul;

#if defined(__x86_64__)
/* A clock read bracketed by two of the counter: the counter at its middle.
 * The narrowest bracket of a few tries: a read that was preempted or
 * interrupted between the counter and the clock (milliseconds on a busy
 * machine) would put the anchor, and every span of the batch, that far
 * off. */
static uint64_t read_at(clockid_t id, uint64_t *tsc)
{
	uint64_t best = UINT64_MAX, ns = 0;
	for (int i = 0; i < 5; i++) {
		struct timespec ts;
		uint64_t a = __rdtsc();
		clock_gettime(id, &ts);
		uint64_t b = __rdtsc();
		if (b - a < best) {
			best = b - a;
			*tsc = a + (b - a) / 2;
			ns = at_ts_ns(&ts);
		}
	}
	return ns;
}

static void anchor(struct at_clock_anchor *a)
{
	a->mono = read_at(CLOCK_MONOTONIC, &a->tsc_mono);
	a->real = read_at(CLOCK_REALTIME, &a->tsc_real);
}

/* The kernel keeps time with the TSC: it found it invariant and in step on
 * every CPU (else it would have picked another clocksource). */
static int kernel_uses_tsc(void)
{
	char buf[32];
	/* system calls, not through hooks/net.c's read: that would look up
	 * every real socket function in a process that may never need one */
	int fd = (int)syscall(SYS_openat, AT_FDCWD,
	                      "/sys/devices/system/clocksource/clocksource0/current_clocksource",
	                      O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = syscall(SYS_read, fd, buf, sizeof buf - 1);
	syscall(SYS_close, fd);
	return n == 4 && !memcmp(buf, "tsc\n", 4);
}

/* rdtsc would raise SIGSEGV in this process (set by prctl, inherited
 * through fork and exec). */
static int tsc_forbidden(void)
{
	int v = 0;
	/* not through hooks/prctl.c's prctl, as kernel_uses_tsc says */
	return syscall(SYS_prctl, PR_GET_TSC, &v, 0, 0, 0) == 0 && v == PR_TSC_SIGSEGV;
}

/* An anchor at least 100 us after the first: the reads' own jitter (tens
 * of ns) then moves the rate by less than 1e-3 (a wait only in a process
 * this young). */
static void anchor_later(struct at_clock_anchor *now)
{
	do
		anchor(now);
	while (now->mono - first.mono < 100000);
}
#endif

void at_clock_init(void)
{
	const char *v = at_getenv("AUTOTRACE_CLOCK");
	int want = -1; /* auto */
	if (v && !strcmp(v, "system"))
		want = 0;
	else if (v && !strcmp(v, "tsc"))
		want = 1;
	else if (v && *v && strcmp(v, "auto"))
		at_warn("AUTOTRACE_CLOCK=\"%.32s\" is not auto, tsc or system; using auto", v);
#if defined(__x86_64__)
	at_clock_tsc = want < 0 ? kernel_uses_tsc() : want;
	at_clock_emul = 0;
	at_clock_sys = tsc_forbidden();
	if (at_clock_sys) {
		if (want > 0)
			at_warn("AUTOTRACE_CLOCK=tsc: this process may not read the TSC (prctl "
			        "PR_SET_TSC); using the system clock");
		at_clock_tsc = 0;
	}
	if (at_clock_tsc)
		anchor(&first);
#else
	if (want > 0)
		at_warn("AUTOTRACE_CLOCK=tsc: no TSC on this machine; using the system clock");
	at_clock_tsc = 0;
#endif
	at_debug("span timestamps: %s", at_clock_tsc ? "TSC" : "system clock");
}

void at_clock_init_as(int tsc)
{
	at_clock_emul = 0;
	at_clock_sys = 0;
#if defined(__x86_64__)
	at_clock_tsc = tsc;
	if (at_clock_tsc)
		anchor(&first);
#else
	at_clock_tsc = 0;
#endif
}

void at_clock_map_from(struct at_clock_map *m, const struct at_clock_anchor *f,
                       const struct at_clock_anchor *now)
{
	uint64_t ticks = now->tsc_mono - f->tsc_mono;
	double rate = ticks ? (double)(now->mono - f->mono) / (double)ticks : 0;
	m->tsc = now->tsc_real;
	m->real = now->real;
	m->mult = rate > 0 && rate < 1e6 ? (uint64_t)(rate * 4294967296.0 + 0.5) : 0;
	if (!m->mult) /* a counter that did not move, or ran backwards: never the identity */
		m->mult = 1;
}

void at_clock_map(struct at_clock_map *m)
{
#if defined(__x86_64__)
	if (atomic_load_explicit(&at_clock_emul, memory_order_acquire)) {
		/* no rdtsc here: this thread may be one that lost it */
		m->real = at_now_ns();
		m->tsc = at_clock_emulated();
		m->mult = emul.mult;
		return;
	}
	if (AT_CLOCK_FLAG(at_clock_tsc)) {
		struct at_clock_anchor now;
		anchor_later(&now);
		at_clock_map_from(m, &first, &now);
		return;
	}
#endif
	*m = (struct at_clock_map){0, 0, 0};
}

uint64_t at_clock_syscall(clockid_t id)
{
	struct timespec ts;
	if (syscall(SYS_clock_gettime, id, &ts))
		return 0;
	return at_ts_ns(&ts);
}

uint64_t at_clock_emulated(void)
{
	double d = (double)(int64_t)(at_mono_ns() - emul.mono) * emul.ticks_per_ns;
	return emul.tsc + (uint64_t)(int64_t)d;
}

void at_clock_forbid_tsc(void)
{
#if defined(__x86_64__)
	if (at_clock_tsc) {
		/* the last reads of the counter: the rate for the ticks to come */
		struct at_clock_anchor now;
		anchor_later(&now);
		struct at_clock_map m;
		at_clock_map_from(&m, &first, &now);
		emul.tsc = now.tsc_mono;
		emul.mono = now.mono;
		emul.mult = m.mult;
		emul.ticks_per_ns = 4294967296.0 / (double)m.mult;
		atomic_store_explicit(&at_clock_emul, 1, memory_order_release);
	}
	atomic_store_explicit(&at_clock_sys, 1, memory_order_release);
	atomic_store_explicit(&at_clock_tsc, 0, memory_order_release);
	at_debug("span timestamps: the TSC is forbidden from now on; the clocks by system call");
#endif
}
