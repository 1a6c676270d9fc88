/* SPDX-License-Identifier: MIT */
/*
 * Shared pieces of the collapse tests (tests/thp/test_collapse*.c): one
 * fixture, the backings it makes (khugepaged.c's struct mem_ops, cow.c's
 * backings) and the engines that collapse them (its struct collapse_context),
 * and COLLAPSE_TABLE(), which makes one test per backing x engine of a
 * scenario. Include it first: it brings config.h (_GNU_SOURCE).
 */
#ifndef THPVM_TEST_COLLAPSE_COMMON_H
#define THPVM_TEST_COLLAPSE_COMMON_H

#include "config.h" /* _GNU_SOURCE: memfd_create */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <thpvm.h>
#include "helpers.h"
#include "require.h"

#define PAGES_PER_EXTENT 512
#define SEED 0xc011

struct collapse_fixture;

/* A backing of guest RAM: how the fixture makes it, and what the kernel can do with it. */
struct backing_ops {
	const char *name;
	/* maps f->size bytes prefaulted, holding the pattern (gen, SEED) */
	const char *(*make)(struct collapse_fixture *f, uint32_t gen);
	bool file;     /* a file mapped MAP_PRIVATE: its private writes never reach the file */
	bool madv;     /* MADV_COLLAPSE collapses it (a private file range holding copied pages: EINVAL) */
	bool wp;       /* userfaultfd write-protects it where the host has uffd-wp (ext4 MAP_PRIVATE: EINVAL) */
	bool file_pmd; /* its page cache may be PMD-mapped (smaps FilePmdMapped) */
};

/*
 * The collapse tests' fixture: one map with one prefaulted region of
 * nr_extents 2 MiB extents of a backing, holding the pattern (gen, SEED).
 */
struct collapse_fixture {
	const struct backing_ops *b;
	struct thpvm_memmap *map;
	struct thpvm_region *r;
	uint8_t *hva;
	unsigned nr_extents;
	uint64_t size, nr_pages;
	uint32_t gen;
	int fd; /* file backings: the file */
};

/*
 * The backings' makers and fixture_release() call no cr_ function: a forked
 * child (run_in_child) may use them. They return NULL or what failed.
 */
static inline const char *fixture_map(struct collapse_fixture *f, enum thpvm_backing backing)
{
	struct thpvm_region_config rc = { .size_bytes = f->size, .backing = backing, .fd = f->fd,
					  .populate = THPVM_POPULATE_PREFAULT };
	struct thpvm_region_info info;

	if (thpvm_memmap_create(&f->map) || thpvm_memmap_add(f->map, &rc, &f->r))
		return thpvm_last_error();
	thpvm_region_get_info(f->r, &info);
	f->hva = info.hva;
	return NULL;
}

/* Anonymous THP: the thp backing, what guest RAM is by default. */
static inline const char *anon_make(struct collapse_fixture *f, uint32_t gen)
{
	const char *err = fixture_map(f, THPVM_BACKING_THP);

	if (!err)
		pattern_fill(f->hva, 0, f->nr_pages, gen, SEED);
	return err;
}

/* f->fd gets the pattern, clean in the page cache as a snapshot file on disk would be, and is mapped private. */
static inline const char *file_fill_and_map(struct collapse_fixture *f, uint32_t gen)
{
	void *buf = malloc(f->size);
	bool ok;

	if (!buf)
		return "malloc";
	pattern_fill(buf, 0, f->nr_pages, gen, SEED);
	ok = pwrite(f->fd, buf, f->size, 0) == (ssize_t)f->size && !fsync(f->fd);
	free(buf);
	return ok ? fixture_map(f, THPVM_BACKING_FILE) : "cannot write the file";
}

/* A snapshot in a memfd (shmem) mapped private: userfaultfd can write-protect it, MADV_COLLAPSE cannot collapse it. */
static inline const char *shmem_make(struct collapse_fixture *f, uint32_t gen)
{
	f->fd = memfd_create("thpvm-snapshot", MFD_CLOEXEC);
	return f->fd < 0 ? "memfd_create failed" : file_fill_and_map(f, gen);
}

/*
 * A file on the real disk mapped private (ext4 gives large folios, tmpfs here
 * gives no THP): neither MADV_COLLAPSE nor userfaultfd can do anything with
 * its copied pages; only copy-and-remap with the quiesce hook collapses it.
 */
