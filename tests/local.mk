# Criterion tests by category; each binary's suite is its module.
#   unit/ - pure logic and small mappings      thp/ - real host memory management
#   kvm/  - need /dev/kvm (skip with a reason)  lab/ - nested Linux (make check-lab)
check_LTLIBRARIES = tests/lib/libtesthelpers.la
tests_lib_libtesthelpers_la_SOURCES = tests/lib/helpers.c tests/lib/helpers.h

TEST_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS) $(JANSSON_CFLAGS) -I$(top_srcdir)/tests/lib -I$(top_srcdir)/src
TEST_LDADD = tests/lib/libtesthelpers.la src/libthpvm.la $(CRITERION_LIBS) $(JANSSON_LIBS)

UNIT_TESTS = \
	tests/unit/test_memmap \
	tests/unit/test_thp_policy \
	tests/unit/test_x86_tables
THP_TESTS = \
	tests/thp/test_extent \
	tests/thp/test_cow \
	tests/thp/test_fallback \
	tests/thp/test_coverage
KVM_TESTS =

check_PROGRAMS += $(UNIT_TESTS) $(THP_TESTS) $(KVM_TESTS)
TESTS += $(UNIT_TESTS) $(THP_TESTS) $(KVM_TESTS)

tests_unit_test_memmap_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_memmap_LDADD = $(TEST_LDADD)
tests_unit_test_thp_policy_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_thp_policy_LDADD = $(TEST_LDADD)
tests_unit_test_x86_tables_SOURCES = tests/unit/test_x86_tables.c $(VMM_X86_SOURCES)
tests_unit_test_x86_tables_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/vmm
tests_unit_test_x86_tables_LDADD = $(TEST_LDADD)
tests_thp_test_extent_CFLAGS = $(TEST_CFLAGS)
tests_thp_test_extent_LDADD = $(TEST_LDADD)
tests_thp_test_cow_CFLAGS = $(TEST_CFLAGS)
tests_thp_test_cow_LDADD = $(TEST_LDADD)
tests_thp_test_fallback_CFLAGS = $(TEST_CFLAGS)
tests_thp_test_fallback_LDADD = $(TEST_LDADD)
tests_thp_test_coverage_CFLAGS = $(TEST_CFLAGS)
tests_thp_test_coverage_LDADD = $(TEST_LDADD)

LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
LOG_COMPILER = $(top_srcdir)/tests/criterion-tap.sh
EXTRA_DIST += tests/criterion-tap.sh

# Subsets, for the sanitizer build and for quick runs.
check-unit:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS="$(UNIT_TESTS)"
check-thp:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS="$(THP_TESTS)"
check-kvm:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS="$(KVM_TESTS)"
.PHONY: check-unit check-thp check-kvm

# What CI runs under -fsanitize=address,undefined.
SANITIZED_TESTS = $(UNIT_TESTS) $(THP_TESTS)
check-sanitized:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS="$(SANITIZED_TESTS)"
.PHONY: check-sanitized

include tests/lab/local.mk
