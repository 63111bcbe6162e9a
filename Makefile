# weir - build, test, run and benchmark.
#
#   make deps    install the Debian packages weir needs (idempotent)
#   make         BPF objects -> skeletons -> weirctl and the test programs
#   make test    deps, build, the sanitizer build, the fuzz targets, and every test
#   make fuzz    libFuzzer targets of the parsers (tests/fuzz) into $(BUILD)/fuzz_*
#   make run     the gateway on its embedded default (a demo namespace pair)
#   make bench   benchmarks side by side with their peers (bench/results/);
#                BENCH_ARGS='--only l4' for the l4 forwarding part alone
#   make clean
#
# Quiet unless V=1. Warnings are errors in both the BPF and userspace builds.

.DELETE_ON_ERROR:
.SECONDARY:
.SUFFIXES:

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

ARCH := $(shell uname -m)
BUILD ?= build
CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool

DEB_PKGS := clang llvm libbpf-dev libxdp-dev xdp-tools bpftool libelf-dev \
	zlib1g-dev libmnl-dev libssl-dev node-llhttp libyaml-dev libjansson-dev \
	libcmocka-dev libcrypt-dev libnftables-dev pkg-config iproute2 ethtool nftables ipset python3 \
	python3-matplotlib libclang-rt-14-dev iputils-ping util-linux \
	curl wrk nginx-light apache2-utils whois python3-cryptography openssl
BENCH_PKGS := wrk nginx-light haproxy

BPF_CFLAGS := -O2 -g -target bpf -mcpu=v3 -Wall -Wextra -Werror \
	-Wno-unused-parameter -I/usr/include/$(ARCH)-linux-gnu
