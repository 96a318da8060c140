/* stdio's writing calls (printf, fputs, fwrite, putc... and __overflow,
 * which inline putc calls when the buffer is full): stdio writes its
 * buffer with libc's own write, which no hook sees, inside whichever of
 * these calls finds the buffer full, a line ended on a line-buffered
 * stream or an unbuffered stream. Where the stream is one the shim
 * follows, a CGI program's stdout while its head is looked for (cgi.c) or
 * a marked server socket (net.c), the call is made with the stream
 * locked, and the bytes it wrote are worked out from what the buffer held
 * before and after: stdio writes in order, so what is left in the buffer
 * is the tail of what it held plus what the call gave it, and the rest
 * went out. Those are read as the response they are. What stays in the
 * buffer is read when it is flushed (hooks/stdio.c, exit). On a marked
 * client socket a request needs its header added, so what the buffer
 * holds is written through the write hook before a call that may write
 * it (net.c, at_net_stdio_drain), as at a flush; what the call's own
 * bytes make libc write by itself (a request longer than the buffer, an
 * unbuffered stream) goes out unseen. Any other
 * stream passes straight through after one flag test and, once a socket
 * has been marked, one load of the fd table. */
#define _GNU_SOURCE
#include "../preload/autotrace.h"
#include "../preload/clock.h"
#include "../preload/real.h"
#include "cgi.h"
#include "fdstate.h"
#include "stdio_buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* <stdio.h>'s macros for some of the names hooked here */
#undef fwrite_unlocked
#undef fputs_unlocked
#undef putc
#undef putc_unlocked
#undef putchar_unlocked
#undef fputc_unlocked

#define CGI_OUT (-2) /* follow()'s answer for a CGI program's stdout */


/* Where f's bytes go when the shim follows them: CGI_OUT, a marked server
 * or client socket's descriptor; else -1. */
static AT_ALWAYS_INLINE int follow(FILE *f)
{
	if (AT_UNLIKELY(at_cgi_watching) && f && f == stdout && f->_fileno == 1)
		return CGI_OUT;
	return at_stdio_socket_fd(f);
}

/* Whether a call giving f n more bytes may write some out: an unbuffered
 * or line-buffered stream, or more than the buffer has room for. */
static int may_write(FILE *f, size_t n)
{
	if (f->_flags & (AT_IO_UNBUFFERED | AT_IO_LINE_BUF))
		return 1;
	return n >= (size_t)(f->_IO_write_end - f->_IO_write_ptr);
}

void at_stdio_hold(struct at_stdio_held *h, FILE *f, int to, size_t n, uintptr_t caller)
{
	h->err = errno;
	flockfile(f); /* recursive: the real call takes it again */
	h->f = f;
	h->to = to;
	h->copy = NULL;
	/* a client's request: what the buffer holds goes out through the
	 * write hook, with its header, before libc would write it unseen */
	if (to >= 0 && at_fd_kind(to) == AT_FD_CLIENT && at_stdio_pending(f) && may_write(f, n))
		at_net_stdio_drain(f, to, caller);
	h->p = at_stdio_pending(f);
	if (h->p && may_write(f, n) && (h->copy = malloc(h->p)))
		memcpy(h->copy, f->_IO_write_base, h->p);
	h->t0 = at_stamp();
	errno = h->err;
}

/* r bytes went out on h->to: v's (or, v NULL, bytes no longer known). */
static void wrote(int to, const struct iovec *v, int cnt, size_t r, uint64_t t0)
{
	if (to == CGI_OUT)
		at_cgi_out(v, cnt, r);
	else
		at_net_stdio_wrote(to, v, cnt, r, t0);
}

/* The call is over: it took n bytes when ok, d's pieces (d NULL: not
 * known); what went out is the buffer's old bytes then those, less what
 * the buffer holds now. */
