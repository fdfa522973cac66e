# gilscope: build the single ./gilscope binary and run the tests.
#   make            build ./gilscope
#   make test       unit tests (also under ASan/UBSan) and integration tests (root)
#   make unit       unit tests only
#   make install [PREFIX=/usr/local] [DESTDIR=]
#                   bin/gilscope and share/man/man1/gilscope.1 under PREFIX
#   make clean

CC ?= gcc
PYTHON ?= /usr/bin/python3
CLANG ?= clang
BPFTOOL ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
ARCH := x86

BUILD := build
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror
VERSION := 0.1.0
CPPFLAGS += -I$(BUILD) -Ibpf -Iuser -D_GNU_SOURCE -DGILSCOPE_VERSION='"$(VERSION)"'
LDLIBS := -lbpf -lelf -lz $(shell pkg-config --libs ncurses 2>/dev/null || echo -lncurses) -lpthread

USER_SRC := $(wildcard user/*.c)
USER_OBJ := $(patsubst user/%.c,$(BUILD)/%.o,$(USER_SRC))
# modules without the kernel side: what unit tests and the fuzzer link
PURE_SRC := user/session.c user/analysis.c user/report.c user/json.c user/elfimg.c user/debugoffs.c \
	    user/pyver.c user/syscalls.c user/hist.c user/kv.c user/replay.c user/interp.c user/locksites.c \
	    user/procfs.c user/dump.c user/evname.c user/locks.c user/outfile.c \
	    user/ehframe.c user/gilsites.c \
	    user/pftrace_pb.c user/pftrace.c user/timeline.c user/timeline_model.c \
	    user/timeline_json.c user/timeline_html.c user/timeline_page.c user/timeline_phases.c \
	    user/phases.c user/phases_roles.c user/phases_report.c \
	    user/stacktab.c user/pyobj.c user/symbolize.c user/pidmap.c \
	    user/flame_model.c user/flame_rows.c user/flame_folded.c \
	    user/flame_pprof.c user/flame_svg.c user/flame_svg_js.c user/flame_cmd.c \
	    user/cli.c user/tfile.c user/utf8.c user/names.c user/report_groups.c
UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man

.PHONY: all test unit unit-plain unit-san integration clean format install

all: gilscope

$(BUILD):
	mkdir -p $@

$(BUILD)/vmlinux.h: | $(BUILD)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BUILD)/gilscope.bpf.o: bpf/gilscope.bpf.c $(wildcard bpf/*.h) $(BUILD)/vmlinux.h
	$(CLANG) -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) \
		-I$(BUILD) -Ibpf -c $< -o $@

$(BUILD)/gilscope.skel.h: $(BUILD)/gilscope.bpf.o
	$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

$(BUILD)/%.o: user/%.c $(wildcard user/*.h) $(wildcard bpf/*.h) $(BUILD)/gilscope.skel.h
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS) -c $< -o $@

gilscope: $(USER_OBJ)
	$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# Unit tests: pure modules only, built twice (plain and with sanitizers).
$(BUILD)/unit/%: tests/unit/%.c $(PURE_SRC) $(wildcard user/*.h tests/unit/*.h) bpf/gilscope.h
	@mkdir -p $(dir $@)
	$(CC) -O1 -g $(WARN) $(CPPFLAGS) $< $(PURE_SRC) -lelf -lz -lcmocka -o $@

$(BUILD)/unit-san/%: tests/unit/%.c $(PURE_SRC) $(wildcard user/*.h tests/unit/*.h) bpf/gilscope.h
	@mkdir -p $(dir $@)
	$(CC) -O1 -g $(SAN) $(WARN) $(CPPFLAGS) $< $(PURE_SRC) -lelf -lz -lcmocka -o $@

unit-plain: $(addprefix $(BUILD)/unit/,$(UNIT_TESTS))
unit-san: $(addprefix $(BUILD)/unit-san/,$(UNIT_TESTS))

# Unit tests run through pytest too, so that one summary line closes `make test`.
unit: unit-plain unit-san
	$(PYTHON) -m pytest -p no:cacheprovider -v tests/test_unit.py

integration: gilscope
	$(PYTHON) -m pytest -p no:cacheprovider -v tests/integration

# All tests; the last line is pytest's summary.
test: gilscope unit-plain unit-san fuzz-replay
	$(PYTHON) -m pytest -p no:cacheprovider -v tests

install: gilscope
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 gilscope $(DESTDIR)$(BINDIR)/gilscope
	install -m 0644 docs/gilscope.1 $(DESTDIR)$(MANDIR)/man1/gilscope.1

format:
	clang-format -i $(wildcard bpf/*.[ch] user/*.[ch] tests/unit/*.[ch] tests/fuzz/*.[ch] tests/versions/*.[ch])

clean:
	rm -rf $(BUILD) gilscope

# ---- reliability (not part of `make test`): docs/reliability.md
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGETS="session timeline elf pymem stacktab"]
#                                 libFuzzer on each target in turn, FUZZ_SECONDS
#                                 each (FUZZ_TARGET=x, the old name, runs one)
#   make fuzz-cov [FUZZ_TARGETS=…] line coverage of the last `make fuzz` corpora
#   make soak [SOAK_SECONDS=600]  long recording with thread churn
# Targets (tests/fuzz/): session and timeline read session files; elf reads an
# interpreter's ELF and debug files (elfimg, interp, symbolize); pymem reads
# an interpreter's memory (pyobj: strings, code objects, line tables, frames,
# thread names). Seeds: FUZZ_SEEDS_x; past findings, kept as regression
# inputs and run by `make test` too: FUZZ_CRASHES_x.
FUZZ_SECONDS ?= 60
FUZZ_ALL := session timeline elf pymem stacktab
FUZZ_TARGETS ?= $(if $(FUZZ_TARGET),$(FUZZ_TARGET),$(FUZZ_ALL))
SOAK_SECONDS ?= 600
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
	       -fno-sanitize-recover=all -Wall -Wextra
FUZZ_UTIL := tests/fuzz/fuzz_util.c tests/fuzz/pymem_walk.c
FUZZ_SRC_session := tests/fuzz/fuzz_session.c
FUZZ_SRC_timeline := tests/fuzz/fuzz_session.c
FUZZ_SRC_elf := tests/fuzz/fuzz_elf.c
FUZZ_SRC_pymem := tests/fuzz/fuzz_pymem.c
FUZZ_SRC_stacktab := tests/fuzz/fuzz_stacktab.c
FUZZ_DEF_timeline := -DFUZZ_TIMELINE
# modules a target includes itself (to reach their static functions)
FUZZ_LINK_elf := $(filter-out user/interp.c user/symbolize.c,$(PURE_SRC))
FUZZ_SEEDS_session := tests/fuzz/corpus
FUZZ_SEEDS_timeline := tests/fuzz/corpus
FUZZ_SEEDS_elf := tests/fuzz/corpus-elf
FUZZ_SEEDS_pymem := tests/fuzz/corpus-pymem
FUZZ_SEEDS_stacktab := tests/fuzz/corpus-stacktab
FUZZ_CRASHES_session := tests/fuzz/crashes
FUZZ_CRASHES_timeline := tests/fuzz/crashes
FUZZ_CRASHES_elf := tests/fuzz/crashes-elf
FUZZ_CRASHES_pymem := tests/fuzz/crashes-pymem
FUZZ_CRASHES_stacktab := tests/fuzz/crashes-stacktab
FUZZ_OPTS_session := -dict=tests/fuzz/session.dict
FUZZ_OPTS_timeline := -dict=tests/fuzz/session.dict
FUZZ_OPTS_elf := -max_len=65536
FUZZ_OPTS_pymem := -max_len=65536
FUZZ_OPTS_stacktab := -max_len=65536
fuzz_link = $(or $(FUZZ_LINK_$(1)),$(PURE_SRC))
FUZZ_DEPS := $(PURE_SRC) $(wildcard user/*.h) bpf/gilscope.h $(wildcard tests/fuzz/*.h) $(FUZZ_UTIL)

.PHONY: fuzz fuzz-build fuzz-replay soak
.SECONDEXPANSION:

$(BUILD)/fuzz/fuzz_%: $$(FUZZ_SRC_$$*) $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) $(FUZZ_DEF_$*) $(CPPFLAGS) -Itests/fuzz $(FUZZ_SRC_$*) \
		$(FUZZ_UTIL) $(call fuzz_link,$*) -lelf -lz -o $@

# The same targets with a plain main() (tests/fuzz/replay_main.c) and the
# unit tests' sanitizers: `make test` runs them over the seeds and findings.
$(BUILD)/fuzz-replay/fuzz_%: $$(FUZZ_SRC_$$*) tests/fuzz/replay_main.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(CC) -O1 -g $(SAN) $(WARN) -DFUZZ_REPLAY $(FUZZ_DEF_$*) $(CPPFLAGS) -Itests/fuzz \
		$(FUZZ_SRC_$*) tests/fuzz/replay_main.c $(FUZZ_UTIL) $(call fuzz_link,$*) \
		-lelf -lz -o $@

# seeds of the pymem target from live interpreters (make_pymem_corpus.py)
$(BUILD)/fuzz/capture_pymem: tests/fuzz/capture_pymem.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(CC) -O1 -g $(WARN) $(CPPFLAGS) -Itests/fuzz $< $(FUZZ_UTIL) $(PURE_SRC) -lelf -lz -o $@

fuzz-build: $(addprefix $(BUILD)/fuzz/fuzz_,$(FUZZ_TARGETS))
fuzz-replay: $(addprefix $(BUILD)/fuzz-replay/fuzz_,$(FUZZ_ALL))

# Each target on a copy of its seeds and past findings; new findings go to
# /tmp/gilscope-fuzz/TARGET/artifacts/, the corpus grows in .../corpus.
fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
		w=/tmp/gilscope-fuzz/$$t; \
		rm -rf $$w/corpus && mkdir -p $$w/corpus $$w/artifacts; \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
		$(MAKE) -s --no-print-directory fuzz-one FUZZ_ONE=$$t; \
	done

fuzz-one:
	cp $(addsuffix /*,$(FUZZ_SEEDS_$(FUZZ_ONE)) $(FUZZ_CRASHES_$(FUZZ_ONE))) \
		/tmp/gilscope-fuzz/$(FUZZ_ONE)/corpus/ 2>/dev/null || true
	$(BUILD)/fuzz/fuzz_$(FUZZ_ONE) -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
		-timeout=10 $(FUZZ_OPTS_$(FUZZ_ONE)) \
		-artifact_prefix=/tmp/gilscope-fuzz/$(FUZZ_ONE)/artifacts/ \
		-print_final_stats=1 /tmp/gilscope-fuzz/$(FUZZ_ONE)/corpus

soak: gilscope
	sh scripts/soak.sh $(SOAK_SECONDS)

# ---- performance (not part of `make test`): docs/performance.md
#   make bench [BENCH_PAIRS=7] [BENCH_ARGS='--only overhead --workloads read_heavy']
# Overhead of record (exact, --light) and of a bpftrace equivalent on the
# workloads, capacity, report speed, start latency, idle CPU. Needs root,
# python3.11-dbg and bpftrace (scripts/install-deps.sh). About 8-10 minutes.
BENCH_PAIRS ?= 7
BENCH_ARGS ?=
.PHONY: bench
bench: gilscope
	$(PYTHON) bench/bench.py --pairs $(BENCH_PAIRS) $(BENCH_ARGS)

# Line coverage of each target by the corpus of its last `make fuzz`.
LLVM_PROFDATA ?= llvm-profdata
LLVM_COV ?= llvm-cov

fuzz-cov:
	@mkdir -p $(BUILD)/fuzz
	@set -e; for t in $(FUZZ_TARGETS); do \
		$(MAKE) -s --no-print-directory fuzz-cov-one FUZZ_ONE=$$t; done

fuzz-cov-one:
	$(CLANG) -g -O0 -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping \
		$(FUZZ_DEF_$(FUZZ_ONE)) $(CPPFLAGS) -Itests/fuzz $(FUZZ_SRC_$(FUZZ_ONE)) \
		$(FUZZ_UTIL) $(call fuzz_link,$(FUZZ_ONE)) -lelf -lz -o $(BUILD)/fuzz/cov_$(FUZZ_ONE)
	LLVM_PROFILE_FILE=/tmp/gilscope-fuzz/$(FUZZ_ONE)/cov.profraw \
		$(BUILD)/fuzz/cov_$(FUZZ_ONE) -runs=0 /tmp/gilscope-fuzz/$(FUZZ_ONE)/corpus \
		$(FUZZ_SEEDS_$(FUZZ_ONE)) $(FUZZ_CRASHES_$(FUZZ_ONE))
	$(LLVM_PROFDATA) merge -sparse /tmp/gilscope-fuzz/$(FUZZ_ONE)/cov.profraw \
		-o /tmp/gilscope-fuzz/$(FUZZ_ONE)/cov.profdata
	$(LLVM_COV) report $(BUILD)/fuzz/cov_$(FUZZ_ONE) \
		-instr-profile=/tmp/gilscope-fuzz/$(FUZZ_ONE)/cov.profdata $(PURE_SRC)

.PHONY: fuzz-one fuzz-cov-one
.PHONY: fuzz-cov

# ---- the version matrix (not part of `make test`): docs/versions.md
#   make test-versions   build the Debian chroots if missing (scripts/chroots.sh,
#                        cached), then trace every CPython in them and the host's,
#                        with and without its -dbg file (tests/versions/matrix.py;
#                        measured numbers in build/versions-matrix.json). Root;
#                        about 10 minutes.
.PHONY: test-versions
test-versions: gilscope
	sh scripts/chroots.sh
	$(PYTHON) -m pytest -p no:cacheprovider -v tests/versions/matrix.py
