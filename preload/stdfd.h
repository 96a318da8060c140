/* Descriptors 0, 1 and 2 are the program's: whether 2 is still a stderr
 * the shim may write to, and the shim's own descriptors kept above them. */
#ifndef AT_STDFD_H
#define AT_STDFD_H

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

#endif
