/* Process exits that skip destructors: fork-per-request servers end every
 * child with _exit, which would lose the child's spans. Flush (bounded)
 * first. */
#define _GNU_SOURCE
#include "../preload/autotrace.h"
#include "../preload/real.h"
#include "cgi.h"

#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

AT_REAL(void, _exit, (int));
AT_REAL(void, _Exit, (int));
void at_net_exit(void) __attribute__((weak)); /* hooks/net.c: end open requests */

AT_EXPORT void _exit(int status)
{
	if (at_on() && at_net_exit)
		at_net_exit();
	if (at_on()) {
		at_cgi_end(AT_CGI_QUIT);
		at_flush_at_exit();
	}
	if (AT_RESOLVE(_exit))
		real__exit(status);
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}

AT_EXPORT void _Exit(int status)
{
	if (at_on() && at_net_exit)
		at_net_exit();
	if (at_on()) {
		at_cgi_end(AT_CGI_QUIT);
		at_flush_at_exit();
	}
	if (AT_RESOLVE(_Exit))
		real__Exit(status);
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}
