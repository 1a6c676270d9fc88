/* SPDX-License-Identifier: MIT */
/* Extent states measured on real memory, in every backing mode. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <thpvm.h>
#include "helpers.h"

TestSuite(extent, .init = map_fixture_init, .fini = map_fixture_fini, .timeout = 120);

static struct thpvm_region *add(enum thpvm_backing backing, uint64_t gpa, uint64_t size, enum thpvm_populate pop)
{
	struct thpvm_region_config cfg = { .gpa = gpa, .size_bytes = size, .backing = backing, .populate = pop };
	struct thpvm_region *r = NULL;
	int ret = thpvm_memmap_add(fix_map, &cfg, &r);

	if (ret && backing == THPVM_BACKING_HUGETLB)
		cr_skip_test("hugetlb baseline unavailable: %s", thpvm_last_error());
	cr_assert_eq(ret, 0, "%s", thpvm_last_error());
	return r;
}

Test(extent, prefaulted_thp_region_is_all_huge_or_says_why)
{
	struct thpvm_region *r = add(THPVM_BACKING_THP, 0, 64 * MIB, THPVM_POPULATE_PREFAULT);
	struct thpvm_coverage cov;
	struct thpvm_region_info info;

	cr_assert_eq(thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH | THPVM_COVERAGE_SMAPS, &cov), 0);
	thpvm_region_get_info(r, &info);
	cr_assert_eq(cov.nr_extents, 32);
	if (info.thp_reason == THPVM_THP_ELIGIBLE) {
		cr_assert_eq(cov.nr_huge, 32, "only %llu of 32 extents huge", (unsigned long long)cov.nr_huge);
		cr_assert_eq(cov.huge_bytes, 64 * MIB);
		cr_assert_eq(cov.smaps_anon_huge_bytes, 64 * MIB, "smaps disagrees: AnonHugePages %llu",
			     (unsigned long long)cov.smaps_anon_huge_bytes);
		cr_assert_eq(cov.counters.thp_fault_alloc, 32);
		cr_assert_eq(cov.counters.thp_fault_fallback, 0);
	} else {
		/* the host kept THP from us: the region works and says why */
		cr_assert_lt(cov.huge_bytes, 64 * MIB);
		cr_assert(strlen(thpvm_thp_reason_str(info.thp_reason)) > 0);
		cr_log_info("THP fallback recorded: %s", thpvm_thp_reason_str(info.thp_reason));
	}
	cr_assert_eq(cov.present_bytes, 64 * MIB);
}

Test(extent, prefaulted_4k_region_has_no_huge_extent)
{
	struct thpvm_region *r = add(THPVM_BACKING_4K, 0, 64 * MIB, THPVM_POPULATE_PREFAULT);
	struct thpvm_coverage cov;

	cr_assert_eq(thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH | THPVM_COVERAGE_SMAPS, &cov), 0);
	cr_assert_eq(cov.nr_huge, 0);
	cr_assert_eq(cov.nr_split, 32);
	cr_assert_eq(cov.smaps_anon_huge_bytes, 0);
	cr_assert_eq(cov.present_bytes, 64 * MIB);
	cr_assert_eq(cov.thp_reason, THPVM_THP_BACKING_4K);
	cr_assert_eq(cov.counters.thp_fault_fallback, 0, "4k baseline is not a fallback");
}

Test(extent, on_demand_region_starts_absent)
{
	struct thpvm_region *r = add(THPVM_BACKING_THP, 0, 16 * MIB, THPVM_POPULATE_ON_DEMAND);
	struct thpvm_region_info info;
	struct thpvm_extent_info e;

	thpvm_region_get_info(r, &info);
	cr_assert_eq(thpvm_region_refresh(r), 0);
	for (uint64_t i = 0; i < info.nr_extents; i++) {
		cr_assert_eq(thpvm_region_extent(r, i, &e), 0);
		cr_assert_eq(e.state, THPVM_EXTENT_ABSENT);
		cr_assert_eq(e.nr_present, 0);
	}
	/* touch extents 1 and 5 */
	memset((char *)info.hva + 2 * MIB, 1, 4096);
	memset((char *)info.hva + 10 * MIB + 12345, 1, 1);
	cr_assert_eq(thpvm_region_refresh(r), 0);
	for (uint64_t i = 0; i < info.nr_extents; i++) {
		cr_assert_eq(thpvm_region_extent(r, i, &e), 0);
		if (i == 1 || i == 5)
			cr_assert_eq(e.state, host_thp_allowed() ? THPVM_EXTENT_HUGE : THPVM_EXTENT_SPLIT, "extent %llu",
				     (unsigned long long)i);
		else
			cr_assert_eq(e.state, THPVM_EXTENT_ABSENT, "extent %llu", (unsigned long long)i);
	}
	cr_assert_eq(thpvm_region_extent(r, info.nr_extents, &e), -ERANGE);
}

