/* A stdio stream as the stdio hooks see it: its buffer, as glibc's libio
 * keeps it in the public FILE fields (the bytes written to it that libc
 * has not yet written out), and whether it is a marked server socket's. */
#ifndef AT_STDIO_BUF_H
#define AT_STDIO_BUF_H

#include "fdstate.h"

#include <stddef.h>
#include <stdio.h>

/* libio's flags (libio.h, not installed) */
#define AT_IO_UNBUFFERED 0x0002
#define AT_IO_LINE_BUF 0x0200
#define AT_IO_CURRENTLY_PUTTING 0x0800 /* holds bytes to write, not read ones */

/* The bytes f's buffer holds, not yet written; from f->_IO_write_base. */
static inline size_t at_stdio_pending(const FILE *f)
{
	if (!(f->_flags & AT_IO_CURRENTLY_PUTTING) || !f->_IO_write_base ||
	    f->_IO_write_ptr <= f->_IO_write_base)
		return 0;
	return (size_t)(f->_IO_write_ptr - f->_IO_write_base);
}

/* f's descriptor when it is a marked server socket, else -1: one load
 * of the fd table's pointer until a socket has been marked. */
static AT_ALWAYS_INLINE int at_stdio_server_fd(FILE *f)
{
	if (AT_LIKELY(!atomic_load_explicit(&at_fds, memory_order_relaxed)) || !f)
		return -1;
	return at_net_stdio_fd(f);
}

#endif