void at_stdio_release(struct at_stdio_held *h, const struct iovec *d, int dcnt, size_t n, int ok)
{
	int err = errno;
	size_t left = at_stdio_pending(h->f);
	if (ok && left < h->p + n) {
		size_t out = h->p + n - left;
		size_t from_old = out < h->p ? out : h->p, rest = out - from_old;
		struct iovec v[3];
		int cnt = 0;
		if ((from_old && !h->copy) || (rest && !d)) {
			wrote(h->to, NULL, 0, out, h->t0); /* gone unread */
			goto done;
		}
		if (from_old)
			v[cnt++] = (struct iovec){h->copy, from_old};
		for (int i = 0; i < dcnt && rest; i++) {
			size_t k = d[i].iov_len < rest ? d[i].iov_len : rest;
			v[cnt++] = (struct iovec){d[i].iov_base, k};
			rest -= k;
		}
		wrote(h->to, v, cnt, out, h->t0);
	}
done:
	free(h->copy);
	funlockfile(h->f);
	errno = err;
}

/* ---- calls with their bytes in hand ---- */

AT_REAL(int, fputs, (const char *, FILE *));
AT_REAL(int, fputs_unlocked, (const char *, FILE *));
AT_REAL(int, puts, (const char *));
AT_REAL(size_t, fwrite, (const void *, size_t, size_t, FILE *));
AT_REAL(size_t, fwrite_unlocked, (const void *, size_t, size_t, FILE *));
AT_REAL(int, fputc, (int, FILE *));
AT_REAL(int, putc, (int, FILE *));
AT_REAL(int, _IO_putc, (int, FILE *));
AT_REAL(int, fputc_unlocked, (int, FILE *));
AT_REAL(int, putc_unlocked, (int, FILE *));
AT_REAL(int, putchar, (int));
AT_REAL(int, putchar_unlocked, (int));
AT_REAL(int, __overflow, (FILE *, int));

static AT_NOINLINE int fputs_held(int (*call)(const char *, FILE *), const char *s, FILE *f,
                                  int to, uintptr_t caller)
{
	size_t n = strlen(s);
	struct at_stdio_held h;
	at_stdio_hold(&h, f, to, n, caller);
	int rc = call(s, f);
	struct iovec d = {(void *)s, n};
	at_stdio_release(&h, &d, 1, n, rc != EOF);
	return rc;
}

AT_EXPORT int fputs(const char *s, FILE *f)
{
	RESOLVED_OR(fputs, EOF);
	int to = follow(f);
	return AT_LIKELY(to == -1) ? real_fputs(s, f) : fputs_held(real_fputs, s, f, to, AT_CALLER());
}

AT_EXPORT int fputs_unlocked(const char *s, FILE *f)
{
	RESOLVED_OR(fputs_unlocked, EOF);
	int to = follow(f);
	return AT_LIKELY(to == -1) ? real_fputs_unlocked(s, f)
	                           : fputs_held(real_fputs_unlocked, s, f, to, AT_CALLER());
}

static AT_NOINLINE int puts_held(const char *s, int to, uintptr_t caller)
{
	size_t n = strlen(s);
	struct at_stdio_held h;
	at_stdio_hold(&h, stdout, to, n + 1, caller);
	int rc = real_puts(s);
	struct iovec d[2] = {{(void *)s, n}, {"\n", 1}};
	at_stdio_release(&h, d, 2, n + 1, rc != EOF);
	return rc;
}

AT_EXPORT int puts(const char *s)
{
	RESOLVED_OR(puts, EOF);
	int to = follow(stdout);
	return AT_LIKELY(to == -1) ? real_puts(s) : puts_held(s, to, AT_CALLER());
}

typedef size_t (*fwrite_fn)(const void *, size_t, size_t, FILE *);

static AT_NOINLINE size_t fwrite_held(fwrite_fn call, const void *p, size_t size, size_t cnt,
                                      FILE *f, int to, uintptr_t caller)
{
	size_t n;
	if (__builtin_mul_overflow(size, cnt, &n))
		return call(p, size, cnt, f);
	struct at_stdio_held h;
	at_stdio_hold(&h, f, to, n, caller);
	size_t rc = call(p, size, cnt, f);
	struct iovec d = {(void *)p, n};
	at_stdio_release(&h, &d, 1, n, rc == cnt);
	return rc;
}

