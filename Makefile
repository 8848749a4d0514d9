# tickflow - build, test, install.
#   make            build/tickflow, build/libtickflow.a, build/libtickflow.so*, build/examples/*
#   make test       unit tests (cmocka) + shell tests on the real binary
#   make asan       the same tests under AddressSanitizer + UBSan
#   make valgrind   the unit tests under valgrind memcheck
#   make bench      benchmark scripts (figures, never pass/fail timings)
#   make fuzz       libFuzzer targets (FUZZ_SECONDS per target)
#   make demo       the download-then-train pipeline, twice
#   make install / uninstall (PREFIX, DESTDIR)

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
LIBDIR   ?= $(PREFIX)/lib
INCDIR   ?= $(PREFIX)/include
MANDIR   ?= $(PREFIX)/share/man
PCDIR    ?= $(LIBDIR)/pkgconfig

CC       ?= gcc
B        ?= build
PKGS     := sqlite3 libcrypto libcjson libpq
TESTPKGS := cmocka

WARN     := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2 -Wundef -Wvla -Wpointer-arith \
            -Wcast-align -Wwrite-strings -Wnull-dereference -Wimplicit-fallthrough
# Warnings are errors in CI (CI=true) and with WERROR=1.
ifneq ($(filter true 1,$(CI) $(WERROR)),)
WARN     += -Werror
endif
OPT      ?= -O2 -g
BASEFLAGS = -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -I$(B)/gen
DEPFLAGS  = -MMD -MP

# Dependencies are checked (and installed through scripts/install-deps when
# missing) before pkg-config is asked for flags.
DEPS_OK  := $(B)/.deps-ok
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_CFLAGS = $(shell pkg-config --cflags $(TESTPKGS) 2>/dev/null)
TEST_LIBS   = $(shell pkg-config --libs $(TESTPKGS) 2>/dev/null)