/*
 * Reads of never-written memory. Where the kernel maps the shared zero page
 * (4 KiB or huge) the extent owns no memory and is ABSENT. Some kernels
 * allocate a real THP on such a read fault instead (a build machine's
 * 6.18.44-fc, use_zero_page 1, did on 2026-12-06: smaps said Rss 2048 kB,
 * AnonHugePages 2048 kB, thp_zero_page_alloc stayed 0, where earlier
 * machines mapped the zero page); then the extent owns 2 MiB and is HUGE.
 * Either way coverage says what the kernel did, as smaps does.
 */
Test(extent, reads_of_untouched_memory_count_only_what_the_kernel_allocated)
{
	struct thpvm_region *r = add(THPVM_BACKING_THP, 0, 4 * MIB, THPVM_POPULATE_ON_DEMAND);
	struct thpvm_region_info info;
	struct thpvm_extent_info e;
	struct thpvm_coverage cov;
	volatile uint64_t sum = 0;

	thpvm_region_get_info(r, &info);
	for (uint64_t off = 0; off < 2 * MIB; off += 4096)
		sum += ((volatile uint64_t *)info.hva)[off / 8];
	cr_assert_eq(sum, 0);
	cr_assert_eq(thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH | THPVM_COVERAGE_SMAPS, &cov), 0);
	cr_assert(cov.smaps_valid, "no smaps for the region");
	cr_assert_eq(thpvm_region_extent(r, 0, &e), 0);
	if (!cov.smaps_rss_bytes) {
		cr_assert_eq(e.state, THPVM_EXTENT_ABSENT, "the zero page owns no memory, yet counted as %s",
			     thpvm_extent_state_str(e.state));
		cr_assert_eq(cov.nr_absent, 2);
	} else {
		/* this kernel allocated memory on the read faults: the extent owns it */
		cr_assert_eq(cov.smaps_rss_bytes, 2 * MIB, "Rss %llu after reading one extent",
			     (unsigned long long)cov.smaps_rss_bytes);
		cr_assert_eq(e.state, cov.smaps_anon_huge_bytes == 2 * MIB ? THPVM_EXTENT_HUGE : THPVM_EXTENT_SPLIT,
			     "counted as %s; smaps AnonHugePages %llu", thpvm_extent_state_str(e.state),
			     (unsigned long long)cov.smaps_anon_huge_bytes);
		cr_assert_eq(e.nr_present, 512);
	}
	cr_assert_eq(thpvm_region_extent(r, 1, &e), 0);
	cr_assert_eq(e.state, THPVM_EXTENT_ABSENT, "the extent never read");
}

static void pattern_roundtrip(enum thpvm_backing backing, enum thpvm_populate pop)
{
	struct thpvm_region *r = add(backing, 6 * MIB, 32 * MIB, pop);
	struct thpvm_region_info info;
	uint64_t pages = 32 * MIB / 4096;

	thpvm_region_get_info(r, &info);
	pattern_fill(info.hva, info.gpa / 4096, pages, 1, 0xabcd);
	cr_assert_eq(pattern_check(info.hva, info.gpa / 4096, pages, 1, 0xabcd), 0);
	cr_assert_eq(thpvm_region_refresh(r), 0);
	cr_assert_eq(pattern_check(info.hva, info.gpa / 4096, pages, 1, 0xabcd), 0, "refresh disturbed data");
	/* a different generation must not verify: the check really checks */
	cr_assert_eq(pattern_check(info.hva, info.gpa / 4096, pages, 2, 0xabcd), pages);
}

Test(extent, pattern_survives_in_thp_backing) { pattern_roundtrip(THPVM_BACKING_THP, THPVM_POPULATE_ON_DEMAND); }
Test(extent, pattern_survives_in_4k_backing) { pattern_roundtrip(THPVM_BACKING_4K, THPVM_POPULATE_PREFAULT); }
Test(extent, pattern_survives_in_hugetlb_backing) { pattern_roundtrip(THPVM_BACKING_HUGETLB, THPVM_POPULATE_PREFAULT); }

Test(extent, pagemap_fallback_agrees_with_pagemap_scan)
{
	struct thpvm_region *thp = add(THPVM_BACKING_THP, 0, 32 * MIB, THPVM_POPULATE_PREFAULT);
	struct thpvm_region *small = add(THPVM_BACKING_4K, 64 * MIB, 8 * MIB, THPVM_POPULATE_ON_DEMAND);
	struct thpvm_region_info info;
	struct thpvm_extent_info a[32], b[32];
	struct thpvm_region *regions[] = { thp, small };

	thpvm_region_get_info(small, &info);
	memset(info.hva, 7, 4 * MIB + 4096);
	for (int k = 0; k < 2; k++) {
		struct thpvm_region *r = regions[k];
		uint64_t n = thpvm_region_nr_extents(r);

		thpvm_pagemap_scan_enable(true);
		cr_assert_eq(thpvm_region_refresh(r), 0);
		for (uint64_t i = 0; i < n; i++)
			thpvm_region_extent(r, i, &a[i]);
		thpvm_pagemap_scan_enable(false);
		cr_assert_eq(thpvm_region_refresh(r), 0);
		for (uint64_t i = 0; i < n; i++) {
			thpvm_region_extent(r, i, &b[i]);
			cr_assert_eq(a[i].state, b[i].state, "region %d extent %llu: scan %s, pagemap %s", k,
				     (unsigned long long)i, thpvm_extent_state_str(a[i].state),
				     thpvm_extent_state_str(b[i].state));
			cr_assert_eq(a[i].nr_present, b[i].nr_present);
		}
		thpvm_pagemap_scan_enable(true);
	}
	cr_assert_eq(a[0].state, THPVM_EXTENT_SPLIT);
	cr_assert_eq(a[1].nr_present, 512);
	cr_assert_eq(a[2].nr_present, 1);
	cr_assert_eq(a[3].state, THPVM_EXTENT_ABSENT);
}

