# sculpt -- a plain Makefile (Redis's src/Makefile is the model).
#
#   make                 release build into build/ (binaries in build/bin/)
#   make check           fast unit tests, ASan+UBSan build in build-test/
#   make test            deps, unit tests and every integration test (what CI runs)
#   make bench[-AREA]    benchmarks (AREA: replay engine libvirt db rpc api presculpt)
#   make run             the main job: see contrib/run.sh (`make stop` ends it)
#   make valgrind        unit tests under valgrind (build-vg/)
#   make format          clang-format the sources
#
# Sources are discovered: every .c under a module folder belongs to that
# module's archive, except *_main.c files, which are program entry points.
# Layering (design.md): common <- driver <- db <- openstack, api.

WERROR ?= -Werror
CC ?= cc
O ?= build
SANITIZER ?=
OPT ?= -O2

# Every library the project links.  contrib/install-deps.sh installs them.
PKGS := libvirt libxml-2.0 libarchive librabbitmq libcurl libcrypto jansson libpq libmicrohttpd zlib cmocka
PKG_CHECK := $(shell pkg-config --exists $(PKGS) 2>/dev/null || echo missing)
# `make test` and `make run` install what is missing first, then build in a
# sub-make; any other goal on a bare machine stops here with the remedy.
ifneq ($(PKG_CHECK),)
ifeq ($(filter deps test run format clean distclean,$(MAKECMDGOALS)),)
$(error missing development packages (one of: $(PKGS)); run `make deps` (contrib/install-deps.sh) as root)
endif
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# The libvirt backend's libraries (libarchive makes its config drives): only
# the libvirt module links them (see below); the programs link the rest.
MOD_PKGS := libvirt libxml-2.0 libarchive
PKG_LIBS := $(shell pkg-config --libs $(filter-out cmocka $(MOD_PKGS),$(PKGS)) 2>/dev/null)
MOD_LIBS := $(shell pkg-config --libs $(MOD_PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
        -Wimplicit-fallthrough -Wvla -Wwrite-strings $(WERROR)
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g $(OPT) $(WARN) -fstack-protector-strong \
               -I. $(PKG_CFLAGS)
ifeq ($(SANITIZER),address)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else ifeq ($(SANITIZER),fuzzer)
SAN_FLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
             -fno-omit-frame-pointer
else ifeq ($(SANITIZER),thread)
SAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
else
SAN_FLAGS :=
endif
ALL_CFLAGS := $(CFLAGS_BASE) $(SAN_FLAGS) $(CFLAGS)
ALL_LDFLAGS := $(SAN_FLAGS) $(LDFLAGS) -Wl,--as-needed
LIBS := $(PKG_LIBS) -lm -lpthread

# `make V=1` shows the commands.
ifeq ($(V),1)
Q :=
SAY := @true
else
Q := @
SAY := @echo
endif

MODULES := common driver db openstack api
src_of = $(filter-out %_main.c,$(wildcard $(1)/*.c $(1)/*/*.c))
obj_of = $(patsubst %.c,$(O)/obj/%.o,$(1))

COMMON_SRC := $(call src_of,common)
# The libvirt module: the backend and the capabilities XML reader (the
# only user of libxml2), built as $(O)/lib/sculpt/libvirt.so and loaded by
# driver/module.c when first needed, so libvirt, libxml2 and everything
# they pull in are not mapped into a process that does not use them.
LIBVIRT_MOD_SRC := $(wildcard driver/libvirt/*.c) driver/host_caps.c
# Position-independent objects in their own folder: a build folder from
# before the module existed holds non-PIC objects of the same sources.
LIBVIRT_MOD_OBJ := $(patsubst %.c,$(O)/pic/%.o,$(LIBVIRT_MOD_SRC))
LIBVIRT_MOD := $(O)/lib/sculpt/libvirt.so
DRIVER_SRC := $(filter-out $(LIBVIRT_MOD_SRC),$(call src_of,driver))
DB_SRC := $(call src_of,db)
OPENSTACK_SRC := $(call src_of,openstack)
API_SRC := $(call src_of,api)

LIB_COMMON := $(O)/lib/libsculpt_common.a
LIB_DRIVER := $(O)/lib/libsculpt_driver.a
LIB_DB := $(O)/lib/libsculpt_db.a
LIB_OPENSTACK := $(O)/lib/libsculpt_openstack.a
LIB_API := $(O)/lib/libsculpt_api.a
# Link order: dependents first.
ALL_LIBS := $(LIB_API) $(LIB_OPENSTACK) $(LIB_DB) $(LIB_DRIVER) $(LIB_COMMON)
# Tests, harnesses, benchmarks and fuzz targets link the module's objects
# in (no loading) and every library.
TEST_LIBS := $(LIBVIRT_MOD_OBJ) $(ALL_LIBS)
TEST_LDLIBS := $(LIBS) $(MOD_LIBS)

PROGRAMS := $(O)/bin/sculpt-replay $(O)/bin/sculpt-compute $(O)/bin/sculptctl
# What the module calls in the program: exported from it (a dynamic list)
# and pulled out of the archives even when the program itself does not
# call it (EXTERN in a linker script).  Made from the module's objects.
MOD_DYNLIST := $(O)/lib/sculpt/libvirt.dynlist
MOD_EXTERN := $(O)/lib/sculpt/libvirt.extern.ld
PROG_LDFLAGS := -Wl,--dynamic-list=$(MOD_DYNLIST) $(MOD_EXTERN)
ifneq ($(SAN_FLAGS),)
# ASan binds its interceptors of the XDR functions when the program starts;
# libtirpc (libvirt's RPC) arriving later with the module leaves them
# calling NULL.  So the sanitized programs load the module's libraries at
# start (the module itself is still loaded as in the release build).
PROG_LDFLAGS += -Wl,--no-as-needed $(MOD_LIBS) -Wl,--as-needed
endif

# Test harnesses: each tests/harness/NAME.c is a program the integration
# tests and benchmarks start ($(O)/bin/NAME), linked like the programs.
HARNESS_SRC := $(wildcard tests/harness/*.c)
HARNESS_BINS := $(patsubst tests/harness/%.c,$(O)/bin/%,$(HARNESS_SRC))

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRC))
TEST_HELPER_SRC := $(wildcard tests/unit/helpers/*.c)
TEST_HELPER_OBJ := $(call obj_of,$(TEST_HELPER_SRC))

.PHONY: all check test bench run stop valgrind format clean distclean deps unit integration fuzz \
        fuzz-build tempest FORCE \
        bench-replay bench-engine bench-libvirt bench-db bench-rpc bench-api bench-presculpt
all: $(PROGRAMS)

# Everything compiled or linked depends on the flags it was made with: they
# are kept in $(O)/flags, rewritten only when they change (git's GIT-CFLAGS
# idiom), so `make CFLAGS=...` or a new OPT rebuilds instead of linking
# objects of two builds together.
FLAGS_FILE := $(O)/flags
FLAGS_NOW := $(CC) $(ALL_CFLAGS) | $(ALL_LDFLAGS) $(PROG_LDFLAGS) | $(LIBS) $(TEST_LDLIBS)
$(FLAGS_FILE): FORCE
	@mkdir -p $(dir $@)
	@echo '$(FLAGS_NOW)' | cmp -s - $@ || echo '$(FLAGS_NOW)' >$@

$(O)/obj/%.o: %.c $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	$(SAY) "  CC      $<"
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

define archive_rule
$(1): $(call obj_of,$(2))
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	$$(SAY) "  AR      $$@"
	$$(Q)$$(AR) rcs $$@ $$^
endef
$(eval $(call archive_rule,$(LIB_COMMON),$(COMMON_SRC)))
$(O)/pic/%.o: %.c $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	$(SAY) "  CC      $< (PIC)"
	$(Q)$(CC) $(ALL_CFLAGS) -fPIC -MMD -MP -c $< -o $@

$(LIBVIRT_MOD): $(LIBVIRT_MOD_OBJ) $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	$(SAY) "  LD      $@"
	$(Q)$(CC) -shared $(ALL_LDFLAGS) -o $@ $(LIBVIRT_MOD_OBJ) $(MOD_LIBS)

$(MOD_DYNLIST): $(LIBVIRT_MOD_OBJ) $(LIB_COMMON) $(LIB_DRIVER)
	@mkdir -p $(dir $@)
	$(SAY) "  GEN     $@"
	$(Q)nm -P -u $(LIBVIRT_MOD_OBJ) | awk '{print $$1}' | sort -u >$@.und
	$(Q)nm -P -g --defined-only $(LIB_COMMON) $(LIB_DRIVER) 2>/dev/null | \
	    awk 'NF >= 2 && $$2 ~ /^[TDBRVW]$$/ {print $$1}' | sort -u | comm -12 $@.und - >$@.syms
	$(Q){ echo '{'; sed 's/$$/;/' $@.syms; echo '};'; } >$@
	$(Q){ printf 'EXTERN('; tr '\n' ' ' <$@.syms; echo ')'; } >$(MOD_EXTERN)
	$(Q)rm -f $@.und $@.syms
$(MOD_EXTERN): $(MOD_DYNLIST)
$(eval $(call archive_rule,$(LIB_DRIVER),$(DRIVER_SRC)))
$(eval $(call archive_rule,$(LIB_DB),$(DB_SRC)))
$(eval $(call archive_rule,$(LIB_OPENSTACK),$(OPENSTACK_SRC)))
$(eval $(call archive_rule,$(LIB_API),$(API_SRC)))

$(O)/bin/sculpt-replay: $(O)/obj/driver/replay_main.o $(ALL_LIBS) $(MOD_DYNLIST) $(FLAGS_FILE) | $(LIBVIRT_MOD)
	@mkdir -p $(dir $@)
	$(SAY) "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) $(PROG_LDFLAGS) -o $@ $< $(ALL_LIBS) $(LIBS)

$(O)/bin/sculpt-compute: $(O)/obj/openstack/compute_main.o $(ALL_LIBS) $(MOD_DYNLIST) $(FLAGS_FILE) | $(LIBVIRT_MOD)
	@mkdir -p $(dir $@)
	$(SAY) "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) $(PROG_LDFLAGS) -o $@ $< $(ALL_LIBS) $(LIBS)

$(O)/bin/sculptctl: $(O)/obj/api/sculptctl_main.o $(ALL_LIBS) $(MOD_DYNLIST) $(FLAGS_FILE) | $(LIBVIRT_MOD)
	@mkdir -p $(dir $@)
	$(SAY) "  LD      $@"
	$(Q)$(CC) $(ALL_LDFLAGS) $(PROG_LDFLAGS) -o $@ $< $(ALL_LIBS) $(LIBS)

$(HARNESS_BINS): $(O)/bin/%: tests/harness/%.c $(TEST_LIBS) $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	$(SAY) "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(TEST_LIBS) $(ALL_LDFLAGS) $(TEST_LDLIBS)

$(O)/tests/test_%: tests/unit/test_%.c $(TEST_HELPER_OBJ) $(TEST_LIBS) $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	$(SAY) "  TEST    $@"
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(TEST_HELPER_OBJ) $(TEST_LIBS) \
	    $(ALL_LDFLAGS) $(CMOCKA_LIBS) $(TEST_LDLIBS)

# db/migrate.c embeds db/migrations/*.sql (.incbin): rebuild it when they change.
$(O)/obj/db/migrate.o: $(wildcard db/migrations/*.sql)

deps:
	contrib/install-deps.sh

# The test build: sanitizers on, its own output folder.
TEST_O := build-test
# Builds take every core (CI's two halve the compile time); the tests
# themselves run one at a time, as their recipes do.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
check:
	@$(MAKE) --no-print-directory -j$(JOBS) O=$(TEST_O) SANITIZER=address OPT=-O1 unit

unit: $(PROGRAMS) $(UNIT_BINS)
	@tests/check-layers.sh
	@tests/check-clang.sh "$(PKG_CFLAGS)"
	@tests/run-unit.sh $(O) $(UNIT_BINS)

# The release build (make run's) comes first: gcc's -O2 finds what the
# test build's -O1 does not (format truncation), and make run must build.
test:
	@contrib/install-deps.sh
	@$(MAKE) --no-print-directory -j$(JOBS) all
	@$(MAKE) --no-print-directory -j$(JOBS) O=$(TEST_O) SANITIZER=address OPT=-O1 unit
	@$(MAKE) --no-print-directory -j$(JOBS) O=$(TEST_O) SANITIZER=address OPT=-O1 integration
	@FUZZ_SEED=1 $(MAKE) --no-print-directory -j$(JOBS) fuzz

# Fuzz targets: every tests/fuzz/fuzz_*.c is a libFuzzer program, built by
# clang with ASan+UBSan against all module archives (their own build in
# build-fuzz/; gcc's build is the one that holds warnings as errors).
# `make fuzz` runs each for FUZZ_SECONDS from its seed corpus
# tests/fuzz/corpus/NAME/; `make test` runs it with a fixed seed.
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(O)/fuzz/%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 15
$(O)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(TEST_LIBS) $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	$(SAY) "  FUZZ    $@"
	$(Q)$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(TEST_LIBS) $(ALL_LDFLAGS) $(TEST_LDLIBS)
fuzz-build: $(FUZZ_BINS)
fuzz:
	@$(MAKE) --no-print-directory O=build-fuzz CC=clang SANITIZER=fuzzer OPT=-O1 WERROR= fuzz-build
	@tests/run-fuzz.sh build-fuzz $(FUZZ_SECONDS) $(patsubst $(O)/%,build-fuzz/%,$(FUZZ_BINS))

integration: $(PROGRAMS) $(HARNESS_BINS)
	@tests/run-integration.sh $(O)

# All of tempest's compute API tests against a local Nova whose compute
# host is sculpt-compute (tests/nova/tempest.sh; not part of `make test`:
# 15-25 minutes on two cores); its log is kept in $(O)/tempest.log.
# TEMPEST_HOST=kvm1 runs them on the libvirt host instead of fake1.
TEMPEST_HOST ?= fake1
tempest: $(PROGRAMS) $(HARNESS_BINS)
	@contrib/install-deps.sh
	@NOVA_TEST_PHASES=tempest-broad TEMPEST_HOST=$(TEMPEST_HOST) SCULPT_BIN=$(CURDIR)/$(O)/bin SCULPT_TOP=$(CURDIR) \
	    TEMPEST_LOG=$(CURDIR)/$(O)/tempest.log sh tests/integration/nova.sh

valgrind:
	@$(MAKE) --no-print-directory O=build-vg OPT=-O1 $(patsubst $(O)/%,build-vg/%,$(PROGRAMS)) \
	    $(patsubst $(O)/%,build-vg/%,$(UNIT_BINS))
	@VALGRIND=1 tests/run-unit.sh build-vg $(patsubst $(O)/%,build-vg/%,$(UNIT_BINS))

BENCH_AREAS := replay engine libvirt db rpc api presculpt
# Benchmark programs: every tests/bench/bench_*.c, linked like a program,
# built into $(O)/bench/ for the area scripts.
BENCH_SRC := $(wildcard tests/bench/bench_*.c)
BENCH_BINS := $(patsubst tests/bench/%.c,$(O)/bench/%,$(BENCH_SRC))
# What several benchmarks share (tests/bench/helpers/), linked into each.
BENCH_HELPER_OBJ := $(call obj_of,$(wildcard tests/bench/helpers/*.c))
$(O)/bench/bench_%: tests/bench/bench_%.c $(BENCH_HELPER_OBJ) $(TEST_LIBS) $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	$(SAY) "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(BENCH_HELPER_OBJ) $(TEST_LIBS) $(ALL_LDFLAGS) \
	    $(TEST_LDLIBS)
bench: $(PROGRAMS) $(BENCH_BINS) $(HARNESS_BINS)
	@tests/bench/run.sh $(O) $(BENCH_AREAS)
$(addprefix bench-,$(BENCH_AREAS)): bench-%: $(PROGRAMS) $(BENCH_BINS) $(HARNESS_BINS)
	@tests/bench/run.sh $(O) $*

run:
	@contrib/install-deps.sh
	@$(MAKE) --no-print-directory all
	@contrib/run.sh $(O) start

stop:
	@contrib/run.sh $(O) stop

format:
	clang-format --style=file:contrib/clang-format -i $(wildcard $(addsuffix /*.[ch],$(MODULES)) \
	    $(addsuffix /*/*.[ch],$(MODULES)) tests/unit/*.c)

clean:
	rm -rf build build-test build-vg build-fuzz

distclean: clean
	rm -rf run

-include $(shell find $(O) -name '*.d' 2>/dev/null)

# api/assets.c builds these files in with .incbin, which -MMD cannot see.
$(O)/obj/api/assets.o: $(wildcard api/dashboard/*.* api/dashboard/vendor/* api/openapi/*.json)