ALL_CFLAGS = $(BASEFLAGS) $(OPT) $(WARN) $(PKG_CFLAGS) $(EXTRA_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(EXTRA_LDFLAGS) $(LDFLAGS)

# Objects are rebuilt when the compile command changes (flags, compiler):
# $(FLAGS) holds the last one and is rewritten only when it differs.
FLAGS    := $(B)/.flags
FLAGS_NOW := $(CC) $(BASEFLAGS) $(OPT) $(WARN) $(EXTRA_CFLAGS) $(CFLAGS) -fPIC
$(shell mkdir -p $(B) && { [ "$$(cat $(FLAGS) 2>/dev/null)" = '$(FLAGS_NOW)' ] || printf '%s\n' '$(FLAGS_NOW)' > $(FLAGS); })

LIB_SRC  := $(wildcard src/*.c src/store/*.c)
CLI_SRC  := $(wildcard src/cli/*.c)
EX_SRC   := $(wildcard examples/*.c)
TEST_SRC := $(wildcard tests/unit/test_*.c)
# Migrations per engine (schema/<engine>/NNNN-name.sql), embedded as tf_schema_<engine>[].
ENGINES  := sqlite postgres
SCHEMA_sqlite := $(sort $(wildcard schema/sqlite/*.sql))
SCHEMA_postgres := $(sort $(wildcard schema/postgres/*.sql))

LIB_OBJ  := $(patsubst src/%.c,$(B)/obj/%.o,$(LIB_SRC)) \
            $(patsubst %,$(B)/obj/gen/schema-%.o,$(ENGINES))
CLI_OBJ  := $(patsubst src/%.c,$(B)/obj/%.o,$(CLI_SRC))
LIB      := $(B)/libtickflow.a
# The shared library: real name with the full version, soname with the major.
VERSION  := $(shell sed -n 's/^\#define TF_VERSION "\(.*\)"/\1/p' include/tickflow.h)
SOMAJOR  := $(firstword $(subst ., ,$(VERSION)))
SONAME   := libtickflow.so.$(SOMAJOR)
SOLIB    := $(B)/libtickflow.so.$(VERSION)
BIN      := $(B)/tickflow
EXAMPLES := $(patsubst examples/%.c,$(B)/examples/%,$(EX_SRC))
TESTS    := $(patsubst tests/unit/%.c,$(B)/tests/%,$(TEST_SRC))
TEST_HELPERS := $(wildcard tests/unit/helpers/*.c)
TOOL_SRC := $(wildcard tests/tools/*.c)
BENCH_SRC := $(wildcard tests/bench/*.c)
BENCHES  := $(patsubst tests/bench/%.c,$(B)/bench/%,$(BENCH_SRC))
TOOLS    := $(patsubst tests/tools/%.c,$(B)/tools/%,$(TOOL_SRC))

.PHONY: all test unit shtest asan valgrind bench fuzz demo install uninstall clean check-full check-reliability deps
.DEFAULT_GOAL := all

all: $(LIB) $(SOLIB) $(BIN) $(EXAMPLES)

deps: $(DEPS_OK)
$(DEPS_OK): scripts/install-deps
	@mkdir -p $(B)
	@pkg-config --exists $(PKGS) $(TESTPKGS) && command -v sqlite3 >/dev/null \
	  && scripts/install-deps --check || scripts/install-deps
	@touch $@

$(B)/gen/schema-sqlite.c: $(SCHEMA_sqlite) scripts/embed-schema
	@mkdir -p $(dir $@)
	scripts/embed-schema sqlite $(SCHEMA_sqlite) > $@.tmp && mv $@.tmp $@

$(B)/gen/schema-postgres.c: $(SCHEMA_postgres) scripts/embed-schema
	@mkdir -p $(dir $@)
	scripts/embed-schema postgres $(SCHEMA_postgres) > $@.tmp && mv $@.tmp $@

# Library objects are position-independent: the same objects make the
# static and the shared library.
$(B)/obj/gen/schema-%.o: $(B)/gen/schema-%.c $(FLAGS) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -c $< -o $@

$(B)/obj/cli/%.o: src/cli/%.c $(FLAGS) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(B)/obj/%.o: src/%.c $(FLAGS) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC $(DEPFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# Exports only tf_* names (scripts/libtickflow.map); links its own
# dependencies, so an application needs -ltickflow alone (plus libcjson,
# whose types the header uses).
$(SOLIB): $(LIB_OBJ) scripts/libtickflow.map
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -shared -Wl,-soname,$(SONAME) \
	  -Wl,--version-script,scripts/libtickflow.map -Wl,--no-undefined \
	  -o $@ $(LIB_OBJ) $(PKG_LIBS)
	ln -sf $(notdir $@) $(B)/$(SONAME)
	ln -sf $(SONAME) $(B)/libtickflow.so

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(PKG_LIBS)

$(B)/examples/%: examples/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(PKG_LIBS)

$(B)/tests/%: tests/unit/%.c $(TEST_HELPERS) $(LIB) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) -Itests/unit $(ALL_LDFLAGS) -o $@ $< $(TEST_HELPERS) $(LIB) $(PKG_LIBS) $(TEST_LIBS)

# Small programs the shell tests drive (tests/tools/*.c).
$(B)/tools/%: tests/tools/%.c $(LIB) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(PKG_LIBS)

# Benchmark programs (tests/bench/*.c), run by scripts/bench-all.
$(B)/bench/%: tests/bench/%.c $(LIB) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(PKG_LIBS)

# The test suite: every cmocka binary, then every shell test (real binary,
# real database files in temporary folders, a real PostgreSQL server).
# scripts/pg-cluster starts a throwaway PostgreSQL cluster beside the run
# (TF_PG_URI); without a server the PostgreSQL suites print "skipped: ...".
test: all $(TESTS) $(TOOLS) $(BENCHES)
	@TF_EXTRA_LDFLAGS="$(EXTRA_LDFLAGS)" scripts/pg-cluster run scripts/run-tests $(B)

unit: $(TESTS)
	@scripts/pg-cluster run scripts/run-tests --unit-only $(B)

# verify_asan_link_order=0: tests that preload libfaketime (shifted clocks)
# run the sanitized binary too; ASan would refuse to start behind it.
asan:
	ASAN_OPTIONS=$${ASAN_OPTIONS:+$$ASAN_OPTIONS:}verify_asan_link_order=0 \
	$(MAKE) B=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" test

valgrind: all $(TESTS) $(TOOLS)
	@scripts/install-deps --extra
	@TF_VALGRIND=1 scripts/run-tests --unit-only $(B)

check-full: all $(TESTS) $(TOOLS)
	@TF_FULL=1 scripts/run-tests $(B)

# Reliability campaigns at full size (figures printed; quick versions run in
# make test as tests/sh/reliability_*.sh): 200 SIGKILLs, 100 trials of 8
# simultaneous schedulers, every fault including a 45 s lock hold.
check-reliability: all
	@st=0; export TF_BIN=$(CURDIR)/$(BIN); \
	  scripts/campaign-crash 200 || st=1; \
	  scripts/campaign-race 100 8 || st=1; \
	  scripts/campaign-faults || st=1; \
	  scripts/campaign-reality || st=1; \
	  exit $$st

bench: all $(BENCHES) $(TOOLS)
	@scripts/install-deps --extra
	@scripts/bench-all $(B)

fuzz: | $(DEPS_OK)
	@scripts/install-deps --extra
	@scripts/fuzz $(B)

demo: all
	@scripts/demo $(B)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(PCDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/tickflow
	install -m 0644 $(LIB) $(DESTDIR)$(LIBDIR)/libtickflow.a
	install -m 0755 $(SOLIB) $(DESTDIR)$(LIBDIR)/$(notdir $(SOLIB))
	ln -sf $(notdir $(SOLIB)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libtickflow.so
	install -m 0644 include/tickflow.h $(DESTDIR)$(INCDIR)/tickflow.h
	install -m 0644 man/tickflow.1 $(DESTDIR)$(MANDIR)/man1/tickflow.1
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	  -e 's|@INCDIR@|$(INCDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	  scripts/tickflow.pc.in > $(DESTDIR)$(PCDIR)/tickflow.pc

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tickflow $(DESTDIR)$(LIBDIR)/libtickflow.a \
	  $(DESTDIR)$(LIBDIR)/$(notdir $(SOLIB)) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	  $(DESTDIR)$(LIBDIR)/libtickflow.so \
	  $(DESTDIR)$(INCDIR)/tickflow.h $(DESTDIR)$(MANDIR)/man1/tickflow.1 \
	  $(DESTDIR)$(PCDIR)/tickflow.pc

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
