# gilscope: build the single ./gilscope binary and run the tests.
#   make            build ./gilscope
#   make test       unit tests (also under ASan/UBSan) and integration tests (root)
#   make unit       unit tests only
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
LDLIBS := -lbpf -lelf -lz

USER_SRC := $(wildcard user/*.c)
USER_OBJ := $(patsubst user/%.c,$(BUILD)/%.o,$(USER_SRC))
# modules without the kernel side: what unit tests and the fuzzer link
PURE_SRC := user/session.c user/analysis.c user/report.c user/json.c user/elfimg.c user/debugoffs.c \
	    user/pyver.c user/syscalls.c user/hist.c user/kv.c user/replay.c user/interp.c user/locksites.c \
	    user/procfs.c user/dump.c user/evname.c user/locks.c user/outfile.c \
	    user/pftrace_pb.c user/pftrace.c user/timeline.c user/timeline_model.c \
	    user/timeline_json.c user/timeline_html.c user/timeline_page.c \
	    user/stacktab.c user/pyobj.c user/symbolize.c user/pidmap.c \
	    user/flame_model.c user/flame_rows.c user/flame_folded.c \
	    user/flame_pprof.c user/flame_svg.c user/flame_svg_js.c user/flame_cmd.c \
	    user/cli.c
UNIT_TESTS := $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/test_*.c))
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

.PHONY: all test unit unit-plain unit-san integration clean format

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
$(BUILD)/unit/%: tests/unit/%.c $(PURE_SRC) $(wildcard user/*.h) bpf/gilscope.h
	@mkdir -p $(dir $@)
	$(CC) -O1 -g $(WARN) $(CPPFLAGS) $< $(PURE_SRC) -lelf -lz -lcmocka -o $@

$(BUILD)/unit-san/%: tests/unit/%.c $(PURE_SRC) $(wildcard user/*.h) bpf/gilscope.h
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
test: gilscope unit-plain unit-san
	$(PYTHON) -m pytest -p no:cacheprovider -v tests

format:
	clang-format -i bpf/*.c bpf/*.h user/*.c user/*.h tests/unit/*.c

clean:
	rm -rf $(BUILD) gilscope

# ---- reliability (not part of `make test`): docs/reliability.md
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_TARGET=session|timeline]
#                                 libFuzzer on the session reader and its views
#   make soak [SOAK_SECONDS=600]  long recording with thread churn
FUZZ_SECONDS ?= 60
FUZZ_TARGET ?= session
SOAK_SECONDS ?= 600
FUZZ_BIN := $(BUILD)/fuzz/fuzz_$(FUZZ_TARGET)
FUZZ_WORK := /tmp/gilscope-fuzz/$(FUZZ_TARGET)
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
	       -fno-sanitize-recover=all -Wall -Wextra

.PHONY: fuzz fuzz-build soak

$(BUILD)/fuzz/fuzz_session: tests/fuzz/fuzz_session.c $(PURE_SRC) $(wildcard user/*.h) bpf/gilscope.h
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) $(CPPFLAGS) $< $(PURE_SRC) -lelf -lz -o $@

$(BUILD)/fuzz/fuzz_timeline: tests/fuzz/fuzz_session.c $(PURE_SRC) $(wildcard user/*.h) bpf/gilscope.h
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -DFUZZ_TIMELINE $(CPPFLAGS) $< $(PURE_SRC) -lelf -lz -o $@

fuzz-build: $(BUILD)/fuzz/fuzz_session $(BUILD)/fuzz/fuzz_timeline

# Runs on a copy of the seed corpus and of the past findings (tests/fuzz/crashes,
# kept as regression inputs); new findings go to $(FUZZ_WORK)/artifacts/.
fuzz: $(FUZZ_BIN)
	rm -rf $(FUZZ_WORK)/corpus && mkdir -p $(FUZZ_WORK)/corpus $(FUZZ_WORK)/artifacts
	cp tests/fuzz/corpus/* tests/fuzz/crashes/* $(FUZZ_WORK)/corpus/
	$(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 \
		-dict=tests/fuzz/session.dict -artifact_prefix=$(FUZZ_WORK)/artifacts/ \
		-print_final_stats=1 $(FUZZ_WORK)/corpus

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

# Line coverage of the session readers by the corpus of the last `make fuzz`.
LLVM_PROFDATA ?= llvm-profdata
LLVM_COV ?= llvm-cov
FUZZ_COV_BIN := $(BUILD)/fuzz/cov_$(FUZZ_TARGET)

fuzz-cov:
	@mkdir -p $(BUILD)/fuzz
	$(CLANG) -g -O0 -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping \
		$(if $(filter timeline,$(FUZZ_TARGET)),-DFUZZ_TIMELINE) $(CPPFLAGS) \
		tests/fuzz/fuzz_session.c $(PURE_SRC) -lelf -lz -o $(FUZZ_COV_BIN)
	LLVM_PROFILE_FILE=$(FUZZ_WORK)/cov.profraw $(FUZZ_COV_BIN) -runs=0 \
		$(FUZZ_WORK)/corpus tests/fuzz/corpus
	$(LLVM_PROFDATA) merge -sparse $(FUZZ_WORK)/cov.profraw -o $(FUZZ_WORK)/cov.profdata
	$(LLVM_COV) report $(FUZZ_COV_BIN) -instr-profile=$(FUZZ_WORK)/cov.profdata $(PURE_SRC)

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
