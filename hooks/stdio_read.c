/* stdio's reading calls (fgets, getline, fread, getc... and __uflow, which
 * inline getc calls when the buffer is empty): stdio fills its buffer with
 * libc's own read, which no hook sees, inside whichever of these calls
 * finds it empty. An inetd service that reads its request with
 * fgets(stdin) (micro_httpd), a server that reads fdopen(s, "r"), a client
 * that reads its response that way: where the stream's descriptor is a
 * marked client or server socket, the call is made with the stream locked,
 * and the bytes that came in are worked out from what the buffer held
 * before and after: stdio reads only into an empty buffer and hands its
 * bytes out in order, so what came in is what the call handed the
 * application past what the buffer held before, then what it holds after.
 * Those are read as the request or response they are (hooks/net.c). A
 * call whose bytes cannot be known (fscanf, a pushed-back buffer) stops
 * the connection being followed: never a misread byte. Any other stream
 * passes straight through after one flag test and, once a socket has been
 * marked, one load of the fd table. */
#define _GNU_SOURCE
#include "../preload/autotrace.h"
#include "../preload/real.h"
#include "fdstate.h"
#include "stdio_buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

/* <stdio.h>'s macros and inlines for some of the names hooked here */
#undef getc
#undef getc_unlocked
#undef getchar
#undef getchar_unlocked
#undef fgetc_unlocked
#undef fgets_unlocked
#undef fread_unlocked

/* libio's flags (libio.h, not installed) */
#define AT_IO_EOF_SEEN 0x0010
#define AT_IO_ERR_SEEN 0x0020
#define AT_IO_IN_BACKUP 0x0100 /* reading ungetc's pushed-back bytes */

#define UNKNOWN ((ssize_t)-1)

/* The bytes f's buffer holds that were read and not yet handed out;
 * UNKNOWN while it reads pushed-back ones. */
static ssize_t unread(const FILE *f)
{
	if (f->_flags & AT_IO_IN_BACKUP)
		return UNKNOWN;
	if ((f->_flags & AT_IO_CURRENTLY_PUTTING) || !f->_IO_read_ptr ||
	    f->_IO_read_end <= f->_IO_read_ptr)
		return 0;
	return f->_IO_read_end - f->_IO_read_ptr;
}

/* One read on a followed stream, from before() to after(). */
struct rd {
	FILE *f;
	int fd;
	int flags;     /* f's flags before the call */
	ssize_t avail; /* unread() before */
	int writes;    /* the call writes the buffer's bytes first: r+ last written */
	struct at_stdio_held w;
};

static void before(struct rd *r, FILE *f, int fd, uintptr_t caller)
{
	int err = errno;
	flockfile(f); /* recursive: the real call takes it again */
	r->f = f;
	r->fd = fd;
	r->flags = f->_flags;
	r->avail = unread(f);
	r->writes = at_stdio_pending(f) != 0;
	if (r->writes) /* a client's request goes out here, through the hook */
		at_stdio_hold(&r->w, f, fd, (size_t)-1, caller);
	errno = err;
}

/* The call is over: it handed the application n bytes, d's pieces (n
 * UNKNOWN: not known). What came in from the descriptor is d's bytes past
 * the r->avail the buffer held, then what the buffer holds now. */
