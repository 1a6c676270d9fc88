/* SPDX-License-Identifier: MIT */
/*
 * Choose: the modes' thresholds on private pages and split age, the budget
 * and the cursor, measured on a forked child whose extent i holds 16 * i
 * private pages (copied on write) and shares the rest with its template.
 * Density also on a clone's RAM, a snapshot's memory file mapped private
 * (shmem and a file on disk): its unwritten pages are the page cache, which
 * every clone shares, and its written ones the clone's own copies.
 */
#include "collapse_common.h"

#define NR_EXTENTS 32
#define SIZE (NR_EXTENTS * 2 * MIB)
#define PRIVATE_PAGES(i) (16 * (i)) /* extent 0 is never written and stays huge */

struct policy_ctx;

/* A scenario: the collapse configuration the child makes, then what it checks with it. */
struct policy {
	enum thpvm_collapse_mode mode;
	enum thpvm_collapse_engine engine;
	const char *options;     /* parsed over test_config()'s, or NULL */
	unsigned budget_extents; /* 0: the default */
	/* runs c (created, not started) and checks; returns 0 or child_fail()'s status */
	int (*check)(struct policy_ctx *x, struct thpvm_collapse *c, int reason);
};

struct policy_ctx {
	const struct backing_ops *b;
	unsigned first_split;    /* extent 0 is huge before any write (1) or not (0: page cache without large folios) */
	struct thpvm_memmap *map;
	struct thpvm_region *r;
	uint8_t *hva;
	const struct policy *p;
	struct thpvm_collapse_config cfg;
};

/* In the child: fails unless exactly the extents below first_split and those with threshold private pages are huge. */
static int expect_huge(struct policy_ctx *x, int reason, int status, const char *what, unsigned first_split,
		       unsigned threshold)
{
	thpvm_region_refresh(x->r);
	for (unsigned i = 0; i < NR_EXTENTS; i++) {
		struct thpvm_extent_info e;

		thpvm_region_extent(x->r, i, &e);
		if ((e.state == THPVM_EXTENT_HUGE) != (i < first_split || PRIVATE_PAGES(i) >= threshold))
			return child_fail(reason, status, "%s, %s: extent %u with %u private pages is %s", x->b->name,
					  what, i, PRIVATE_PAGES(i), thpvm_extent_state_str(e.state));
	}
	return 0;
}

static volatile uint8_t sink;

/* The child is the only writer of its RAM: a copy it must not write under needs nothing stopped (a VM pauses its vCPUs). */
static int quiesce_nothing(void *arg, bool stop)
{
	(void)arg;
	(void)stop;
	return 0;
}

static int child_main(void *arg, int reason)
{
	struct policy_ctx *x = arg;
	struct thpvm_extent_info e;
	struct thpvm_collapse *c;
	int ret;

	/*
	 * fork() leaves a private file mapping's page-cache pages out of the
	 * child (they fault back in from the file): read back in, as a clone
	 * that has read all of its RAM, each extent PMD-mapped again where the
	 * page cache holds it in a large folio
	 */
	if (x->b->file) {
		struct thpvm_extent_info e0;

		for (uint64_t off = 0; off < SIZE; off += 4096)
			sink += x->hva[off];
		thpvm_region_refresh(x->r);
		thpvm_region_extent(x->r, 0, &e0);
		x->first_split = e0.state == THPVM_EXTENT_HUGE;
	}
	for (unsigned i = 0; i < NR_EXTENTS; i++)
		for (unsigned p = 0; p < PRIVATE_PAGES(i); p++)
			x->hva[i * 2 * MIB + (1 + p) * 4096] ^= 1;
	thpvm_region_refresh(x->r);
	thpvm_region_refresh_detail(x->r, 5);
	thpvm_region_extent(x->r, 5, &e);
	if (e.state != THPVM_EXTENT_SPLIT || e.nr_private != PRIVATE_PAGES(5))
		return child_fail(reason, 9, "extent 5: %s with %u private pages, want split with %u",
				  thpvm_extent_state_str(e.state), e.nr_private, PRIVATE_PAGES(5));
	test_config(&x->cfg, x->p->mode, x->p->engine, 8);
	if (x->p->options && thpvm_collapse_config_parse(&x->cfg, x->p->options))
		return child_fail(reason, 10, "parse '%s': %s", x->p->options, thpvm_last_error());
	if (x->p->budget_extents)
		x->cfg.budget_extents = x->p->budget_extents;
	/* a private file mapping's copied pages: only copy-and-remap collapses them, under the quiesce hook */
	if (x->b->file)
		x->cfg.quiesce = quiesce_nothing;
	if (thpvm_collapse_create(x->map, &x->cfg, &c))
		return child_fail(reason, 11, "create: %s", thpvm_last_error());
	if ((ret = x->p->check(x, c, reason)))
		return ret;
	thpvm_collapse_destroy(c);
	return 0;
}

