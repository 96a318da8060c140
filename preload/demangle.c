/* C++ names for code.function.name: a mangled symbol (_Z...) demangled
 * with libstdc++'s __cxa_demangle and cut to the qualified name without
 * its parameters, its return type or its qualifiers, as the semantic
 * conventions want it ("ns::Class::method"). The shim links no C++
 * library: in the traced program (the exporter thread) the demangler is
 * used only when the program has libstdc++ loaded already (every C++
 * program does; a C program has no mangled names of its own); an exporter
 * process (AUTOTRACE_EXPORTER_MODE=process) loads it itself if it is
 * installed. Without it the name stays mangled. A Rust symbol is
 * demangled here (demangle_rust.c). Exporter only. */
#define _GNU_SOURCE
#include "demangle.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

typedef char *(*demangle_fn)(const char *, char *, size_t *, int *);

static demangle_fn find(int may_load)
{
	static demangle_fn fn;
	static int loaded;
	if (fn)
		return fn;
	fn = (demangle_fn)dlsym(RTLD_DEFAULT, "__cxa_demangle");
	if (!fn && may_load && !loaded) {
		loaded = 1; /* once: it is installed or not */
		void *h = dlopen("libstdc++.so.6", RTLD_NOW | RTLD_LOCAL);
		if (h)
			fn = (demangle_fn)dlsym(h, "__cxa_demangle");
	}
	return fn;
}

static int starts(const char *p, const char *lit)
{
	return !strncmp(p, lit, strlen(lit));
}

/* Past the parameter list that opens at p and its qualifiers, if "::"
 * follows: the list is a scope's, a function's whose local class or
 * lambda this is ("f(int)::{lambda()#1}::operator()", "ns::S::run(int)
 * const::B::h"); else NULL. */
static const char *scope_params(const char *p)
{
	int depth = 0;
	do {
		depth += *p == '(' || *p == '<';
		depth -= *p == ')' || *p == '>';
		p++;
	} while (*p && depth);
	for (;;) {
		if (starts(p, " const"))
			p += 6;
		else if (starts(p, " volatile"))
			p += 9;
		else if (starts(p, " &&"))
			p += 3;
		else if (starts(p, " &"))
			p += 2;
		else
			break;
	}
	return starts(p, "::") ? p + 1 : NULL;
}

/* The part of a demangled name that names the function: from after its
 * return type (a template function's: "int ns::f<int>(int)") to its
 * parameter list, outside <>, () and {} (a lambda's "{lambda(int)#1}",
 * "(anonymous namespace)", "operator()" are kept whole, and so are the
 * parameters of the function a local class or lambda is in). */
static void cut(const char *d, const char **from, size_t *len)
{
	int depth = 0;
	const char *start = d, *p = d, *q;
	for (; *p; p++) {
		if (depth == 0 && starts(p, "(anonymous namespace)")) {
			p += strlen("(anonymous namespace)") - 1;
			continue;
		}
		if (depth == 0 && starts(p, "operator")) {
			/* operator(), operator<, operator<<, operator int... up to its
			 * own parameters, and past them when they are a scope's (a
			 * lambda in an operator: "F::operator()(int)::{lambda()#1}
			 * ::operator()") */
			p += strlen("operator");
			if (starts(p, "()"))
				p += 2;
			while (*p && *p != '(')
				p++;
			if (*p && (q = scope_params(p))) {
				p = q;
				continue;
			}
			break;
		}
		if (*p == '<' || *p == '{' || (*p == '(' && depth))
			depth++;
		else if ((*p == '>' || *p == '}' || *p == ')') && depth)
			depth--;
		else if (depth == 0 && *p == '(' && (q = scope_params(p)))
			p = q; /* on at the second ':' of "::" */
		else if (depth == 0 && *p == '(')
			break;
		else if (depth == 0 && *p == ' ')
			start = p + 1; /* what came before was the return type */
	}
	*from = start;
	*len = (size_t)(p - start);
}

int at_demangle(const char *mangled, char *out, size_t len, int may_load)
{
	if (at_demangle_rust(mangled, out, len))
		return 1;
	if (!mangled || strncmp(mangled, "_Z", 2) || len < 2)
		return 0;
	demangle_fn fn = find(may_load);
	int status = -1;
	char *d = fn ? fn(mangled, NULL, NULL, &status) : NULL;
	if (!d || status) {
		free(d);
		return 0;
	}
	const char *from;
	size_t n;
	cut(d, &from, &n);
	while (n && from[n - 1] == ' ')
		n--;
	if (!n) {
		free(d);
		return 0;
	}
	if (n >= len)
		n = len - 1;
	memmove(out, from, n);
	out[n] = 0;
	free(d);
	return 1;
}
