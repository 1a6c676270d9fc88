/* SPDX-License-Identifier: MIT */
/*
 * Each engine on each backing (collapse_common.h's table), in the spirit of
 * tools/testing/selftests/mm/khugepaged.c: a template region is forked, the
 * child splits every extent with one copy-on-write each, as a VM child
 * would, and collapses them in its own collapser while a vCPU-like writer
 * keeps writing; or a region populated while THP was disabled for the
 * process is promoted once it is allowed again. Where a backing refuses an
 * engine (MADV_COLLAPSE on a private file range: EINVAL; copy-and-remap
 * without userfaultfd write-protect or a quiesce hook), the refusal is what
 * is asserted, and the region stays split and intact.
 */
#include "collapse_common.h"
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>

#define NR_EXTENTS 16
#define SIZE (NR_EXTENTS * 2 * MIB)
#define NR_PAGES (NR_EXTENTS * PAGES_PER_EXTENT)

/*
 * A writer of one page per extent (the page after the copied one), like a
 * vCPU: it parks when the quiesce hook asks, as a vCPU does on a VM pause;
 * without a hook it never stops.
 */
struct parking_writer {
	uint8_t *hva;
	pthread_t thread;
	volatile bool stop_req, parked, done;
	uint32_t seq[NR_EXTENTS];
	uint64_t nr_quiesce, nr_writes;
};

static void *parking_writer_main(void *arg)
{
	struct parking_writer *w = arg;
	uint64_t rng = 88172645463325252ULL;

	while (!w->done) {
		unsigned i;
		uint64_t idx;

		if (w->stop_req) {
			__atomic_store_n(&w->parked, true, __ATOMIC_RELEASE);
			while (w->stop_req && !w->done)
				sched_yield();
			__atomic_store_n(&w->parked, false, __ATOMIC_RELEASE);
			continue;
		}
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		i = (unsigned)(rng % NR_EXTENTS);
		idx = (uint64_t)i * PAGES_PER_EXTENT + writer_page(i);
		/* the first write to each page copies it: more private pages as we go */
		pattern_fill_page(w->hva + idx * 4096, idx, 100 + ++w->seq[i], SEED);
		w->nr_writes++;
	}
	return NULL;
}

/* The hook a VMM implements by pausing its vCPUs; a writer that is done never parks again. */
static int quiesce(void *arg, bool stop)
{
	struct parking_writer *w = arg;

	w->stop_req = stop;
	if (stop) {
		w->nr_quiesce++;
		while (!__atomic_load_n(&w->parked, __ATOMIC_ACQUIRE) && !w->done)
			sched_yield();
	}
	return 0;
}

struct split_ctx {
	struct collapse_fixture *f;
	const struct engine_ctx *e;
	bool hook;
};

/* After the collapse the extents are anonymous THP: a new split goes back without the hook. */
static int collapse_again(struct split_ctx *x, struct thpvm_collapse *c, struct parking_writer *w, bool uffd,
			  int reason)
{
	enum thpvm_collapse_engine again = engine_tries_madv(x->e) ? THPVM_COLLAPSE_ENGINE_MADV
								 : THPVM_COLLAPSE_ENGINE_REMAP;
	struct thpvm_collapse_stats st;
	uint64_t before;

	thpvm_collapse_stats(c, &st);
	before = st.nr_collapsed_by_engine[again];
	for (unsigned i = 0; i < NR_EXTENTS; i++)
		CHILD_EXPECT(reason, !madvise(x->f->hva + i * 2 * MIB, 4096, MADV_DONTNEED), 30, "madvise: %m");
	w->nr_quiesce = 0;
	run_passes(c, 20);
	thpvm_collapse_stats(c, &st);
	CHILD_EXPECT(reason, st.nr_collapsed_by_engine[again] == before + NR_EXTENTS, 31,
		     "%llu re-split extents collapsed by %s",
		     (unsigned long long)(st.nr_collapsed_by_engine[again] - before), thpvm_collapse_engine_str(again));
	CHILD_EXPECT(reason, !w->nr_quiesce || (again == THPVM_COLLAPSE_ENGINE_REMAP && !uffd), 32,
		     "the hook was needed again");
	return 0;
}

