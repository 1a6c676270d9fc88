/* SPDX-License-Identifier: MIT */
/*
 * Failures: an allocation failure backs off (recorded, exponential, capped,
 * no error, no spinning) and a later pass succeeds; a failure after the copy
 * leaves the old mapping in place, intact and unregistered.
 */
#include <criterion/criterion.h>
#include <sys/mman.h>
#include <unistd.h>
#include <thpvm.h>
#include "collapse_common.h"
#include "require.h"
#include "internal.h"

#define NR_EXTENTS 16
#define SIZE (NR_EXTENTS * 2 * MIB)

static struct thpvm_memmap *map;
static struct thpvm_region *r;
static uint8_t *hva;

static void setup(void)
{
	hva = thp_region_make(&map, &r, NR_EXTENTS, 1);
}

static void teardown(void)
{
	thpvm_memmap_destroy(map);
}

TestSuite(collapse, .timeout = 60);

/* Splits every extent by dropping page 0 (which then reads as zeros). */
static void split_all(void)
{
	struct thpvm_coverage cov;

	for (unsigned i = 0; i < NR_EXTENTS; i++)
		cr_assert_eq(madvise(hva + i * 2 * MIB, 4096, MADV_DONTNEED), 0);
	cr_assert_eq(thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH, &cov), 0);
	cr_assert_eq(cov.nr_split, NR_EXTENTS);
}

static uint64_t bad_pages(void)
{
	uint64_t bad = 0;

	for (unsigned p = 0; p < NR_EXTENTS * PAGES_PER_EXTENT; p++)
		if (p % PAGES_PER_EXTENT)
			bad += !pattern_check_page(hva + (uint64_t)p * 4096, p, 1, SEED);
	return bad;
}

static void backoff_case(enum thpvm_collapse_engine engine)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	struct thpvm_collapse_pass pass;
	struct thpvm_thp_counters counters;
	struct thpvm_coverage cov;
	struct thpvm_collapse *c;
	uint64_t want_step = 5;

	split_all();
	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, engine, 4);
	cr_assert_eq(cfg.backoff_min_ms, 5);
	cr_assert_eq(thpvm_collapse_create(map, &cfg, &c), 0);
	cr_assert_eq(thpvm_collapse_inject(c, THPVM_COLLAPSE_INJECT_ALLOC_FAIL, 3), 0);
	for (unsigned n = 0; n < 3; n++) {
		/* the failure: no error, one operation's extents refused, the pass stops and backs off */
		cr_assert_eq(thpvm_collapse_run_pass(c, &pass), 0);
		cr_assert(pass.backing_off);
		cr_assert_eq(pass.results[THPVM_COLLAPSE_ALLOC_FAILED], 4, "pass %u: %llu ALLOC_FAILED", n,
			     (unsigned long long)pass.results[THPVM_COLLAPSE_ALLOC_FAILED]);
		cr_assert_eq(pass.nr_collapsed, 0);
		thpvm_collapse_stats(c, &st);
		cr_assert_eq(st.nr_backoffs, n + 1);
		cr_assert_eq(st.backoff_ms_now, want_step, "back-off step %llu ms, want %llu",
			     (unsigned long long)st.backoff_ms_now, (unsigned long long)want_step);
		/* inside the back-off window nothing is tried */
		cr_assert_eq(thpvm_collapse_run_pass(c, &pass), 0);
		cr_assert(pass.backing_off);
		cr_assert_eq(pass.nr_examined, 0);
		cr_assert_eq(pass.results[THPVM_COLLAPSE_BACKOFF], 1);
		usleep((useconds_t)(want_step * 1000 + 2000));
		want_step *= 2;
	}
	/* the allocator recovers: everything collapses and the back-off resets */
	run_passes(c, 20);
	thpvm_collapse_stats(c, &st);
	cr_assert_eq(st.nr_collapsed, NR_EXTENTS);
	cr_assert_eq(st.results[THPVM_COLLAPSE_ALLOC_FAILED], 12);
	cr_assert_eq(st.backoff_ms_now, 0);
	thpvm_region_counters(r, &counters);
	cr_assert_eq(counters.thp_collapse_alloc_failed, 12);
	cr_assert_eq(counters.thp_collapse_alloc, NR_EXTENTS);
	cr_assert_eq(thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH, &cov), 0);
	cr_assert_eq(cov.nr_huge, NR_EXTENTS);
	cr_assert_eq(bad_pages(), 0);
	thpvm_collapse_destroy(c);
}

