# fuzz/: libFuzzer targets, one per parser of untrusted input (docs/reliability.md).
# Each target is one LLVMFuzzerTestOneInput() over the project's real code.
#  - make check replays every seed (fuzz/corpus/T) and past finding (fuzz/regress/T)
#    through each target, built with the project's compiler (fuzz/test_corpus_T);
#  - make fuzz builds the targets with clang -fsanitize=fuzzer,address,undefined
#    (fuzz/fuzz.mk, objects under BUILD/fuzz) and runs each for FUZZ_SECONDS
#    (fuzz/run.sh); a finding fails it and is left in BUILD/fuzz/findings.
FUZZ_TARGETS = payload_image linux_kernel ctl_line run_args ctl_args snapshot_state virtq domain_xml
FUZZ_SECONDS = 60
EXTRA_DIST += fuzz/README.md fuzz/fuzz.h fuzz/fuzz.mk fuzz/run.sh fuzz/corpus fuzz/regress fuzz/ctl_line.dict \
	fuzz/make-linux-seeds.py fuzz/make-virtq-seeds.py fuzz/domain_xml.dict

FUZZ_CORPUS_TESTS = \
	fuzz/test_corpus_payload_image \
	fuzz/test_corpus_linux_kernel \
	fuzz/test_corpus_ctl_line \
	fuzz/test_corpus_run_args \
	fuzz/test_corpus_ctl_args \
	fuzz/test_corpus_snapshot_state \
	fuzz/test_corpus_virtq \
	fuzz/test_corpus_domain_xml
UNIT_TESTS += $(FUZZ_CORPUS_TESTS)
FUZZ_TEST_CFLAGS = $(VMM_TEST_CFLAGS) -I$(top_srcdir)/fuzz -DFUZZ_DIR='"$(abs_top_srcdir)/fuzz"'
fuzz_test_corpus_payload_image_SOURCES = fuzz/corpus_test.c fuzz/fuzz_payload_image.c
fuzz_test_corpus_payload_image_CFLAGS = $(FUZZ_TEST_CFLAGS) -DFUZZ_TARGET='"payload_image"'
fuzz_test_corpus_payload_image_LDADD = $(VMM_TEST_LDADD)
fuzz_test_corpus_linux_kernel_SOURCES = fuzz/corpus_test.c fuzz/fuzz_linux_kernel.c
fuzz_test_corpus_linux_kernel_CFLAGS = $(FUZZ_TEST_CFLAGS) -DFUZZ_TARGET='"linux_kernel"'
fuzz_test_corpus_linux_kernel_LDADD = $(VMM_TEST_LDADD)
fuzz_test_corpus_ctl_line_SOURCES = fuzz/corpus_test.c fuzz/fuzz_ctl_line.c
fuzz_test_corpus_ctl_line_CFLAGS = $(FUZZ_TEST_CFLAGS) -DFUZZ_TARGET='"ctl_line"'
fuzz_test_corpus_ctl_line_LDADD = $(VMM_TEST_LDADD)
fuzz_test_corpus_run_args_SOURCES = fuzz/corpus_test.c fuzz/fuzz_run_args.c vmm/cli/run_opts.c
fuzz_test_corpus_run_args_CFLAGS = $(FUZZ_TEST_CFLAGS) -DFUZZ_TARGET='"run_args"'
fuzz_test_corpus_run_args_LDADD = $(VMM_TEST_LDADD)
fuzz_test_corpus_ctl_args_SOURCES = fuzz/corpus_test.c fuzz/fuzz_ctl_args.c vmm/cli/cmd_ctl.c
fuzz_test_corpus_ctl_args_CFLAGS = $(FUZZ_TEST_CFLAGS) -DFUZZ_TARGET='"ctl_args"'
fuzz_test_corpus_ctl_args_LDADD = $(VMM_TEST_LDADD)
fuzz_test_corpus_snapshot_state_SOURCES = fuzz/corpus_test.c fuzz/fuzz_snapshot_state.c
fuzz_test_corpus_snapshot_state_CFLAGS = $(FUZZ_TEST_CFLAGS) -DFUZZ_TARGET='"snapshot_state"'
fuzz_test_corpus_snapshot_state_LDADD = $(VMM_TEST_LDADD)
fuzz_test_corpus_virtq_SOURCES = fuzz/corpus_test.c fuzz/fuzz_virtq.c
fuzz_test_corpus_virtq_CFLAGS = $(FUZZ_TEST_CFLAGS) -DFUZZ_TARGET='"virtq"'
fuzz_test_corpus_virtq_LDADD = $(VMM_TEST_LDADD)
fuzz_test_corpus_domain_xml_SOURCES = fuzz/corpus_test.c fuzz/fuzz_domain_xml.c vmm/cli/run_opts.c $(VMM_DOMAIN_SOURCES)
fuzz_test_corpus_domain_xml_CFLAGS = $(FUZZ_TEST_CFLAGS) -DFUZZ_TARGET='"domain_xml"' $(VMM_DOMAIN_CFLAGS)
fuzz_test_corpus_domain_xml_LDADD = $(VMM_TEST_LDADD) $(VMM_DOMAIN_LIBS)

# The targets under libFuzzer: the library and the VMM core once as an archive, each target linked to it.
FUZZ_CORE_FILES = $(src_libthpvm_la_SOURCES) $(VMM_CORE_SOURCES) vmm/cli/run_opts.c vmm/cli/cmd_ctl.c \
	$(VMM_DOMAIN_SOURCES)
fuzz-build:
	$(MAKE) -f $(top_srcdir)/fuzz/fuzz.mk top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
		CORE_SOURCES='$(FUZZ_CORE_FILES)' TARGETS='$(FUZZ_TARGETS)' \
		DEP_CFLAGS='$(JANSSON_CFLAGS) $(URING_CFLAGS) $(VMM_DOMAIN_CFLAGS)' \
		DEP_LIBS='$(JANSSON_LIBS) $(URING_LIBS) $(VMM_DOMAIN_LIBS) -lm'
fuzz: fuzz-build
	$(top_srcdir)/fuzz/run.sh '$(abs_top_srcdir)/fuzz' '$(abs_top_builddir)/fuzz' $(FUZZ_SECONDS) $(FUZZ_TARGETS)
.PHONY: fuzz fuzz-build
