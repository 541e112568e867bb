# ksd - one non-recursive Makefile.
#
#   make            build ./ksd
#   make check      the fast tier: unit tests and the end-to-end tests on the
#                   repository's own captures (plain build)
#   make test       install missing packages, run every test (plain and sanitizer builds)
#   make demo       install missing packages, run ksd on the bundled demo capture
#   make fuzz       build the libFuzzer harnesses (clang) into build/fuzz/
#   make bench      benchmark against the peers (see README)
#
# Options: V=1 (echo commands), WERROR=0 (warnings are not errors),
# SANITIZE=address,undefined (sanitizer build under build/san/), DEBUG=1.

CC      ?= cc
CLANG   ?= clang
PKG_CONFIG ?= pkg-config
V       ?= 0
WERROR  ?= 1
SANITIZE ?=
DEBUG   ?= 0

ifeq ($(SANITIZE),)
  B := build
  KSD_BIN := ksd
else
  B := build/san
  KSD_BIN := $(B)/ksd
endif

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wwrite-strings -Wformat=2 -Wvla \
        -Wmissing-prototypes -Wno-missing-field-initializers
ifeq ($(WERROR),1)
  WARN += -Werror
endif

PKGS := libpcap libndpi hiredis libcrypto inih libmicrohttpd zlib
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
ifeq ($(PKG_LIBS),)
  PKG_LIBS := -lpcap -lndpi -lhiredis -lcrypto -linih -lmicrohttpd -lz
endif

OPT := -O2
ifeq ($(DEBUG),1)
  OPT := -O0
endif
CFLAGS  ?= $(OPT) -g
CPPFLAGS += -I. -I$(B)/gen -D_GNU_SOURCE -DKSD_VERSION='"$(VERSION)"'
ALL_CFLAGS := -std=c11 $(WARN) $(CFLAGS) $(PKG_CFLAGS) -pthread
LDLIBS  := $(PKG_LIBS) -pthread -lm
ifneq ($(SANITIZE),)
  ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer -DKSD_DEBUG
  LDFLAGS += -fsanitize=$(SANITIZE)
endif
ifeq ($(DEBUG),1)
  ALL_CFLAGS += -DKSD_DEBUG
endif

VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1)

