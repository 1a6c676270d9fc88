/* SPDX-License-Identifier: MIT */
/*
 * A MAP_PRIVATE file mapping with copied pages: the case MADV_COLLAPSE
 * answers EINVAL and the kernel can never re-promote. userfaultfd cannot
 * write-protect such a mapping either (ext4 MAP_PRIVATE: UFFDIO_REGISTER
 * says EINVAL), so copy-and-remap stops the writers through the quiesce
 * hook, which a VMM implements by pausing its vCPUs. The file lives on the
 * real disk (ext4 gives large folios, tmpfs here gives no THP).
 */
#include "config.h" /* _GNU_SOURCE: memfd_create */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <unistd.h>
#include <thpvm.h>
#include "collapse_common.h"
#include "require.h"

#define NR_EXTENTS 16
#define SIZE (NR_EXTENTS * 2 * MIB)

struct file_fixture {
	char path[64];
	int fd;
	struct thpvm_memmap *map;
	struct thpvm_region *r;
	uint8_t *hva;
};

/* A file of the gen-1 pattern on the real disk, mapped private with the file backing, one page per extent copied. */
static void file_setup(struct file_fixture *f)
{
	struct thpvm_region_config rc = { .size_bytes = SIZE, .backing = THPVM_BACKING_FILE,
					  .populate = THPVM_POPULATE_PREFAULT };
	struct thpvm_region_info info;
	struct thpvm_coverage cov;
	void *buf = malloc(SIZE);

	snprintf(f->path, sizeof(f->path), "/var/tmp/thpvm-collapse-XXXXXX");
	f->fd = mkstemp(f->path);
	if (f->fd < 0) {
		snprintf(f->path, sizeof(f->path), "thpvm-collapse-XXXXXX"); /* the build directory */
		f->fd = mkstemp(f->path);
	}
	cr_assert_geq(f->fd, 0, "cannot create a test file: %m");
	cr_assert_not_null(buf);
	pattern_fill(buf, 0, NR_EXTENTS * PAGES_PER_EXTENT, 1, SEED);
	cr_assert_eq(pwrite(f->fd, buf, SIZE, 0), (ssize_t)SIZE);
	cr_assert_eq(fsync(f->fd), 0); /* clean page cache, as a snapshot file on disk would be */
	free(buf);
	rc.fd = f->fd;
	cr_assert_eq(thpvm_memmap_create(&f->map), 0);
	cr_assert_eq(thpvm_memmap_add(f->map, &rc, &f->r), 0, "%s", thpvm_last_error());
	thpvm_region_get_info(f->r, &info);
	f->hva = info.hva;
	cr_assert_eq(check_child_data(f->hva, NR_EXTENTS, 0), 0, "the mapping does not show the file");
	cr_assert_eq(thpvm_region_coverage(f->r, THPVM_COVERAGE_REFRESH | THPVM_COVERAGE_SMAPS, &cov), 0);
	cr_log_info("file region after populate: %llu of %d extents huge, FilePmdMapped %llu MiB",
		    (unsigned long long)cov.nr_huge, NR_EXTENTS, (unsigned long long)(cov.smaps_file_pmd_bytes / MIB));
	child_write_one_page_per_extent(f->hva, NR_EXTENTS);
	cr_assert_eq(thpvm_region_coverage(f->r, THPVM_COVERAGE_REFRESH | THPVM_COVERAGE_DETAIL, &cov), 0);
	cr_assert_eq(cov.nr_split, NR_EXTENTS, "%llu extents split after one copy each", (unsigned long long)cov.nr_split);
	cr_assert_eq(cov.split_private_bytes, NR_EXTENTS * 4096ULL, "copied pages: %llu bytes private",
		     (unsigned long long)cov.split_private_bytes);
}

/* The private writes never reach the file. */
static void file_teardown(struct file_fixture *f)
{
	void *buf = malloc(SIZE);

	cr_assert_eq(pread(f->fd, buf, SIZE, 0), (ssize_t)SIZE);
	cr_expect_eq(pattern_check(buf, 0, NR_EXTENTS * PAGES_PER_EXTENT, 1, SEED), 0, "the file changed");
	free(buf);
	thpvm_memmap_destroy(f->map);
	close(f->fd);
	unlink(f->path);
}

