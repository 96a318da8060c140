/* Crash recording. Our handler for the fatal signals runs first, on a
 * per-thread alternate stack; it records the open spans of the crashing
 * thread, hands them to the exporter thread and waits a bounded time for it;
 * then the signal goes where it would have gone without us: the
 * application's handler (called with its own mask and flags), else the
 * default action, re-raised so the exit status and core dump are the same.
 *
 * Everything reachable from the handler is async-signal-safe in practice:
 * no malloc, no stdio, no lock of ours; the queue push is lock-free, the
 * wait is a futex. Two exceptions, documented in docs/failures.md: dladdr
 * (takes the loader's recursive lock) and libunwind's own lookups.
 *
 * The application keeps its own view of these dispositions: hooks/signal.c
 * routes its signal()/sigaction() calls for them here, so an application
 * installing a handler after us is chained behind ours, never in front. */
#define _GNU_SOURCE
#include "crash.h"
#include "leaf.h"

#include "clock.h"
#include "config.h"
#include "hex.h"
#include "log.h"
#include "real.h"
#include "span.h"
#include "unwinder.h"
#include "../reporter/exporter.h"
#include "../reporter/queue.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <setjmp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static const int fixed_sigs[] = {AT_CRASH_SIGNALS, AT_TERM_SIGNALS};
#define NFIXED ((int)(sizeof fixed_sigs / sizeof fixed_sigs[0]))
#define NRT 32 /* real-time signals at most (31 on Linux: 34 to 64) */
#define NSIGS_MAX (NFIXED + NRT)
/* ours: fixed_sigs, then the real-time ones (at_crash_init) */
static int crash_sigs[NSIGS_MAX];
static int nsigs;
int at_crash_rt_lo = 1, at_crash_rt_hi = 0; /* none until at_crash_init */
static char rt_names[NRT][12];              /* "SIGRTMIN+3" */
#define VIEWS 4     /* ring of the application's dispositions: writers never tear the one read */
#define MAX_OPEN 16 /* spans recorded per crash */
#define MAX_FRAMES 40
#define CALLSITE_RESERVE 192 /* arena left for the code.* attributes, added on export */
#define ALTSTACK_SIZE (64 * 1024)
/* a crash right after the first span may find libunwind still loading */
#define UNWINDER_WAIT_MS 100

struct disp {
	struct sigaction view[VIEWS]; /* what the application installed, newest at cur */
	_Atomic unsigned cur, next;
};

/* Zero (SIG_DFL) until the application sets one, or one was there
 * before us: a default left untouched costs no page at start. */
static struct disp disp[NSIGS_MAX];
static _Atomic int ours[NSIGS_MAX]; /* our handler is the real disposition */
static _Atomic int installed;
int (*at_real_sigaction)(int, const struct sigaction *, struct sigaction *);
static pthread_key_t stack_key;
static int stack_key_ok;
static size_t page_size = 4096;
/* glibc keeps the text of a failed assert() here (GLIBC_PRIVATE; may be absent) */
struct abort_msg {
	unsigned size;
	char msg[];
};
static struct abort_msg **abort_msg;
/* the shim's own code (a signal that interrupts it finds spans half made) */
static uintptr_t text_lo, text_hi;
/* the process is its PID namespace's init: a signal left at SIG_DFL does
 * not kill it, so none is ours */
static int is_init;

AT_TLS uint8_t at_crash_thread_ready;
/* set while this thread records a crash: a fault inside the recording
 * (a corrupt span chain, an unwinder surprise) jumps back and gives up */
static AT_TLS sigjmp_buf *recording_jmp;

static sigset_t term_set; /* at_term_sigset's, once the range is known */
static int term_set_made;

static void make_term_set(sigset_t *s)
{
	sigemptyset(s);
	for (int i = 0; i < NFIXED; i++)
		if (at_term_signal(fixed_sigs[i]))
			sigaddset(s, fixed_sigs[i]);
	for (int i = at_crash_rt_lo; i <= at_crash_rt_hi; i++)
		sigaddset(s, i);
}

void at_term_sigset(sigset_t *s)
{
	if (term_set_made)
		*s = term_set;
	else
		make_term_set(s);
}

static int sig_index(int sig)
{
	for (int i = 0; i < nsigs; i++)
		if (crash_sigs[i] == sig)
			return i;
	return -1;
}

int at_crash_real_sigaction(int sig, const struct sigaction *act, struct sigaction *oact)
{
	if (!at_real_sigaction)
		at_real_sigaction = (int (*)(int, const struct sigaction *,
		                             struct sigaction *))at_real("sigaction");
	if (!at_real_sigaction) {
		errno = ENOSYS;
		return -1;
	}
	return at_real_sigaction(sig, act, oact);
}

static const struct sigaction *view(int i)
{
	return &disp[i].view[atomic_load(&disp[i].cur) % VIEWS];
}

static void set_view(int i, const struct sigaction *a)
{
	unsigned k = atomic_fetch_add(&disp[i].next, 1) + 1;
	disp[i].view[k % VIEWS] = *a;
	atomic_store(&disp[i].cur, k);
}

/* ---- async-signal-safe formatting ---- */

struct wbuf {
	char *p;
	size_t n, cap;
};