CFLAGS ?= -O2 -g
override CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	-D_GNU_SOURCE -I$(BUILD) -I.
LDLIBS := -lxdp -lbpf -lmnl -lnftables -ljansson -lelf -lz -lm
WEIR_LDLIBS := -lbpf -lyaml -ljansson -lssl -lcrypto -lcrypt -lelf -lz -lm -lpthread

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_HDRS := $(wildcard bpf/lib/*.h) maps/weir_abi.h maps/weir_table.h maps/weir_steer.h
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.bpf.o,$(BPF_SRCS))
SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))

MAPS_SRCS := $(wildcard maps/*.c)
LOADER_SRCS := $(wildcard loader/*.c)
MAPS_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(MAPS_SRCS))
LOADER_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(LOADER_SRCS))
USER_HDRS := $(wildcard maps/*.h loader/*.h tests/bpf/*.h userspace/*.h) $(SKELS)

# The daemon: userspace/*.c, llhttp compiled from Debian's node-llhttp sources
# (never copied into the repository), and the maps library for L7 -> XDP.
LLHTTP_DIR := /usr/share/llhttp
LLHTTP_INC := /usr/share/include/llhttp
USPACE_SRCS := $(wildcard userspace/*.c)
USPACE_LIB_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(filter-out userspace/main.c,$(USPACE_SRCS)))
LLHTTP_OBJS := $(patsubst %,$(BUILD)/llhttp/%.o,api http llhttp)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/%,$(UNIT_SRCS))

WEIRCTL := $(BUILD)/weirctl
TEST_BPF := $(BUILD)/test_xdp
WEIR := $(BUILD)/weir
BENCH_BINS := $(BUILD)/bench_xdp $(BUILD)/livegen $(BUILD)/xdp_drop.bpf.o \
	$(BUILD)/xdp_tx.bpf.o $(BUILD)/bench_router $(BUILD)/bench_sign $(BUILD)/rateload

.PHONY: all deps test test-only asan fuzz run bench clean
all: $(WEIRCTL) $(TEST_BPF) $(WEIR) $(UNIT_BINS)

deps:
	@missing=""; for p in $(DEB_PKGS); do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "  DEPS    installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BUILD):
	$(Q)mkdir -p $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst .bpf.o,,$(notdir $<))_bpf > $@

$(BUILD)/%.o: %.c $(USER_HDRS) | $(BUILD)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -I$(LLHTTP_INC) -c $< -o $@

# llhttp is generated C; it is built with its own flags, not ours.
$(BUILD)/llhttp/%.o: $(LLHTTP_DIR)/%.c | $(BUILD)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(filter -O% -g -f%,$(CFLAGS)) -I$(LLHTTP_INC) -c $< -o $@

$(WEIR): $(BUILD)/userspace/main.o $(USPACE_LIB_OBJS) $(LLHTTP_OBJS) $(MAPS_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(WEIR_LDLIBS)

# Unit tests: tests/unit/test_NAME.c (cmocka, TAP output) against the daemon's
# objects.
$(UNIT_BINS): $(BUILD)/%: $(BUILD)/tests/unit/%.o $(USPACE_LIB_OBJS) $(LLHTTP_OBJS) $(MAPS_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(WEIR_LDLIBS) -lcmocka


$(WEIRCTL): $(LOADER_OBJS) $(MAPS_OBJS) $(LLHTTP_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

# test_xdp.c includes the other tests/bpf/*.c, one per area.
$(BUILD)/tests/bpf/test_xdp.o: $(filter-out tests/bpf/test_xdp.c,$(wildcard tests/bpf/*.c))
$(TEST_BPF): $(BUILD)/tests/bpf/test_xdp.o $(MAPS_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/bench_xdp: $(BUILD)/bench/bench_xdp.o $(MAPS_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

$(BUILD)/bench_router: $(BUILD)/bench/bench_router.o $(USPACE_LIB_OBJS) $(LLHTTP_OBJS) $(MAPS_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(WEIR_LDLIBS)

$(BUILD)/bench_sign: $(BUILD)/bench/bench_sign.o $(USPACE_LIB_OBJS) $(LLHTTP_OBJS) $(MAPS_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(WEIR_LDLIBS)

$(BUILD)/rateload: $(BUILD)/bench/rateload.o $(LLHTTP_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@

$(BUILD)/livegen: $(BUILD)/bench/livegen.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

# Bench BPF objects: the generator (built into livegen as a skeleton), the
# test-run harness that restores a frame between runs (built into bench_xdp),
# and the trivial ceilings XDP_DROP and XDP_TX (loaded by bench_xdp,
# attached by bench/run.sh).
BENCH_BPF_OBJS := $(BUILD)/livegen.bpf.o $(BUILD)/reframe.bpf.o \
	$(BUILD)/xdp_drop.bpf.o $(BUILD)/xdp_tx.bpf.o
$(BENCH_BPF_OBJS): $(BUILD)/%.bpf.o: bench/%.bpf.c | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@
$(BUILD)/bench/livegen.o: $(BUILD)/livegen.skel.h
$(BUILD)/bench/bench_xdp.o: $(BUILD)/reframe.skel.h

# The sanitizer build: the same userspace code under ASan + UBSan.
asan:
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" all

# libFuzzer targets (tests/run.sh runs them over tests/fuzz/corpus): each is
# one tests/fuzz/fuzz_NAME.c built with the maps library under ASan + UBSan.
FUZZ_NAMES := $(filter-out request auth admin,$(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_BINS := $(patsubst %,$(BUILD)/fuzz_%,$(FUZZ_NAMES))
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer -std=gnu11 -Wall -Wextra -Werror -Wshadow \
	-Wno-unused-parameter -D_GNU_SOURCE -I.
FUZZ_LIB_SRCS := $(MAPS_SRCS)
# The targets over the daemon's own code (the request path; the credentials
# the auth plugins read; the admin API's JSON -> configuration road) link its
# sources. Defined before the rule that names them: a rule's prerequisites
# are expanded where it is read.
DAEMON_FUZZ_BINS := $(BUILD)/fuzz_request $(BUILD)/fuzz_auth $(BUILD)/fuzz_admin

fuzz: $(FUZZ_BINS) $(DAEMON_FUZZ_BINS)

$(FUZZ_BINS): $(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_LIB_SRCS) \
		$(wildcard maps/*.h) | $(BUILD)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $< $(FUZZ_LIB_SRCS) -o $@ -lbpf -lelf -lz

# The request path target: the daemon's sources, and llhttp instrumented too
# (built with its own flags: it is generated code, not ours).
FUZZ_LLHTTP_OBJS := $(patsubst %,$(BUILD)/fuzz-llhttp/%.o,api http llhttp)
$(FUZZ_LLHTTP_OBJS): $(BUILD)/fuzz-llhttp/%.o: $(LLHTTP_DIR)/%.c | $(BUILD)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer-no-link,address,undefined -I$(LLHTTP_INC) -c $< -o $@
$(DAEMON_FUZZ_BINS): $(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(USPACE_SRCS) \
		$(FUZZ_LIB_SRCS) $(FUZZ_LLHTTP_OBJS) $(wildcard userspace/*.h maps/*.h) \
		$(BUILD)/weir_steer.skel.h | $(BUILD)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -I$(BUILD) -I$(LLHTTP_INC) $< $(filter-out userspace/main.c,$(USPACE_SRCS)) \
		$(FUZZ_LIB_SRCS) $(FUZZ_LLHTTP_OBJS) -o $@ $(WEIR_LDLIBS)

test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory asan
	$(Q)$(MAKE) --no-print-directory fuzz
	$(Q)$(MAKE) --no-print-directory test-only

test-only:
	$(Q)tests/run.sh

run: deps $(WEIRCTL) $(WEIR)
	$(Q)examples/demo.sh

bench: deps all $(BENCH_BINS)
	$(Q)for p in $(BENCH_PKGS); do dpkg -s $$p >/dev/null 2>&1 || \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$p >/dev/null; done
	$(Q)BUILD=$(BUILD) bench/run.sh $(BENCH_ARGS)

clean:
	$(Q)rm -rf build