static inline const char *file_make(struct collapse_fixture *f, uint32_t gen)
{
	char path[64] = "/var/tmp/thpvm-collapse-XXXXXX";

	f->fd = mkstemp(path);
	if (f->fd < 0) {
		snprintf(path, sizeof(path), "thpvm-collapse-XXXXXX"); /* the build directory */
		f->fd = mkstemp(path);
	}
	if (f->fd < 0)
		return "cannot create a test file";
	unlink(path); /* the fd keeps it: nothing is left behind, whatever fails */
	return file_fill_and_map(f, gen);
}

/* Sets up f for nr_extents of backing b; b->make(f, gen) then maps it. */
static inline void fixture_init(struct collapse_fixture *f, const struct backing_ops *b, unsigned nr_extents,
				uint32_t gen)
{
	*f = (struct collapse_fixture){ .b = b, .nr_extents = nr_extents, .size = (uint64_t)nr_extents * 2 * MIB,
					.nr_pages = (uint64_t)nr_extents * PAGES_PER_EXTENT, .gen = gen, .fd = -1 };
}

/* Unmaps and closes; returns the pages of a file backing's file that lost what it was made with. */
static inline uint64_t fixture_release(struct collapse_fixture *f)
{
	uint64_t bad = 0;

	thpvm_memmap_destroy(f->map);
	if (f->fd >= 0) {
		void *buf = malloc(f->size);

		if (!buf || pread(f->fd, buf, f->size, 0) != (ssize_t)f->size)
			bad = f->nr_pages;
		else
			bad = pattern_check(buf, 0, f->nr_pages, f->gen, SEED);
		free(buf);
		close(f->fd);
	}
	return bad;
}

static const struct backing_ops backing_anon __attribute__((unused)) = {
	.name = "anon", .make = anon_make, .madv = true, .wp = true,
};
static const struct backing_ops backing_shmem __attribute__((unused)) = {
	.name = "shmem-private", .make = shmem_make, .file = true, .wp = true,
};
static const struct backing_ops backing_file __attribute__((unused)) = {
	.name = "file-private", .make = file_make, .file = true, .file_pmd = true,
};

/* Makes the fixture; skips the test where the host gives no THP. */
static inline void fixture_make(struct collapse_fixture *f, const struct backing_ops *b, unsigned nr_extents,
				uint32_t gen)
{
	struct thpvm_coverage cov;
	const char *err;

	fixture_init(f, b, nr_extents, gen);
	REQUIRE_THP();
	err = b->make(f, gen);
	cr_assert_null(err, "%s: %s: %m", b->name, err);
	cr_assert_eq(pattern_check(f->hva, 0, f->nr_pages, gen, SEED), 0, "%s: the mapping lacks the pattern", b->name);
	if (b->file) {
		cr_assert_eq(thpvm_region_coverage(f->r, THPVM_COVERAGE_REFRESH | THPVM_COVERAGE_SMAPS, &cov), 0);
		cr_log_info("%s region after populate: %llu of %u extents huge, FilePmdMapped %llu MiB", b->name,
			    (unsigned long long)cov.nr_huge, nr_extents,
			    (unsigned long long)(cov.smaps_file_pmd_bytes / MIB));
	}
}

/* Destroys the fixture: a file backing's file must still hold what it was made with. */
static inline void fixture_destroy(struct collapse_fixture *f)
{
	cr_expect_eq(fixture_release(f), 0, "the file changed");
}

/* The suites' fixture, fx (.init = anon_fixture_setup, .fini = fixture_teardown): anonymous THP holding gen 1. */
#define FIXTURE_EXTENTS 16
static struct collapse_fixture fx __attribute__((unused));
static inline void anon_fixture_setup(void)
{
	fixture_make(&fx, &backing_anon, FIXTURE_EXTENTS, 1);
}
static inline void fixture_teardown(void)
{
	fixture_destroy(&fx);
}

static inline uint64_t fixture_nr_huge(const struct collapse_fixture *f)
{
	struct thpvm_coverage cov;

	cr_assert_eq(thpvm_region_coverage(f->r, THPVM_COVERAGE_REFRESH, &cov), 0);
	return cov.nr_huge;
}

/*
 * Splits every extent at its page 0: anonymous memory drops it (it then reads
 * as zeros); a file backing copies it (writes its own data again), as
 * dropping it would only bring the file's page back.
 */
