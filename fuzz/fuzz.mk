# Builds the libFuzzer targets with clang (called by `make fuzz-build` from the
# build directory, which passes the source lists and the dependencies' flags).
# Everything under the sanitizers; only the targets' own code is linked with
# libFuzzer's main, the rest is instrumented for coverage (fuzzer-no-link).
CLANG ?= clang-14
OUT := $(top_builddir)/fuzz
SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
CFLAGS := -std=gnu11 -pthread -g -O1 -fno-omit-frame-pointer $(SAN) -Wall -Wno-unused-parameter -Wno-gnu-variable-sized-type-not-at-end \
	-I$(top_srcdir)/include -I$(top_builddir) -I$(top_srcdir)/vmm -I$(top_srcdir)/guests/include \
	-I$(top_srcdir)/fuzz -DTHPVM_PAYLOAD_INSTALL_DIR='"/nonexistent"' $(DEP_CFLAGS)
CORE_O := $(patsubst %.c,$(OUT)/obj/%.o,$(filter %.c,$(CORE_SOURCES)))

all: $(TARGETS:%=$(OUT)/fuzz_%)

$(OUT)/obj/%.o: $(top_srcdir)/%.c
	@mkdir -p $(dir $@)
	@echo "  CLANG    $*.c"
	@$(CLANG) $(CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(OUT)/libfuzzcore.a: $(CORE_O)
	@rm -f $@
	@ar rcs $@ $^

$(OUT)/fuzz_%: $(OUT)/obj/fuzz/fuzz_%.o $(OUT)/libfuzzcore.a
	@echo "  FUZZLD   fuzz_$*"
	@$(CLANG) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(OUT)/libfuzzcore.a $(DEP_LIBS)

-include $(shell find $(OUT)/obj -name '*.d' 2>/dev/null)
.PHONY: all