static int collapsed_stats(struct split_ctx *x, const struct thpvm_collapse_stats *st, unsigned batch, int reason)
{
	enum thpvm_collapse_engine by = cell_collapser(x->f->b, x->e);
	struct thpvm_thp_counters counters;

	CHILD_EXPECT(reason, st->results[THPVM_COLLAPSE_SUCCEED] == NR_EXTENTS && st->nr_collapsed == NR_EXTENTS, 20,
		     "stats: %llu collapsed, %llu SUCCEED results", (unsigned long long)st->nr_collapsed,
		     (unsigned long long)st->results[THPVM_COLLAPSE_SUCCEED]);
	CHILD_EXPECT(reason, st->nr_collapsed_by_engine[by] == NR_EXTENTS, 21, "%llu collapsed by the %s engine",
		     (unsigned long long)st->nr_collapsed_by_engine[by], thpvm_collapse_engine_str(by));
	CHILD_EXPECT(reason, st->bytes_copied == SIZE && st->latency.count == st->nr_ops && st->nr_ops >= NR_EXTENTS / batch,
		     22, "stats: %llu bytes copied in %llu ops, %llu latency samples",
		     (unsigned long long)st->bytes_copied, (unsigned long long)st->nr_ops,
		     (unsigned long long)st->latency.count);
	thpvm_region_counters(x->f->r, &counters);
	CHILD_EXPECT(reason, counters.thp_collapse_alloc == NR_EXTENTS && !counters.thp_collapse_alloc_failed, 23,
		     "region counters: thp_collapse_alloc %llu, failed %llu",
		     (unsigned long long)counters.thp_collapse_alloc,
		     (unsigned long long)counters.thp_collapse_alloc_failed);
	return 0;
}

static int split_child(void *arg, int reason)
{
	struct split_ctx *x = arg;
	const struct backing_ops *b = x->f->b;
	unsigned batch = x->hook ? 1 : x->e->batch;
	uint64_t want_einval = engine_tries_madv(x->e) && !b->madv ? NR_EXTENTS : 0, want_nowp, bad;
	struct parking_writer w = { .hva = x->f->hva };
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	struct thpvm_collapse_pass pass;
	struct thpvm_coverage cov;
	struct thpvm_collapse *c;
	const char *refusal;
	int ret;

	child_write_one_page_per_extent(x->f->hva, NR_EXTENTS);
	CHILD_EXPECT(reason, !thpvm_region_coverage(x->f->r, THPVM_COVERAGE_REFRESH | THPVM_COVERAGE_DETAIL, &cov), 10,
		     "coverage: %s", thpvm_last_error());
	CHILD_EXPECT(reason, cov.nr_split == NR_EXTENTS && cov.split_private_bytes == NR_EXTENTS * 4096ULL, 11,
		     "%llu of %d extents split, %llu bytes private after one copy each",
		     (unsigned long long)cov.nr_split, NR_EXTENTS, (unsigned long long)cov.split_private_bytes);
	/* the child makes its own collapser: the parent's (if any) has no thread here */
	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, x->e->engine, batch);
	if (x->hook) {
		cfg.quiesce = quiesce;
		cfg.quiesce_arg = &w;
	}
	if ((ret = thpvm_collapse_create(x->f->map, &cfg, &c)))
		return child_fail(reason, 12, "create: %s", strerror(-ret));
	thpvm_collapse_stats(c, &st);
	refusal = cell_refusal(b, x->e, st.uffd, x->hook);
	want_nowp = engine_tries_remap(x->e) && !(b->wp && st.uffd) && !x->hook ? NR_EXTENTS : 0;
	CHILD_EXPECT(reason, !pthread_create(&w.thread, NULL, parking_writer_main, &w), 13, "pthread_create");
	usleep(10000);
	CHILD_EXPECT(reason, !thpvm_collapse_run_pass(c, &pass), 14, "pass: %s", thpvm_last_error());
	run_passes(c, 20);
	w.done = true;
	pthread_join(w.thread, NULL);
	thpvm_collapse_stats(c, &st);
	fprintf(stderr, "%s, %s%s: %llu collapsed in %llu ops, %llu quiesces, %llu writer stalls, %llu writes meanwhile%s%s\n",
		    b->name, x->e->name, x->hook ? " with a quiesce hook" : "", (unsigned long long)st.nr_collapsed,
		    (unsigned long long)st.nr_ops, (unsigned long long)w.nr_quiesce, (unsigned long long)st.nr_stalls,
		    (unsigned long long)w.nr_writes, refusal ? "; refused: " : "", refusal ? refusal : "");
	CHILD_EXPECT(reason, w.nr_writes > 0, 15, "the writer never wrote");
	bad = check_child_data(x->f->hva, NR_EXTENTS, NR_EXTENTS, w.seq);
	CHILD_EXPECT(reason, !bad, 16, "%llu pages lost their data", (unsigned long long)bad);
	if (refusal) {
		/* the refusals, in the first pass: every extent, nothing collapsed, all still split */
		CHILD_EXPECT(reason, !pass.nr_collapsed && !st.nr_collapsed, 17, "%llu collapsed where refused",
			     (unsigned long long)st.nr_collapsed);
		CHILD_EXPECT(reason, pass.results[THPVM_COLLAPSE_MADV_EINVAL] == want_einval, 18,
			     "MADV_COLLAPSE said EINVAL %llu times, want %llu",
			     (unsigned long long)pass.results[THPVM_COLLAPSE_MADV_EINVAL], (unsigned long long)want_einval);
		CHILD_EXPECT(reason, pass.results[THPVM_COLLAPSE_NO_WRITE_PROTECT] == want_nowp, 19,
			     "NO_WRITE_PROTECT %llu times, want %llu",
			     (unsigned long long)pass.results[THPVM_COLLAPSE_NO_WRITE_PROTECT], (unsigned long long)want_nowp);
		CHILD_EXPECT(reason, !thpvm_region_coverage(x->f->r, THPVM_COVERAGE_REFRESH, &cov) &&
					     cov.nr_split == NR_EXTENTS,
			     24, "%llu extents split after the refusals", (unsigned long long)cov.nr_split);
		thpvm_collapse_destroy(c);
		return 0;
	}
	CHILD_EXPECT(reason, st.results[THPVM_COLLAPSE_MADV_EINVAL] == want_einval, 18,
		     "MADV_COLLAPSE said EINVAL %llu times, want %llu",
		     (unsigned long long)st.results[THPVM_COLLAPSE_MADV_EINVAL], (unsigned long long)want_einval);
	CHILD_EXPECT(reason, !st.results[THPVM_COLLAPSE_NO_WRITE_PROTECT], 19, "NO_WRITE_PROTECT %llu times",
		     (unsigned long long)st.results[THPVM_COLLAPSE_NO_WRITE_PROTECT]);
	/* the hook only where userfaultfd cannot stop the writers, one call per operation */
	if (cell_collapser(b, x->e) == THPVM_COLLAPSE_ENGINE_REMAP && !(b->wp && st.uffd))
		CHILD_EXPECT(reason, w.nr_quiesce >= NR_EXTENTS / batch, 25, "%llu quiesces",
			     (unsigned long long)w.nr_quiesce);
	else
		CHILD_EXPECT(reason, !w.nr_quiesce, 25, "the hook was called %llu times",
			     (unsigned long long)w.nr_quiesce);
	if ((ret = expect_all_huge(x->f->r, SIZE, reason, 26, b->file_pmd)) ||
	    (ret = collapsed_stats(x, &st, batch, reason)))
		return ret;
	/* the writes after the collapse land in the new pages */
	pattern_fill(x->f->hva, 0, NR_PAGES, 3, SEED);
	CHILD_EXPECT(reason, !pattern_check(x->f->hva, 0, NR_PAGES, 3, SEED), 28,
		     "the collapsed memory does not keep new writes");
	if ((ret = collapse_again(x, c, &w, st.uffd, reason)))
		return ret;
	thpvm_collapse_destroy(c);
	return 0;
}

