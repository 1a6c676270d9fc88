/* SPDX-License-Identifier: MIT */
/*
 * Each engine puts split extents back on 2 MiB pages with their data
 * intact: anonymous memory split by a forked child's writes (collapsed in
 * the child, as a VM child would), and a region populated while THP was
 * disabled for the process. In the spirit of
 * tools/testing/selftests/mm/khugepaged.c.
 */
#include <criterion/criterion.h>
#include <sys/prctl.h>
#include <thpvm.h>
#include "kernel_compat.h"
#include "collapse_common.h"
#include "require.h"

#define NR_EXTENTS 32
#define SIZE (NR_EXTENTS * 2 * MIB)

struct child_ctx {
	struct thpvm_memmap *map;
	struct thpvm_region *r;
	void *hva;
	enum thpvm_collapse_engine engine;
	unsigned batch;
};

static int collapse_in_child(void *arg, int reason)
{
	struct child_ctx *x = arg;
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	struct thpvm_thp_counters counters;
	struct thpvm_coverage cov;
	struct thpvm_collapse *c;
	int ret;

	child_write_one_page_per_extent(x->hva, NR_EXTENTS);
	if (thpvm_region_coverage(x->r, THPVM_COVERAGE_REFRESH, &cov) || cov.nr_split != NR_EXTENTS)
		return child_fail(reason, 10, "child: %llu of %d extents split after one write each",
				  (unsigned long long)cov.nr_split, NR_EXTENTS);
	/* the child makes its own collapser: the parent's (if any) has no thread here */
	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, x->engine, x->batch);
	if ((ret = thpvm_collapse_create(x->map, &cfg, &c)))
		return child_fail(reason, 11, "create: %s", strerror(-ret));
	run_passes(c, 20);
	if ((ret = expect_all_huge(x->r, SIZE, reason, 12, false)))
		return ret;
	if (check_child_data(x->hva, NR_EXTENTS, NR_EXTENTS))
		return child_fail(reason, 14, "%llu pages lost their data in the collapse",
				  (unsigned long long)check_child_data(x->hva, NR_EXTENTS, NR_EXTENTS));
	thpvm_collapse_stats(c, &st);
	if (st.results[THPVM_COLLAPSE_SUCCEED] != NR_EXTENTS || st.nr_collapsed != NR_EXTENTS)
		return child_fail(reason, 15, "stats: %llu collapsed, %llu SUCCEED results",
				  (unsigned long long)st.nr_collapsed, (unsigned long long)st.results[THPVM_COLLAPSE_SUCCEED]);
	if (x->engine != THPVM_COLLAPSE_ENGINE_AUTO && st.nr_collapsed_by_engine[x->engine] != NR_EXTENTS)
		return child_fail(reason, 16, "%llu collapsed by the %s engine", (unsigned long long)st.nr_collapsed_by_engine[x->engine],
				  thpvm_collapse_engine_str(x->engine));
	if (st.bytes_copied != SIZE || st.latency.count != st.nr_ops || st.nr_ops < (uint64_t)NR_EXTENTS / x->batch)
		return child_fail(reason, 17, "stats: %llu bytes copied in %llu ops, %llu latency samples",
				  (unsigned long long)st.bytes_copied, (unsigned long long)st.nr_ops,
				  (unsigned long long)st.latency.count);
	thpvm_region_counters(x->r, &counters);
	if (counters.thp_collapse_alloc != NR_EXTENTS || counters.thp_collapse_alloc_failed)
		return child_fail(reason, 18, "region counters: thp_collapse_alloc %llu, failed %llu",
				  (unsigned long long)counters.thp_collapse_alloc,
				  (unsigned long long)counters.thp_collapse_alloc_failed);
	/* the writes after the collapse land in the new pages */
	pattern_fill(x->hva, 0, NR_EXTENTS * PAGES_PER_EXTENT, 3, SEED);
	if (pattern_check(x->hva, 0, NR_EXTENTS * PAGES_PER_EXTENT, 3, SEED))
		return child_fail(reason, 19, "the collapsed memory does not keep new writes");
	thpvm_collapse_destroy(c);
	return 0;
}

static void forked_child_case(enum thpvm_collapse_engine engine, unsigned batch)
{
	struct child_ctx x = { .engine = engine, .batch = batch };
	struct thpvm_coverage cov;
	char reason[512];
	int st;

	x.hva = thp_region_make(&x.map, &x.r, NR_EXTENTS, 1);
	cr_assert_eq(thpvm_region_coverage(x.r, THPVM_COVERAGE_REFRESH, &cov), 0);
	cr_assert_eq(cov.nr_huge, NR_EXTENTS, "template not huge: %llu", (unsigned long long)cov.nr_huge);

	st = run_in_child(collapse_in_child, &x, reason, sizeof(reason));
	cr_assert_eq(st, 0, "child status %d: %s", st, reason);
	/* the template never saw the child's writes or its collapse */
	cr_assert_eq(pattern_check(x.hva, 0, NR_EXTENTS * PAGES_PER_EXTENT, 1, SEED), 0);
	cr_assert_eq(thpvm_region_coverage(x.r, THPVM_COVERAGE_REFRESH, &cov), 0);
	cr_assert_eq(cov.nr_huge, NR_EXTENTS);
	thpvm_memmap_destroy(x.map);
}