DISS_SRCS   := $(wildcard dissectors/*.c)
SIG_SRCS    := $(wildcard signatures/*.c)
SENSOR_SRCS := $(filter-out sensor/main.c,$(wildcard sensor/*.c sensor/*/*.c))
LIB_SRCS    := $(DISS_SRCS) $(SIG_SRCS) $(SENSOR_SRCS)
LIB_OBJS    := $(LIB_SRCS:%.c=$(B)/%.o)
MAIN_OBJ    := $(B)/sensor/main.o
BUILTIN_OBJ := $(B)/gen/builtin_rules.o
TEST_SRCS   := $(wildcard tests/test_*.c)
TEST_BINS   := $(TEST_SRCS:tests/%.c=$(B)/tests/%)
# Parts of a tool that are not tools themselves (no main), linked into it.
TOOL_PARTS  := tests/tools/benchgen_build.c
TOOL_SRCS   := $(filter-out $(TOOL_PARTS),$(wildcard tests/tools/*.c))
TOOL_BINS   := $(TOOL_SRCS:tests/tools/%.c=$(B)/tools/%)
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS   := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)

ifeq ($(V),1)
  Q :=
  say :=
else
  Q := @
  say = @printf '  %-6s %s\n' $(1) $(2);
endif

.PHONY: all test check suite unit e2e demo demo-stop fuzz fuzz-long fuzz-smoke bench bench-live clean format format-check \
        layering deps test-asan tools oracle ndpi-compare install uninstall
.DEFAULT_GOAL := all

all: $(KSD_BIN)

$(KSD_BIN): $(MAIN_OBJ) $(BUILTIN_OBJ) $(B)/libksd.a
	$(call say,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(MAIN_OBJ) $(BUILTIN_OBJ) $(B)/libksd.a $(LDLIBS)

# The shipped rule set compiled into ./ksd as the fallback default (an
# installed file or -s wins): a clone works without `make install`.
$(B)/gen/builtin_rules.c: signatures/kaspersky.rules
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)
	$(Q){ echo '/* generated from $< by the Makefile */'; echo '#include "sensor/config.h"'; \
	  echo 'const char ksd_builtin_rules[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n"/' $<; \
	  echo '    ;'; echo 'const size_t ksd_builtin_rules_len = sizeof(ksd_builtin_rules) - 1;'; \
	} >$@.tmp && mv $@.tmp $@

$(BUILTIN_OBJ): $(B)/gen/builtin_rules.c $(B)/.flags
	$(call say,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/libksd.a: $(LIB_OBJS)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/%.o: %.c $(B)/.flags
	@mkdir -p $(dir $@)
	$(call say,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# Generated, not committed: the Lua scripts of the Redis output as C byte
# arrays (NUL-terminated, name = file name + _script), included by the output.
LUA_SRCS := $(wildcard sensor/output/*.lua)
LUA_HDR  := $(B)/gen/sensor/output/scripts.h
$(LUA_HDR): $(LUA_SRCS)
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)
	$(Q){ echo '/* generated from $(LUA_SRCS) by the Makefile: do not edit */'; \
	  for f in $(LUA_SRCS); do n=$$(basename $$f .lua)_script; \
	    echo "static const char $${n}[] = {"; od -An -v -tx1 $$f | sed 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	    echo "0x00};"; done; } > $@.tmp && mv $@.tmp $@
$(LIB_OBJS) $(MAIN_OBJ): | $(LUA_HDR)

# Changing the flags forces a rebuild (as redis does).
$(B)/.flags: FORCE
	@mkdir -p $(B)
	@echo '$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS)' | cmp -s - $@ || \
	  echo '$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS)' > $@
FORCE:

# The dashboard page is embedded at build time (not committed): C string
# literals in $(B)/gen/sensor/analyst/web_assets.h, included by web.c.
WEB_ASSETS := $(wildcard sensor/analyst/web/*.html sensor/analyst/web/*.js sensor/analyst/web/*.css)
$(B)/gen/sensor/analyst/web_assets.h: sensor/analyst/web/embed.sh $(WEB_ASSETS)
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)
	$(Q)sh sensor/analyst/web/embed.sh >$@.tmp && mv $@.tmp $@
$(B)/sensor/analyst/web.o: $(B)/gen/sensor/analyst/web_assets.h

$(B)/tests/%: $(B)/tests/%.o $(B)/libksd.a
	$(call say,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(B)/libksd.a $(LDLIBS) -lcmocka

$(B)/tools/%: $(B)/tests/tools/%.o $(B)/libksd.a
	@mkdir -p $(dir $@)
	$(call say,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(B)/libksd.a $(LDLIBS)

$(B)/tools/benchgen: $(B)/tests/tools/benchgen_build.o

tools: $(TOOL_BINS)

# Keep the test and tool objects: a second `make check` relinks nothing.
.SECONDARY: $(TEST_BINS:%=%.o) $(TOOL_SRCS:tests/tools/%.c=$(B)/tests/tools/%.o) \
            $(TOOL_PARTS:tests/tools/%.c=$(B)/tests/tools/%.o)

deps:
	@sh deploy/install-deps.sh test

# End-to-end suites per tier. The fast tier (make check) runs the ones on the
# repository's own captures, without the shared corpus (KSD_TIER=fast). The
# sanitizer pass runs what sanitizers can find: the unit tests and the
# capture-driven suites (not packaging, install, the dashboard's browser or
# the live namespaces again).
ALL_E2E   := $(wildcard tests/e2e_*.sh)
CHECK_E2E := tests/e2e_pcap.sh tests/e2e_cli.sh tests/e2e_detect.sh tests/e2e_flows.sh \
             tests/e2e_indirect.sh tests/e2e_flood.sh tests/e2e_reader.sh
SAN_E2E   := $(CHECK_E2E) tests/e2e_offline.sh

# The full suite: plain build, then the AddressSanitizer+UBSan build, then
# the fuzz harnesses for a few seconds each, format and layering checks.
test: deps
	$(Q)rm -rf build/results
	$(Q)$(MAKE) --no-print-directory suite E2E="$(ALL_E2E)"
	$(Q)$(MAKE) --no-print-directory SANITIZE=address,undefined suite E2E="$(SAN_E2E)"
	$(Q)$(MAKE) --no-print-directory fuzz-smoke format-check layering
	$(Q)sh tests/summary.sh build/results

test-asan: deps
	$(Q)rm -rf build/results
	$(Q)$(MAKE) --no-print-directory SANITIZE=address,undefined suite E2E="$(SAN_E2E)"
	$(Q)sh tests/summary.sh build/results

check:
	$(Q)rm -rf build/results
	$(Q)$(MAKE) --no-print-directory suite E2E="$(CHECK_E2E)" TIER=fast
	$(Q)sh tests/summary.sh build/results

# One pass: the unit test binaries, then the end-to-end suites $(E2E).
E2E ?= $(ALL_E2E)
TIER ?=
suite: $(KSD_BIN) $(TEST_BINS) $(TOOL_BINS)
	$(Q)KSD=./$(KSD_BIN) TOOLS=$(B)/tools BUILD=$(B) RESULTS=build/results KSD_TIER=$(TIER) \
	  E2E="$(E2E)" sh tests/run.sh $(TEST_BINS)

demo:
	@sh deploy/install-deps.sh demo
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh deploy/demo.sh

# Stop the dashboard and Redis that `make demo` left running.
demo-stop:
	$(Q)if [ -f build/demo/dashboard.pid ]; then read pid port <build/demo/dashboard.pid; \
	  kill $$pid 2>/dev/null; redis-cli -p $$port shutdown nosave >/dev/null 2>&1; \
	  rm -f build/demo/dashboard.pid; echo "demo stopped"; fi

# The dissectors and signatures are compiled once with the fuzzing flags into
# one library that every harness links.
FUZZ_CFLAGS := -std=c11 -g -O1 -I. -D_GNU_SOURCE -DKSD_DEBUG \
               -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
FUZZ_OBJS   := $(DISS_SRCS:%.c=build/fuzzobj/%.o) $(SIG_SRCS:%.c=build/fuzzobj/%.o)

$(FUZZ_OBJS) $(FUZZ_SRCS:%.c=build/fuzzobj/%.o): build/fuzzobj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,FUZZCC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

build/fuzzobj/libksdfuzz.a: $(FUZZ_OBJS)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(FUZZ_BINS): build/fuzz/%: build/fuzzobj/tests/fuzz/%.o build/fuzzobj/libksdfuzz.a
	@mkdir -p build/fuzz
	$(call say,FUZZ,$@)
	$(Q)$(CLANG) -fsanitize=fuzzer,address,undefined -o $@ $< build/fuzzobj/libksdfuzz.a -lcrypto

fuzz: $(FUZZ_BINS)

# The long campaign (10 minutes per harness by default; FUZZ_SECONDS=N).
fuzz-long: fuzz
	$(Q)sh tests/fuzz/long.sh $(FUZZ_BINS)

fuzz-smoke: fuzz
	$(Q)sh tests/fuzz/smoke.sh $(FUZZ_BINS)

bench: all
	@sh deploy/install-deps.sh bench
	$(Q)sh tests/bench/bench.sh
	$(Q)sh tests/bench/redis.sh

# Live capture: the bench mix replayed into a veth pair (tests/bench/live.sh).
bench-live: all
	@sh deploy/install-deps.sh bench
	$(Q)sh tests/bench/live.sh

oracle: all
	$(Q)sh tests/oracle.sh --update

# nDPI's server names against ksd's dissectors over the shared corpus.
ndpi-compare: all
	$(Q)sh tests/ndpi-compare.sh

FORMAT_SRCS = $(wildcard dissectors/*.[ch] signatures/*.[ch] sensor/*.[ch] sensor/*/*.[ch] tests/*.[ch] \
                         tests/fuzz/*.[ch] tests/tools/*.[ch])
format:
	clang-format -i $(FORMAT_SRCS)

format-check:
	$(Q)out=$$(for f in $(FORMAT_SRCS); do clang-format --dry-run -Werror $$f 2>&1 >/dev/null | \
	  grep -q . && echo $$f; done); if [ -n "$$out" ]; then echo "format-check: not clang-format clean:"; \
	  echo "$$out"; exit 1; fi; mkdir -p build/results; echo "format-check 1 0" > build/results/format; \
	  echo "format-check: ok"

# Include rules follow the data flow (README, "Architecture"; tests/layering.sh).
layering:
	$(Q)sh tests/layering.sh && mkdir -p build/results && echo "layering 1 0" > build/results/layering

clean:
	rm -rf build ksd

-include deploy/install.mk
-include $(FUZZ_OBJS:.o=.d) $(FUZZ_SRCS:%.c=build/fuzzobj/%.d)
-include $(LIB_OBJS:.o=.d) $(MAIN_OBJ:.o=.d) $(BUILTIN_OBJ:.o=.d) $(TEST_BINS:%=%.d) \
         $(TOOL_SRCS:tests/tools/%.c=$(B)/tests/tools/%.d) $(TOOL_PARTS:tests/tools/%.c=$(B)/tests/tools/%.d)
