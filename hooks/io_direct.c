/* Which of read, write, recv and send the hooks make as system calls
 * themselves (io_direct.h): only libc's own definitions, only while the
 * program has started no thread and cancelled none, and only on the thread
 * that was the program's only one then: a thread the hooks did not see
 * start (glibc's own, for a SIGEV_THREAD timer's callback; one from a raw
 * clone) gets libc's calls, cancellation points included. */
#define _GNU_SOURCE
#include "io_direct.h"

#include "../preload/autotrace.h"
#include "../preload/log.h"

#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

static _Atomic unsigned bits_now;
/* sticky: the program started a thread (or cancelled one) */
static _Atomic int app_threads;

/* The thread the direct calls are for, and libc's calls for any other. */
static uintptr_t owner;
static ssize_t (*libc_read)(int, void *, size_t);
static ssize_t (*libc_write)(int, const void *, size_t);
static ssize_t (*libc_recv)(int, void *, size_t, int);
static ssize_t (*libc_recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
static ssize_t (*libc_send)(int, const void *, size_t, int);
static ssize_t (*libc_sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);

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

/* libc's mapped range: the object holding getpid (dladdr would scan its
 * whole symbol table for each pointer, ~20 µs apiece on the first span) */
struct range {
	uintptr_t anchor, lo, hi;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct range *r = arg;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD)
			continue;
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;
		if (a < lo)
			lo = a;
		if (a + ph->p_memsz > hi)
			hi = a + ph->p_memsz;
	}
	if (r->anchor < lo || r->anchor >= hi)
		return 0;
	r->lo = lo;
	r->hi = hi;
	return 1;
}

void at_io_direct_init(void)
{
	if (atomic_load(&app_threads) || atomic_load(&bits_now))
		return;
	struct range libc = {(uintptr_t)&getpid, 0, 0};
	void *next[AT_IO_NEXT_N];
	if (!dl_iterate_phdr(find_object, &libc) || at_net_io_next(next))
		return;
	int own[AT_IO_NEXT_N];
	for (int i = 0; i < AT_IO_NEXT_N; i++)
		own[i] = (uintptr_t)next[i] >= libc.lo && (uintptr_t)next[i] < libc.hi;
	unsigned bits = 0;
	if (own[0])
		bits |= AT_IO_READ;
	if (own[1])
		bits |= AT_IO_WRITE;
	if (own[2] && own[3])
		bits |= AT_IO_RECV;
	if (own[4] && own[5])
		bits |= AT_IO_SEND;
	if (!bits || atomic_load(&app_threads))
		return;
	libc_read = (ssize_t(*)(int, void *, size_t))next[0];
	libc_write = (ssize_t(*)(int, const void *, size_t))next[1];
	libc_recv = (ssize_t(*)(int, void *, size_t, int))next[2];
	libc_recvfrom = (ssize_t(*)(int, void *, size_t, int, struct sockaddr *, socklen_t *))next[3];
	libc_send = (ssize_t(*)(int, const void *, size_t, int))next[4];
	libc_sendto =
	    (ssize_t(*)(int, const void *, size_t, int, const struct sockaddr *, socklen_t))next[5];
	owner = self();
	atomic_store(&bits_now, bits);
	at_net_io_direct(bits);
	at_debug("read/write/recv/send made as system calls (0x%x): the program has no thread "
	         "of its own",
	         bits);
}

void at_io_direct_off(void)
{
	if (AT_LIKELY(atomic_load_explicit(&app_threads, memory_order_relaxed)))
		return;
	atomic_store(&app_threads, 1);
	if (atomic_exchange(&bits_now, 0))
		at_net_io_direct(0);
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

/* another thread than the owner: libc's call */
#define OWNER_OR(call)                                                                             \
	do {                                                                                       \
		if (AT_UNLIKELY(self() != owner))                                                  \
			return call;                                                               \
	} while (0)

ssize_t at_io_read(int fd, void *b, size_t n)
{
	OWNER_OR(libc_read(fd, b, n));
	return sys3(SYS_read, fd, (long)b, (long)n);
}

ssize_t at_io_write(int fd, const void *b, size_t n)
{
	OWNER_OR(libc_write(fd, b, n));
	return sys3(SYS_write, fd, (long)b, (long)n);
}

ssize_t at_io_recv(int fd, void *b, size_t n, int fl)
{
	OWNER_OR(libc_recv(fd, b, n, fl));
	return sys6(SYS_recvfrom, fd, (long)b, (long)n, fl, 0, 0);
}

ssize_t at_io_recvfrom(int fd, void *b, size_t n, int fl, struct sockaddr *from, socklen_t *fromlen)
{
	OWNER_OR(libc_recvfrom(fd, b, n, fl, from, fromlen));
	return sys6(SYS_recvfrom, fd, (long)b, (long)n, fl, (long)from, (long)fromlen);
}

ssize_t at_io_send(int fd, const void *b, size_t n, int fl)
{
	OWNER_OR(libc_send(fd, b, n, fl));
	return sys6(SYS_sendto, fd, (long)b, (long)n, fl, 0, 0);
}

ssize_t at_io_sendto(int fd, const void *b, size_t n, int fl, const struct sockaddr *to,
                     socklen_t tolen)
{
	OWNER_OR(libc_sendto(fd, b, n, fl, to, tolen));
	return sys6(SYS_sendto, fd, (long)b, (long)n, fl, (long)to, (long)tolen);
}