static inline void fixture_split_all(const struct collapse_fixture *f)
{
	struct thpvm_coverage cov;

	for (unsigned i = 0; i < f->nr_extents; i++) {
		uint64_t p = (uint64_t)i * PAGES_PER_EXTENT;

		if (f->b->file)
			pattern_fill_page(f->hva + p * 4096, p, f->gen, SEED);
		else
			cr_assert_eq(madvise(f->hva + p * 4096, 4096, MADV_DONTNEED), 0);
	}
	cr_assert_eq(thpvm_region_coverage(f->r, THPVM_COVERAGE_REFRESH, &cov), 0);
	cr_assert_eq(cov.nr_split, f->nr_extents);
}

/* Pages but each extent's page 0 that lost the fixture's pattern. */
static inline uint64_t fixture_bad_pages(const struct collapse_fixture *f)
{
	uint64_t bad = 0;

	for (uint64_t p = 0; p < f->nr_pages; p++)
		if (p % PAGES_PER_EXTENT)
			bad += !pattern_check_page(f->hva + p * 4096, p, f->gen, SEED);
	return bad;
}

/* An engine and the extents it takes per operation. */
struct engine_ctx {
	const char *name;
	enum thpvm_collapse_engine engine;
	unsigned batch;
};

static const struct engine_ctx engine_madv __attribute__((unused)) = { "madv", THPVM_COLLAPSE_ENGINE_MADV, 8 };
static const struct engine_ctx engine_remap __attribute__((unused)) = { "remap", THPVM_COLLAPSE_ENGINE_REMAP, 8 };
static const struct engine_ctx engine_auto __attribute__((unused)) = { "auto", THPVM_COLLAPSE_ENGINE_AUTO, 16 };

/*
 * One test per backing x engine: COLLAPSE_TABLE(fn) defines
 * collapse::fn_anon_madv ... collapse::fn_file_auto, each calling
 * fn(&backing_B, &engine_E).
 */
