/* The code that made the call: hooks record only a return address
 * (span->caller, AT_SPAN_CALLER); the exporter thread turns it into
 * code.function.name, code.file.path and code.line.number before encoding,
 * through a cache. */
#ifndef AT_CALLSITE_H
#define AT_CALLSITE_H

#include "span.h"

#include <stddef.h>
#include <stdint.h>

/* Exporter thread only (not thread-safe). No-op when AUTOTRACE_CALLSITE=0. */
void at_callsite_annotate_one(struct at_span *s);

/* Symbolize addresses of process pid from now on (the exporter runs in a
 * helper process): objects are found in /proc/<pid>/maps, not in this
 * process; dladdr is not used. 0: this process (the default). Exporter
 * thread only; forgets every object and cached address. */
void at_callsite_set_remote(int pid);

/* The name of the function containing addr, from the dynamic symbols
 * (dladdr, not when remote) or else the object's ELF .symtab, else its
 * .dynsym; 0 with "" when unknown. Exposed for unit tests. */
int at_callsite_symbolize(uintptr_t addr, char *name, size_t len);

/* The source file and line of the call at return address addr, from the
 * object's DWARF line table; 0 with "" when there is none. For tests. */
int at_callsite_line(uintptr_t addr, char *file, size_t len, unsigned *line);

/* What a span names as its caller at return address addr: the function,
 * file and line of the call, those of the code it was inlined into where
 * it was a system header's (a _FORTIFY_SOURCE wrapper); 0 when nothing is
 * known. */
int at_callsite_frame(uintptr_t addr, char *name, size_t nlen, char *file, size_t flen,
                      unsigned *line);

/* The same for link-time address vaddr (the call itself, not a return
 * address) of the object in file path, from its .symtab and DWARF only:
 * for tests (tests/tools/dwarf_frame.c). */
int at_callsite_object_frame(const char *path, uint64_t vaddr, char *name, size_t nlen, char *file,
                             size_t flen, unsigned *line);

/* The file mapped at addr in process pid (/proc/<pid>/maps): 0, or -1. */
int at_maps_path(int pid, uintptr_t addr, char *path, size_t len);

#endif