static void after(struct rd *r, const struct iovec *d, int dcnt, ssize_t n, uintptr_t caller)
{
	int err = errno;
	FILE *f = r->f;
	if (r->writes) /* the bytes written went out before any came in */
		at_stdio_release(&r->w, NULL, 0, 0, 1);
	ssize_t left = unread(f);
	if (n == UNKNOWN || r->avail == UNKNOWN || left == UNKNOWN) {
		at_net_stdio_read(r->fd, NULL, 0, -1, caller);
		goto out;
	}
	/* stdio reads only once the buffer is empty: all of it handed out */
	ssize_t came = n - r->avail + left;
	if (came < 0 || (n < r->avail && came)) {
		at_net_stdio_read(r->fd, NULL, 0, -1, caller);
		goto out;
	}
	if (came) {
		struct iovec v[4];
		int cnt = 0;
		ssize_t skip = r->avail;
		for (int i = 0; i < dcnt; i++) {
			size_t len = d[i].iov_len;
			if ((ssize_t)len <= skip) {
				skip -= (ssize_t)len;
				continue;
			}
			v[cnt++] = (struct iovec){(char *)d[i].iov_base + skip, len - (size_t)skip};
			skip = 0;
		}
		if (left)
			v[cnt++] = (struct iovec){f->_IO_read_ptr, (size_t)left};
		at_net_stdio_read(r->fd, v, cnt, came, caller);
	}
	if (!(r->flags & AT_IO_EOF_SEEN) && (f->_flags & AT_IO_EOF_SEEN))
		at_net_stdio_read(r->fd, NULL, 0, 0, caller); /* the peer closed */
out:
	funlockfile(f);
	errno = err;
}

/* Whether the call set f's error flag: a read failed in it. */
static int failed(const struct rd *r)
{
	return !(r->flags & AT_IO_ERR_SEEN) && (r->f->_flags & AT_IO_ERR_SEEN);
}


/* ---- a line into the caller's buffer ---- */

AT_REAL(char *, fgets, (char *, int, FILE *));
AT_REAL(char *, fgets_unlocked, (char *, int, FILE *));
AT_REAL(char *, __fgets_chk, (char *, size_t, int, FILE *));
AT_REAL(char *, __fgets_unlocked_chk, (char *, size_t, int, FILE *));
AT_REAL(char *, gets, (char *));

/* fgets and its forms, as one: size the _chk forms' buffer size, else 0 */
typedef char *(*fgets_fn)(char *, size_t, int, FILE *);

static char *fgets_to(char *s, size_t size, int n, FILE *f)
{
	return real_fgets(s, n, f);
}

static char *fgets_unlocked_to(char *s, size_t size, int n, FILE *f)
{
	return real_fgets_unlocked(s, n, f);
}

/* The line fgets stored is s up to its NUL, but for a NUL byte read within
 * it: then it is neither n - 1 bytes long nor ended by a newline, unless
 * the stream ended (or failed) within it. */
static AT_NOINLINE char *fgets_held(fgets_fn call, char *s, size_t size, int n, FILE *f, int fd,
                                    uintptr_t caller)
{
	struct rd r;
	before(&r, f, fd, caller);
	char *rc = call(s, size, n, f);
	ssize_t len = 0;
	if (rc) {
		len = (ssize_t)strlen(rc);
		int whole = len == n - 1 || (len && rc[len - 1] == '\n') ||
		            ((f->_flags & AT_IO_EOF_SEEN) && !(r.flags & AT_IO_EOF_SEEN));
		if (!whole)
			len = UNKNOWN;
	} else if (failed(&r)) {
		len = UNKNOWN; /* what it read before the error is not told */
	}
	struct iovec d = {s, len > 0 ? (size_t)len : 0};
	after(&r, &d, 1, len, caller);
	return rc;
}

#define FGETS_HOOK(name, call)                                                             \
	AT_EXPORT char *name(char *s, int n, FILE *f)                                      \
	{                                                                                  \
		RESOLVED_OR(name, NULL);                                                   \
		int fd = at_stdio_socket_fd(f);                                            \
		return AT_LIKELY(fd < 0) ? real_##name(s, n, f)                            \
		                         : fgets_held(call, s, 0, n, f, fd, AT_CALLER());     \
	}

FGETS_HOOK(fgets, fgets_to)
FGETS_HOOK(fgets_unlocked, fgets_unlocked_to)