Test(collapse, madv_alloc_failure_backs_off_then_succeeds, .init = setup, .fini = teardown)
{
	backoff_case(THPVM_COLLAPSE_ENGINE_MADV);
}

Test(collapse, remap_alloc_failure_backs_off_then_succeeds, .init = setup, .fini = teardown)
{
	backoff_case(THPVM_COLLAPSE_ENGINE_REMAP);
}

/* The thread sleeps through its back-offs: capped, doubling, and it never spins. */
Test(collapse, thread_backs_off_without_spinning, .init = setup, .fini = teardown)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	struct thpvm_coverage cov;
	struct thpvm_collapse *c;

	split_all();
	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_AUTO, 4);
	cfg.backoff_min_ms = 10;
	cfg.backoff_max_ms = 40;
	cr_assert_eq(thpvm_collapse_create(map, &cfg, &c), 0);
	cr_assert_eq(thpvm_collapse_inject(c, THPVM_COLLAPSE_INJECT_ALLOC_FAIL, 5), 0);
	uint64_t t0 = monotonic_ns(), done_ns = 0;
	cr_assert_eq(thpvm_collapse_start(c), 0);
	for (unsigned i = 0; i < 400; i++) {
		usleep(5000);
		thpvm_collapse_stats(c, &st);
		if (st.nr_collapsed == NR_EXTENTS) {
			done_ns = monotonic_ns() - t0;
			break;
		}
	}
	thpvm_collapse_stop(c);
	thpvm_collapse_stats(c, &st);
	cr_assert_eq(st.nr_collapsed, NR_EXTENTS);
	cr_assert_eq(st.nr_backoffs, 5);
	/*
	 * Each failure holds the next pass back by its step (10, 20, 40, 40, 40
	 * ms): the work cannot be done before 150 ms have passed, however the
	 * machine schedules us; and the thread slept through it, a handful of
	 * passes in all, instead of spinning.
	 */
	cr_assert_geq(done_ns, 150 * 1000000ULL, "done after %llu ms: a back-off was cut short",
		      (unsigned long long)(done_ns / 1000000));
	cr_assert_gt(st.backoff_ns, 0);
	cr_assert_eq(st.backoff_ms_now, 0, "a success after the failures ends the back-off");
	cr_assert_lt(st.nr_passes, 40, "%llu passes: the thread spun", (unsigned long long)st.nr_passes);
	cr_assert_eq(thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH, &cov), 0);
	cr_assert_eq(cov.nr_huge, NR_EXTENTS);
	cr_assert_eq(bad_pages(), 0);
	thpvm_collapse_destroy(c);
}

static void late_failure_case(enum thpvm_collapse_inject what, enum thpvm_collapse_result want)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_pass pass;
	struct thpvm_coverage cov;
	struct thpvm_collapse *c;
	int vmas_before;

	split_all();
	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_REMAP, NR_EXTENTS);
	cr_assert_eq(thpvm_collapse_create(map, &cfg, &c), 0);
	vmas_before = count_vmas(SIZE);
	cr_assert_eq(thpvm_collapse_inject(c, what, 1), 0);
	cr_assert_eq(thpvm_collapse_run_pass(c, &pass), 0);
	cr_assert_eq(pass.results[want], NR_EXTENTS, "%s: %llu", thpvm_collapse_result_name(want),
		     (unsigned long long)pass.results[want]);
	/* the old mapping: still split, same data, merged back into one VMA, and still writable */
	cr_assert_eq(thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH, &cov), 0);
	cr_assert_eq(cov.nr_split, NR_EXTENTS);
	cr_assert_eq(bad_pages(), 0);
	cr_assert_eq(count_vmas(SIZE), vmas_before, "the failed attempt left the region's VMA split");
	pattern_fill(hva + 4096, 1, 1, 1, SEED);
	/* and a later pass succeeds */
	cr_assert_eq(thpvm_collapse_run_pass(c, &pass), 0);
	cr_assert_eq(pass.nr_collapsed, NR_EXTENTS);
	cr_assert_eq(bad_pages(), 0);
	thpvm_collapse_destroy(c);
}

Test(collapse, remap_failure_after_the_copy_keeps_the_old_mapping, .init = setup, .fini = teardown)
{
	late_failure_case(THPVM_COLLAPSE_INJECT_REMAP_FAIL, THPVM_COLLAPSE_REMAP_FAILED);
}

Test(collapse, generation_change_during_the_copy_keeps_the_old_mapping, .init = setup, .fini = teardown)
{
	late_failure_case(THPVM_COLLAPSE_INJECT_GENERATION, THPVM_COLLAPSE_GENERATION_CHANGED);
}