Test(collapse, file_private_without_quiesce_hook_stays_split_and_intact, .timeout = 60)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_pass pass;
	struct thpvm_collapse *c;
	struct file_fixture f;
	struct thpvm_coverage cov;

	REQUIRE_THP();
	file_setup(&f);
	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_AUTO, 4);
	cr_assert_eq(thpvm_collapse_create(f.map, &cfg, &c), 0);
	cr_assert_eq(thpvm_collapse_run_pass(c, &pass), 0);
	cr_assert_eq(pass.nr_collapsed, 0);
	cr_assert_eq(pass.results[THPVM_COLLAPSE_MADV_EINVAL], NR_EXTENTS, "MADV_COLLAPSE said EINVAL %llu times",
		     (unsigned long long)pass.results[THPVM_COLLAPSE_MADV_EINVAL]);
	cr_assert_eq(pass.results[THPVM_COLLAPSE_NO_WRITE_PROTECT], NR_EXTENTS);
	cr_assert_eq(thpvm_region_coverage(f.r, THPVM_COVERAGE_REFRESH, &cov), 0);
	cr_assert_eq(cov.nr_split, NR_EXTENTS);
	cr_assert_eq(check_child_data(f.hva, NR_EXTENTS, NR_EXTENTS), 0);
	thpvm_collapse_destroy(c);
	file_teardown(&f);
}

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

static unsigned writer_page(unsigned i)
{
	return written_page(i) + 1;
}

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
		/* the first write to each page copies it from the file: more private pages as we go */
		pattern_fill_page(w->hva + idx * 4096, idx, 100 + ++w->seq[i], SEED);
		w->nr_writes++;
	}
	return NULL;
}

/* Pages whose data is none of: the file's, the copy written before the collapse, the writer's last write. */
static uint64_t pages_lost(const uint8_t *hva, const struct parking_writer *w)
{
	uint64_t bad = 0;

	for (unsigned i = 0; i < NR_EXTENTS; i++)
		for (unsigned p = 0; p < PAGES_PER_EXTENT; p++) {
			uint64_t idx = (uint64_t)i * PAGES_PER_EXTENT + p;
			uint32_t gen = p == written_page(i) ? 2 : 1;

			if (p == writer_page(i) && w->seq[i])
				gen = 100 + w->seq[i];
			bad += !pattern_check_page(hva + idx * 4096, idx, gen, SEED);
		}
	return bad;
}

static int quiesce(void *arg, bool stop)
{
	struct parking_writer *w = arg;

	w->stop_req = stop;
	if (stop) {
		w->nr_quiesce++;
		while (!__atomic_load_n(&w->parked, __ATOMIC_ACQUIRE))
			sched_yield();
	}
	return 0;
}

Test(collapse, file_private_copy_and_remap_with_quiesce_hook, .timeout = 60)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	struct parking_writer w = { 0 };
	struct thpvm_collapse *c;
	struct file_fixture f;
	uint64_t bad;
	int ret;

	REQUIRE_THP();
	file_setup(&f);
	w.hva = f.hva;
	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_AUTO, 4);
	cfg.quiesce = quiesce;
	cfg.quiesce_arg = &w;
	cr_assert_eq(thpvm_collapse_create(f.map, &cfg, &c), 0);
	cr_assert_eq(pthread_create(&w.thread, NULL, parking_writer_main, &w), 0);
	usleep(10000);
	run_passes(c, 20);
	w.done = true;
	pthread_join(w.thread, NULL);

	thpvm_collapse_stats(c, &st);
	cr_log_info("%llu collapsed in %llu ops, %llu quiesces, %llu writes meanwhile",
		    (unsigned long long)st.nr_collapsed, (unsigned long long)st.nr_ops, (unsigned long long)w.nr_quiesce,
		    (unsigned long long)w.nr_writes);
	cr_assert_eq(st.results[THPVM_COLLAPSE_MADV_EINVAL], NR_EXTENTS, "MADV_COLLAPSE said EINVAL %llu times",
		     (unsigned long long)st.results[THPVM_COLLAPSE_MADV_EINVAL]);
	cr_assert_eq(st.nr_collapsed_by_engine[THPVM_COLLAPSE_ENGINE_REMAP], NR_EXTENTS);
	cr_assert_geq(w.nr_quiesce, NR_EXTENTS / 4);
	cr_assert_gt(w.nr_writes, 0);
	ret = expect_all_huge(f.r, SIZE, 2, 10, true);
	cr_assert_eq(ret, 0, "not all huge after the collapse");
	bad = pages_lost(f.hva, &w);
	cr_assert_eq(bad, 0, "%llu pages lost data", (unsigned long long)bad);
	/* now anonymous THPs: a later split is collapsed by MADV_COLLAPSE, without the hook */
	for (unsigned i = 0; i < NR_EXTENTS; i++)
		cr_assert_eq(madvise(f.hva + i * 2 * MIB, 4096, MADV_DONTNEED), 0);
	w.nr_quiesce = 0;
	run_passes(c, 20);
	thpvm_collapse_stats(c, &st);
	cr_assert_eq(st.nr_collapsed_by_engine[THPVM_COLLAPSE_ENGINE_MADV], NR_EXTENTS,
		     "%llu re-split extents collapsed by MADV_COLLAPSE",
		     (unsigned long long)st.nr_collapsed_by_engine[THPVM_COLLAPSE_ENGINE_MADV]);
	cr_assert_eq(w.nr_quiesce, 0, "the hook was needed again");
	thpvm_collapse_destroy(c);
	file_teardown(&f);
}

