/* Which of read, write, recv, send, sendmsg, poll, connect, accept and
 * close the hooks make as system calls themselves (io_direct.h): only
 * libc's own definitions, only while the program has started no thread and
 * cancelled none, and only on the thread that was the program's only one
 * then: a thread the hooks did not see start (glibc's own, for a
 * SIGEV_THREAD timer's callback; one from a raw clone) gets libc's calls,
 * cancellation points included. */
#define _GNU_SOURCE
#include "io_direct.h"

#include "../preload/autotrace.h"
#include "../preload/log.h"
#include "../preload/real.h"

#include <pthread.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static _Atomic unsigned bits_now;
/* sticky: the program started a thread (or cancelled one) */
static _Atomic int app_threads;

/* The thread the direct calls are for, and libc's calls (the hooks' next
 * definitions) for any other and for going back. */
static uintptr_t owner;
static void *libc_fn[AT_IO_NEXT_N];
#define FN_BIT(idx, name, bit) [AT_IO_FN_##idx] = bit,
static const unsigned fn_bit[AT_IO_NEXT_N] = {AT_IO_FNS(FN_BIT)};

/* the calling thread: on x86_64 the thread pointer at %fs:0 (the psABI's
 * TCB self-pointer), one load */
static AT_ALWAYS_INLINE uintptr_t self(void)
{
#if defined(__x86_64__)
	uintptr_t t;
	__asm__("mov %%fs:0, %0" : "=r"(t));
	return t;
#else
	return (uintptr_t)pthread_self();
#endif
}

/* net.c's pointers: the direct call for each of bits, libc's for the rest */
static void point(unsigned bits)
{
#define DIRECT_FN(idx, name, bit) [AT_IO_FN_##idx] = (void *)at_io_##name,
	static void *const direct_fn[AT_IO_NEXT_N] = {AT_IO_FNS(DIRECT_FN)};
	void *p[AT_IO_NEXT_N];
	for (int i = 0; i < AT_IO_NEXT_N; i++)
		p[i] = bits & fn_bit[i] ? direct_fn[i] : libc_fn[i];
	at_net_io_set(p);
}

void at_io_direct_init(void)
{
	if (atomic_load(&app_threads) || atomic_load(&bits_now))
		return;
	/* libc's mapped range: the object holding getpid (dladdr would scan
	 * its whole symbol table for each pointer, ~20 µs apiece on the
	 * first span) */
	uintptr_t lo, hi;
	void *next[AT_IO_NEXT_N];
	if (at_object_range((void *)&getpid, &lo, &hi) || at_net_io_next(next))
		return;
	/* a pair (recv and recvfrom, send and sendto, accept and accept4)
	 * only whole */
#define ALL_BITS(idx, name, bit) | bit
	unsigned bits = 0 AT_IO_FNS(ALL_BITS);
	for (int i = 0; i < AT_IO_NEXT_N; i++)
		if ((uintptr_t)next[i] < lo || (uintptr_t)next[i] >= hi)
			bits &= ~fn_bit[i];
	if (!bits || atomic_load(&app_threads))
		return;
	memcpy(libc_fn, next, sizeof libc_fn);
	owner = self();
	atomic_store(&bits_now, bits);
	point(bits);
	at_debug("read/write/recv/send/sendmsg/poll/connect/accept/close made as system calls "
	         "(0x%x): the program has no thread of its own",
	         bits);
}

void at_io_direct_off(void)
{
	if (AT_LIKELY(atomic_load_explicit(&app_threads, memory_order_relaxed)))
		return;
	atomic_store(&app_threads, 1);
	if (atomic_exchange(&bits_now, 0))
		point(0);
}

int at_io_app_threads(void)
{
	return atomic_load_explicit(&app_threads, memory_order_relaxed);
}

unsigned at_io_direct_bits(void)
{
	return atomic_load(&bits_now);
}

static AT_NOINLINE long ret_err(long r)
{
	errno = (int)-r;
	return -1;
}

static AT_ALWAYS_INLINE long ret(long r)
{
	if (AT_UNLIKELY((unsigned long)r > -4096UL))
		return ret_err(r);
	return r;
}

#if defined(__x86_64__)
static AT_ALWAYS_INLINE long sys6(long nr, long a, long b, long c, long d, long e, long f)
{
	long r;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
	                 : "=a"(r)
	                 : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	return ret(r);
}

