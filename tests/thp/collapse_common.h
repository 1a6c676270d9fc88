/* SPDX-License-Identifier: MIT */
/* Shared pieces of the collapse tests (tests/thp/test_collapse*.c). */
#ifndef THPVM_TEST_COLLAPSE_COMMON_H
#define THPVM_TEST_COLLAPSE_COMMON_H

#include <stdio.h>
#include <string.h>
#include <thpvm.h>
#include "helpers.h"
#include "require.h"

#define PAGES_PER_EXTENT 512
#define SEED 0xc011

/*
 * The collapse tests' fixture: a new map with one prefaulted THP region of
 * nr_extents 2 MiB extents holding the pattern (gen, SEED); skips the test
 * where the host gives no THP. Returns the region's address; the test
 * destroys *map.
 */
static inline uint8_t *thp_region_make(struct thpvm_memmap **map, struct thpvm_region **r, unsigned nr_extents,
				       uint32_t gen)
{
	struct thpvm_region_config rc = { .size_bytes = (uint64_t)nr_extents * 2 * MIB,
					  .populate = THPVM_POPULATE_PREFAULT };
	struct thpvm_region_info info;

	REQUIRE_THP();
	cr_assert_eq(thpvm_memmap_create(map), 0);
	cr_assert_eq(thpvm_memmap_add(*map, &rc, r), 0, "%s", thpvm_last_error());
	thpvm_region_get_info(*r, &info);
	pattern_fill(info.hva, 0, (uint64_t)nr_extents * PAGES_PER_EXTENT, gen, SEED);
	return info.hva;
}

/* The page of extent i a forked child writes: never the head page, which keeps the extent's pagemap honest. */
static inline unsigned written_page(unsigned i)
{
	return 1 + i % 511;
}

/* Data a region holds after its child wrote gen 2 into written_page(i) of the first nr_written extents. */
static inline uint64_t check_child_data(const void *hva, unsigned nr_extents, unsigned nr_written)
{
	uint64_t bad = 0;

	for (unsigned i = 0; i < nr_extents; i++)
		for (unsigned p = 0; p < PAGES_PER_EXTENT; p++) {
			uint32_t gen = i < nr_written && p == written_page(i) ? 2 : 1;
			uint64_t idx = (uint64_t)i * PAGES_PER_EXTENT + p;

			bad += !pattern_check_page((const char *)hva + idx * 4096, idx, gen, SEED);
		}
	return bad;
}

static inline void child_write_one_page_per_extent(void *hva, unsigned nr_written)
{
	for (unsigned i = 0; i < nr_written; i++) {
		uint64_t idx = (uint64_t)i * PAGES_PER_EXTENT + written_page(i);

		pattern_fill_page((char *)hva + idx * 4096, idx, 2, SEED);
	}
}

/* A config for tests: the given mode and engine, no sleeps, batches (both engines) as asked. */
static inline void test_config(struct thpvm_collapse_config *cfg, enum thpvm_collapse_mode mode,
			       enum thpvm_collapse_engine engine, unsigned batch)
{
	thpvm_collapse_config_default(cfg);
	thpvm_collapse_config_parse(cfg, thpvm_collapse_mode_str(mode)); /* the mode's thresholds */
	cfg->engine = engine;
	cfg->batch_extents = batch;
	cfg->remap_batch_extents = batch;
	cfg->interval_ms = 1;
	cfg->backoff_min_ms = 5;
	cfg->backoff_max_ms = 40;
}

/* Runs passes until a pass collapses nothing after a full round; returns the number of passes. */
static inline unsigned run_passes(struct thpvm_collapse *c, unsigned max_passes)
{
	struct thpvm_collapse_pass pass;
	unsigned n;
	bool idle_round = false;

	for (n = 0; n < max_passes; n++) {
		if (thpvm_collapse_run_pass(c, &pass))
			break;
		if (pass.nr_collapsed)
			idle_round = false;
		else if (pass.wrapped && idle_round)
			break;
		else if (pass.wrapped)
			idle_round = true;
	}
	return n;
}

/* In a child: fails with a reason unless the region is all HUGE by PAGEMAP_SCAN and by smaps. */
static inline int expect_all_huge(struct thpvm_region *r, uint64_t size_bytes, int reason, int status, bool file)
{
	struct thpvm_coverage cov;

	if (thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH | THPVM_COVERAGE_SMAPS, &cov))
		return child_fail(reason, status, "coverage: %s", thpvm_last_error());
	if (cov.huge_bytes != size_bytes)
		return child_fail(reason, status, "%llu of %llu extents huge after collapse",
				  (unsigned long long)cov.nr_huge, (unsigned long long)cov.nr_extents);
	if (cov.smaps_anon_huge_bytes + (file ? cov.smaps_file_pmd_bytes : 0) != size_bytes)
		return child_fail(reason, status + 1, "smaps: AnonHugePages %llu FilePmdMapped %llu, want %llu",
				  (unsigned long long)cov.smaps_anon_huge_bytes,
				  (unsigned long long)cov.smaps_file_pmd_bytes, (unsigned long long)size_bytes);
	return 0;
}

#endif