static void put(struct wbuf *b, const char *s, size_t n)
{
	if (n > b->cap - b->n)
		n = b->cap - b->n;
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

static void puts_(struct wbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void puthex(struct wbuf *b, uintptr_t v)
{
	char t[2 + 2 * sizeof v];
	int i = (int)sizeof t;
	do {
		t[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	t[--i] = 'x';
	t[--i] = '0';
	put(b, t + i, sizeof t - (size_t)i);
}

static void putdec(struct wbuf *b, long v)
{
	char t[24];
	int i = (int)sizeof t;
	unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
	do {
		t[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		t[--i] = '-';
	put(b, t + i, sizeof t - (size_t)i);
}

/* Each signal of ours: its name, what a shell says when it kills, and for
 * a signal that kills, who sends it when the kernel does (NULL: "sent by
 * the kernel"). */
static const struct sig_name {
	int sig;
	const char *name, *text, *by_kernel;
} sig_names[] = {
    {SIGSEGV, "SIGSEGV", "Segmentation fault", NULL},
    {SIGBUS, "SIGBUS", "Bus error", NULL},
    {SIGFPE, "SIGFPE", "Floating-point exception", NULL},
    {SIGILL, "SIGILL", "Illegal instruction", NULL},
    {SIGABRT, "SIGABRT", "Aborted", NULL},
    {SIGTERM, "SIGTERM", "Terminated", NULL},
    {SIGINT, "SIGINT", "Interrupt", NULL},
    {SIGHUP, "SIGHUP", "Hangup", NULL},
    {SIGQUIT, "SIGQUIT", "Quit", NULL},
    {SIGALRM, "SIGALRM", "Alarm clock", "a timer"},
    {SIGPIPE, "SIGPIPE", "Broken pipe", NULL},
    {SIGUSR1, "SIGUSR1", "User defined signal 1", NULL},
    {SIGUSR2, "SIGUSR2", "User defined signal 2", NULL},
    {SIGXCPU, "SIGXCPU", "CPU time limit exceeded", "a resource limit: RLIMIT_CPU"},
    {SIGXFSZ, "SIGXFSZ", "File size limit exceeded", "a resource limit: RLIMIT_FSIZE"},
    {SIGVTALRM, "SIGVTALRM", "Virtual timer expired", "a timer"},
    {SIGPROF, "SIGPROF", "Profiling timer expired", "a timer"},
    {SIGIO, "SIGIO", "I/O possible", NULL},
    {SIGPWR, "SIGPWR", "Power failure", NULL},
    {SIGSTKFLT, "SIGSTKFLT", "Stack fault", NULL},
    {SIGTRAP, "SIGTRAP", "Trace/breakpoint trap", NULL},
    {SIGSYS, "SIGSYS", "Bad system call", NULL},
};

/* A SIGTRAP or SIGSYS the CPU or the kernel raised for an instruction of
 * the thread (a breakpoint, int3 on x86: SI_KERNEL; a system call a
 * seccomp filter trapped: SYS_SECCOMP), not sent: it kills as a crash
 * does, and its spans get the stack trace. */
static int trapped(int sig, const siginfo_t *si)
{
	return (sig == SIGTRAP || sig == SIGSYS) && si->si_code > 0;
}

static const struct sig_name *sig_name(int sig)
{
	for (size_t i = 0; i < sizeof sig_names / sizeof sig_names[0]; i++)
		if (sig_names[i].sig == sig)
			return &sig_names[i];
	return NULL;
}

const char *at_crash_signame(int sig)
{
	const struct sig_name *n = sig_name(sig);
	if (!n && at_rt_signal(sig) && sig - at_crash_rt_lo < NRT)
		return rt_names[sig - at_crash_rt_lo];
	return n ? n->name : "signal";
}

struct code_name {
	int sig, code;
	const char *name, *text;
};

static const struct code_name codes[] = {
    {SIGSEGV, SEGV_MAPERR, "SEGV_MAPERR", "address not mapped"},
    {SIGSEGV, SEGV_ACCERR, "SEGV_ACCERR", "invalid permissions for mapped object"},
    {SIGBUS, BUS_ADRALN, "BUS_ADRALN", "invalid address alignment"},
    {SIGBUS, BUS_ADRERR, "BUS_ADRERR", "nonexistent physical address"},
    {SIGBUS, BUS_OBJERR, "BUS_OBJERR", "object-specific hardware error"},
    {SIGFPE, FPE_INTDIV, "FPE_INTDIV", "integer divide by zero"},
    {SIGFPE, FPE_INTOVF, "FPE_INTOVF", "integer overflow"},
    {SIGFPE, FPE_FLTDIV, "FPE_FLTDIV", "floating-point divide by zero"},
    {SIGFPE, FPE_FLTOVF, "FPE_FLTOVF", "floating-point overflow"},
    {SIGFPE, FPE_FLTUND, "FPE_FLTUND", "floating-point underflow"},
    {SIGFPE, FPE_FLTRES, "FPE_FLTRES", "floating-point inexact result"},
    {SIGFPE, FPE_FLTINV, "FPE_FLTINV", "invalid floating-point operation"},
    {SIGFPE, FPE_FLTSUB, "FPE_FLTSUB", "subscript out of range"},
    {SIGILL, ILL_ILLOPC, "ILL_ILLOPC", "illegal opcode"},
    {SIGILL, ILL_ILLOPN, "ILL_ILLOPN", "illegal operand"},
    {SIGILL, ILL_ILLADR, "ILL_ILLADR", "illegal addressing mode"},
    {SIGILL, ILL_ILLTRP, "ILL_ILLTRP", "illegal trap"},
    {SIGILL, ILL_PRVOPC, "ILL_PRVOPC", "privileged opcode"},
    {SIGILL, ILL_PRVREG, "ILL_PRVREG", "privileged register"},
    {SIGILL, ILL_COPROC, "ILL_COPROC", "coprocessor error"},
    {SIGILL, ILL_BADSTK, "ILL_BADSTK", "internal stack error"},
};

size_t at_crash_describe(int sig, const siginfo_t *si, char *out, size_t outlen)
{
	struct wbuf b = {out, 0, outlen};
	const struct sig_name *n = sig_name(sig);
	if (n) {
		puts_(&b, n->text);
	} else if (at_rt_signal(sig)) { /* as strsignal says it */
		puts_(&b, "Real-time signal ");
		putdec(&b, sig - at_crash_rt_lo);
	} else {
		puts_(&b, "Signal ");
		putdec(&b, sig);
	}
	if (trapped(sig, si)) {
		if (sig == SIGSYS && si->si_code == 1) { /* SYS_SECCOMP */
			puts_(&b, ": system call ");
			putdec(&b, si->si_syscall);
			puts_(&b, " refused by a seccomp filter (SYS_SECCOMP) at ");
			puthex(&b, (uintptr_t)si->si_call_addr);
		} else if (sig == SIGTRAP) {
			puts_(&b, " (a breakpoint or trap instruction)");
		}
	} else if (at_term_signal(sig) && (si->si_code == SI_KERNEL || si->si_code == SI_TIMER)) {
		puts_(&b, " (");
		puts_(&b, n && n->by_kernel ? n->by_kernel : "sent by the kernel");
		puts_(&b, ")");
	} else if (si->si_code > 0 && !at_term_signal(sig)) { /* raised by the CPU for an instruction */
		for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
			if (codes[i].sig == sig && codes[i].code == si->si_code) {
				puts_(&b, ": ");
				puts_(&b, codes[i].text);
				puts_(&b, " (");
				puts_(&b, codes[i].name);
				puts_(&b, ")");
			}
		puts_(&b, sig == SIGSEGV || sig == SIGBUS ? " at address " : " at ");
		puthex(&b, (uintptr_t)si->si_addr);
	} else if (si->si_code == SI_TKILL || si->si_code == SI_USER || si->si_code == SI_QUEUE) {
		if (si->si_pid == getpid() && sig == SIGABRT && abort_msg && *abort_msg &&
		    (*abort_msg)->msg[0]) {
			/* glibc's assert() and malloc checks leave their text */
			const char *m = (*abort_msg)->msg;
			size_t n = strnlen(m, 512);
			while (n && m[n - 1] == '\n')
				n--;
			puts_(&b, ": ");
			put(&b, m, n);
		} else if (si->si_pid == getpid()) {
			puts_(&b, sig == SIGABRT   ? " (abort() or a failed assert())"
			          : sig == SIGPIPE ? " (a write to a pipe or socket its reader closed)"
			                           : " (raised by the process)");
		} else {
			puts_(&b, " (sent by process ");
			putdec(&b, si->si_pid);
			puts_(&b, ")");
		}
	}
	return b.n;
}

/* ---- the stack trace ---- */

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* Where the signal interrupted the thread: its program counter, or with
 * sp its stack pointer (0: unknown on this CPU). */
static uintptr_t interrupted(const void *uc, int sp)
{
#if defined(__x86_64__)
	const greg_t *g = ((const ucontext_t *)uc)->uc_mcontext.gregs;
	return (uintptr_t)(sp ? g[REG_RSP] : g[REG_RIP]);
#elif defined(__aarch64__)
	const mcontext_t *m = &((const ucontext_t *)uc)->uc_mcontext;
	return (uintptr_t)(sp ? m->sp : m->pc);
#else
	(void)uc, (void)sp;
	return 0;
#endif
}

/* One line per frame, "#N function+0xOFF (module)", innermost first,
 * starting at the instruction the signal interrupted. A name is trusted
 * only if the symbol starts where the unwind info says the function
 * starts: in a stripped library libunwind offers the nearest exported
 * symbol, which is another function; then "?? (module+0xOFF)". */
static size_t unwind(char *out, size_t cap, const void *uc)
{
	struct wbuf b = {out, 0, cap};
	const struct at_unwinder *u = at_unwinder_get(UNWINDER_WAIT_MS);
	unw_context_t ctx;
	unw_cursor_t c;
	if (!u || u->getcontext(&ctx) || u->init_local(&c, &ctx))
		return 0;
	/* skip this handler and the kernel's signal frame (and, for a fault
	 * whose handler then killed, that handler's frames: abort's, raise's,
	 * the second signal's) */
	uintptr_t target = interrupted(uc, 0);
	int found = 0;
	for (int i = 0; target && i < 64 && u->step(&c) > 0; i++) {
		unw_word_t ip = 0;
		if (!u->get_reg(&c, UNW_REG_IP, &ip) && ip == target) {
			found = 1;
			break;
		}
	}
	if (!found && u->init_local(&c, &ctx))
		return 0;
	int n = 0;
	do {
		unw_word_t ip = 0, off = 0;
		if (u->get_reg(&c, UNW_REG_IP, &ip) || !ip)
			break;
		char name[160];
		unw_proc_info_t pi;
		puts_(&b, "#");
		putdec(&b, n);
		puts_(&b, " ");
		int rc = u->get_proc_name(&c, name, sizeof name, &off);
		int named = (rc == 0 || rc == -UNW_ENOMEM) && !u->get_proc_info(&c, &pi) &&
		            pi.start_ip == ip - off;
		if (named) {
			name[sizeof name - 1] = 0;
			puts_(&b, name);
			puts_(&b, "+");
			puthex(&b, off);
		} else {
			puts_(&b, "??");
		}
		Dl_info di;
		/* a caller's ip is a return address: look up the call itself */
		if (dladdr((void *)(n ? ip - 1 : ip), &di) && di.dli_fname && di.dli_fname[0]) {
			puts_(&b, " (");
			puts_(&b, base_name(di.dli_fname));
			if (!named) {
				puts_(&b, "+");
				puthex(&b, ip - (uintptr_t)di.dli_fbase);
			}
			puts_(&b, ")");
		} else if (!named) {
			puts_(&b, " ");
			puthex(&b, ip);
		}
		puts_(&b, "\n");
	} while (++n < MAX_FRAMES && b.n < b.cap && u->step(&c) > 0);
	return b.n;
}

/* ---- recording ---- */

struct at_span *at_cgi_take(void) __attribute__((weak));  /* hooks/cgi.c */
int at_cgi_handed_off(void) __attribute__((weak));         /* hooks/cgi.c */
void at_net_killed(const char *type, const char *msg, size_t mlen) __attribute__((weak));
void at_curl_interrupted(struct at_span *s) __attribute__((weak)); /* hooks/curl.c */

/* Whether the signal interrupted the shim's own code, where a span may be
 * half made (an attribute being added, a record being queued), and not a
 * system call the shim makes for the application (hooks/io_direct.c: the
 * kernel leaves the program counter after the syscall instruction, or on
 * it when the call is to be restarted). */
static int in_own_code(const void *uc)
{
	uintptr_t ip = interrupted(uc, 0);
	if (!ip || ip < text_lo || ip >= text_hi)
		return 0;
#if defined(__x86_64__)
	const unsigned char *p = (const unsigned char *)ip;
	if ((ip - 2 >= text_lo && p[-2] == 0x0f && p[-1] == 0x05) ||
	    (ip + 2 <= text_hi && p[0] == 0x0f && p[1] == 0x05))
		return 0;
#endif
	return 1;
}

static void end_crashed(struct at_span *s, const char *type, const char *msg, size_t mlen,
                        const char *trace, size_t tlen)
{
	int ev = at_span_add_event(s, "exception");
	if (ev < 0 && s->nevents == AT_MAX_EVENTS && at_cfg.event_count_limit >= AT_MAX_EVENTS) {
		s->nevents--; /* the crash matters more than the last event (counted dropped) */
		ev = at_span_add_event(s, "exception");
	}
	at_event_set_strn(s, ev, "exception.type", type, strlen(type));
	at_event_set_strn(s, ev, "exception.message", msg, mlen);
	at_span_set_str(s, "error.type", type);
	at_span_set_error(s, msg, mlen);
	/* whole frames only, leaving room for the caller's name */
	size_t room = AT_ARENA_SIZE - s->arena_used;
	room = room > CALLSITE_RESERVE ? room - CALLSITE_RESERVE : 0;
	if (tlen > room) {
		tlen = room;
		while (tlen && trace[tlen - 1] != '\n')
			tlen--;
	}
	if (tlen)
		at_event_set_strn(s, ev, "exception.stacktrace", trace, tlen);
	s->end_ns = at_stamp();
}

/* Raised by the CPU for an instruction, which faults again if we return
 * (a timer's SIGALRM has a positive code too). */
static int from_cpu(int sig, const siginfo_t *si)
{
	return si->si_code > 0 && !at_term_signal(sig);
}

/* Whether the signal's course, after us, is the default action (chain):
 * a fault that is ignored kills too. */
static int dies(int sig, const siginfo_t *si)
{
	const struct sigaction *a = view(sig_index(sig));
	return a->sa_handler == SIG_DFL || (a->sa_handler == SIG_IGN && from_cpu(sig, si));
}

/* Ends the spans open on this thread as ended by the signal, and queues
 * them: a leaf call's (innermost), the chain's, and a CGI program's
 * request when cgi (outermost). trace: the stack trace, from uc, or none. */
static void end_open(int sig, const siginfo_t *si, const void *uc, int cgi_too, int trace_too,
                     const char *type, const char *msg, size_t mlen)
{
	int term = at_term_signal(sig);
	struct at_span *open[MAX_OPEN];
	int n = 0;
	/* a leaf span's call (leaf.h), innermost: made whole here, with
	 * what its hook would capture once the call is over */
	struct at_span leaf;
	char late[AT_ARENA_SIZE];
	if (at_tls.leaf) {
		if (!at_tls.leaf->len && at_tls.leaf->late)
			at_tls.leaf->late(at_tls.leaf, late, sizeof late);
		at_leaf_span(at_tls.leaf, &leaf);
		at_tls.cur = leaf.prev; /* not the chain's: only recorded */
		open[n++] = &leaf;
	}
	for (struct at_span *p = at_tls.cur; p && n < MAX_OPEN; p = p->prev)
		if (p->recording)
			open[n++] = p;
	/* a CGI program's request, outermost (hooks/cgi.c) */
	struct at_span *cgi = cgi_too && at_cgi_take ? at_cgi_take() : NULL;
	if (cgi && n < MAX_OPEN)
		open[n++] = cgi;
	/* a CGI program killed once its stdout is closed: its web server has
	 * the whole response and ends it so (lighttpd, for a program that
	 * gave its stdout to a child and waits for it: git-http-backend) */
	int cgi_done = cgi && term && at_cgi_handed_off && at_cgi_handed_off();
	if (n) {
		char trace[3072];
		/* a kill's stack is where the program waited, not a fault's */
		int fault = !term || trapped(sig, si);
		size_t tlen = trace_too && fault ? unwind(trace, sizeof trace, uc) : 0;
		for (int i = 0; i < n; i++) {
			if (at_curl_interrupted)
				at_curl_interrupted(open[i]);
			if (open[i] == cgi && cgi_done)
				open[i]->end_ns = at_stamp();
			else
				end_crashed(open[i], type, msg, mlen, trace, tlen);
			at_queue_push(open[i]);
			/* ended: if the application survives (its handler jumps
			 * out, or fixes the fault), the hook must not queue it again */
			open[i]->recording = 0;
		}
		/* they are ended; an application handler that jumps out of the
		 * hooks must not leave this thread inside them (depth 1: every
		 * later hook would pass through; cur: a dead frame) */
		at_tls.cur = NULL;
		at_tls.depth = 0;
	}
}

/* ---- the other threads' spans ----
 * A signal that kills ends the whole process, and with it the calls other
 * threads are making (a transfer that hangs, a query that waits: often
 * what the process was stuck on). Each thread is listed once it has had a
 * sampled span (its alternate stack made). The thread the signal
 * interrupted sends each of the others the same signal (tgkill: SI_TKILL
 * from this process); our handler there ends that thread's open spans as
 * killed by the first, says so, and waits in the handler for the process
 * to die, so that the program's code never runs on in a dying process
 * (a system call it sees fail with EINTR). A thread that blocks the signal
 * (a worker that leaves SIGTERM to the main thread) keeps it pending: once
 * the first wait is over, each thread that has not answered and blocks it
 * (its SigBlk in /proc) is sent another signal that it does not block and
 * whose default action our handler stands in for (the highest real-time
 * one first, which programs rarely use): that one asks the same. A thread
 * that blocks them all loses its spans, after a bounded wait. */
#define MAX_THREADS 1024
#define GATHER_WAIT_MS 50 /* for the others to end their spans */
#define GATHER_ASK_MS 5   /* before asking those that block the signal again */
#define DEATH_WAIT_MS 1000 /* after the export, for the kill to come */

static _Atomic pid_t threads[MAX_THREADS];
static AT_TLS int thread_slot = -1;
static _Atomic int gather_sig, gather_acks, gather_done;
static _Atomic uint64_t gather_alts; /* the other signals sent, bit sig - 1 */
static _Atomic unsigned char gather_acked[MAX_THREADS];
static struct {
	const char *type;
	char msg[640];
	size_t mlen;
} gather;

static void list_thread(void)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);
	for (int i = 0; i < MAX_THREADS; i++) {
		pid_t none = 0;
		if (atomic_compare_exchange_strong(&threads[i], &none, tid)) {
			thread_slot = i;
			return;
		}
	}
}

static void unlist_thread(void)
{
	if (thread_slot >= 0)
		atomic_store(&threads[thread_slot], 0);
	thread_slot = -1;
}

/* In a fork's child: the parent's threads are not here. */
void at_crash_atfork_child(void)
{
	for (int i = 0; i < MAX_THREADS; i++) /* read first: an untouched page stays shared */
		if (i != thread_slot && atomic_load(&threads[i]))
			atomic_store(&threads[i], 0);
	if (thread_slot >= 0)
		atomic_store(&threads[thread_slot], (pid_t)syscall(SYS_gettid));
	atomic_store(&gather_sig, 0);
}

static void sleep_us(long us)
{
	struct timespec t = {us / 1000000, us % 1000000 * 1000L};
	syscall(SYS_nanosleep, &t, NULL);
}

static void on_crash(int sig, siginfo_t *si, void *uc);

/* The signals thread tid blocks, from its SigBlk line in /proc (bit
 * sig - 1); all of them when it cannot be read. Async-signal-safe. */
static uint64_t blocked_by(pid_t tid)
{
	char path[48], buf[4096]; /* SigBlk comes after Groups, which can be long */
	struct wbuf w = {path, 0, sizeof path - 1};
	puts_(&w, "/proc/self/task/");
	putdec(&w, tid);
	puts_(&w, "/status");
	path[w.n] = 0;
	int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ~0ULL;
	size_t have = 0;
	ssize_t r;
	while (have < sizeof buf - 1 &&
	       (r = syscall(SYS_read, fd, buf + have, sizeof buf - 1 - have)) > 0)
		have += (size_t)r;
	syscall(SYS_close, fd);
	buf[have] = 0;
	const char *p = strstr(buf, "\nSigBlk:\t");
	if (!p)
		return ~0ULL;
	uint64_t m = 0;
	int k = 0;
	for (p += 9; k < 16 && at_hexval(*p) >= 0; p++, k++)
		m = m << 4 | (uint64_t)at_hexval(*p);
	return k == 16 ? m : ~0ULL;
}

/* A signal other than sig that a thread blocking these does not block,
 * whose disposition is our handler standing in for its default (read back
 * from the kernel: nothing of the program's runs), the highest real-time
 * one first; 0 when there is none. */
static int other_signal(uint64_t blocked, int sig)
{
	for (int i = nsigs - 1; i >= 0; i--) {
		int c = crash_sigs[i];
		struct sigaction cur;
		if (c == sig || c == SIGPIPE || !at_term_signal(c) || (blocked >> (c - 1) & 1) ||
		    !atomic_load(&ours[i]) || at_real_sigaction(c, NULL, &cur) ||
		    !(cur.sa_flags & SA_SIGINFO) || cur.sa_sigaction != on_crash)
			continue;
		return c;
	}
	return 0;
}

/* The first round (!alt): each listed thread but this one is sent sig;
 * returns how many were. The second (alt): each of those that has not
 * answered and blocks sig is sent another signal it takes; returns how
 * many will not answer (they block them all). */
static int gather_send(int sig, int alt, unsigned char *sent_to)
{
	pid_t pid = (pid_t)syscall(SYS_getpid), me = (pid_t)syscall(SYS_gettid);
	int n = 0;
	for (int i = 0; i < MAX_THREADS; i++) {
		pid_t t = atomic_load(&threads[i]);
		if (!t || t == me || (alt && (!sent_to[i] || atomic_load(&gather_acked[i]))))
			continue;
		int s = sig;
		if (alt) {
			uint64_t b = blocked_by(t);
			if (!(b >> (sig - 1) & 1))
				continue; /* only slow */
			if (!(s = other_signal(b, sig))) {
				n++;
				continue;
			}
			atomic_fetch_or(&gather_alts, 1ULL << (s - 1));
		}
		int ok = !syscall(SYS_tgkill, pid, t, s);
		if (!alt && ok)
			sent_to[i] = 1;
		n += alt ? !ok : ok;
	}
	return n;
}

static void gather_wait(int acks, uint64_t until)
{
	while (atomic_load(&gather_acks) < acks && at_mono_ns() < until)
		sleep_us(100);
}

/* The killing thread: each other listed thread ends its spans. */
static void gather_others(int sig, const char *type, const char *msg, size_t mlen)
{
	gather.type = type;
	gather.mlen = mlen < sizeof gather.msg ? mlen : sizeof gather.msg;
	memcpy(gather.msg, msg, gather.mlen);
	atomic_store(&gather_acks, 0);
	atomic_store(&gather_sig, sig);
	unsigned char sent_to[MAX_THREADS];
	memset(sent_to, 0, sizeof sent_to);
	uint64_t t0 = at_mono_ns();
	int sent = gather_send(sig, 0, sent_to);
	/* most answer within microseconds; those that have not after
	 * GATHER_ASK_MS are looked at: the ones blocking sig are asked
	 * again, the others (only slow) have the rest of GATHER_WAIT_MS */
	gather_wait(sent, t0 + GATHER_ASK_MS * 1000000ULL);
	int acks = atomic_load(&gather_acks);
	if (acks < sent)
		gather_wait(sent - gather_send(sig, 1, sent_to), t0 + GATHER_WAIT_MS * 1000000ULL);
}

/* Whether the signal is the killing thread's request (gather_others). */
static int gather_request(int sig, const siginfo_t *si)
{
	int g = atomic_load(&gather_sig);
	return si->si_code == SI_TKILL && g &&
	       (g == sig || (atomic_load(&gather_alts) >> (sig - 1) & 1)) &&
	       si->si_pid == (pid_t)syscall(SYS_getpid);
}

/* This thread has answered the killing thread. */
static void gather_ack(void)
{
	if (thread_slot >= 0)
		atomic_store(&gather_acked[thread_slot], 1);
	atomic_fetch_add(&gather_acks, 1);
}

/* Another thread: its spans end as the first thread's signal ended them. */
static void gathered(int sig, siginfo_t *si, const void *uc)
{
	if (atomic_load(&at_state) == AT_ON && !in_own_code(uc)) {
		sigjmp_buf jb;
		if (!sigsetjmp(jb, 1)) {
			recording_jmp = &jb;
			/* as the killing signal would (sig may be another one) */
			end_open(atomic_load(&gather_sig), si, uc, 0, 0, gather.type, gather.msg,
			         gather.mlen);
		}
		recording_jmp = NULL;
	}
	gather_ack();
	uint64_t until = at_mono_ns() + (uint64_t)(at_cfg.exit_timeout_ms + GATHER_WAIT_MS) * 1000000ULL;
	while (!atomic_load(&gather_done) && at_mono_ns() < until)
		sleep_us(1000);
	sleep_us(DEATH_WAIT_MS * 1000L);
}

/* A fault the application's own handler is running for (on_crash): what a
 * kill that handler then brings about (re-raising the signal at its
 * default, abort()) is recorded as, nested inside it. */
static AT_TLS struct {
	int sig;
	const siginfo_t *si;
	const void *uc;
	uintptr_t frame; /* an address in on_crash's frame; 0: none */
} fault;

/* The fault above, if the signal whose context is uc came while its
 * handler ran: then uc's stack pointer is below on_crash's frame and near
 * it. (After a handler that jumped out, frame is stale: a later signal's
 * stack pointer is elsewhere: the program's stack, not the one below.) */
static int nested_in_fault(const void *uc)
{
	uintptr_t sp = interrupted(uc, 1);
	return fault.frame && sp && sp < fault.frame && fault.frame - sp < (1u << 20);
}

static void record(int sig, siginfo_t *si, const void *uc)
{
	if (atomic_load(&at_state) != AT_ON)
		return;
	/* a kill by the handler of a fault: recorded as that fault, where it
	 * happened (whether the process dies is the kill's to say) */
	int ksig = sig;
	const siginfo_t *ksi = si;
	if (nested_in_fault(uc) &&
	    (!at_term_signal(sig) || (si->si_code <= 0 && si->si_pid == (pid_t)syscall(SYS_getpid)))) {
		sig = fault.sig;
		si = (siginfo_t *)fault.si;
		uc = fault.uc;
	}
	/* a vfork child shares our memory but not the exporter thread */
	if ((int)syscall(SYS_getpid) != at_getpid_cached())
		return;
	int term = at_term_signal(sig);
	/* what is queued goes; the spans being made are lost. A second kill,
	 * on another thread, waits for the same export. */
	static _Atomic int killing;
	if (term && (in_own_code(uc) || atomic_exchange(&killing, 1))) {
		at_exporter_flush(at_cfg.exit_timeout_ms);
		return;
	}
	char msg[640];
	size_t mlen = at_crash_describe(sig, si, msg, sizeof msg);
	const char *type = at_crash_signame(sig);
	end_open(sig, si, uc, 1, 1, type, msg, mlen);
	/* the process dies: so do the requests other threads are making or
	 * serving (not when the application's handler may yet survive it) */
	if (dies(ksig, ksi)) {
		if (at_net_killed)
			at_net_killed(type, msg, mlen);
		gather_others(sig, type, msg, mlen);
	}
	at_exporter_flush(at_cfg.exit_timeout_ms);
	atomic_store(&gather_done, 1);
}

/* ---- chaining ---- */

static void set_mask(const sigset_t *m)
{
	pthread_sigmask(SIG_SETMASK, m, NULL); /* async-signal-safe */
}

static void chain(int i, int sig, siginfo_t *si, void *uc)
{
	struct sigaction a = *view(i);
	int cpu = from_cpu(sig, si);
	if (a.sa_handler == SIG_IGN && !cpu)
		return;
	if (a.sa_handler == SIG_DFL || a.sa_handler == SIG_IGN) {
		/* the kernel does not let a fault be ignored: both mean default */
		struct sigaction dfl;
		memset(&dfl, 0, sizeof dfl);
		dfl.sa_handler = SIG_DFL;
		at_real_sigaction(sig, &dfl, NULL);
		atomic_store(&ours[i], 0);
		if (!cpu) {
			/* pending until we return: then it kills in the original context */
			sigset_t m;
			pthread_sigmask(SIG_SETMASK, NULL, &m);
			sigaddset(&m, sig);
			set_mask(&m);
			syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
		}
		return;
	}
	/* the application's handler, as the kernel would have called it */
	if (a.sa_flags & SA_RESETHAND) {
		struct sigaction dfl;
		memset(&dfl, 0, sizeof dfl);
		dfl.sa_handler = SIG_DFL;
		set_view(i, &dfl);
	}
	/* from the mask the signal interrupted: ours blocks more (install) */
	sigset_t old, m;
	pthread_sigmask(SIG_SETMASK, NULL, &old);
	m = ((const ucontext_t *)uc)->uc_sigmask;
	for (int s = 1; s < NSIG; s++)
		if (sigismember(&a.sa_mask, s) == 1)
			sigaddset(&m, s);
	if (a.sa_flags & SA_NODEFER)
		sigdelset(&m, sig);
	else
		sigaddset(&m, sig);
	set_mask(&m);
	if (a.sa_flags & SA_SIGINFO)
		a.sa_sigaction(sig, si, uc);
	else
		a.sa_handler(sig);
	set_mask(&old);
}

static void on_crash(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	if (sig_index(sig) < 0)
		return;
	if (gather_request(sig, si)) { /* the process dies on another thread */
		if (recording_jmp) /* this one is recording its own crash */
			gather_ack();
		else
			gathered(sig, si, uc);
		errno = saved;
		return;
	}
	if (recording_jmp) /* we faulted while recording: give up on it */
		siglongjmp(*recording_jmp, 1);
	int i = sig_index(sig);
	if (!at_term_signal(sig) && !dies(sig, si) && !at_tls.depth && !at_tls.leaf &&
	    !in_own_code(uc)) {
		/* a fault outside the hooks' calls, with a handler of the
		 * application's: it runs first. Many live on such faults as a
		 * matter of course: a JVM's null checks and safepoint polls, a
		 * garbage collector's write barrier. Nothing is recorded unless
		 * the handler then kills the process (record, nested). Inside a
		 * hook's call the spans end first, as below: a handler that
		 * jumps out would leave the hook's frames behind. */
		volatile char here;
		fault.sig = sig;
		fault.si = si;
		fault.uc = uc;
		fault.frame = (uintptr_t)&here;
		chain(i, sig, si, uc);
		fault.frame = 0;
		errno = saved;
		return;
	}
	sigjmp_buf jb;
	if (!sigsetjmp(jb, 1)) {
		recording_jmp = &jb;
		record(sig, si, uc);
	}
	recording_jmp = NULL;
	chain(sig_index(sig), sig, si, uc);
	errno = saved;
}

/* Our handler for crash_sigs[i], as install sets it. */
static void handler(int i, struct sigaction *sa_out)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_crash;
	/* a kill waits while a crash or another kill is recorded */
	at_term_sigset(&sa.sa_mask);
	/* NODEFER: a fault while recording reaches us and is abandoned (see
	 * recording_jmp) instead of killing the process with the wrong signal.
	 * A kill's handler never returns to the program (chain: the signal is
	 * sent again once it is the default), RESTART for the one case where
	 * the application's handler was installed meanwhile. */
	sa.sa_flags = at_term_signal(crash_sigs[i]) ? SA_SIGINFO | SA_ONSTACK | SA_RESTART
	                                            : SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	*sa_out = sa;
}

static int install(int i)
{
	struct sigaction sa;
	handler(i, &sa);
	if (at_real_sigaction(crash_sigs[i], &sa, NULL))
		return -1;
	atomic_store(&ours[i], 1);
	return 0;
}

/* Our SIGPIPE handler, made once at init when we stand in for its default
 * (not in a PID namespace's init). */
static struct sigaction pipe_handler;
static _Atomic int pipe_ours;

/* SIGPIPE's view is never set: it stays the default it was when ours was
 * installed, and our handler runs only while the application leaves it
 * so (a handler of its own, or SIG_IGN, is the real disposition). */
int at_crash_pipe_sigaction(const struct sigaction *act, struct sigaction *oact)
{
	if (act && act->sa_handler == SIG_DFL && atomic_load_explicit(&pipe_ours, memory_order_acquire))
		act = &pipe_handler;
	int rc = at_crash_real_sigaction(SIGPIPE, act, oact);
	if (!rc && oact && (oact->sa_flags & SA_SIGINFO) && oact->sa_sigaction == on_crash) {
		memset(oact, 0, sizeof *oact);
		oact->sa_handler = SIG_DFL;
	}
	return rc;
}

/* In place of an application's handler for a killing signal that has
 * SA_RESETHAND (node's for SIGTERM and SIGINT, sysv_signal's, signal()'s
 * in a program built as strict ISO C), installed with its mask and its
 * other flags. The kernel would make the default the disposition as it
 * runs the handler, with no handler of ours in front: a program that then
 * raises the signal again to die by it (as node does) would die with its
 * queue unsent. Here the default becomes ours (the view SIG_DFL, our
 * handler standing in for it, as for a default set by the program), then
 * the application's handler runs as the kernel would have run it: with the
 * same mask (the kernel set it for this one from the same sa_mask and
 * flags), arguments and context. */
static void on_reset(int sig, siginfo_t *si, void *uc)
{
	int i = sig_index(sig);
	if (i < 0)
		return;
	struct sigaction a = *view(i);
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	set_view(i, &dfl);
	int saved = errno;
	install(i);
	if (a.sa_handler == SIG_DFL) /* set meanwhile by another thread */
		syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
	errno = saved;
	if (a.sa_handler == SIG_DFL || a.sa_handler == SIG_IGN)
		return;
	if (a.sa_flags & SA_SIGINFO)
		a.sa_sigaction(sig, si, uc);
	else
		a.sa_handler(sig);
}

int at_crash_sigaction(int sig, const struct sigaction *act, struct sigaction *oact, int *rc)
{
	int i = sig_index(sig);
	if (i < 0 || !atomic_load(&installed))
		return 0;
	struct sigaction copy;
	if (act)
		copy = *act;
	if (oact)
		*oact = *view(i);
	*rc = 0;
	if (!act)
		return 1;
	if (at_term_signal(sig) && copy.sa_handler != SIG_DFL && copy.sa_handler != SIG_IGN &&
	    (copy.sa_flags & SA_RESETHAND) && !is_init) {
		/* the application's one-shot handler: on_reset in its place,
		 * which finds it in the view, set first */
		struct sigaction prev = *view(i), real = copy;
		real.sa_sigaction = on_reset;
		real.sa_flags = (copy.sa_flags & ~SA_RESETHAND) | SA_SIGINFO;
		set_view(i, &copy);
		if ((*rc = at_real_sigaction(sig, &real, NULL)))
			set_view(i, &prev);
		else
			atomic_store(&ours[i], 0);
		return 1;
	} else if (at_term_signal(sig) && (copy.sa_handler != SIG_DFL || is_init)) {
		/* the application's handler, or ignored: really its own, run by
		 * the kernel; ours only stands in for the default action */
		if ((*rc = at_real_sigaction(sig, &copy, NULL)))
			return 1;
		atomic_store(&ours[i], 0);
	} else if (copy.sa_handler == SIG_IGN) {
		/* really ignore it (an exec'ed program inherits that); a fault
		 * kills anyway, unrecorded */
		if ((*rc = at_real_sigaction(sig, &copy, NULL)))
			return 1;
		atomic_store(&ours[i], 0);
	} else if (!atomic_load(&ours[i]) && install(i)) {
		*rc = at_real_sigaction(sig, &copy, NULL);
		return 1;
	}
	set_view(i, &copy);
	return 1;
}

/* The bounds of the shim's executable segment, from its program headers. */
static void find_text(void)
{
	extern const ElfW(Ehdr) __ehdr_start __attribute__((visibility("hidden")));
	const ElfW(Ehdr) *eh = &__ehdr_start;
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)((const char *)eh + eh->e_phoff);
	uintptr_t bias = 0;
	int have = 0;
	for (int k = 0; k < eh->e_phnum; k++)
		if (ph[k].p_type == PT_LOAD && ph[k].p_offset == 0) {
			bias = (uintptr_t)eh - ph[k].p_vaddr;
			have = 1;
		}
	for (int k = 0; have && k < eh->e_phnum; k++)
		if (ph[k].p_type == PT_LOAD && (ph[k].p_flags & PF_X)) {
			text_lo = bias + ph[k].p_vaddr;
			text_hi = text_lo + ph[k].p_memsz;
		}
}

/* ---- alternate signal stacks ---- */

static void thread_exit(void *p)
{
	unlist_thread();
	stack_t cur;
	if (!sigaltstack(NULL, &cur) && cur.ss_sp == (char *)p + page_size) {
		if (cur.ss_flags & SS_ONSTACK)
			return; /* cannot happen in a key destructor; leak rather than crash */
		stack_t off = {.ss_sp = NULL, .ss_flags = SS_DISABLE, .ss_size = 0};
		if (sigaltstack(&off, NULL))
			return;
	}
	munmap(p, ALTSTACK_SIZE + page_size);
}

void at_crash_thread_setup(void)
{
	at_crash_thread_ready = 2; /* tried: never again on this thread */
	if (!atomic_load(&installed) || !stack_key_ok)
		return;
	int saved = errno;
	stack_t cur;
	/* a thread that has its own alternate stack keeps it */
	if (sigaltstack(NULL, &cur) || !(cur.ss_flags & SS_DISABLE))
		goto out;
	char *p = mmap(NULL, ALTSTACK_SIZE + page_size, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (p == MAP_FAILED)
		goto out;
	mprotect(p, page_size, PROT_NONE); /* guard page below the stack */
	stack_t ss = {.ss_sp = p + page_size, .ss_flags = 0, .ss_size = ALTSTACK_SIZE};
	if (sigaltstack(&ss, NULL) || pthread_setspecific(stack_key, p)) {
		stack_t off = {.ss_sp = NULL, .ss_flags = SS_DISABLE, .ss_size = 0};
		sigaltstack(&off, NULL);
		munmap(p, ALTSTACK_SIZE + page_size);
		goto out;
	}
	at_crash_thread_ready = 1;
	list_thread();
out:
	errno = saved;
}

void at_crash_init(void)
{
	if (!at_cfg.crash)
		return;
	struct sigaction probe;
	if (at_crash_real_sigaction(SIGSEGV, NULL, &probe))
		return;
	long ps = sysconf(_SC_PAGESIZE);
	if (ps > 0)
		page_size = (size_t)ps;
	memcpy(crash_sigs, fixed_sigs, sizeof fixed_sigs);
	nsigs = NFIXED;
	for (int sig = SIGRTMIN; sig <= SIGRTMAX && sig - SIGRTMIN < NRT; sig++) {
		int k = sig - SIGRTMIN; /* "SIGRTMIN", "SIGRTMIN+1"... "SIGRTMIN+30" */
		char *n = rt_names[k];
		memcpy(n, "SIGRTMIN+", 10);
		if (!k)
			n[8] = 0;
		else if (k < 10)
			n[9] = (char)('0' + k), n[10] = 0;
		else
			n[9] = (char)('0' + k / 10), n[10] = (char)('0' + k % 10), n[11] = 0;
		crash_sigs[nsigs++] = sig;
	}
	at_crash_rt_lo = SIGRTMIN;
	at_crash_rt_hi = SIGRTMIN + NRT - 1 < SIGRTMAX ? SIGRTMIN + NRT - 1 : SIGRTMAX;
	make_term_set(&term_set);
	term_set_made = 1;
	stack_key_ok = pthread_key_create(&stack_key, thread_exit) == 0;
	abort_msg = dlsym(RTLD_DEFAULT, "__abort_msg");
	find_text();
	is_init = getpid() == 1;
	if (!is_init) {
		handler(sig_index(SIGPIPE), &pipe_handler);
		atomic_store_explicit(&pipe_ours, 1, memory_order_release);
	}
	for (int i = 0; i < nsigs; i++) {
		struct sigaction old;
		if (at_real_sigaction(crash_sigs[i], NULL, &old))
			continue;
		/* SIGPIPE's is never set: the default (at_crash_pipe_sigaction) */
		if (crash_sigs[i] != SIGPIPE &&
		    (old.sa_handler != SIG_DFL || old.sa_flags || !sigisemptyset(&old.sa_mask)))
			disp[i].view[0] = old;
		if (old.sa_handler == SIG_IGN)
			continue; /* ignored before us: stays so */
		int term = at_term_signal(crash_sigs[i]);
		if (term && (old.sa_handler != SIG_DFL || is_init))
			continue; /* a handler before us (another library's), or no kill */
		if (install(i))
			at_warn(term ? "cannot install a handler for %s; spans are not flushed when it kills"
			             : "cannot install a handler for %s; its crashes are not recorded",
			        at_crash_signame(crash_sigs[i]));
	}
	atomic_store(&installed, 1);
}