AT_EXPORT size_t fwrite(const void *p, size_t size, size_t cnt, FILE *f)
{
	RESOLVED_OR(fwrite, 0);
	int to = follow(f);
	return AT_LIKELY(to == -1) ? real_fwrite(p, size, cnt, f)
	                           : fwrite_held(real_fwrite, p, size, cnt, f, to, AT_CALLER());
}

AT_EXPORT size_t fwrite_unlocked(const void *p, size_t size, size_t cnt, FILE *f)
{
	RESOLVED_OR(fwrite_unlocked, 0);
	int to = follow(f);
	return AT_LIKELY(to == -1) ? real_fwrite_unlocked(p, size, cnt, f)
	                           : fwrite_held(real_fwrite_unlocked, p, size, cnt, f, to, AT_CALLER());
}

/* One character: c, or with c EOF (__overflow's "just flush") none. */
typedef int (*putc_fn)(int, FILE *);

static AT_NOINLINE int putc_held(putc_fn call, int c, FILE *f, int to, uintptr_t caller)
{
	unsigned char b = (unsigned char)c;
	size_t n = c == EOF ? 0 : 1;
	struct at_stdio_held h;
	at_stdio_hold(&h, f, to, n ? n : (size_t)-1, caller);
	int rc = call(c, f);
	struct iovec d = {&b, n};
	at_stdio_release(&h, &d, 1, n, rc != EOF);
	return rc;
}

#define PUTC_HOOK(name)                                                                    \
	AT_EXPORT int name(int c, FILE *f)                                                 \
	{                                                                                  \
		RESOLVED_OR(name, EOF);                                                    \
		int to = follow(f);                                                        \
		return AT_LIKELY(to == -1) ? real_##name(c, f) : putc_held(real_##name, c, f, to, AT_CALLER()); \
	}

PUTC_HOOK(fputc)
PUTC_HOOK(putc)
PUTC_HOOK(_IO_putc)
PUTC_HOOK(fputc_unlocked)
PUTC_HOOK(putc_unlocked)

static int putchar_to(int c, FILE *f)
{
	return real_putchar(c);
}

static int putchar_unlocked_to(int c, FILE *f)
{
	return real_putchar_unlocked(c);
}

AT_EXPORT int putchar(int c)
{
	RESOLVED_OR(putchar, EOF);
	int to = follow(stdout);
	return AT_LIKELY(to == -1) ? real_putchar(c) : putc_held(putchar_to, c, stdout, to, AT_CALLER());
}

AT_EXPORT int putchar_unlocked(int c)
{
	RESOLVED_OR(putchar_unlocked, EOF);
	int to = follow(stdout);
	return AT_LIKELY(to == -1) ? real_putchar_unlocked(c)
	                           : putc_held(putchar_unlocked_to, c, stdout, to, AT_CALLER());
}

static int overflow_to(int c, FILE *f)
{
	return real___overflow(f, c);
}

/* What the inline putc of <stdio.h> calls when the buffer has no room: on
 * a line-buffered or unbuffered stream, for every character. */
AT_EXPORT int __overflow(FILE *f, int c)
{
	RESOLVED_OR(__overflow, EOF);
	int to = follow(f);
	return AT_LIKELY(to == -1) ? real___overflow(f, c) : putc_held(overflow_to, c, f, to, AT_CALLER());
}

/* ---- printf: its bytes are known by formatting them first ---- */

AT_REAL(int, vfprintf, (FILE *, const char *, va_list));
AT_REAL(int, __vfprintf_chk, (FILE *, int, const char *, va_list));

/* libc's printf calls, as one form: flag < 0 for the unchecked one */
static int vfmt(FILE *f, int flag, const char *fmt, va_list ap)
{
	return flag < 0 ? real_vfprintf(f, fmt, ap) : real___vfprintf_chk(f, flag, fmt, ap);
}

