/* SPDX-License-Identifier: MIT */
/*
 * VMAs: each scattered copy-and-remap splits guest RAM's mapping around the
 * moved-in page (about two VMAs more each); a batch of adjacent extents is
 * one moved-in VMA. The collapser stops, with a result, before its limit.
 */
#include "collapse_common.h"

static int maps_lines(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	int n = 0, ch;

	cr_assert_not_null(f);
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

/* Splits extents first, first + step, ... by dropping their page 0. */
static unsigned split_every(uint8_t *hva, unsigned nr_extents, unsigned step)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nr_extents; i += step, n++)
		cr_assert_eq(madvise(hva + i * 2 * MIB, 4096, MADV_DONTNEED), 0);
	return n;
}

Test(collapse, scattered_remaps_stop_at_the_vma_limit, .timeout = 60)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	struct thpvm_collapse *c;
	uint8_t *hva;
	unsigned split;
	int before;

	fixture_make(&fx, &backing_anon, 128, 1);
	hva = fx.hva;
	split = split_every(hva, 128, 2);
	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_REMAP, 16);
	cr_assert_eq(thpvm_collapse_create(fx.map, &cfg, &c), 0);
	before = maps_lines();
	cfg.max_vmas = (uint32_t)before + 40;
	cr_assert_eq(thpvm_collapse_configure(c, &cfg), 0);
	run_passes(c, 50);
	thpvm_collapse_stats(c, &st);
	cr_log_info("%u scattered split extents: %llu collapsed, VMAs %d -> %d, limit %u", split,
		    (unsigned long long)st.nr_collapsed, before, maps_lines(), cfg.max_vmas);
	cr_assert_leq(maps_lines(), (int)cfg.max_vmas, "%d VMAs, limit %u", maps_lines(), cfg.max_vmas);
	cr_assert_gt(st.results[THPVM_COLLAPSE_VMA_LIMIT], 0, "the limit was never reported");
	cr_assert_gt(st.nr_collapsed, 10);
	cr_assert_lt(st.nr_collapsed, split);
	cr_assert_eq(st.max_vmas, cfg.max_vmas);
	/* room again: the rest follows */
	cfg.max_vmas = 0;
	cr_assert_eq(thpvm_collapse_configure(c, &cfg), 0);
	run_passes(c, 50);
	thpvm_collapse_stats(c, &st);
	cr_assert_eq(st.nr_collapsed, split);
	cr_log_info("all %u scattered collapses: VMAs %d -> %d", split, before, maps_lines());
	cr_assert_leq(maps_lines(), before + 2 * (int)split + 1);
	thpvm_collapse_destroy(c);
	fixture_destroy(&fx);
}

/*
 * Adjacent extents stay one VMA: a batch comes from one staging VMA, and
 * consecutive operations take consecutive windows of the staging pool, which
 * merge once moved next to each other.
 */
static void adjacent_case(unsigned batch, uint64_t want_ops)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	struct thpvm_collapse *c;
	uint8_t *hva;
	int before;

	fixture_make(&fx, &backing_anon, 64, 1);
	hva = fx.hva;
	/* all but the first and the last: the run lands inside the region's VMA */
	for (unsigned i = 1; i < 63; i++)
		cr_assert_eq(madvise(hva + i * 2 * MIB, 4096, MADV_DONTNEED), 0);
	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_REMAP, batch);
	cr_assert_eq(thpvm_collapse_create(fx.map, &cfg, &c), 0);
	before = maps_lines();
	run_passes(c, 10);
	thpvm_collapse_stats(c, &st);
	cr_assert_eq(st.nr_collapsed, 62);
	cr_assert_eq(st.nr_ops, want_ops, "%llu operations for 62 adjacent extents in batches of %u",
		     (unsigned long long)st.nr_ops, batch);
	cr_log_info("62 adjacent extents in %llu operations: VMAs %d -> %d", (unsigned long long)st.nr_ops, before,
		    maps_lines());
	/* the region's VMA around one moved-in VMA, and the staging pool's remainder */
	cr_assert_leq(maps_lines(), before + 3);
	for (unsigned p = 0; p < 64 * PAGES_PER_EXTENT; p++)
		if (p % PAGES_PER_EXTENT || p == 0 || p == 63 * PAGES_PER_EXTENT)
			cr_assert(pattern_check_page(hva + (uint64_t)p * 4096, p, 1, SEED), "page %u", p);
	thpvm_collapse_destroy(c);
	fixture_destroy(&fx);
}

Test(collapse, adjacent_batch_is_one_vma, .timeout = 60)
{
	adjacent_case(64, 1);
}

Test(collapse, consecutive_remaps_merge_into_one_vma, .timeout = 60)
{
	adjacent_case(1, 62);
}
