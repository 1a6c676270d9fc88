/* SPDX-License-Identifier: MIT */
/* Graceful fallback: without THP the region works on 4 KiB pages and says why. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <thpvm.h>
#include "kernel_compat.h"
#include "helpers.h"
#include "require.h"

static int prctl_child(void *arg, int reason)
{
	struct thpvm_region_config cfg = { .size_bytes = 32 * MIB, .populate = THPVM_POPULATE_PREFAULT };
	struct thpvm_memmap *map;
	struct thpvm_region *r;
	struct thpvm_coverage cov;

	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		return child_fail(reason, 10, "prctl(PR_SET_THP_DISABLE): %m");
	if (thpvm_memmap_create(&map) || thpvm_memmap_add(map, &cfg, &r))
		return child_fail(reason, 11, "allocation failed with THP disabled: %s", thpvm_last_error());
	if (thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH | THPVM_COVERAGE_SMAPS, &cov))
		return child_fail(reason, 12, "coverage: %s", thpvm_last_error());
	if (cov.huge_bytes || cov.smaps_anon_huge_bytes)
		return child_fail(reason, 13, "%llu bytes huge with THP disabled", (unsigned long long)cov.huge_bytes);
	if (cov.present_bytes != cfg.size_bytes)
		return child_fail(reason, 14, "only %llu bytes present", (unsigned long long)cov.present_bytes);
	if (cov.thp_reason != THPVM_THP_PRCTL_DISABLED)
		return child_fail(reason, 15, "reason %s, want THPVM_THP_PRCTL_DISABLED", thpvm_thp_reason_name(cov.thp_reason));
	pattern_fill(thpvm_memmap_gpa_to_hva(map, 0, cfg.size_bytes), 0, cfg.size_bytes / 4096, 3, 3);
	if (pattern_check(thpvm_memmap_gpa_to_hva(map, 0, cfg.size_bytes), 0, cfg.size_bytes / 4096, 3, 3))
		return child_fail(reason, 16, "data lost on the fallback path");
	thpvm_memmap_destroy(map);
	return 0;
}

Test(fallback, prctl_thp_disable_allocates_on_4k_and_says_why)
{
	char reason[512];
	int st = run_in_child(prctl_child, NULL, reason, sizeof(reason));

	cr_assert_eq(st, 0, "child status %d: %s", st, reason);
}

/*
 * Eligible when created, then THP taken away before the pages arrive: the
 * kernel backs the extents with 4 KiB pages, and the library measures that
 * as a fallback (thp_fault_fallback) rather than guessing.
 */
static int measured_child(void *arg, int reason)
{
	struct thpvm_region_config cfg = { .size_bytes = 16 * MIB };
	struct thpvm_memmap *map;
	struct thpvm_region *r;
	struct thpvm_coverage cov;

	if (thpvm_memmap_create(&map) || thpvm_memmap_add(map, &cfg, &r))
		return child_fail(reason, 10, "add: %s", thpvm_last_error());
	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		return child_fail(reason, 11, "prctl: %m");
	if (thpvm_region_prefault(r, NULL, NULL))
		return child_fail(reason, 12, "prefault: %s", thpvm_last_error());
	if (thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH, &cov))
		return child_fail(reason, 13, "coverage: %s", thpvm_last_error());
	if (cov.nr_huge != 0 || cov.nr_split != 8)
		return child_fail(reason, 14, "%llu huge %llu split", (unsigned long long)cov.nr_huge,
				  (unsigned long long)cov.nr_split);
	if (cov.thp_reason != THPVM_THP_ALLOC_FALLBACK || cov.counters.thp_fault_fallback != 8)
		return child_fail(reason, 15, "reason %s, thp_fault_fallback %llu", thpvm_thp_reason_name(cov.thp_reason),
				  (unsigned long long)cov.counters.thp_fault_fallback);
	thpvm_memmap_destroy(map);
	return 0;
}

