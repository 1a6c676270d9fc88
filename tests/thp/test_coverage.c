/* SPDX-License-Identifier: MIT */
/* The coverage report as struct, JSON and table, over several regions. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <thpvm.h>
#include "helpers.h"

static struct thpvm_memmap *map;

static void setup(void)
{
	struct thpvm_region_config ram = { .name = "ram", .size_bytes = 32 * MIB, .populate = THPVM_POPULATE_PREFAULT };
	struct thpvm_region_config low = { .name = "low", .gpa = 64 * MIB, .size_bytes = 16 * MIB,
					   .backing = THPVM_BACKING_4K };

	cr_assert_eq(thpvm_memmap_create(&map), 0);
	cr_assert_eq(thpvm_memmap_add(map, &ram, NULL), 0, "%s", thpvm_last_error());
	cr_assert_eq(thpvm_memmap_add(map, &low, NULL), 0, "%s", thpvm_last_error());
	/* half of the 4k region written */
	memset(thpvm_memmap_gpa_to_hva(map, 64 * MIB, 8 * MIB), 1, 8 * MIB);
}

static void teardown(void)
{
	thpvm_memmap_destroy(map);
}

TestSuite(coverage, .init = setup, .fini = teardown);

Test(coverage, map_total_is_the_sum_of_regions)
{
	struct thpvm_coverage total, a, b;

	cr_assert_eq(thpvm_memmap_coverage(map, THPVM_COVERAGE_ALL, &total), 0);
	cr_assert_eq(thpvm_region_coverage(thpvm_memmap_region(map, 0), THPVM_COVERAGE_ALL, &a), 0);
	cr_assert_eq(thpvm_region_coverage(thpvm_memmap_region(map, 1), THPVM_COVERAGE_ALL, &b), 0);
	cr_assert_eq(total.size_bytes, 48 * MIB);
	cr_assert_eq(total.huge_bytes, a.huge_bytes + b.huge_bytes);
	cr_assert_eq(total.split_bytes, a.split_bytes + b.split_bytes);
	cr_assert_eq(total.absent_bytes, a.absent_bytes + b.absent_bytes);
	cr_assert_eq(total.huge_bytes + total.split_bytes + total.absent_bytes, total.size_bytes);
	cr_assert_eq(b.nr_split, 4);
	cr_assert_eq(b.nr_absent, 4);
	cr_assert_eq(b.split_private_bytes, 8 * MIB);
	cr_assert_eq(b.present_bytes, 8 * MIB);
	cr_assert_eq(b.smaps_rss_bytes, 8 * MIB, "smaps Rss %llu", (unsigned long long)b.smaps_rss_bytes);
	if (host_thp_allowed()) {
		cr_assert_eq(a.huge_bytes, 32 * MIB);
		cr_assert_float_eq(thpvm_coverage_pct(&total, total.huge_bytes), 100.0 * 32 / 48, 1e-9);
	}
}

Test(coverage, json_report_has_host_regions_and_total)
{
	json_t *root = thpvm_memmap_coverage_json(map, THPVM_COVERAGE_ALL);
	json_t *regions, *total;

	cr_assert_not_null(root, "%s", thpvm_last_error());
	regions = json_object_get(root, "regions");
	total = json_object_get(root, "total");
	cr_assert_eq(json_array_size(regions), 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(regions, 1), "name")), "low");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(regions, 1), "backing")), "4k");
	cr_assert_eq(json_integer_value(json_object_get(total, "size_bytes")), 48 * MIB);
	cr_assert_not_null(json_object_get(json_object_get(total, "counters"), "thp_fault_alloc"));
	cr_assert_not_null(json_object_get(json_object_get(total, "smaps"), "anon_huge_bytes"));
	cr_assert_not_null(json_object_get(json_object_get(root, "host"), "enabled"));
	cr_assert_not_null(json_object_get(json_object_get(root, "vmstat"), "thp_split_pmd"));
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_array_get(regions, 1), "split_detail"),
						      "private_bytes")),
		     8 * MIB);
	json_decref(root);
}

Test(coverage, table_names_every_region)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_eq(thpvm_memmap_coverage_print(f, map, THPVM_COVERAGE_ALL), 0);
	fclose(f);
	cr_assert(strstr(buf, "host THP: enabled="), "%s", buf);
	cr_assert(strstr(buf, "\nram "), "%s", buf);
	cr_assert(strstr(buf, "\nlow "), "%s", buf);
	cr_assert(strstr(buf, "\ntotal "), "%s", buf);
	cr_assert(strstr(buf, "thp_fault_alloc="), "%s", buf);
	free(buf);
}

/* thpvm_smaps_read over a VMA filter: the "low" region's 8 MiB written, seen by this process and a forked copy. */
static bool in_low(uint64_t start, uint64_t end, void *arg)
{
	const uint8_t *hva = arg;

	return start >= (uint64_t)(uintptr_t)hva && end <= (uint64_t)(uintptr_t)(hva + 16 * MIB);
}

Test(coverage, smaps_reader_sums_the_vmas_asked_for_or_the_whole_process)
{
	uint8_t *low = thpvm_memmap_gpa_to_hva(map, 64 * MIB, 16 * MIB);
	struct thpvm_smaps s, all, child;
	int ret, st;
	pid_t pid;

	cr_assert_eq(thpvm_smaps_read(0, in_low, low, &s), 0, "%s", thpvm_last_error());
	cr_assert_geq(s.nr_vmas, 1);
	cr_assert_eq(s.rss, 8 * MIB, "Rss %llu", (unsigned long long)s.rss);
	cr_assert_eq(s.private_dirty, 8 * MIB);
	cr_assert_eq(s.anon_huge, 0, "a 4k region has no AnonHugePages");
	/* the whole process: at least that, from smaps_rollup */
	cr_assert_eq(thpvm_smaps_read(0, NULL, NULL, &all), 0, "%s", thpvm_last_error());
	cr_assert_eq(all.nr_vmas, 0);
	cr_assert_geq(all.rss, 8 * MIB + 32 * MIB * host_thp_allowed());
	cr_assert_geq(all.pss, 1);
	/* another process: a forked child shares the 8 MiB (each side's Pss is half of it) */
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		pause();
		_exit(0);
	}
	ret = thpvm_smaps_read(pid, in_low, low, &child);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	cr_assert_eq(ret, 0, "%s", thpvm_last_error());
	cr_assert_eq(child.rss, 8 * MIB);
	cr_assert_eq(child.shared_dirty, 8 * MIB, "shared with the parent: %llu", (unsigned long long)child.shared_dirty);
	cr_assert_eq(child.pss, 4 * MIB);
	/* a process that is not there: -ENOENT, and the message names the file */
	cr_assert_eq(thpvm_smaps_read(pid, NULL, NULL, &s), -ENOENT);
	cr_assert(strstr(thpvm_last_error(), "smaps_rollup"), "%s", thpvm_last_error());
}
