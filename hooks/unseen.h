/* Bytes of a marked socket that no hook sees: a file's or a pipe's bytes
 * the kernel moves itself (sendfile, splice). hooks/unseen.c interposes
 * those calls; hooks/net.c counts such bytes where it can (a body's), and
 * stops following a connection whose bytes it cannot account for. */
#ifndef AT_UNSEEN_H
#define AT_UNSEEN_H

#include <stdint.h>
#include <sys/types.h>

/* The application's call, made by at_net_unseen_out between what has to
 * be done before and after it. */
typedef ssize_t (*at_unseen_fn)(void *arg);

/* A call that sends bytes on the marked socket fd without our seeing them:
 * a request's trace header lines still owed (a short write) go out first,
 * then call(arg); its count is taken as body bytes of the message being
 * followed. Returns call's result, with its errno. */
ssize_t at_net_unseen_out(int fd, at_unseen_fn call, void *arg, uintptr_t caller);
/* r bytes came in on the marked socket fd without our seeing them (r == 0:
 * the peer closed; r < 0: nothing came). */
void at_net_unseen_in(int fd, ssize_t r);

#endif