Test(collapse, remap_engine_without_write_protect_leaves_the_file_mapping, .timeout = 60)
{
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_pass pass;
	struct thpvm_collapse *c;
	struct file_fixture f;

	REQUIRE_THP();
	file_setup(&f);
	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_REMAP, 1);
	cr_assert_eq(thpvm_collapse_create(f.map, &cfg, &c), 0);
	cr_assert_eq(thpvm_collapse_run_pass(c, &pass), 0);
	cr_assert_eq(pass.results[THPVM_COLLAPSE_NO_WRITE_PROTECT], NR_EXTENTS);
	cr_assert_eq(pass.results[THPVM_COLLAPSE_MADV_EINVAL], 0, "forced remap must not try MADV_COLLAPSE");
	cr_assert_eq(check_child_data(f.hva, NR_EXTENTS, NR_EXTENTS), 0);
	thpvm_collapse_destroy(c);
	file_teardown(&f);
}

/*
 * A snapshot in a memfd (shmem) mapped private: userfaultfd can write-protect
 * shmem, so copy-and-remap needs no quiesce hook there, and a writer that
 * never stops loses nothing.
 */
Test(collapse, shmem_private_copy_and_remap_under_uffd_wp_without_a_hook, .timeout = 60)
{
	struct thpvm_region_config rc = { .size_bytes = SIZE, .backing = THPVM_BACKING_FILE,
					  .populate = THPVM_POPULATE_PREFAULT };
	struct thpvm_collapse_config cfg;
	struct thpvm_collapse_stats st;
	struct thpvm_region_info info;
	struct thpvm_coverage cov;
	struct parking_writer w = { 0 };
	struct thpvm_memmap *map;
	struct thpvm_region *r;
	struct thpvm_collapse *c;
	uint64_t bad;
	void *buf;
	int fd;

	REQUIRE_THP();
	fd = memfd_create("thpvm-snapshot", MFD_CLOEXEC);
	cr_assert_geq(fd, 0, "memfd_create: %m");
	buf = malloc(SIZE);
	pattern_fill(buf, 0, NR_EXTENTS * PAGES_PER_EXTENT, 1, SEED);
	cr_assert_eq(pwrite(fd, buf, SIZE, 0), (ssize_t)SIZE);
	rc.fd = fd;
	cr_assert_eq(thpvm_memmap_create(&map), 0);
	cr_assert_eq(thpvm_memmap_add(map, &rc, &r), 0, "%s", thpvm_last_error());
	thpvm_region_get_info(r, &info);
	w.hva = info.hva;
	child_write_one_page_per_extent(w.hva, NR_EXTENTS);
	cr_assert_eq(thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH, &cov), 0);
	cr_assert_eq(cov.nr_huge, 0);

	test_config(&cfg, THPVM_COLLAPSE_MODE_TLB, THPVM_COLLAPSE_ENGINE_AUTO, 2);
	cr_assert_eq(thpvm_collapse_create(map, &cfg, &c), 0);
	thpvm_collapse_stats(c, &st);
	if (!st.uffd)
		cr_skip_test("no userfaultfd write-protect on this host");
	cr_assert_eq(pthread_create(&w.thread, NULL, parking_writer_main, &w), 0);
	usleep(10000);
	run_passes(c, 20);
	w.done = true;
	pthread_join(w.thread, NULL);
	thpvm_collapse_stats(c, &st);
	cr_log_info("shmem-private: %llu collapsed by copy-and-remap, %llu writer stalls, %llu writes",
		    (unsigned long long)st.nr_collapsed_by_engine[THPVM_COLLAPSE_ENGINE_REMAP],
		    (unsigned long long)st.nr_stalls, (unsigned long long)w.nr_writes);
	cr_assert_eq(st.nr_collapsed_by_engine[THPVM_COLLAPSE_ENGINE_REMAP], NR_EXTENTS);
	cr_assert_eq(st.results[THPVM_COLLAPSE_NO_WRITE_PROTECT], 0);
	cr_assert_eq(expect_all_huge(r, SIZE, 2, 10, false), 0, "not all huge");
	bad = pages_lost(w.hva, &w);
	cr_assert_eq(bad, 0, "%llu pages lost data", (unsigned long long)bad);
	cr_assert_eq(pread(fd, buf, SIZE, 0), (ssize_t)SIZE);
	cr_assert_eq(pattern_check(buf, 0, NR_EXTENTS * PAGES_PER_EXTENT, 1, SEED), 0, "the memfd changed");
	free(buf);
	thpvm_collapse_destroy(c);
	thpvm_memmap_destroy(map);
	close(fd);
}
