/* SPDX-License-Identifier: MIT */
/*
 * The file backing (a snapshot file mapped MAP_PRIVATE): validated, read
 * through the page cache (PMD-mapped where the file system gives large
 * folios), copied page by page on write, and the file never changes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <thpvm.h>
#include "helpers.h"

#define SIZE (16 * MIB)

static char path[64];
static int fd = -1;
static struct thpvm_memmap *map;

static void setup(void)
{
	void *buf = malloc(SIZE);

	snprintf(path, sizeof(path), "/var/tmp/thpvm-memmap-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0) {
		snprintf(path, sizeof(path), "thpvm-memmap-XXXXXX");
		fd = mkstemp(path);
	}
	cr_assert_geq(fd, 0, "cannot create a test file: %m");
	cr_assert_not_null(buf);
	pattern_fill(buf, 0, SIZE / 4096, 1, 9);
	cr_assert_eq(pwrite(fd, buf, SIZE, 0), (ssize_t)SIZE);
	cr_assert_eq(fsync(fd), 0); /* clean page cache, as a snapshot file on disk would be */
	free(buf);
	cr_assert_eq(thpvm_memmap_create(&map), 0);
}

static void teardown(void)
{
	thpvm_memmap_destroy(map);
	close(fd);
	unlink(path);
}

TestSuite(memmap_file, .init = setup, .fini = teardown, .timeout = 60);

static void expect_refused(struct thpvm_region_config *cfg, int err, enum thpvm_map_result result)
{
	cr_assert_eq(thpvm_memmap_add(map, cfg, NULL), -err);
	cr_assert_eq(thpvm_memmap_last_result(map), result, "got %s, want %s",
		     thpvm_map_result_name(thpvm_memmap_last_result(map)), thpvm_map_result_name(result));
	cr_assert(strstr(thpvm_last_error(), thpvm_map_result_str(result)), "%s", thpvm_last_error());
	cr_assert_eq(thpvm_memmap_nr_regions(map), 0);
}

Test(memmap_file, bad_files_are_refused)
{
	struct thpvm_region_config cfg = { .size_bytes = SIZE, .backing = THPVM_BACKING_FILE, .fd = -1 };
	int dir = open("/var/tmp", O_RDONLY | O_DIRECTORY);

	expect_refused(&cfg, EBADF, THPVM_MAP_BAD_FILE);
	cfg.fd = dir;
	expect_refused(&cfg, EBADF, THPVM_MAP_BAD_FILE);
	close(dir);
	cfg.fd = fd;
	cfg.file_offset = 100;
	expect_refused(&cfg, EINVAL, THPVM_MAP_UNALIGNED_OFFSET);
	cfg.file_offset = 4096;
	expect_refused(&cfg, EINVAL, THPVM_MAP_FILE_TOO_SHORT);
	cfg.file_offset = 0;
	cfg.size_bytes = SIZE + 4096;
	expect_refused(&cfg, EINVAL, THPVM_MAP_FILE_TOO_SHORT);
	cfg.size_bytes = SIZE;
	cr_assert_eq(thpvm_memmap_add(map, &cfg, NULL), 0, "%s", thpvm_last_error());
}