Test(fallback, kernel_fallback_is_measured_and_recorded)
{
	char reason[512];
	int st;

	REQUIRE_THP();
	st = run_in_child(measured_child, NULL, reason, sizeof(reason));
	cr_assert_eq(st, 0, "child status %d: %s", st, reason);
}

Test(fallback, nohuge_region_stays_small_on_a_thp_host)
{
	struct thpvm_region_config cfg = { .name = "rom", .size_bytes = 8 * MIB, .flags = THPVM_REGION_F_NOHUGE,
					   .populate = THPVM_POPULATE_PREFAULT };
	struct thpvm_memmap *map;
	struct thpvm_region *r;
	struct thpvm_coverage cov;

	cr_assert_eq(thpvm_memmap_create(&map), 0);
	cr_assert_eq(thpvm_memmap_add(map, &cfg, &r), 0, "%s", thpvm_last_error());
	cr_assert_eq(thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH, &cov), 0);
	cr_assert_eq(cov.nr_huge, 0);
	cr_assert_eq(cov.thp_reason, THPVM_THP_REGION_NOHUGE);
	cr_assert_eq(cov.counters.thp_fault_fallback, 0);
	thpvm_memmap_destroy(map);
}

/*
 * Memory runs out in the middle of a prefault (injected: the kernel cannot
 * be made to fail MADV_POPULATE_WRITE on demand without an OOM kill): one
 * line names the region and where, what the guest wrote is intact page by
 * page, what was populated stays, and the next prefault completes.
 */
Test(fallback, a_prefault_that_runs_out_of_memory_midway_says_where_and_loses_nothing)
{
	struct thpvm_region_config cfg = { .name = "ram", .size_bytes = 192 * MIB };
	const uint64_t chunk = 64 * MIB, part = 8 * MIB;
	struct thpvm_coverage cov;
	struct thpvm_memmap *map;
	struct thpvm_region *r;
	uint8_t *base;
	char want[160];

	cr_assert_eq(thpvm_memmap_create(&map), 0);
	cr_assert_eq(thpvm_memmap_add(map, &cfg, &r), 0, "%s", thpvm_last_error());
	base = thpvm_memmap_gpa_to_hva(map, 0, cfg.size_bytes);
	pattern_fill(base, 0, part / 4096, 5, 5);
	pattern_fill(base + 2 * chunk, 2 * chunk / 4096, part / 4096, 5, 5);
	thpvm_region_inject_populate_failure(r, 1);
	cr_assert_eq(thpvm_region_prefault(r, NULL, NULL), -ENOMEM);
	snprintf(want, sizeof(want), "cannot populate the region: region 'ram' at +0x%llx: %s", (unsigned long long)chunk,
		 strerror(ENOMEM));
	cr_assert_str_eq(thpvm_last_error(), want);
	cr_assert_eq(pattern_check(base, 0, part / 4096, 5, 5), 0, "a page the guest wrote changed");
	cr_assert_eq(pattern_check(base + 2 * chunk, 2 * chunk / 4096, part / 4096, 5, 5), 0);
	cr_assert_eq(thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH, &cov), 0);
	cr_assert_eq(cov.present_bytes, chunk + part, "the first chunk populated, the third only where written: %llu",
		     (unsigned long long)cov.present_bytes);

	/* the hook fires once: the next prefault completes, the pages still hold what was written */
	cr_assert_eq(thpvm_region_prefault(r, NULL, NULL), 0, "%s", thpvm_last_error());
	cr_assert_eq(thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH, &cov), 0);
	cr_assert_eq(cov.present_bytes, cfg.size_bytes);
	cr_assert_eq(pattern_check(base, 0, part / 4096, 5, 5), 0);
	cr_assert_eq(pattern_check(base + 2 * chunk, 2 * chunk / 4096, part / 4096, 5, 5), 0);
	thpvm_memmap_destroy(map);
}