static AT_ALWAYS_INLINE long sys3(long nr, long a, long b, long c)
{
	long r;
	__asm__ volatile("syscall"
	                 : "=a"(r)
	                 : "0"(nr), "D"(a), "S"(b), "d"(c)
	                 : "rcx", "r11", "memory");
	return ret(r);
}
#else
static AT_ALWAYS_INLINE long sys6(long nr, long a, long b, long c, long d, long e, long f)
{
	return syscall(nr, a, b, c, d, e, f); /* not a cancellation point */
}

static AT_ALWAYS_INLINE long sys3(long nr, long a, long b, long c)
{
	return syscall(nr, a, b, c);
}
#endif

/* libc's definition of name, saved at AT_IO_FN_idx */
#define LIBC(name, idx) ((__typeof__(&name))libc_fn[AT_IO_FN_##idx])

/* another thread than the owner: libc's call */
#define OWNER_OR(call)                                                                             \
	do {                                                                                       \
		if (AT_UNLIKELY(self() != owner))                                                  \
			return call;                                                               \
	} while (0)

ssize_t at_io_read(int fd, void *b, size_t n)
{
	OWNER_OR(LIBC(read, READ)(fd, b, n));
	return sys3(SYS_read, fd, (long)b, (long)n);
}

ssize_t at_io_write(int fd, const void *b, size_t n)
{
	OWNER_OR(LIBC(write, WRITE)(fd, b, n));
	return sys3(SYS_write, fd, (long)b, (long)n);
}

ssize_t at_io_recv(int fd, void *b, size_t n, int fl)
{
	OWNER_OR(LIBC(recv, RECV)(fd, b, n, fl));
	return sys6(SYS_recvfrom, fd, (long)b, (long)n, fl, 0, 0);
}

ssize_t at_io_recvfrom(int fd, void *b, size_t n, int fl, struct sockaddr *from, socklen_t *fromlen)
{
	OWNER_OR(LIBC(recvfrom, RECVFROM)(fd, b, n, fl, from, fromlen));
	return sys6(SYS_recvfrom, fd, (long)b, (long)n, fl, (long)from, (long)fromlen);
}

ssize_t at_io_send(int fd, const void *b, size_t n, int fl)
{
	OWNER_OR(LIBC(send, SEND)(fd, b, n, fl));
	return sys6(SYS_sendto, fd, (long)b, (long)n, fl, 0, 0);
}

ssize_t at_io_sendto(int fd, const void *b, size_t n, int fl, const struct sockaddr *to,
                     socklen_t tolen)
{
	OWNER_OR(LIBC(sendto, SENDTO)(fd, b, n, fl, to, tolen));
	return sys6(SYS_sendto, fd, (long)b, (long)n, fl, (long)to, (long)tolen);
}

ssize_t at_io_sendmsg(int fd, const struct msghdr *m, int fl)
{
	OWNER_OR(LIBC(sendmsg, SENDMSG)(fd, m, fl));
	return sys3(SYS_sendmsg, fd, (long)m, fl);
}

int at_io_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	OWNER_OR(LIBC(poll, POLL)(fds, n, timeout));
#ifdef SYS_poll
	return (int)sys3(SYS_poll, (long)fds, (long)n, timeout);
#else /* ppoll only: libc's */
	return LIBC(poll, POLL)(fds, n, timeout);
#endif
}

int at_io_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	OWNER_OR(LIBC(connect, CONNECT)(fd, sa, len));
	return (int)sys3(SYS_connect, fd, (long)sa, (long)len);
}

int at_io_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
	OWNER_OR(LIBC(accept, ACCEPT)(fd, sa, len));
#ifdef SYS_accept
	return (int)sys3(SYS_accept, fd, (long)sa, (long)len);
#else /* glibc's accept there: accept4 with no flags */
	return (int)sys6(SYS_accept4, fd, (long)sa, (long)len, 0, 0, 0);
#endif
}

int at_io_accept4(int fd, struct sockaddr *sa, socklen_t *len, int fl)
{
	OWNER_OR(LIBC(accept4, ACCEPT4)(fd, sa, len, fl));
	return (int)sys6(SYS_accept4, fd, (long)sa, (long)len, fl, 0, 0);
}

int at_io_close(int fd)
{
	OWNER_OR(LIBC(close, CLOSE)(fd));
	return (int)sys3(SYS_close, fd, 0, 0);
}