Test(collapse, madv_engine_restores_huge_in_a_forked_child, .timeout = 60)
{
	forked_child_case(THPVM_COLLAPSE_ENGINE_MADV, 8);
}

Test(collapse, remap_engine_restores_huge_in_a_forked_child, .timeout = 60)
{
	forked_child_case(THPVM_COLLAPSE_ENGINE_REMAP, 8);
}

Test(collapse, remap_engine_one_extent_at_a_time, .timeout = 60)
{
	forked_child_case(THPVM_COLLAPSE_ENGINE_REMAP, 1);
}

Test(collapse, auto_engine_uses_madv_collapse_on_anonymous_memory, .timeout = 60)
{
	forked_child_case(THPVM_COLLAPSE_ENGINE_AUTO, 16);
}

/*
 * Fallback promotion: populated while THP was disabled for the process
 * (prctl), the region runs on 4 KiB pages; the collapser leaves it alone
 * while the host says no and promotes it once THP is allowed again.
 */
static int prctl_child(void *arg, int reason)
{
	enum thpvm_collapse_engine engine = *(enum thpvm_collapse_engine *)arg;
	struct thpvm_region_config rc = { .size_bytes = SIZE, .populate = THPVM_POPULATE_PREFAULT };
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_pass pass;
	struct thpvm_region_info info;
	struct thpvm_coverage cov;
	struct thpvm_memmap *map;
	struct thpvm_region *r;
	struct thpvm_collapse *c;
	int ret;

	if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
		return child_fail(reason, 10, "prctl(PR_SET_THP_DISABLE): %m");
	if (thpvm_memmap_create(&map) || thpvm_memmap_add(map, &rc, &r))
		return child_fail(reason, 11, "add: %s", thpvm_last_error());
	thpvm_region_get_info(r, &info);
	pattern_fill(info.hva, 0, NR_EXTENTS * PAGES_PER_EXTENT, 1, SEED);
	if (thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH, &cov) || cov.nr_split != NR_EXTENTS)
		return child_fail(reason, 12, "%llu extents split with THP disabled", (unsigned long long)cov.nr_split);
	if (info.thp_reason != THPVM_THP_PRCTL_DISABLED)
		return child_fail(reason, 13, "reason %s", thpvm_thp_reason_name(info.thp_reason));

	test_config(&cfg, THPVM_COLLAPSE_MODE_BALANCED, engine, 8);
	if ((ret = thpvm_collapse_create(map, &cfg, &c)))
		return child_fail(reason, 14, "create: %s", strerror(-ret));
	if (thpvm_collapse_run_pass(c, &pass) || pass.nr_collapsed ||
	    pass.results[THPVM_COLLAPSE_NOT_ELIGIBLE] != NR_EXTENTS)
		return child_fail(reason, 15, "while disabled: %llu collapsed, %llu NOT_ELIGIBLE",
				  (unsigned long long)pass.nr_collapsed,
				  (unsigned long long)pass.results[THPVM_COLLAPSE_NOT_ELIGIBLE]);

	if (prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0))
		return child_fail(reason, 16, "prctl(PR_SET_THP_DISABLE, 0): %m");
	/* balanced: every page is private to this process, far above the threshold */
	run_passes(c, 20);
	if ((ret = expect_all_huge(r, SIZE, reason, 17, false)))
		return ret;
	if (pattern_check(info.hva, 0, NR_EXTENTS * PAGES_PER_EXTENT, 1, SEED))
		return child_fail(reason, 19, "data lost in the promotion");
	thpvm_region_get_info(r, &info);
	if (info.thp_reason != THPVM_THP_ELIGIBLE)
		return child_fail(reason, 20, "reason still %s after promotion", thpvm_thp_reason_name(info.thp_reason));
	thpvm_collapse_destroy(c);
	thpvm_memmap_destroy(map);
	return 0;
}

static void prctl_case(enum thpvm_collapse_engine engine)
{
	char reason[512];
	int st;

	REQUIRE_THP();
	st = run_in_child(prctl_child, &engine, reason, sizeof(reason));
	cr_assert_eq(st, 0, "child status %d: %s", st, reason);
}

Test(collapse, madv_promotes_a_region_populated_while_thp_was_disabled, .timeout = 60)
{
	prctl_case(THPVM_COLLAPSE_ENGINE_MADV);
}

Test(collapse, remap_promotes_a_region_populated_while_thp_was_disabled, .timeout = 60)
{
	prctl_case(THPVM_COLLAPSE_ENGINE_REMAP);
}
