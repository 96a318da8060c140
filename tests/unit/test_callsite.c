/* Symbolizing a span's caller: in this process (dladdr, the executable's
 * .symtab, DWARF line tables), and in another (at_callsite_set_remote), as
 * an exporter in a helper process does: a fork child has this process's
 * layout, so this process's addresses are valid in it. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../preload/autotrace.h"
#include "../../preload/callsite.h"
#include "../../preload/config.h"
#include "../../preload/span.h"

/* loaded late by the child only (not linked into this test) */
#define LATE_LIB "libm.so.6"
#define LATE_SYM "frexp" /* not an IFUNC: in .dynsym itself */

static int setup(void **state)
{
	setenv("OTEL_TRACES_EXPORTER", "none", 1);
	assert_true(at_on());
	at_cfg.record = AT_FLAG_SAMPLED; /* recorded with no exporter: the test reads them */
	return 0;
}

__attribute__((noinline)) static uintptr_t local_function_here(void)
{
	return (uintptr_t)__builtin_return_address(0);
}

static int call_line;

__attribute__((noinline)) static uintptr_t call_site(void)
{
	call_line = __LINE__ + 1;
	uintptr_t ra = local_function_here();
	__asm__ volatile("" ::: "memory"); /* not a tail call */
	return ra;
}

static void symbolize(void **state)
{
	char name[64];
	/* a static function: only the executable's .symtab has it */
	assert_true(at_callsite_symbolize(call_site(), name, sizeof name));
	assert_string_equal(name, "call_site");
	/* a libc function: dynamic symbols */
	assert_true(at_callsite_symbolize((uintptr_t)getpid + 1, name, sizeof name));
	assert_true(strstr(name, "getpid") != NULL);
	assert_false(at_callsite_symbolize(0, name, sizeof name));
	assert_string_equal(name, "");
	/* truncated to the buffer */
	assert_true(at_callsite_symbolize(call_site(), name, 5));
	assert_string_equal(name, "call");
}

static void source_line(void **state)
{
	char file[256];
	unsigned line;
	/* this file is built with -g: its own DWARF line table */
	assert_true(at_callsite_line(call_site(), file, sizeof file, &line));
	assert_int_equal(line, call_line);
	const char *tail = "tests/unit/test_callsite.c";
	assert_true(strlen(file) >= strlen(tail));
	assert_string_equal(file + strlen(file) - strlen(tail), tail);
	/* libc has no line table of its own, and no debug file is looked for
	 * (one libc6-dbg installed would give it one): nothing */
	snprintf(at_cfg.debug_dirs, sizeof at_cfg.debug_dirs, "/nonexistent");
	at_callsite_set_remote(0); /* forgets the objects read */
	assert_false(at_callsite_line((uintptr_t)getpid + 1, file, sizeof file, &line));
	assert_string_equal(file, "");
}

struct child {
	pid_t pid;
	int cmd, reply; /* our ends of its pipes */
};

/* A child that waits for commands: 'd' dlopens LATE_LIB and replies with
 * LATE_SYM's address; end of file ends it. */
