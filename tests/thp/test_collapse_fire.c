/* SPDX-License-Identifier: MIT */
/*
 * Integrity under fire: writer threads write continuously, each its own set
 * of pages with a sequence-numbered per-page pattern, while the collapse
 * thread in tlb mode collapses as fast as it can and a splitter keeps
 * splitting extents again (MADV_DONTNEED of a page no writer owns, and
 * fork() with a short-lived child so the writers' next writes copy-on-write
 * split the extents they touch). After thousands of collapses every page
 * must hold exactly its last written sequence: no lost write, no mixed page.
 */
#include "collapse_common.h"
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>

#define NR_EXTENTS 48
#define NR_PAGES (NR_EXTENTS * PAGES_PER_EXTENT)
#define NR_WRITERS 2
#define TARGET_COLLAPSES 2000
#define DEADLINE_S 60

struct fire {
	uint8_t *hva;
	struct thpvm_collapse *c;
	uint32_t seq[NR_PAGES];     /* last sequence written, per page; each writer owns its pages' slots */
	volatile bool stop_writers, stop_splitter;
	uint64_t nr_writes[NR_WRITERS];
	uint64_t nr_splits, nr_forks, nr_injected;
	bool inject_failures;
};

struct writer_arg {
	struct fire *f;
	unsigned id;
};

/* Page 0 of every extent belongs to the splitter; writer w owns the other pages p with p % NR_WRITERS == w. */
static bool owned_by(uint64_t p, unsigned w)
{
	return p % PAGES_PER_EXTENT && p % NR_WRITERS == w;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *writer(void *arg)
{
	struct writer_arg *a = arg;
	struct fire *f = a->f;
	uint64_t rng = 0x9e3779b97f4a7c15ULL * (a->id + 1);

	while (!f->stop_writers) {
		uint64_t p = xorshift(&rng) % NR_PAGES;

		if (!owned_by(p, a->id))
			continue;
		pattern_fill_page(f->hva + p * 4096, p, ++f->seq[p], SEED);
		f->nr_writes[a->id]++;
	}
	return NULL;
}

static void *splitter(void *arg)
{
	struct fire *f = arg;
	uint64_t rng = 12345;
	pid_t child = 0;

	for (uint64_t n = 0; !f->stop_splitter; n++) {
		uint64_t e = xorshift(&rng) % NR_EXTENTS;

		/* zapping one 4 KiB page of a PMD-mapped THP splits the PMD */
		madvise(f->hva + e * 2 * MIB, 4096, MADV_DONTNEED);
		f->nr_splits++;
		if (n % 200 == 199) {
			/* the fork contract: no collapse in flight while the child is made */
			if (child > 0)
				waitpid(child, NULL, 0);
			thpvm_collapse_pause(f->c);
			child = fork();
			if (child == 0) {
				usleep(20000); /* share everything for a while: the writers' next writes split */
				_exit(0);
			}
			thpvm_collapse_resume(f->c);
			f->nr_forks += child > 0;
		}
		if (f->inject_failures && n % 100 == 50) {
			/* the abort paths under fire: the old mapping must stay intact and the writers go on */
			thpvm_collapse_inject(f->c, n % 200 == 50 ? THPVM_COLLAPSE_INJECT_GENERATION
								  : THPVM_COLLAPSE_INJECT_REMAP_FAIL, 1);
			f->nr_injected++;
		}
		usleep(100);
	}
	if (child > 0)
		waitpid(child, NULL, 0);
	return NULL;
}

static void fire_case(enum thpvm_collapse_engine engine, unsigned batch, bool inject_failures)
{
	struct writer_arg wa[NR_WRITERS];
	pthread_t wt[NR_WRITERS], st;
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats s;
	struct fire *f;
	uint64_t bad = 0, first_bad = UINT64_MAX, writes = 0;
	time_t deadline = time(NULL) + DEADLINE_S;

	f = calloc(1, sizeof(*f));
	cr_assert_not_null(f);
	f->inject_failures = inject_failures;
	fixture_make(&fx, &backing_anon, NR_EXTENTS, 0);
	f->hva = fx.hva;

	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, engine, batch);
	cfg.interval_ms = 0;
	cr_assert_eq(thpvm_collapse_create(fx.map, &cfg, &f->c), 0, "%s", thpvm_last_error());
	cr_assert_eq(thpvm_collapse_start(f->c), 0);
	for (unsigned w = 0; w < NR_WRITERS; w++) {
		wa[w] = (struct writer_arg){ .f = f, .id = w };
		cr_assert_eq(pthread_create(&wt[w], NULL, writer, &wa[w]), 0);
	}
	cr_assert_eq(pthread_create(&st, NULL, splitter, f), 0);

	do {
		usleep(50000);
		thpvm_collapse_stats(f->c, &s);
	} while (s.nr_collapsed < TARGET_COLLAPSES && time(NULL) < deadline);

	f->stop_splitter = true;
	pthread_join(st, NULL);
	thpvm_collapse_stop(f->c);
	f->stop_writers = true;
	for (unsigned w = 0; w < NR_WRITERS; w++) {
		pthread_join(wt[w], NULL);
		writes += f->nr_writes[w];
	}
	thpvm_collapse_stats(f->c, &s);

	for (uint64_t p = 0; p < NR_PAGES; p++) {
		if (!(p % PAGES_PER_EXTENT))
			continue;
		if (!pattern_check_page(f->hva + p * 4096, p, f->seq[p], SEED)) {
			bad++;
			if (first_bad == UINT64_MAX)
				first_bad = p;
		}
	}
	cr_log_info("%s batch %u: %llu collapses (%llu madv, %llu remap) in %llu ops, %llu writes, %llu splits, "
		    "%llu forks, %llu injected failures, %llu writer stalls (p50 %llu us, p99 %llu us, max %llu us), "
		    "op latency p50 %llu us p99 %llu us",
		    thpvm_collapse_engine_str(engine), batch, (unsigned long long)s.nr_collapsed,
		    (unsigned long long)s.nr_collapsed_by_engine[THPVM_COLLAPSE_ENGINE_MADV],
		    (unsigned long long)s.nr_collapsed_by_engine[THPVM_COLLAPSE_ENGINE_REMAP],
		    (unsigned long long)s.nr_ops, (unsigned long long)writes, (unsigned long long)f->nr_splits,
		    (unsigned long long)f->nr_forks, (unsigned long long)f->nr_injected, (unsigned long long)s.nr_stalls,
		    (unsigned long long)thpvm_collapse_hist_percentile_us(&s.stall, 50),
		    (unsigned long long)thpvm_collapse_hist_percentile_us(&s.stall, 99),
		    (unsigned long long)(s.stall.max_ns / 1000),
		    (unsigned long long)thpvm_collapse_hist_percentile_us(&s.latency, 50),
		    (unsigned long long)thpvm_collapse_hist_percentile_us(&s.latency, 99));
	cr_expect_eq(bad, 0, "%llu pages do not hold their last write (first: page %llu, last seq %u)",
		     (unsigned long long)bad, (unsigned long long)first_bad,
		     first_bad == UINT64_MAX ? 0 : f->seq[first_bad]);
	cr_expect_geq(s.nr_collapsed, TARGET_COLLAPSES, "only %llu collapses in %d s", (unsigned long long)s.nr_collapsed,
		      DEADLINE_S);
	cr_expect_gt(f->nr_forks, 0, "the splitter never forked");
	if (engine == THPVM_COLLAPSE_ENGINE_REMAP) {
		cr_expect_gt(s.nr_stalls, 0, "no writer ever met a write-protected extent");
		cr_expect_eq(s.nr_collapsed_by_engine[THPVM_COLLAPSE_ENGINE_REMAP], s.nr_collapsed);
	}
	if (inject_failures)
		cr_expect_gt(s.results[THPVM_COLLAPSE_GENERATION_CHANGED] + s.results[THPVM_COLLAPSE_REMAP_FAILED], 0,
			     "no injected failure was hit");
	thpvm_collapse_destroy(f->c);
	fixture_destroy(&fx);
	free(f);
}

