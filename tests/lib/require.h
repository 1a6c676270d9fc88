/* SPDX-License-Identifier: MIT */
/*
 * Skips for what a host lacks, one wording each (tests/kvm-report.sh counts
 * the skips by reason: every skip naming /dev/kvm must be made good in the
 * nested lab). Criterion tests only.
 */
#ifndef THPVM_TEST_REQUIRE_H
#define THPVM_TEST_REQUIRE_H

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "helpers.h"

/* Skips the test, with the reason, where /dev/kvm cannot be used. */
#define REQUIRE_KVM()                                                                               \
	do {                                                                                         \
		if (access("/dev/kvm", R_OK | W_OK))                                                 \
			cr_skip_test("/dev/kvm is not usable here: %s", strerror(errno));             \
	} while (0)

/* Skips the test where MADV_HUGEPAGE memory of this process gets no THP (host_thp_allowed()). */
#define REQUIRE_THP()                                                                                \
	do {                                                                                         \
		if (!host_thp_allowed())                                                             \
			cr_skip_test("the host gives this process no THP (transparent_hugepage or prctl)"); \
	} while (0)

#endif
