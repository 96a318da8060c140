#ifndef AT_CLOCK_H
#define AT_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

/* The clocks through a system call, never the vDSO: the vDSO reads the TSC
 * itself, which a process that forbade it (prctl PR_SET_TSC, inherited
 * through fork and exec) must not. Set once that is known (clock.c). */
extern _Atomic int at_clock_sys;
uint64_t at_clock_syscall(clockid_t id);

/* A relaxed read of one of the clock flags (a plain load: they are set once,
 * or once more when the TSC is forbidden). */
#define AT_CLOCK_FLAG(f) atomic_load_explicit(&(f), memory_order_relaxed)

static inline uint64_t at_ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

static inline uint64_t at_clock_read(clockid_t id)
{
	if (__builtin_expect(AT_CLOCK_FLAG(at_clock_sys), 0))
		return at_clock_syscall(id);
	struct timespec ts;
	clock_gettime(id, &ts);
	return at_ts_ns(&ts);
}

/* Wall-clock nanoseconds since the epoch (the vDSO; a system call once the
 * TSC is forbidden). */
static inline uint64_t at_now_ns(void)
{
	return at_clock_read(CLOCK_REALTIME);
}

static inline uint64_t at_mono_ns(void)
{
	return at_clock_read(CLOCK_MONOTONIC);
}

static inline uint64_t at_mono_ms(void)
{
	return at_mono_ns() / 1000000ull;
}

/* ---- span timestamps ----
 *
 * A span's start and end and its events' times are stamps: on x86-64, when
 * the kernel itself keeps time with the TSC (its clocksource is "tsc"), the
 * raw counter (rdtsc: ~12 ns and a few instructions on the app thread, where
 * the vDSO's clock_gettime takes ~30 ns); else wall-clock nanoseconds. The
 * exporter thread turns stamps into wall-clock nanoseconds before anything
 * reads them (at_clock_map, at_clock_apply, in reporter/finalize.c): a
 * span's duration is then the counter's, monotonic, and its start is
 * anchored to CLOCK_REALTIME read at most a batch before. The choice is made
 * at start-up, before any span (at_clock_init; AUTOTRACE_CLOCK=system turns
 * it off), and changes only when the application forbids the TSC
 * (at_clock_forbid_tsc). */
extern _Atomic int at_clock_tsc;
/* The application forbade rdtsc after stamps were taken with it (prctl
 * PR_SET_TSC, PR_TSC_SIGSEGV: the instruction would kill it): stamps stay
 * ticks, computed from CLOCK_MONOTONIC at the rate measured until then. */
extern _Atomic int at_clock_emul;
uint64_t at_clock_emulated(void);

static inline uint64_t at_stamp(void)
{
#if defined(__x86_64__)
	if (__builtin_expect(AT_CLOCK_FLAG(at_clock_tsc), 1))
		return __rdtsc();
	if (__builtin_expect(AT_CLOCK_FLAG(at_clock_emul), 0))
		return at_clock_emulated();
#endif
	return at_now_ns();
}

/* Before the calling thread loses rdtsc (hooks/prctl.c): every stamp from
 * now on is emulated. */
void at_clock_forbid_tsc(void);

/* From stamps to wall-clock ns: ns = real + (stamp - tsc) * mult / 2^32
 * (mult: ns per tick in 32.32 fixed point); the identity when stamps are
 * already ns (mult 0). */
struct at_clock_map {
	uint64_t tsc, real, mult;
};

static inline uint64_t at_clock_apply(const struct at_clock_map *m, uint64_t stamp)
{
	if (!m->mult)
		return stamp;
	__int128 d = (__int128)(int64_t)(stamp - m->tsc) * (__int128)m->mult;
	return m->real + (uint64_t)(int64_t)(d >> 32);
}

/* At start-up: whether stamps are TSC ticks (AUTOTRACE_CLOCK, the kernel's
 * clocksource) and the first anchor. */
void at_clock_init(void);
/* An exporter process (reporter/helper.c): its app's choice, its own anchor
 * (the counter is the machine's, the same in every process). */
void at_clock_init_as(int tsc);
/* A fresh anchor and rate, for the stamps of spans ended so far; any thread
 * (the exporter's, or one flushing at exit). */
void at_clock_map(struct at_clock_map *m);
/* The map from two anchors (exposed for the unit test): the rate from
 * CLOCK_MONOTONIC between first and now, the offset from now's REALTIME. */
struct at_clock_anchor {
	uint64_t tsc_mono, mono; /* the counter at the CLOCK_MONOTONIC read */
	uint64_t tsc_real, real; /* and at the CLOCK_REALTIME read */
};
void at_clock_map_from(struct at_clock_map *m, const struct at_clock_anchor *first,
                       const struct at_clock_anchor *now);

/* CPU time of the calling thread (a system call, not the vDSO: for
 * counting per batch, never per span). */
static inline uint64_t at_thread_cpu_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return at_ts_ns(&ts);
}

#endif
