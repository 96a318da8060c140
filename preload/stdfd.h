/* Descriptors are the program's: whether 2 is still a stderr the shim may
 * write to, the shim's own descriptors kept above 0..2, and whether one it
 * keeps is still the file it made (a program that closes every descriptor
 * may reuse the number for its own). */
#ifndef AT_STDFD_H
#define AT_STDFD_H

#include <sys/types.h>

/* The file a descriptor was when noted. */
struct at_fd_id {
	dev_t dev;
	ino_t ino;
};
/* Notes fd's file; -1 if fd is not open. */
int at_fd_note(int fd, struct at_fd_id *id);
/* Whether fd is open and still that file. Async-signal-safe; keeps errno. */
int at_fd_same(int fd, const struct at_fd_id *id);

void at_stderr_init(void);
/* from the close hooks: the application closed descriptor 2 */
void at_stderr_closed(void);
/* from dup2/dup3: the application put a file on descriptor 2 */
void at_stderr_placed(void);
/* 1 if the shim's diagnostics and console spans may go to descriptor 2.
 * Async-signal-safe; keeps errno. */
int at_stderr_usable(void);
/* A descriptor the shim keeps open, moved above 2 if it took one of the
 * numbers of a program started without its stdin, stdout or stderr (the
 * program would read, write or print to the shim's socket or ring there).
 * Returns the descriptor to use, or -1 (errno set; fd closed). */
int at_fd_not_std(int fd);
/* The numbers of 0..2 that are free, held on /dev/null (never replacing a
 * descriptor), so that a library opening descriptors of its own meanwhile
 * (libunwind's pipe) does not take them; released after. */
struct at_std_held {
	int fd[3], n;
};
void at_std_hold(struct at_std_held *h);
void at_std_release(const struct at_std_held *h);

#endif
