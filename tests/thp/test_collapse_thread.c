/* SPDX-License-Identifier: MIT */
/*
 * The collapse thread's life: start and stop, pause and resume (nested),
 * the fork contract (pause, fork, the child makes its own collapser), its
 * niceness, the rate limit, and the stats as JSON for the control socket.
 */
#include "collapse_common.h"
#include <dirent.h>
#include <jansson.h>
#include <sys/resource.h>
#include <time.h>

#define NR_EXTENTS FIXTURE_EXTENTS
#define SIZE (NR_EXTENTS * 2 * MIB)

TestSuite(collapse, .init = anon_fixture_setup, .fini = fixture_teardown, .timeout = 60);

/* Polls until every extent is huge or about 10 s passed (compaction on a busy CI host). */
static bool wait_all_huge(void)
{
	for (unsigned i = 0; i < 1000; i++) {
		if (fixture_nr_huge(&fx) == NR_EXTENTS)
			return true;
		usleep(10000);
	}
	return false;
}

Test(collapse, thread_collapses_in_the_background_and_stops)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	struct thpvm_collapse *c;

	fixture_split_all(&fx);
	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_AUTO, 4);
	cr_assert_eq(thpvm_collapse_create(fx.map, &cfg, &c), 0);
	thpvm_collapse_stats(c, &st);
	cr_assert(!st.running);
	cr_assert_eq(thpvm_collapse_start(c), 0);
	cr_assert_eq(thpvm_collapse_start(c), 0, "start is idempotent");
	thpvm_collapse_stats(c, &st);
	cr_assert(st.running);
	cr_assert(wait_all_huge(), "the thread did not collapse");
	cr_assert_eq(thpvm_collapse_stop(c), 0);
	thpvm_collapse_stats(c, &st);
	cr_assert(!st.running);
	cr_assert_eq(st.nr_collapsed, NR_EXTENTS);
	/* stopped means stopped: new splits stay */
	fixture_split_all(&fx);
	usleep(50000);
	cr_assert_eq(fixture_nr_huge(&fx), 0);
	/* and it starts again */
	cr_assert_eq(thpvm_collapse_start(c), 0);
	cr_assert(wait_all_huge());
	thpvm_collapse_destroy(c);
}

Test(collapse, pause_holds_until_the_last_resume)
{
	uint64_t passes;
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	struct thpvm_collapse_pass pass;
	struct thpvm_collapse *c;

	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_AUTO, 4);
	cr_assert_eq(thpvm_collapse_create(fx.map, &cfg, &c), 0);
	cr_assert_eq(thpvm_collapse_start(c), 0);
	cr_assert_eq(thpvm_collapse_pause(c), 0);
	cr_assert_eq(thpvm_collapse_pause(c), 0);
	thpvm_collapse_stats(c, &st);
	passes = st.nr_passes; /* the thread may have made some before the pauses */
	fixture_split_all(&fx);
	usleep(100000);
	/* our counters, not the host's state: khugepaged may collapse a zapped extent (max_ptes_none) meanwhile */
	thpvm_collapse_stats(c, &st);
	cr_assert_eq(st.nr_collapsed, 0, "collapsed while paused");
	cr_assert_eq(st.nr_passes, passes, "a pass ran while paused");
	cr_assert_eq(thpvm_collapse_run_pass(c, &pass), 0);
	cr_assert(pass.paused);
	cr_assert_eq(pass.nr_examined, 0);
	thpvm_collapse_stats(c, &st);
	cr_assert(st.paused);
	cr_assert_eq(thpvm_collapse_resume(c), 0);
	usleep(100000);
	thpvm_collapse_stats(c, &st);
	cr_assert_eq(st.nr_collapsed, 0, "one resume of two pauses let it run");
	cr_assert_eq(st.nr_passes, passes, "one resume of two pauses let a pass run");
	cr_assert_eq(thpvm_collapse_resume(c), 0);
	cr_assert(wait_all_huge(), "no collapse after the last resume");
	thpvm_collapse_stats(c, &st);
	cr_assert(!st.paused);
	thpvm_collapse_destroy(c);
}

struct fork_ctx {
	struct thpvm_collapse *parent;
};

static int forked_child(void *arg, int reason)
{
	struct fork_ctx *x = arg;
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse *c;
	struct thpvm_coverage cov;

	/* the parent's collapser has no thread here: destroying it only frees */
	thpvm_collapse_destroy(x->parent);
	child_write_one_page_per_extent(fx.hva, NR_EXTENTS);
	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_AUTO, 4);
	if (thpvm_collapse_create(fx.map, &cfg, &c) || thpvm_collapse_start(c))
		return child_fail(reason, 10, "child collapser: %s", thpvm_last_error());
	/* a CI machine that just built a kernel package may need compaction and back-offs: 10 s */
	memset(&cov, 0, sizeof(cov));
	for (unsigned i = 0; i < 1000; i++) {
		if (!thpvm_region_coverage(fx.r, THPVM_COVERAGE_REFRESH, &cov) && cov.nr_huge == NR_EXTENTS)
			break;
		usleep(10000);
	}
	if (cov.nr_huge != NR_EXTENTS) {
		json_t *j = thpvm_collapse_stats_json(c);
		char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
		int st = child_fail(reason, 11, "child: %llu of %d huge; collapser %s", (unsigned long long)cov.nr_huge,
				    NR_EXTENTS, text ? text : "?");

		free(text);
		json_decref(j);
		return st;
	}
	if (check_child_data(fx.hva, NR_EXTENTS, NR_EXTENTS, NULL))
		return child_fail(reason, 12, "child: data lost");
	thpvm_collapse_destroy(c);
	return 0;
}

