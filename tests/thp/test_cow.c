/* SPDX-License-Identifier: MIT */
/*
 * The copy-on-write split semantics the project relies on (seed 000): after
 * fork(), a write to a shared THP splits the writer's PMD and copies 4 KiB;
 * the rest of the extent stays shared, and the other process keeps its PMD.
 * In the spirit of tools/testing/selftests/mm/cow.c.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <thpvm.h>
#include "helpers.h"
#include "require.h"

#define NR_EXTENTS 32
#define WRITTEN(i) ((i) % 3 == 1) /* 11 of 32 extents */

struct cow_ctx {
	struct thpvm_region *r;
	struct thpvm_region_info info;
	int go[2], done[2];
};

static int child_writes_and_checks(void *arg, int reason)
{
	struct cow_ctx *c = arg;
	struct thpvm_coverage cov;
	unsigned nr_written = 0;

	for (unsigned i = 0; i < NR_EXTENTS; i++) {
		if (!WRITTEN(i))
			continue;
		/* one byte, in a page that is not the extent's first, so the head page stays shared */
		((volatile char *)c->info.hva)[i * 2 * MIB + 4096 * (1 + i)] ^= 0x5a;
		nr_written++;
	}
	if (thpvm_region_refresh(c->r))
		return child_fail(reason, 10, "refresh: %s", thpvm_last_error());
	for (unsigned i = 0; i < NR_EXTENTS; i++) {
		struct thpvm_extent_info e;

		thpvm_region_refresh_detail(c->r, i);
		thpvm_region_extent(c->r, i, &e);
		if (WRITTEN(i)) {
			if (e.state != THPVM_EXTENT_SPLIT)
				return child_fail(reason, 11, "written extent %u is %s, want split", i,
						  thpvm_extent_state_str(e.state));
			if (e.nr_private != 1 || e.nr_shared != 511 || e.nr_absent != 0)
				return child_fail(reason, 12, "written extent %u: %u private %u shared %u absent, want 1/511/0",
						  i, e.nr_private, e.nr_shared, e.nr_absent);
		} else if (e.state != THPVM_EXTENT_HUGE) {
			return child_fail(reason, 13, "untouched extent %u is %s, want huge", i,
					  thpvm_extent_state_str(e.state));
		}
	}
	if (thpvm_region_coverage(c->r, THPVM_COVERAGE_DETAIL | THPVM_COVERAGE_SMAPS, &cov))
		return child_fail(reason, 14, "coverage: %s", thpvm_last_error());
	if (cov.nr_split != nr_written || cov.split_private_bytes != nr_written * 4096ULL)
		return child_fail(reason, 15, "coverage: %llu split, %llu private bytes", (unsigned long long)cov.nr_split,
				  (unsigned long long)cov.split_private_bytes);
	if (cov.counters.thp_split_pmd != nr_written)
		return child_fail(reason, 16, "thp_split_pmd %llu, want %u", (unsigned long long)cov.counters.thp_split_pmd,
				  nr_written);
	if (cov.smaps_anon_huge_bytes != (NR_EXTENTS - nr_written) * 2 * MIB)
		return child_fail(reason, 17, "smaps AnonHugePages %llu", (unsigned long long)cov.smaps_anon_huge_bytes);
	/* the child sees its writes and the parent's data everywhere else */
	for (unsigned i = 0; i < NR_EXTENTS; i++) {
		char *ext = (char *)c->info.hva + i * 2 * MIB;

		for (unsigned p = 0; p < 512; p++) {
			bool mine = WRITTEN(i) && p == 1 + i;
			char saved = ext[p * 4096];

			if (mine)
				ext[p * 4096] ^= 0x5a;
			if (!pattern_check_page(ext + p * 4096, i * 512 + p, 1, 7))
				return child_fail(reason, 18, "extent %u page %u does not hold the parent's data", i, p);
			if (mine)
				ext[p * 4096] = saved;
		}
	}
	/* let the parent look while we are alive and sharing */
	char go;
	if (write(c->done[1], "k", 1) != 1 || read(c->go[0], &go, 1) != 1)
		return child_fail(reason, 19, "lost the parent");
	return 0;
}

Test(cow, child_write_splits_only_written_extents, .timeout = 60)
{
	struct thpvm_memmap *map;
	struct thpvm_coverage cov;
	struct cow_ctx c;
	struct thpvm_region_config cfg = { .size_bytes = NR_EXTENTS * 2 * MIB, .populate = THPVM_POPULATE_PREFAULT };
	char reason[512] = "", k;
	int reason_fd[2], status;
	ssize_t n;
	pid_t pid;

	REQUIRE_THP();
	cr_assert_eq(thpvm_memmap_create(&map), 0);
	cr_assert_eq(thpvm_memmap_add(map, &cfg, &c.r), 0, "%s", thpvm_last_error());
	thpvm_region_get_info(c.r, &c.info);
	pattern_fill(c.info.hva, 0, NR_EXTENTS * 512, 1, 7);
	cr_assert_eq(thpvm_region_refresh(c.r), 0);
	cr_assert(pipe(c.go) == 0 && pipe(c.done) == 0 && pipe(reason_fd) == 0);

	/* the parent looks while the child is alive and sharing, so the child runs beside the test */
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(child_writes_and_checks(&c, reason_fd[1]));
	close(reason_fd[1]);
	close(c.done[1]);
	if (read(c.done[0], &k, 1) == 1) {
		cr_assert_eq(thpvm_region_coverage(c.r, THPVM_COVERAGE_REFRESH, &cov), 0);
		cr_expect_eq(cov.nr_huge, NR_EXTENTS, "parent sees %llu of %d extents huge while the child lives",
			     (unsigned long long)cov.nr_huge, NR_EXTENTS);
		cr_expect_eq(pattern_check(c.info.hva, 0, NR_EXTENTS * 512, 1, 7), 0, "parent sees the child's writes");
	}
	cr_assert_eq(write(c.go[1], "g", 1), 1);
	n = read(reason_fd[0], reason, sizeof(reason) - 1);
	reason[n > 0 ? n : 0] = '\0';
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed (status %d): %s", status, reason);
	thpvm_memmap_destroy(map);
}