/*
 * Runs policy p in a forked child of backing b's fixture, its extent i
 * holding PRIVATE_PAGES(i) private pages. Anonymous RAM is the template's,
 * shared with the child copy-on-write; a file backing is a clone's RAM.
 */
static void policy_case_on(const struct policy *p, const struct backing_ops *b)
{
	struct policy_ctx x = { .p = p, .b = b };
	struct thpvm_extent_info e;
	char reason[512];
	int st;

	fixture_make(&fx, b, NR_EXTENTS, 1);
	x.map = fx.map;
	x.r = fx.r;
	x.hva = fx.hva;
	/* anonymous RAM gets data of its own; a file's stays the file's, clean in the page cache */
	if (!b->file)
		memset(x.hva, 0x33, SIZE);
	thpvm_region_refresh(x.r);
	thpvm_region_extent(x.r, 0, &e);
	x.first_split = e.state == THPVM_EXTENT_HUGE;
	st = run_in_child(child_main, &x, reason, sizeof(reason));
	cr_assert_eq(st, 0, "child status %d: %s", st, reason);
	fixture_destroy(&fx);
}

static void policy_case(const struct policy *p)
{
	policy_case_on(p, &backing_anon);
}

static int density_check(struct policy_ctx *x, struct thpvm_collapse *c, int reason)
{
	struct thpvm_collapse_stats st;
	int ret;

	if (x->cfg.private_pages != 256)
		return child_fail(reason, 10, "density default threshold %u, want 256", x->cfg.private_pages);
	run_passes(c, 10);
	if ((ret = expect_huge(x, reason, 12, "density", x->first_split, 256)))
		return ret;
	thpvm_collapse_stats(c, &st);
	/* extents 16..31 hold 256 private pages or more: onto private THPs; the others stay shared */
	if (st.nr_collapsed != 16 || !st.results[THPVM_COLLAPSE_POLICY_SHARED])
		return child_fail(reason, 13, "density, %s: %llu collapsed, %llu POLICY_SHARED", x->b->name,
				  (unsigned long long)st.nr_collapsed,
				  (unsigned long long)st.results[THPVM_COLLAPSE_POLICY_SHARED]);
	return 0;
}

static const struct policy density = { .mode = THPVM_COLLAPSE_MODE_DENSITY, .engine = THPVM_COLLAPSE_ENGINE_AUTO,
				       .check = density_check };

Test(collapse, density_never_collapses_below_its_private_threshold, .timeout = 60)
{
	policy_case(&density);
}

/* A clone's RAM (issue 12): a mostly-shared extent stays the page cache's, a mostly-copied one gets a private THP */
Test(collapse, density_on_a_clone_keeps_mostly_shared_extents_shared_shmem, .timeout = 60)
{
	policy_case_on(&density, &backing_shmem);
}

Test(collapse, density_on_a_clone_keeps_mostly_shared_extents_shared_file, .timeout = 60)
{
	policy_case_on(&density, &backing_file);
}

static int density_custom_check(struct policy_ctx *x, struct thpvm_collapse *c, int reason)
{
	run_passes(c, 10);
	return expect_huge(x, reason, 12, "density,private=400", 1, 400);
}

Test(collapse, density_threshold_from_options_with_the_remap_engine, .timeout = 60)
{
	policy_case(&(struct policy){ .mode = THPVM_COLLAPSE_MODE_TLB, .engine = THPVM_COLLAPSE_ENGINE_REMAP,
				      .options = "density,private=400,engine=remap", .check = density_custom_check });
}

static int off_check(struct policy_ctx *x, struct thpvm_collapse *c, int reason)
{
	struct thpvm_collapse_stats st;
	struct thpvm_coverage cov;

	if (thpvm_collapse_start(c))
		return child_fail(reason, 11, "start: %s", thpvm_last_error());
	usleep(100000);
	run_passes(c, 5);
	thpvm_collapse_stop(c);
	thpvm_collapse_stats(c, &st);
	if (thpvm_region_coverage(x->r, THPVM_COVERAGE_REFRESH, &cov) || cov.nr_huge != 1 || st.nr_collapsed || st.nr_ops)
		return child_fail(reason, 12, "off: %llu huge, %llu collapsed, %llu operations",
				  (unsigned long long)cov.nr_huge, (unsigned long long)st.nr_collapsed,
				  (unsigned long long)st.nr_ops);
	return 0;
}

