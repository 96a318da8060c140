# autotrace: an LD_PRELOAD tracer. `make` builds build/libautotrace.so.
CC ?= gcc
# BUILD=dir lets several builds share one tree (tests take AUTOTRACE_BUILD).
BUILD ?= build
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
DESTDIR ?=
PYTHON ?= /usr/bin/python3

CFLAGS ?= -O2 -g
# -falign-functions=64 and -fdata-sections with hot.ld: a traced call touches
# fewer cache lines (each function starts on a line; the variables it reads
# sit together). Measured by `make bench`, "Cache lines per request".
AT_CFLAGS := -std=gnu11 -fPIC -fvisibility=hidden -Wall -Wextra -Wno-unused-parameter \
	-pthread -fno-omit-frame-pointer -falign-functions=64 -fdata-sections
LDFLAGS ?=
AT_LDFLAGS := -shared -Wl,--no-undefined -Wl,--version-script=exports.map -Wl,-z,nodelete \
	-Wl,--as-needed -Wl,-T,hot.ld -Wl,-e,at_helper_entry
# -e: the library is also the program an exporter process runs
# (AUTOTRACE_EXPORTER_MODE=process, reporter/helper.c).
# libunwind (crash stack traces) and zlib (gzip) are loaded when first
# needed (preload/unwinder.c, reporter/gzip.c): their headers only here.
LIBS := -ldl -lpthread

SRCS := $(wildcard preload/*.c) $(wildcard reporter/*.c) $(wildcard hooks/*.c)
OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(SRCS))
DEPS := $(OBJS:.o=.d)
LIB := $(BUILD)/libautotrace.so

# Every object, for unit tests: an archive member is linked only when a test
# uses one of its symbols, so keep parsers in files that define no hook.
CORE_OBJS := $(OBJS)

all: $(LIB)

$(LIB): $(OBJS) exports.map hot.ld
	$(CC) $(CFLAGS) $(AT_CFLAGS) $(AT_LDFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(LIBS)

# The objects are rebuilt when the compiler flags change (the layout flags
# above do nothing to objects built without them).
FLAGS_STAMP := $(BUILD)/obj/flags
FLAGS_LINE = $(CC) $(CFLAGS) $(AT_CFLAGS)
$(FLAGS_STAMP): FORCE
	@mkdir -p $(dir $@)
	@echo '$(FLAGS_LINE)' | cmp -s - $@ || echo '$(FLAGS_LINE)' > $@
.PHONY: FORCE

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AT_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libatcore.a: $(CORE_OBJS)
	ar rcs $@ $^

-include $(DEPS)

# ---- tests ----
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
PROG_SRCS := $(wildcard tests/programs/*.c)
PROG_BINS := $(patsubst tests/programs/%.c,$(BUILD)/programs/%,$(PROG_SRCS))

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libatcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AT_CFLAGS) -fvisibility=default -Ipreload -Ireporter -o $@ $< \
		$(BUILD)/libatcore.a -lcmocka $(LIBS) -lz

# Test programs: each names the libraries it needs in a "// LIBS:" line.
$(BUILD)/programs/%: tests/programs/%.c $(wildcard tests/programs/*.h)
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -Wall -o $@ $< $$(sed -n 's,^// LIBS: *,,p' $<) -lpthread

# Test tools: the shim's own code (libatcore.a) run on files, for the
# integration tests to compare with other tools' answers.
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRCS))

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libatcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AT_CFLAGS) -o $@ $< $(BUILD)/libatcore.a $(LIBS)

# Test-only interposers, preloaded beside the shim by the integration tests.
PRELOAD_SRCS := $(wildcard tests/preloads/*.c)
PRELOAD_LIBS := $(patsubst tests/preloads/%.c,$(BUILD)/preloads/%.so,$(PRELOAD_SRCS))

$(BUILD)/preloads/%.so: tests/preloads/%.c
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -Wall -fPIC -shared -o $@ $< -ldl

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

programs: $(PROG_BINS) $(PRELOAD_LIBS) $(TOOL_BINS)

# `make test` installs what it needs (Debian packages, the official IDL from
# npm) and then runs everything; `make check` only runs.
test:
	./scripts/install-deps.sh
	$(MAKE) check

# The integration tests run twice: with the exporter thread (the default),
# then with the exporter in a helper process (AUTOTRACE_EXPORTER_MODE=process).
check: $(LIB) programs unit fuzz-seeds
	AUTOTRACE_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q tests/integration $(PYTEST_ARGS)
	@echo "== the integration tests again, exporter in a helper process"
	AUTOTRACE_TEST_EXPORTER_MODE=process AUTOTRACE_BUILD=$(abspath $(BUILD)) \
		$(PYTHON) -m pytest -q tests/integration $(PYTEST_ARGS)

# ---- fuzzing (clang's libFuzzer): each tests/fuzz/fuzz_*.c names the
# sources it needs in a "// SRCS:" line ----
FUZZ_TIME ?= 20
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))

$(BUILD)/fuzz/%: tests/fuzz/%.c $(SRCS)
	@mkdir -p $(dir $@)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -o $@ $< $$(sed -n 's,^// SRCS: *,,p' $<)

# Each target once over its seeds (tests/fuzz/seeds: inputs that once
# failed among them), under the sanitizers: part of check.
fuzz-seeds: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do s=tests/fuzz/seeds/$$(basename $$f); \
		[ -d $$s ] || continue; echo "== $$f $$s"; $$f -runs=0 $$s; done

fuzz: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do mkdir -p $$f.corpus; \
		s=tests/fuzz/seeds/$$(basename $$f); [ -d $$s ] || s=; \
		$$f -max_total_time=$(FUZZ_TIME) -print_final_stats=1 $$f.corpus $$s; done

# ---- benchmarks ----
# bench/run.py builds bench/*.c itself and writes bench/RESULTS.md (docs/bench.md).
bench: $(LIB) $(BUILD)/libatcore.a
	BUILD=$(BUILD) AT_LIBS="$(LIBS)" $(PYTHON) bench/run.py

# ---- demo ----
# demo.sh installs what it needs, then builds (a fresh machine has no -dev packages yet).
demo:
	BUILD=$(BUILD) ./scripts/demo.sh

install: $(LIB)
	install -d $(DESTDIR)$(LIBDIR)
	install -m 0755 $(LIB) $(DESTDIR)$(LIBDIR)/libautotrace.so

format:
	clang-format -i $(SRCS) $(wildcard preload/*.h reporter/*.h hooks/*.h) $(UNIT_SRCS) $(PROG_SRCS)

clean:
	rm -rf $(BUILD)

.PHONY: all unit programs test check bench demo install format clean fuzz fuzz-seeds