static void child_start(struct child *c)
{
	int cmd[2], reply[2];
	assert_int_equal(pipe(cmd), 0);
	assert_int_equal(pipe(reply), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (!c->pid) {
		close(cmd[1]);
		close(reply[0]);
		char op;
		while (read(cmd[0], &op, 1) == 1) {
			void *h = dlopen(LATE_LIB, RTLD_NOW);
			uintptr_t a = h ? (uintptr_t)dlsym(h, LATE_SYM) : 0;
			if (write(reply[1], &a, sizeof a) != sizeof a)
				break;
		}
		_exit(0);
	}
	close(cmd[0]);
	close(reply[1]);
	c->cmd = cmd[1];
	c->reply = reply[0];
}

static void child_stop(struct child *c)
{
	int status;
	close(c->cmd);
	close(c->reply);
	assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
}

static void remote_symbolize(void **state)
{
	char name[64], file[256];
	unsigned line;
	struct child c;
	child_start(&c);
	at_callsite_set_remote(c.pid);
	/* a static function: the executable's .symtab, found through the maps */
	assert_true(at_callsite_symbolize(call_site(), name, sizeof name));
	assert_string_equal(name, "call_site");
	/* libc has no .symtab: its .dynsym (no dladdr remotely) */
	assert_true(at_callsite_symbolize((uintptr_t)getpid + 1, name, sizeof name));
	assert_true(strstr(name, "getpid") != NULL);
	/* DWARF, with the same bias */
	assert_true(at_callsite_line(call_site(), file, sizeof file, &line));
	assert_int_equal(line, call_line);
	const char *tail = "tests/unit/test_callsite.c";
	assert_true(strlen(file) >= strlen(tail));
	assert_string_equal(file + strlen(file) - strlen(tail), tail);
	/* in no object (the stack): nothing */
	int local;
	assert_false(at_callsite_symbolize((uintptr_t)&local, name, sizeof name));
	assert_string_equal(name, "");
	at_callsite_set_remote(0);
	child_stop(&c);
}

static void remote_late_dlopen(void **state)
{
	char name[64];
	if (dlopen(LATE_LIB, RTLD_NOW | RTLD_NOLOAD))
		skip(); /* already here: would not show the child's own maps */
	struct child c;
	child_start(&c);
	at_callsite_set_remote(c.pid);
	/* the executable is known before the child loads the library */
	assert_true(at_callsite_symbolize(call_site(), name, sizeof name));
	uintptr_t a = 0;
	assert_int_equal(write(c.cmd, "d", 1), 1);
	assert_int_equal(read(c.reply, &a, sizeof a), sizeof a);
	assert_true(a != 0);
	/* in no known object: the maps are read again */
	assert_true(at_callsite_symbolize(a + 1, name, sizeof name));
	assert_true(strstr(name, LATE_SYM) != NULL);
	/* not mapped here: this process would not know it */
	at_callsite_set_remote(0);
	assert_false(at_callsite_symbolize(a + 1, name, sizeof name));
	child_stop(&c);
}

static const struct at_attr *attr(const struct at_span *s, const char *key)
{
	for (int i = 0; i < s->nattrs; i++)
		if (!strcmp(s->attrs[i].key, key))
			return &s->attrs[i];
	return NULL;
}

/* A span from this call site, annotated as the exporter does. */
static const struct at_attr *annotated_name(struct at_span *s, uintptr_t caller)
{
	at_span_start_detached(s, "op", AT_KIND_CLIENT, NULL);
	assert_true(s->recording);
	s->caller = caller;
	at_callsite_annotate_one(s);
	return attr(s, "code.function.name");
}

static void remote_dead_pid(void **state)
{
	char name[64], file[256];
	unsigned line;
	int saved = at_cfg.callsite;
	at_cfg.callsite = 1;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (!pid)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	/* known here, and cached by the exporter's annotation */
	uintptr_t ra = call_site();
	struct at_span s;
	const struct at_attr *a = annotated_name(&s, ra);
	assert_non_null(a);
	assert_int_equal(a->v.s.len, strlen("call_site"));
	assert_memory_equal(at_span_str(&s, a->v.s), "call_site", a->v.s.len);
	at_span_end_detached(&s);
	/* another process, gone: nothing, and nothing from this one's cache */
	at_callsite_set_remote(pid);
	assert_false(at_callsite_symbolize(ra, name, sizeof name));
	assert_string_equal(name, "");
	assert_false(at_callsite_line(ra, file, sizeof file, &line));
	assert_null(annotated_name(&s, ra));
	at_span_end_detached(&s);
	/* this process again */
	at_callsite_set_remote(0);
	assert_true(at_callsite_symbolize(ra, name, sizeof name));
	assert_string_equal(name, "call_site");
	assert_non_null(annotated_name(&s, ra));
	at_span_end_detached(&s);
	at_cfg.callsite = saved;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(symbolize),
	    cmocka_unit_test(source_line),
	    cmocka_unit_test(remote_symbolize),
	    cmocka_unit_test(remote_late_dlopen),
	    cmocka_unit_test(remote_dead_pid),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