Test(collapse, fork_contract_pause_fork_child_makes_its_own)
{
	struct thpvm_collapse_config cfg;
	struct fork_ctx x;
	char reason[4096];
	int st;

	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_AUTO, 4);
	cr_assert_eq(thpvm_collapse_create(fx.map, &cfg, &x.parent), 0);
	cr_assert_eq(thpvm_collapse_start(x.parent), 0);
	/*
	 * Let the thread settle first: under ASan (Debian 12's libasan has no
	 * fork handling in its allocator) a child forked while a parent thread
	 * is still starting up inherits an allocator lock held and deadlocks
	 * in its first malloc (seen: the child's new collapser never passes).
	 */
	for (unsigned i = 0; i < 500; i++) {
		struct thpvm_collapse_stats s;

		thpvm_collapse_stats(x.parent, &s);
		if (s.nr_passes)
			break;
		usleep(10000);
	}
	cr_assert_eq(thpvm_collapse_pause(x.parent), 0);
	st = run_in_child(forked_child, &x, reason, sizeof(reason));
	cr_assert_eq(thpvm_collapse_resume(x.parent), 0);
	cr_assert_eq(st, 0, "child status %d: %s", st, reason);
	/* the parent's memory and collapser are untouched by the child's */
	cr_assert_eq(fixture_nr_huge(&fx), NR_EXTENTS);
	cr_assert_eq(check_child_data(fx.hva, NR_EXTENTS, 0, NULL), 0);
	thpvm_collapse_destroy(x.parent);
}

/* The nice value of each of this process's threads. */
static bool some_thread_has_nice(int want)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	bool found = false;

	cr_assert_not_null(d);
	while (!found && (de = readdir(d))) {
		char path[300], buf[1024], *p;
		FILE *f;
		int nice = 0, field;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", de->d_name);
		f = fopen(path, "re");
		if (!f || !fgets(buf, sizeof(buf), f)) {
			if (f)
				fclose(f);
			continue;
		}
		fclose(f);
		/* field 19 is nice; count from after the ")" closing the command name (field 2) */
		p = strrchr(buf, ')');
		for (field = 2; p && field < 19; field++)
			p = strchr(p + 1, ' ');
		if (p && sscanf(p + 1, "%d", &nice) == 1 && nice == want)
			found = true;
	}
	closedir(d);
	return found;
}

Test(collapse, thread_runs_at_its_nice_value)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse *c;

	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_AUTO, 4);
	cr_assert_eq(thpvm_collapse_config_parse(&cfg, "tlb,nice=7"), 0);
	cr_assert(!some_thread_has_nice(7));
	cr_assert_eq(thpvm_collapse_create(fx.map, &cfg, &c), 0);
	cr_assert_eq(thpvm_collapse_start(c), 0);
	usleep(50000);
	cr_assert(some_thread_has_nice(7), "no thread at nice 7");
	cr_assert_eq(getpriority(PRIO_PROCESS, 0), 0, "the calling thread's nice changed");
	thpvm_collapse_destroy(c);
}

Test(collapse, rate_limit_spaces_the_copies)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	struct thpvm_collapse *c;
	struct timespec a, b;
	uint64_t ms;

	fixture_split_all(&fx);
	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_AUTO, 1);
	cfg.rate_mib_s = 64; /* 32 MiB: about half a second */
	cr_assert_eq(thpvm_collapse_create(fx.map, &cfg, &c), 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	run_passes(c, 50);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (uint64_t)((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000);
	thpvm_collapse_stats(c, &st);
	cr_assert_eq(st.nr_collapsed, NR_EXTENTS);
	cr_assert_geq(ms, 400, "32 MiB at 64 MiB/s took only %llu ms", (unsigned long long)ms);
	cr_assert_gt(st.rate_sleep_ns, 300 * 1000000ULL);
	thpvm_collapse_destroy(c);
}

Test(collapse, stats_as_json_for_the_control_socket)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse *c;
	json_t *j, *results, *lat;
	char *text;

	fixture_split_all(&fx);
	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_MADV, 4);
	cr_assert_eq(thpvm_collapse_create(fx.map, &cfg, &c), 0);
	run_passes(c, 10);
	j = thpvm_collapse_stats_json(c);
	cr_assert_not_null(j);
	text = json_dumps(j, JSON_COMPACT);
	cr_log_info("%s", text);
	cr_assert_str_eq(json_string_value(json_object_get(j, "mode")), "tlb");
	cr_assert_str_eq(json_string_value(json_object_get(j, "engine")), "madv");
	cr_assert_eq(json_integer_value(json_object_get(j, "collapsed")), NR_EXTENTS);
	cr_assert_eq(json_integer_value(json_object_get(j, "collapsed_madv")), NR_EXTENTS);
	cr_assert_eq(json_integer_value(json_object_get(j, "bytes_copied")), SIZE);
	results = json_object_get(j, "results");
	cr_assert_eq(json_integer_value(json_object_get(results, "succeed")), NR_EXTENTS);
	cr_assert_eq(json_object_size(results), THPVM_NR_COLLAPSE_RESULTS);
	lat = json_object_get(j, "latency_us");
	cr_assert_eq(json_integer_value(json_object_get(lat, "count")), json_integer_value(json_object_get(j, "ops")));
	cr_assert_geq(json_integer_value(json_object_get(lat, "p99")), json_integer_value(json_object_get(lat, "p50")));
	cr_assert(json_is_object(json_object_get(j, "config")));
	cr_assert(json_is_boolean(json_object_get(j, "uffd")));
	free(text);
	json_decref(j);
	thpvm_collapse_destroy(c);
}