#define FGETS_CHK_HOOK(name)                                                               \
	AT_EXPORT char *name(char *s, size_t size, int n, FILE *f)                         \
	{                                                                                  \
		RESOLVED_OR(name, NULL);                                                   \
		int fd = at_stdio_socket_fd(f);                                            \
		return AT_LIKELY(fd < 0) ? real_##name(s, size, n, f)                      \
		                         : fgets_held(real_##name, s, size, n, f, fd, AT_CALLER()); \
	}

FGETS_CHK_HOOK(__fgets_chk)
FGETS_CHK_HOOK(__fgets_unlocked_chk)

/* gets: the line without its newline, which it read unless the stream
 * ended (or failed) first. */
static AT_NOINLINE char *gets_held(char *s, int fd, uintptr_t caller)
{
	struct rd r;
	before(&r, stdin, fd, caller);
	char *rc = real_gets(s);
	ssize_t len = 0;
	struct iovec d[2] = {{s, 0}, {"\n", 1}};
	int cnt = 1;
	if (failed(&r)) {
		len = UNKNOWN;
	} else if (rc) {
		len = (ssize_t)strlen(rc);
		d[0].iov_len = (size_t)len;
		if (!(stdin->_flags & AT_IO_EOF_SEEN) || (r.flags & AT_IO_EOF_SEEN))
			len++, cnt = 2;
	}
	after(&r, d, cnt, len, caller);
	return rc;
}

AT_EXPORT char *gets(char *s)
{
	RESOLVED_OR(gets, NULL);
	int fd = at_stdio_socket_fd(stdin);
	return AT_LIKELY(fd < 0) ? real_gets(s) : gets_held(s, fd, AT_CALLER());
}

/* ---- a line into a buffer it grows ---- */

AT_REAL(ssize_t, getline, (char **, size_t *, FILE *));
AT_REAL(ssize_t, getdelim, (char **, size_t *, int, FILE *));
AT_REAL(ssize_t, __getdelim, (char **, size_t *, int, FILE *));

typedef ssize_t (*getdelim_fn)(char **, size_t *, int, FILE *);

static ssize_t getline_to(char **l, size_t *cap, int delim, FILE *f)
{
	return real_getline(l, cap, f);
}

/* Its count, the line's bytes; -1 when none came, or when it failed
 * (ENOMEM, a read error) after taking some: those are not told. */
static AT_NOINLINE ssize_t getdelim_held(getdelim_fn call, char **l, size_t *cap, int delim,
                                         FILE *f, int fd, uintptr_t caller)
{
	struct rd r;
	before(&r, f, fd, caller);
	ssize_t rc = call(l, cap, delim, f);
	ssize_t len = rc >= 0 ? rc : failed(&r) ? UNKNOWN : 0;
	struct iovec d = {rc > 0 ? *l : NULL, rc > 0 ? (size_t)rc : 0};
	after(&r, &d, 1, len, caller);
	return rc;
}

AT_EXPORT ssize_t getline(char **l, size_t *cap, FILE *f)
{
	RESOLVED_OR(getline, -1);
	int fd = at_stdio_socket_fd(f);
	return AT_LIKELY(fd < 0) ? real_getline(l, cap, f)
	                         : getdelim_held(getline_to, l, cap, '\n', f, fd, AT_CALLER());
}

#define GETDELIM_HOOK(name)                                                                \
	AT_EXPORT ssize_t name(char **l, size_t *cap, int delim, FILE *f)                  \
	{                                                                                  \
		RESOLVED_OR(name, -1);                                                     \
		int fd = at_stdio_socket_fd(f);                                            \
		return AT_LIKELY(fd < 0)                                                   \
		           ? real_##name(l, cap, delim, f)                                 \
		           : getdelim_held(real_##name, l, cap, delim, f, fd, AT_CALLER());   \
	}

GETDELIM_HOOK(getdelim)
GETDELIM_HOOK(__getdelim)

/* ---- bytes ---- */

AT_REAL(size_t, fread, (void *, size_t, size_t, FILE *));
AT_REAL(size_t, fread_unlocked, (void *, size_t, size_t, FILE *));
AT_REAL(size_t, __fread_chk, (void *, size_t, size_t, size_t, FILE *));
AT_REAL(size_t, __fread_unlocked_chk, (void *, size_t, size_t, size_t, FILE *));

/* fread and its forms, as one: plen the _chk forms' buffer size */
typedef size_t (*fread_fn)(void *, size_t, size_t, size_t, FILE *);

static size_t fread_to(void *p, size_t plen, size_t size, size_t n, FILE *f)
{
	return real_fread(p, size, n, f);
}

static size_t fread_unlocked_to(void *p, size_t plen, size_t size, size_t n, FILE *f)
{
	return real_fread_unlocked(p, size, n, f);
}

/* Asked as bytes, so that a last item read in part is counted: libc
 * reads size * n bytes either way, and answers what it read / size. */
static AT_NOINLINE size_t fread_held(fread_fn call, void *p, size_t plen, size_t size, size_t n,
                                     FILE *f, int fd, uintptr_t caller)
{
	size_t want;
	if (__builtin_mul_overflow(size, n, &want) || !want)
		return call(p, plen, size, n, f);
	struct rd r;
	before(&r, f, fd, caller);
	size_t got = call(p, plen, 1, want, f);
	struct iovec d = {p, got};
	after(&r, &d, 1, (ssize_t)got, caller);
	return got == want ? n : got / size;
}

#define FREAD_HOOK(name, call)                                                             \
	AT_EXPORT size_t name(void *p, size_t size, size_t n, FILE *f)                     \
	{                                                                                  \
		RESOLVED_OR(name, 0);                                                      \
		int fd = at_stdio_socket_fd(f);                                            \
		return AT_LIKELY(fd < 0) ? real_##name(p, size, n, f)                      \
		                         : fread_held(call, p, 0, size, n, f, fd, AT_CALLER()); \
	}

FREAD_HOOK(fread, fread_to)
FREAD_HOOK(fread_unlocked, fread_unlocked_to)

#define FREAD_CHK_HOOK(name)                                                               \
	AT_EXPORT size_t name(void *p, size_t plen, size_t size, size_t n, FILE *f)        \
	{                                                                                  \
		RESOLVED_OR(name, 0);                                                      \
		int fd = at_stdio_socket_fd(f);                                            \
		return AT_LIKELY(fd < 0)                                                   \
		           ? real_##name(p, plen, size, n, f)                              \
		           : fread_held(real_##name, p, plen, size, n, f, fd, AT_CALLER());   \
	}

FREAD_CHK_HOOK(__fread_chk)
FREAD_CHK_HOOK(__fread_unlocked_chk)

/* ---- one character ---- */

AT_REAL(int, fgetc, (FILE *));
AT_REAL(int, getc, (FILE *));
AT_REAL(int, _IO_getc, (FILE *));
AT_REAL(int, fgetc_unlocked, (FILE *));
AT_REAL(int, getc_unlocked, (FILE *));
AT_REAL(int, getchar, (void));
AT_REAL(int, getchar_unlocked, (void));
AT_REAL(int, __uflow, (FILE *));
AT_REAL(int, __underflow, (FILE *));

typedef int (*getc_fn)(FILE *);

/* takes: 1 when the character answered is handed out (getc), 0 when it
 * stays in the buffer (__underflow) */
static AT_NOINLINE int getc_held(getc_fn call, FILE *f, int fd, int takes, uintptr_t caller)
{
	struct rd r;
	before(&r, f, fd, caller);
	int c = call(f);
	unsigned char b = (unsigned char)c;
	struct iovec d = {&b, 1};
	after(&r, &d, 1, c != EOF && takes, caller);
	return c;
}

#define GETC_HOOK(name, takes)                                                             \
	AT_EXPORT int name(FILE *f)                                                        \
	{                                                                                  \
		RESOLVED_OR(name, EOF);                                                    \
		int fd = at_stdio_socket_fd(f);                                            \
		return AT_LIKELY(fd < 0) ? real_##name(f)                                  \
		                         : getc_held(real_##name, f, fd, takes, AT_CALLER()); \
	}

GETC_HOOK(fgetc, 1)
GETC_HOOK(getc, 1)
GETC_HOOK(_IO_getc, 1)
GETC_HOOK(fgetc_unlocked, 1)
GETC_HOOK(getc_unlocked, 1)
/* what <stdio.h>'s inline getc calls when the buffer is empty */
GETC_HOOK(__uflow, 1)
GETC_HOOK(__underflow, 0)

static int getchar_to(FILE *f)
{
	return real_getchar();
}

static int getchar_unlocked_to(FILE *f)
{
	return real_getchar_unlocked();
}

#define GETCHAR_HOOK(name)                                                                 \
	AT_EXPORT int name(void)                                                           \
	{                                                                                  \
		RESOLVED_OR(name, EOF);                                                    \
		int fd = at_stdio_socket_fd(stdin);                                        \
		return AT_LIKELY(fd < 0) ? real_##name()                                   \
		                         : getc_held(name##_to, stdin, fd, 1, AT_CALLER());   \
	}

GETCHAR_HOOK(getchar)
GETCHAR_HOOK(getchar_unlocked)

/* ---- scanf: what it took is not told ---- */

AT_REAL(int, vfscanf, (FILE *, const char *, va_list)); /* the GNU form, by name */
AT_REAL(int, __isoc99_vfscanf, (FILE *, const char *, va_list));

/* the GNU form (%as allocates) or the ISO C99 one, as the program chose */
static int vscan(FILE *f, int iso, const char *fmt, va_list ap)
{
	return iso ? real___isoc99_vfscanf(f, fmt, ap) : real_vfscanf(f, fmt, ap);
}

static AT_NOINLINE int vscan_held(FILE *f, int iso, const char *fmt, va_list ap, int fd,
                                  uintptr_t caller)
{
	struct rd r;
	before(&r, f, fd, caller);
	int rc = vscan(f, iso, fmt, ap);
	after(&r, NULL, 0, UNKNOWN, caller);
	return rc;
}

static AT_ALWAYS_INLINE int vscan_call(FILE *f, int iso, const char *fmt, va_list ap,
                                       uintptr_t caller)
{
	RESOLVED_ONE_OR(iso, __isoc99_vfscanf, vfscanf, EOF);
	int fd = at_stdio_socket_fd(f);
	return AT_LIKELY(fd < 0) ? vscan(f, iso, fmt, ap) : vscan_held(f, iso, fmt, ap, fd, caller);
}

/* <stdio.h> names the ISO C99 forms fscanf... in a C99 program: the GNU
 * forms here are defined under their own symbol names. */
AT_EXPORT int gnu_vfscanf(FILE *, const char *, va_list) __asm__("vfscanf");
AT_EXPORT int gnu_vscanf(const char *, va_list) __asm__("vscanf");
AT_EXPORT int gnu_fscanf(FILE *, const char *, ...) __asm__("fscanf");
AT_EXPORT int gnu_scanf(const char *, ...) __asm__("scanf");

AT_EXPORT int gnu_vfscanf(FILE *f, const char *fmt, va_list ap)
{
	return vscan_call(f, 0, fmt, ap, AT_CALLER());
}

AT_EXPORT int gnu_vscanf(const char *fmt, va_list ap)
{
	return vscan_call(stdin, 0, fmt, ap, AT_CALLER());
}
AT_EXPORT int __isoc99_vfscanf(FILE *f, const char *fmt, va_list ap)
{
	return vscan_call(f, 1, fmt, ap, AT_CALLER());
}

AT_EXPORT int __isoc99_vscanf(const char *fmt, va_list ap)
{
	return vscan_call(stdin, 1, fmt, ap, AT_CALLER());
}

#define VA_SCAN(f, iso, fmt)                                                               \
	va_list ap;                                                                        \
	va_start(ap, fmt);                                                                 \
	int rc = vscan_call(f, iso, fmt, ap, AT_CALLER());                                    \
	va_end(ap);                                                                        \
	return rc

AT_EXPORT int gnu_fscanf(FILE *f, const char *fmt, ...)
{
	VA_SCAN(f, 0, fmt);
}

AT_EXPORT int gnu_scanf(const char *fmt, ...)
{
	VA_SCAN(stdin, 0, fmt);
}

AT_EXPORT int __isoc99_fscanf(FILE *f, const char *fmt, ...)
{
	VA_SCAN(f, 1, fmt);
}

AT_EXPORT int __isoc99_scanf(const char *fmt, ...)
{
	VA_SCAN(stdin, 1, fmt);
}