static void split_case(const struct backing_ops *b, const struct engine_ctx *e, bool hook)
{
	struct collapse_fixture f;
	struct split_ctx x = { .f = &f, .e = e, .hook = hook };
	struct thpvm_coverage before, after;
	char reason[512];
	int st;

	fixture_make(&f, b, NR_EXTENTS, 1);
	cr_assert_eq(thpvm_region_coverage(f.r, THPVM_COVERAGE_REFRESH, &before), 0);
	if (!b->file)
		cr_assert_eq(before.nr_huge, NR_EXTENTS, "template not huge: %llu", (unsigned long long)before.nr_huge);
	st = run_in_child(split_child, &x, reason, sizeof(reason));
	cr_assert_eq(st, 0, "%s, %s: child status %d: %s", b->name, e->name, st, reason);
	/* the template never saw the child's writes or its collapse */
	cr_assert_eq(pattern_check(f.hva, 0, NR_PAGES, 1, SEED), 0);
	cr_assert_eq(thpvm_region_coverage(f.r, THPVM_COVERAGE_REFRESH, &after), 0);
	/* a file's template maps the page cache, which MADV_COLLAPSE may have collapsed (shmem) */
	cr_log_info("%s, %s: template %llu extents huge before, %llu after", b->name, e->name,
		    (unsigned long long)before.nr_huge, (unsigned long long)after.nr_huge);
	if (!b->file)
		cr_assert_eq(after.nr_huge, NR_EXTENTS);
	fixture_destroy(&f);
}

