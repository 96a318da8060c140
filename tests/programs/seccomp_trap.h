/* For the crash test programs: a seccomp filter that answers getppid with
 * SECCOMP_RET_TRAP (the kernel raises SIGSYS at the call) and allows every
 * other system call. Where filters cannot be installed (a container that
 * forbids them) it prints "no seccomp" and exits 4: the test skips. */
#ifndef SECCOMP_TRAP_H
#define SECCOMP_TRAP_H

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static void trap_getppid(void)
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof f / sizeof f[0], f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
		printf("no seccomp\n");
		fflush(stdout);
		_exit(4);
	}
}

#endif
