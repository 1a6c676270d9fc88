/* SPDX-License-Identifier: MIT */
/*
 * Failures: an allocation failure backs off (recorded, exponential, capped,
 * no error, no spinning) and a later pass succeeds; a failure after the copy
 * leaves the old mapping in place, intact and unregistered.
 */
#include "collapse_common.h"
#include "internal.h"

#define NR_EXTENTS FIXTURE_EXTENTS
#define SIZE (NR_EXTENTS * 2 * MIB)

TestSuite(collapse, .timeout = 60);

/* A collapser of the fixture for engine e, batches of batch, with the hook of a VM whose vCPUs are stopped. */
static struct thpvm_collapse *fixture_collapser(const struct engine_ctx *e, unsigned batch)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse *c;

	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, e->engine, batch);
	cfg.quiesce = quiesce_stopped_vm;
	cr_assert_eq(cfg.backoff_min_ms, 5);
	cr_assert_eq(thpvm_collapse_create(fx.map, &cfg, &c), 0);
	return c;
}

static void alloc_failure_backs_off_then_succeeds(const struct backing_ops *b, const struct engine_ctx *e)
{
	struct thpvm_collapse_stats st;
	struct thpvm_collapse_pass pass;
	struct thpvm_thp_counters counters;
	struct thpvm_collapse *c;
	uint64_t want_step = 5;

	cell_require(b, e, true);
	fixture_make(&fx, b, NR_EXTENTS, 1);
	fixture_split_all(&fx);
	c = fixture_collapser(e, 4);
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
	/*
	 * The allocator recovers: everything is huge again and the back-off
	 * resets. The host's khugepaged may have collapsed some of the split
	 * extents meanwhile (CI saw 8 of 16 taken while the test backed off: one
	 * of its scans, pages_to_scan 4096 PTEs, is 8 extents); the collapser
	 * then finds them NOT_SPLIT and leaves them. The rest are its own.
	 */
	run_passes(c, 20);
	thpvm_collapse_stats(c, &st);
	cr_assert(st.nr_collapsed > 0 && st.nr_collapsed <= NR_EXTENTS, "collapsed %llu; results: %s",
		  (unsigned long long)st.nr_collapsed, results_why(&st));
	if (st.nr_collapsed < NR_EXTENTS)
		cr_log_info("khugepaged collapsed %llu of the %d extents first", NR_EXTENTS - (unsigned long long)st.nr_collapsed,
			    NR_EXTENTS);
	cr_assert_eq(st.results[THPVM_COLLAPSE_ALLOC_FAILED], 12, "results: %s", results_why(&st));
	cr_assert_eq(st.backoff_ms_now, 0);
	thpvm_region_counters(fx.r, &counters);
	cr_assert_eq(counters.thp_collapse_alloc_failed, 12);
	cr_assert_eq(counters.thp_collapse_alloc, st.nr_collapsed, "the region counts the collapser's own");
	cr_assert_eq(fixture_nr_huge(&fx), NR_EXTENTS);
	cr_assert_eq(fixture_bad_pages(&fx), 0);
	thpvm_collapse_destroy(c);
	fixture_destroy(&fx);
}

COLLAPSE_TABLE(alloc_failure_backs_off_then_succeeds)

/* The thread sleeps through its back-offs: capped, doubling, and it never spins. */
Test(collapse, thread_backs_off_without_spinning)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	struct thpvm_collapse *c;

	fixture_make(&fx, &backing_anon, NR_EXTENTS, 1);
	fixture_split_all(&fx);
	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_AUTO, 4);
	cfg.backoff_min_ms = 10;
	cfg.backoff_max_ms = 40;
	cr_assert_eq(thpvm_collapse_create(fx.map, &cfg, &c), 0);
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
	cr_assert_eq(fixture_nr_huge(&fx), NR_EXTENTS);
	cr_assert_eq(fixture_bad_pages(&fx), 0);
	thpvm_collapse_destroy(c);
	fixture_destroy(&fx);
}

/* A failure after the copy, in the copy-and-remap engine: the old mapping stays, intact and unregistered. */
static void late_failure_case(const struct backing_ops *b, const struct engine_ctx *e, enum thpvm_collapse_inject what,
			      enum thpvm_collapse_result want)
{
	struct thpvm_collapse_pass pass;
	struct thpvm_coverage cov;
	struct thpvm_collapse *c;
	int vmas_before;

	cell_require(b, e, true);
	if (cell_collapser(b, e) != THPVM_COLLAPSE_ENGINE_REMAP)
		cr_skip_test("%s, %s: MADV_COLLAPSE collapses it: no copy-and-remap to fail", b->name, e->name);
	fixture_make(&fx, b, NR_EXTENTS, 1);
	fixture_split_all(&fx);
	c = fixture_collapser(e, NR_EXTENTS);
	vmas_before = count_vmas(SIZE);
	cr_assert_eq(thpvm_collapse_inject(c, what, 1), 0);
	cr_assert_eq(thpvm_collapse_run_pass(c, &pass), 0);
	cr_assert_eq(pass.results[want], NR_EXTENTS, "%s: %llu", thpvm_collapse_result_name(want),
		     (unsigned long long)pass.results[want]);
	/* the old mapping: still split, same data, merged back into one VMA, and still writable */
	cr_assert_eq(thpvm_region_coverage(fx.r, THPVM_COVERAGE_REFRESH, &cov), 0);
	cr_assert_eq(cov.nr_split, NR_EXTENTS);
	cr_assert_eq(fixture_bad_pages(&fx), 0);
	cr_assert_eq(count_vmas(SIZE), vmas_before, "the failed attempt left the region's VMA split");
	pattern_fill(fx.hva + 4096, 1, 1, 1, SEED);
	/* and a later pass succeeds */
	cr_assert_eq(thpvm_collapse_run_pass(c, &pass), 0);
	cr_assert_eq(pass.nr_collapsed, NR_EXTENTS);
	cr_assert_eq(fixture_bad_pages(&fx), 0);
	thpvm_collapse_destroy(c);
	fixture_destroy(&fx);
}

static void remap_failure_after_the_copy_keeps_the_old_mapping(const struct backing_ops *b, const struct engine_ctx *e)
{
	late_failure_case(b, e, THPVM_COLLAPSE_INJECT_REMAP_FAIL, THPVM_COLLAPSE_REMAP_FAILED);
}

static void generation_change_during_the_copy_keeps_the_old_mapping(const struct backing_ops *b,
								    const struct engine_ctx *e)
{
	late_failure_case(b, e, THPVM_COLLAPSE_INJECT_GENERATION, THPVM_COLLAPSE_GENERATION_CHANGED);
}

COLLAPSE_TABLE(remap_failure_after_the_copy_keeps_the_old_mapping)
COLLAPSE_TABLE(generation_change_during_the_copy_keeps_the_old_mapping)