static void restores_huge_in_a_forked_child(const struct backing_ops *b, const struct engine_ctx *e)
{
	split_case(b, e, false);
}

/* With a quiesce hook, one extent per operation: the hook is called only where userfaultfd cannot help. */
static void restores_huge_with_a_quiesce_hook(const struct backing_ops *b, const struct engine_ctx *e)
{
	split_case(b, e, true);
}

COLLAPSE_TABLE(restores_huge_in_a_forked_child, .timeout = 60)
COLLAPSE_TABLE(restores_huge_with_a_quiesce_hook, .timeout = 60)

/*
 * Fallback promotion: populated while THP was disabled for the process
 * (prctl), the region runs on 4 KiB pages; the collapser leaves it alone
 * while the host says no and promotes it once THP is allowed again.
 */
static int prctl_child(void *arg, int reason)
{
	struct split_ctx *x = arg;
	struct collapse_fixture f = *x->f;
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_pass pass;
	struct thpvm_region_info info;
	struct thpvm_coverage cov;
	struct thpvm_collapse *c;
	const char *err;
	int ret;

	CHILD_EXPECT(reason, !prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0), 10, "prctl(PR_SET_THP_DISABLE): %m");
	CHILD_EXPECT(reason, !(err = f.b->make(&f, 1)), 11, "%s: %s", f.b->name, err);
	/* the guest wrote into each extent: a file backing's extents hold a copied page each */
	child_write_one_page_per_extent(f.hva, NR_EXTENTS);
	thpvm_region_get_info(f.r, &info);
	CHILD_EXPECT(reason, !thpvm_region_coverage(f.r, THPVM_COVERAGE_REFRESH, &cov) && cov.nr_split == NR_EXTENTS, 12,
		     "%llu extents split with THP disabled", (unsigned long long)cov.nr_split);
	CHILD_EXPECT(reason, info.thp_reason == THPVM_THP_PRCTL_DISABLED, 13, "reason %s",
		     thpvm_thp_reason_name(info.thp_reason));

	/* balanced where every page is private to this process, far above the threshold; a file's pages are shared */
	test_config(&cfg, f.b->file ? THPVM_COLLAPSE_MODE_TLB : THPVM_COLLAPSE_MODE_BALANCED, x->e->engine,
		    x->e->batch);
	cfg.quiesce = quiesce_stopped_vm;
	if ((ret = thpvm_collapse_create(f.map, &cfg, &c)))
		return child_fail(reason, 14, "create: %s", strerror(-ret));
	CHILD_EXPECT(reason, !thpvm_collapse_run_pass(c, &pass) && !pass.nr_collapsed &&
				     pass.results[THPVM_COLLAPSE_NOT_ELIGIBLE] == NR_EXTENTS,
		     15, "while disabled: %llu collapsed, %llu NOT_ELIGIBLE", (unsigned long long)pass.nr_collapsed,
		     (unsigned long long)pass.results[THPVM_COLLAPSE_NOT_ELIGIBLE]);

	CHILD_EXPECT(reason, !prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0), 16, "prctl(PR_SET_THP_DISABLE, 0): %m");
	run_passes(c, 20);
	if ((ret = expect_all_huge(f.r, SIZE, reason, 17, f.b->file_pmd)))
		return ret;
	CHILD_EXPECT(reason, !check_child_data(f.hva, NR_EXTENTS, NR_EXTENTS, NULL), 19, "data lost in the promotion");
	thpvm_region_get_info(f.r, &info);
	CHILD_EXPECT(reason, info.thp_reason == THPVM_THP_ELIGIBLE, 20, "reason still %s after promotion",
		     thpvm_thp_reason_name(info.thp_reason));
	thpvm_collapse_destroy(c);
	CHILD_EXPECT(reason, !fixture_release(&f), 21, "the file changed");
	return 0;
}

static void promotes_a_region_populated_while_thp_was_disabled(const struct backing_ops *b,
							       const struct engine_ctx *e)
{
	struct collapse_fixture f;
	struct split_ctx x = { .f = &f, .e = e };
	char reason[512];
	int status;

	REQUIRE_THP();
	cell_require(b, e, true);
	fixture_init(&f, b, NR_EXTENTS, 1);
	status = run_in_child(prctl_child, &x, reason, sizeof(reason));
	cr_assert_eq(status, 0, "%s, %s: child status %d: %s", b->name, e->name, status, reason);
}

COLLAPSE_TABLE(promotes_a_region_populated_while_thp_was_disabled, .timeout = 60)