Test(collapse, remap_under_fire_loses_no_write, .timeout = 120)
{
	fire_case(THPVM_COLLAPSE_ENGINE_REMAP, 4, false);
}

Test(collapse, remap_failures_under_fire_lose_no_write, .timeout = 120)
{
	fire_case(THPVM_COLLAPSE_ENGINE_REMAP, 4, true);
}

Test(collapse, madv_under_fire_loses_no_write, .timeout = 120)
{
	fire_case(THPVM_COLLAPSE_ENGINE_MADV, 4, false);
}

/*
 * As on Linux 6.1 (Debian 12): no UFFD_FEATURE_WP_UNPOPULATED (6.4), so the
 * pages the splitter zapped are given the zero page before each protection,
 * and no PAGEMAP_SCAN (6.7), so the written-page check reads pagemap. The
 * nested lab runs the same engine on a real 6.1 kernel (tests/lab, L1 bookworm).
 */
Test(collapse, remap_as_on_linux_6_1_under_fire_loses_no_write, .timeout = 120)
{
	struct thpvm_collapse_stats s;
	struct thpvm_collapse_config cfg;
	struct thpvm_memmap *map;
	struct thpvm_collapse *c;
	struct thpvm_region_config rc = { .size_bytes = 2 * MIB };

	thpvm_collapse_uffd_wp_unpopulated_enable(false);
	thpvm_pagemap_scan_enable(false);
	/* the stats say what the engine lacks and does instead */
	cr_assert_eq(thpvm_memmap_create(&map), 0);
	cr_assert_eq(thpvm_memmap_add(map, &rc, NULL), 0);
	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_REMAP, 1);
	cr_assert_eq(thpvm_collapse_create(map, &cfg, &c), 0, "%s", thpvm_last_error());
	thpvm_collapse_stats(c, &s);
	if (!s.uffd)
		cr_skip_test("no userfaultfd write-protect here: %s", s.kernel_note);
	cr_assert_not(s.uffd_wp_unpopulated);
	cr_assert(strstr(s.kernel_note, "UFFD_FEATURE_WP_UNPOPULATED") && strstr(s.kernel_note, "PAGEMAP_SCAN"), "%s",
		  s.kernel_note);
	thpvm_collapse_destroy(c);
	thpvm_memmap_destroy(map);
	fire_case(THPVM_COLLAPSE_ENGINE_REMAP, 4, false);
}