Test(extent, unaligned_region_has_clipped_extents)
{
	struct thpvm_region *r = add(THPVM_BACKING_THP, 2 * MIB - 8192, 2 * MIB + 16384, THPVM_POPULATE_PREFAULT);
	struct thpvm_extent_info e;

	cr_assert_eq(thpvm_region_nr_extents(r), 3);
	cr_assert_eq(thpvm_region_extent(r, 0, &e), 0);
	cr_assert_eq(e.nr_pages, 2);
	cr_assert_eq(e.gpa, 2 * MIB - 8192);
	cr_assert_eq(e.state, THPVM_EXTENT_SPLIT);
	cr_assert_eq(thpvm_region_extent(r, 1, &e), 0);
	cr_assert_eq(e.nr_pages, 512);
	cr_assert_eq(e.state, host_thp_allowed() ? THPVM_EXTENT_HUGE : THPVM_EXTENT_SPLIT);
	cr_assert_eq(thpvm_region_extent(r, 2, &e), 0);
	cr_assert_eq(e.nr_pages, 2);
	cr_assert_eq(thpvm_region_extent_index(r, 4 * MIB), 2);
	cr_assert_eq(thpvm_region_extent_index(r, 0), -ERANGE);
}

Test(extent, generation_bumps_on_observed_change)
{
	struct thpvm_region *r = add(THPVM_BACKING_4K, 0, 2 * MIB, THPVM_POPULATE_ON_DEMAND);
	struct thpvm_region_info info;
	struct thpvm_extent_info e0, e1, e2;

	thpvm_region_get_info(r, &info);
	thpvm_region_refresh(r);
	thpvm_region_extent(r, 0, &e0);
	thpvm_region_refresh(r);
	thpvm_region_extent(r, 0, &e1);
	cr_assert_eq(e0.generation, e1.generation, "nothing changed, yet the generation moved");
	((volatile char *)info.hva)[0] = 1;
	thpvm_region_refresh(r);
	thpvm_region_extent(r, 0, &e2);
	cr_assert_gt(e2.generation, e1.generation);
	cr_assert_eq(e2.state, THPVM_EXTENT_SPLIT);
	cr_assert_geq(e2.state_since_ns, e1.state_since_ns);
}

struct progress_log {
	unsigned calls;
	uint64_t last_done, total;
	bool monotonic;
	unsigned cancel_at;
};

static int record_progress(uint64_t done, uint64_t total, void *arg)
{
	struct progress_log *p = arg;

	p->monotonic &= done > p->last_done && done <= total;
	p->last_done = done;
	p->total = total;
	return ++p->calls == p->cancel_at;
}

Test(extent, prefault_reports_progress_until_done)
{
	struct progress_log log = { .monotonic = true };
	struct thpvm_region_config cfg = { .size_bytes = 200 * MIB, .populate = THPVM_POPULATE_PREFAULT,
					   .progress = record_progress, .progress_arg = &log };
	struct thpvm_coverage cov;
	struct thpvm_region *r;

	cr_assert_eq(thpvm_memmap_add(fix_map, &cfg, &r), 0, "%s", thpvm_last_error());
	cr_assert_geq(log.calls, 3, "200 MiB is prefaulted in several steps, each reported");
	cr_assert(log.monotonic);
	cr_assert_eq(log.last_done, 200 * MIB);
	cr_assert_eq(log.total, 200 * MIB);
	cr_assert_eq(thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH, &cov), 0);
	cr_assert_eq(cov.present_bytes, 200 * MIB);
}

Test(extent, prefault_cancelled_by_progress_maps_nothing)
{
	struct progress_log log = { .monotonic = true, .cancel_at = 2 };
	struct thpvm_region_config cfg = { .size_bytes = 200 * MIB, .populate = THPVM_POPULATE_PREFAULT,
					   .progress = record_progress, .progress_arg = &log };
	int vmas = count_vmas(cfg.size_bytes);

	cr_assert_eq(thpvm_memmap_add(fix_map, &cfg, NULL), -ECANCELED);
	cr_assert_eq(thpvm_memmap_last_result(fix_map), THPVM_MAP_POPULATE_CANCELLED);
	cr_assert(strstr(thpvm_last_error(), "cancelled"), "%s", thpvm_last_error());
	cr_assert_eq(log.calls, 2, "no progress after the cancel");
	cr_assert_eq(thpvm_memmap_nr_regions(fix_map), 0);
	cr_assert_eq(count_vmas(cfg.size_bytes), vmas, "a cancelled region is unmapped");
}