/* The call made as it is; its bytes formatted beforehand the same way
 * (%n stores the same count twice), so that what it writes is known. */
static AT_NOINLINE int vfmt_held(FILE *f, int flag, const char *fmt, va_list ap, int to,
                                 uintptr_t caller)
{
	int err = errno;
	char small[256], *d;
	int n = at_stdio_format(small, sizeof small, &d, -1, fmt, ap);
	errno = err;
	struct at_stdio_held h;
	at_stdio_hold(&h, f, to, n >= 0 ? (size_t)n : (size_t)-1, caller);
	int rc = vfmt(f, flag, fmt, ap);
	int known = d && n >= 0 && rc == n;
	struct iovec v = {d, known ? (size_t)n : 0};
	at_stdio_release(&h, known ? &v : NULL, known, rc > 0 ? (size_t)rc : 0, rc >= 0);
	err = errno;
	if (d != small)
		free(d);
	errno = err;
	return rc;
}

int __vsnprintf_chk(char *, size_t, int, size_t, const char *, va_list);

/* vsnprintf's, or with flag >= 0 __vsnprintf_chk's (_FORTIFY_SOURCE's
 * checks), on a copy of ap */
static int format_in(char *d, size_t cap, int flag, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = flag < 0 ? vsnprintf(d, cap, fmt, cp) : __vsnprintf_chk(d, cap, flag, cap, fmt, cp);
	va_end(cp);
	return n;
}

int at_stdio_format(char *small, size_t cap, char **out, int flag, const char *fmt, va_list ap)
{
	int n = format_in(small, cap, flag, fmt, ap);
	*out = n < 0 ? NULL : small;
	if (n >= 0 && (size_t)n >= cap && (*out = malloc((size_t)n + 1)))
		format_in(*out, (size_t)n + 1, flag, fmt, ap);
	return n;
}

static AT_ALWAYS_INLINE int vfmt_call(FILE *f, int flag, const char *fmt, va_list ap)
{
	RESOLVED_ONE_OR(flag < 0, vfprintf, __vfprintf_chk, -1);
	int to = follow(f);
	return AT_LIKELY(to == -1) ? vfmt(f, flag, fmt, ap) : vfmt_held(f, flag, fmt, ap, to, AT_CALLER());
}

AT_EXPORT int vfprintf(FILE *f, const char *fmt, va_list ap)
{
	return vfmt_call(f, -1, fmt, ap);
}

AT_EXPORT int vprintf(const char *fmt, va_list ap)
{
	return vfmt_call(stdout, -1, fmt, ap);
}

AT_EXPORT int __vfprintf_chk(FILE *f, int flag, const char *fmt, va_list ap)
{
	return vfmt_call(f, flag < 0 ? 0 : flag, fmt, ap);
}

AT_EXPORT int __vprintf_chk(int flag, const char *fmt, va_list ap)
{
	return vfmt_call(stdout, flag < 0 ? 0 : flag, fmt, ap);
}

#define VA_CALL(f, flag, fmt)                                                              \
	va_list ap;                                                                        \
	va_start(ap, fmt);                                                                 \
	int rc = vfmt_call(f, flag, fmt, ap);                                              \
	va_end(ap);                                                                        \
	return rc

AT_EXPORT int fprintf(FILE *f, const char *fmt, ...)
{
	VA_CALL(f, -1, fmt);
}

AT_EXPORT int printf(const char *fmt, ...)
{
	VA_CALL(stdout, -1, fmt);
}

AT_EXPORT int __fprintf_chk(FILE *f, int flag, const char *fmt, ...)
{
	VA_CALL(f, flag < 0 ? 0 : flag, fmt);
}

AT_EXPORT int __printf_chk(int flag, const char *fmt, ...)
{
	VA_CALL(stdout, flag < 0 ? 0 : flag, fmt);
}