Test(collapse, off_collapses_nothing, .timeout = 60)
{
	policy_case(&(struct policy){ .mode = THPVM_COLLAPSE_MODE_OFF, .engine = THPVM_COLLAPSE_ENGINE_AUTO,
				      .check = off_check });
}

static int balanced_check(struct policy_ctx *x, struct thpvm_collapse *c, int reason)
{
	struct thpvm_collapse_pass pass;
	int ret;

	/* young extents: only those at the threshold */
	if (thpvm_collapse_run_pass(c, &pass) || pass.results[THPVM_COLLAPSE_POLICY_YOUNG] != 3)
		return child_fail(reason, 12, "balanced: %llu POLICY_YOUNG in the first pass, want 3 (extents 1-3)",
				  (unsigned long long)pass.results[THPVM_COLLAPSE_POLICY_YOUNG]);
	if ((ret = expect_huge(x, reason, 13, "balanced, before the delay", 1, 64)))
		return ret;
	/* past the delay, every split extent goes */
	usleep(450000);
	run_passes(c, 10);
	return expect_huge(x, reason, 14, "balanced, after the delay", NR_EXTENTS, 0);
}

Test(collapse, balanced_honours_threshold_then_delay, .timeout = 60)
{
	policy_case(&(struct policy){ .mode = THPVM_COLLAPSE_MODE_TLB, .engine = THPVM_COLLAPSE_ENGINE_AUTO,
				      .options = "balanced,private=64,delay_ms=400", .check = balanced_check });
}

static int budget_check(struct policy_ctx *x, struct thpvm_collapse *c, int reason)
{
	struct thpvm_collapse_pass pass;
	char what[32];
	int ret;

	for (unsigned n = 0; n < 7; n++) {
		if (thpvm_collapse_run_pass(c, &pass) || pass.nr_examined != 5)
			return child_fail(reason, 12, "pass %u examined %llu extents, budget 5", n,
					  (unsigned long long)pass.nr_examined);
		if (pass.wrapped != (n == 6))
			return child_fail(reason, 13, "pass %u: wrapped %d", n, pass.wrapped);
		/* the cursor walks in order: everything below it is huge, nothing above */
		snprintf(what, sizeof(what), "after pass %u", n);
		if ((ret = expect_huge(x, reason, 14, what, 5 * (n + 1), UINT32_MAX)))
			return ret;
	}
	return 0;
}

Test(collapse, budget_and_cursor_cover_all_extents_across_passes, .timeout = 60)
{
	policy_case(&(struct policy){ .mode = THPVM_COLLAPSE_MODE_TLB, .engine = THPVM_COLLAPSE_ENGINE_MADV,
				      .budget_extents = 5, .check = budget_check });
}

/* Absent pages become zero-filled memory in a collapse: max_absent bounds that. */
Test(collapse, max_absent_keeps_sparse_extents_split, .timeout = 60)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_pass pass;
	struct thpvm_extent_info e;
	struct thpvm_collapse *c;

	fixture_make(&fx, &backing_anon, 4, 1);
	cr_assert_eq(madvise(fx.hva + 2 * MIB + 100 * 4096, 300 * 4096, MADV_DONTNEED), 0);
	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_AUTO, 8);
	cfg.max_absent_pages = 256;
	cr_assert_eq(thpvm_collapse_create(fx.map, &cfg, &c), 0);
	cr_assert_eq(thpvm_collapse_run_pass(c, &pass), 0);
	cr_assert_eq(pass.results[THPVM_COLLAPSE_POLICY_ABSENT], 1);
	cr_assert_eq(pass.nr_collapsed, 0);
	cfg.max_absent_pages = 300;
	cr_assert_eq(thpvm_collapse_configure(c, &cfg), 0);
	cr_assert_eq(thpvm_collapse_run_pass(c, &pass), 0);
	cr_assert_eq(pass.nr_collapsed, 1);
	thpvm_region_extent(fx.r, 1, &e);
	cr_assert_eq(e.state, THPVM_EXTENT_HUGE);
	/* the holes read as zeros, the rest kept its data */
	for (unsigned p = 0; p < 4 * PAGES_PER_EXTENT; p++) {
		const uint8_t *page = fx.hva + (uint64_t)p * 4096;
		bool hole = p >= PAGES_PER_EXTENT + 100 && p < PAGES_PER_EXTENT + 400;

		if (hole)
			cr_assert(page[0] == 0 && !memcmp(page, page + 1, 4095), "page %u is not zero", p);
		else
			cr_assert(pattern_check_page(page, p, 1, SEED), "page %u lost its data", p);
	}
	thpvm_collapse_destroy(c);
	fixture_destroy(&fx);
}