#define COLLAPSE_CELL(fn, b, e, ...)                                                                 \
	Test(collapse, fn##_##b##_##e, ##__VA_ARGS__)                                                \
	{                                                                                            \
		fn(&backing_##b, &engine_##e);                                                       \
	}
#define COLLAPSE_TABLE_ROW(fn, b, ...)                                                               \
	COLLAPSE_CELL(fn, b, madv, ##__VA_ARGS__)                                                    \
	COLLAPSE_CELL(fn, b, remap, ##__VA_ARGS__)                                                   \
	COLLAPSE_CELL(fn, b, auto, ##__VA_ARGS__)
#define COLLAPSE_TABLE(fn, ...)                                                                      \
	COLLAPSE_TABLE_ROW(fn, anon, ##__VA_ARGS__)                                                  \
	COLLAPSE_TABLE_ROW(fn, shmem, ##__VA_ARGS__)                                                 \
	COLLAPSE_TABLE_ROW(fn, file, ##__VA_ARGS__)

/* Whether the engine tries MADV_COLLAPSE / copy-and-remap at all. */
static inline bool engine_tries_madv(const struct engine_ctx *e)
{
	return e->engine != THPVM_COLLAPSE_ENGINE_REMAP;
}
static inline bool engine_tries_remap(const struct engine_ctx *e)
{
	return e->engine != THPVM_COLLAPSE_ENGINE_MADV;
}

/* The engine that collapses backing b when e is asked for. */
static inline enum thpvm_collapse_engine cell_collapser(const struct backing_ops *b, const struct engine_ctx *e)
{
	return engine_tries_madv(e) && b->madv ? THPVM_COLLAPSE_ENGINE_MADV : THPVM_COLLAPSE_ENGINE_REMAP;
}

/*
 * Why e cannot collapse b's split extents (uffd: the host has userfaultfd
 * write-protect; hook: the collapser has a quiesce hook), or NULL.
 */
static inline const char *cell_refusal(const struct backing_ops *b, const struct engine_ctx *e, bool uffd, bool hook)
{
	if (engine_tries_madv(e) && b->madv)
		return NULL;
	if (engine_tries_remap(e) && ((b->wp && uffd) || hook))
		return NULL;
	if (!engine_tries_remap(e))
		return "MADV_COLLAPSE refuses a private file range holding copied pages (EINVAL)";
	return b->wp ? "no userfaultfd write-protect on this host, and no quiesce hook"
		     : "userfaultfd cannot write-protect a private ext4 mapping, and there is no quiesce hook";
}

/* The quiesce hook of a VM whose vCPUs do not run: nothing to stop. */
static inline int quiesce_stopped_vm(void *arg, bool stop)
{
	(void)arg;
	(void)stop;
	return 0;
}

/* Whether this host's collapser has userfaultfd write-protect (struct thpvm_collapse_stats.uffd). */
static inline bool host_uffd_wp(void)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	struct thpvm_collapse *c;
	struct thpvm_memmap *map;

	thpvm_collapse_config_default(&cfg);
	cr_assert_eq(thpvm_memmap_create(&map), 0);
	cr_assert_eq(thpvm_collapse_create(map, &cfg, &c), 0, "%s", thpvm_last_error());
	thpvm_collapse_stats(c, &st);
	thpvm_collapse_destroy(c);
	thpvm_memmap_destroy(map);
	return st.uffd;
}

/* Skips a scenario that needs a collapse where e cannot collapse b (the refusal itself is asserted in test_collapse.c). */
static inline void cell_require(const struct backing_ops *b, const struct engine_ctx *e, bool hook)
{
	const char *refusal = cell_refusal(b, e, host_uffd_wp(), hook);

	if (refusal)
		cr_skip_test("%s, %s: %s", b->name, e->name, refusal);
}

/* The page of extent i a forked child writes: never the head page, which keeps the extent's pagemap honest. */
static inline unsigned written_page(unsigned i)
{
	return 1 + i % 511;
}

/* The page of extent i a vCPU-like writer thread writes (test_collapse.c). */
static inline unsigned writer_page(unsigned i)
{
	return written_page(i) + 1;
}

/*
 * Pages of a region that hold none of: gen 1; gen 2 in written_page(i) of
 * the first nr_written extents (a forked child's copies); gen 100 + seq[i]
 * in writer_page(i) where seq (a writer's last writes, or NULL) is set.
 */
static inline uint64_t check_child_data(const void *hva, unsigned nr_extents, unsigned nr_written, const uint32_t *seq)
{
	uint64_t bad = 0;

	for (unsigned i = 0; i < nr_extents; i++)
		for (unsigned p = 0; p < PAGES_PER_EXTENT; p++) {
			uint32_t gen = i < nr_written && p == written_page(i) ? 2 : 1;
			uint64_t idx = (uint64_t)i * PAGES_PER_EXTENT + p;

			if (seq && seq[i] && p == writer_page(i))
				gen = 100 + seq[i];
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

/* In a run_in_child() function: fails the child with a reason unless cond holds. */
#define CHILD_EXPECT(reason_fd, cond, status, ...)                                                   \
	do {                                                                                         \
		if (!(cond))                                                                         \
			return child_fail(reason_fd, status, __VA_ARGS__);                           \
	} while (0)

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
/* The results a collapser counted that are not zero, "NAME=N ..." (a static buffer), for failure messages. */
static inline const char *results_why(const struct thpvm_collapse_stats *st)
{
	static char buf[512];
	size_t used = 0;

	buf[0] = '\0';
	for (unsigned r = 0; r < THPVM_NR_COLLAPSE_RESULTS && used < sizeof(buf) - 64; r++)
		if (st->results[r])
			used += (size_t)snprintf(buf + used, sizeof(buf) - used, "%s=%llu ",
						 thpvm_collapse_result_name((enum thpvm_collapse_result)r),
						 (unsigned long long)st->results[r]);
	return buf;
}

static inline unsigned run_passes(struct thpvm_collapse *c, unsigned max_passes)
{
	struct thpvm_collapse_pass pass;
	unsigned n;
	bool idle_round = false;

	for (n = 0; n < max_passes; n++) {
		if (thpvm_collapse_run_pass(c, &pass))
			break;
		/* a real failure on a busy host (the allocator, a contended lock) backs off: wait it out, as the thread does */
		if (pass.backing_off) {
			struct thpvm_collapse_stats st;

			thpvm_collapse_stats(c, &st);
			usleep((useconds_t)(st.backoff_ms_now * 1000 + 1000));
			continue;
		}
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
	/* what the collapser made is private THP, told apart from the page cache's PMDs (coverage "file") */
	if (cov.huge_bytes - cov.huge_file_bytes != cov.smaps_anon_huge_bytes)
		return child_fail(reason, status + 1, "%llu extents huge, %llu of them the page cache's, AnonHugePages %llu",
				  (unsigned long long)cov.nr_huge, (unsigned long long)cov.nr_huge_file,
				  (unsigned long long)cov.smaps_anon_huge_bytes);
	return 0;
}

#endif