Test(memmap_file, reads_share_the_page_cache_writes_stay_private)
{
	struct thpvm_region_config cfg = { .size_bytes = 8 * MIB, .backing = THPVM_BACKING_FILE, .fd = fd,
					   .file_offset = 4 * MIB, .gpa = 2 * MIB, .populate = THPVM_POPULATE_PREFAULT };
	struct thpvm_region_info info;
	struct thpvm_coverage cov;
	struct thpvm_region *r;
	enum thpvm_backing b;
	uint8_t *hva;
	char page[4096];

	cr_assert_eq(thpvm_backing_parse("file", &b), 0);
	cr_assert_eq(b, THPVM_BACKING_FILE);
	cr_assert_eq(thpvm_memmap_add(map, &cfg, &r), 0, "%s", thpvm_last_error());
	close(fd);
	fd = open(path, O_RDONLY); /* the mapping keeps its own reference */
	thpvm_region_get_info(r, &info);
	hva = info.hva;
	cr_assert_eq(info.backing, THPVM_BACKING_FILE);
	cr_assert_eq(pattern_check(hva, 1024, 2048, 1, 9), 0, "the region does not show file bytes [4 MiB, 12 MiB)");
	/* populated by reading: nothing was copied */
	cr_assert_eq(thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH | THPVM_COVERAGE_DETAIL | THPVM_COVERAGE_SMAPS, &cov),
		     0);
	cr_assert_eq(cov.present_bytes, 8 * MIB);
	cr_assert_eq(cov.smaps_private_dirty_bytes, 0);
	cr_log_info("file region: %llu of 4 extents huge, FilePmdMapped %llu MiB",
		    (unsigned long long)cov.nr_huge, (unsigned long long)(cov.smaps_file_pmd_bytes / MIB));
	cr_assert_eq(cov.smaps_file_pmd_bytes, cov.huge_bytes, "PAGEMAP_SCAN and smaps disagree");
	/* a write copies one page and splits its extent; the file keeps its bytes */
	pattern_fill_page(hva + 4096, 1025, 2, 9);
	cr_assert_eq(thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH | THPVM_COVERAGE_DETAIL | THPVM_COVERAGE_SMAPS, &cov),
		     0);
	cr_assert_geq(cov.nr_split, 1);
	cr_assert_eq(cov.split_private_bytes, 4096);
	cr_assert_eq(cov.smaps_private_dirty_bytes, 4096);
	cr_assert_eq(pread(fd, page, sizeof(page), 4 * MIB + 4096), (ssize_t)sizeof(page));
	cr_assert(pattern_check_page(page, 1025, 1, 9), "the private write reached the file");
	cr_assert(pattern_check_page(hva + 4096, 1025, 2, 9));
}

/*
 * Coverage of RAM mapped from a file tells apart what a clone got: extents
 * PMD-mapped from the page cache (smaps FilePmdMapped, where the file
 * system gives large folios), split ones holding copied 4 KiB pages, absent
 * ones; in the JSON report's "file" object too.
 */
Test(memmap_file, coverage_tells_page_cache_pmds_split_and_absent_extents_apart)
{
	struct thpvm_region_config cfg = { .size_bytes = 8 * MIB, .backing = THPVM_BACKING_FILE, .fd = fd };
	struct thpvm_coverage cov;
	struct thpvm_region *r;
	struct thpvm_region_info info;
	json_t *j, *file;
	volatile uint8_t sink;
	uint8_t *hva;

	cr_assert_eq(thpvm_memmap_add(map, &cfg, &r), 0, "%s", thpvm_last_error());
	thpvm_region_get_info(r, &info);
	hva = info.hva;
	/* extents 0 and 1 read (from the page cache), 1 written once (a copied page), 2 and 3 untouched */
	sink = hva[0];
	sink = hva[2 * MIB];
	(void)sink;
	hva[2 * MIB + 4096] ^= 1;
	cr_assert_eq(thpvm_region_coverage(r, THPVM_COVERAGE_ALL, &cov), 0, "%s", thpvm_last_error());
	cr_assert(cov.file_backed);
	cr_assert_eq(cov.nr_absent, 2);
	cr_assert_eq(cov.nr_huge_file, cov.nr_huge, "no private THP was made: every huge extent is the page cache's");
	cr_assert_eq(cov.huge_file_bytes, cov.smaps_file_pmd_bytes, "PMDs from the page cache: %llu, FilePmdMapped %llu",
		     (unsigned long long)cov.huge_file_bytes, (unsigned long long)cov.smaps_file_pmd_bytes);
	cr_assert_eq(cov.nr_huge_file + cov.nr_split, 2);
	cr_assert_geq(cov.nr_split, 1, "the written extent is split");
	cr_assert_eq(cov.split_private_bytes, 4096, "one copied page");
	cr_assert_eq(cov.smaps_anon_huge_bytes, 0);
	cr_log_info("file region on this file system: %llu extent(s) PMD-mapped from the page cache",
		    (unsigned long long)cov.nr_huge_file);
	j = thpvm_coverage_to_json(&cov);
	file = json_object_get(j, "file");
	cr_assert_not_null(file, "the JSON report has the file object");
	cr_assert_eq(json_integer_value(json_object_get(file, "pmd_mapped_extents")), (json_int_t)cov.nr_huge_file);
	cr_assert_eq(json_integer_value(json_object_get(file, "private_huge_extents")), 0);
	cr_assert_eq(json_integer_value(json_object_get(file, "split_extents")), (json_int_t)cov.nr_split);
	cr_assert_eq(json_integer_value(json_object_get(file, "absent_extents")), 2);
	json_decref(j);
}
