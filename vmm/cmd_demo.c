/* SPDX-License-Identifier: MIT */
/* thpvm demo: the project's main job, end to end, on this machine. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <thpvm.h>
#include "bench/bench.h"
#include "cli.h"

static int progress(uint64_t done, uint64_t total, void *arg)
{
	if (isatty(STDOUT_FILENO))
		printf("\r  prefault %s: %3llu%%", (const char *)arg, (unsigned long long)(done * 100 / total));
	return 0;
}

/* One backing mode: allocate, prefault, report. A backing the host cannot give is reported, not fatal. */
static int demo_backing(enum thpvm_backing backing, uint64_t size_bytes)
{
	struct thpvm_region_config cfg = {
		.name = "ram",
		.size_bytes = size_bytes,
		.backing = backing,
		.populate = THPVM_POPULATE_PREFAULT,
		.progress = progress,
		.progress_arg = (void *)thpvm_backing_str(backing),
	};
	struct thpvm_memmap *map;
	struct thpvm_coverage cov;
	struct thpvm_host_thp host;
	uint64_t t0, t1, t2;
	char sz[32];
	int ret;

	printf("\n== %s backing, %s ==\n", thpvm_backing_str(backing), format_size(size_bytes, sz, sizeof(sz)));
	fflush(stdout);
	if (thpvm_memmap_create(&map))
		return -1;
	t0 = bench_now_ns();
	ret = thpvm_memmap_add(map, &cfg, NULL);
	t1 = bench_now_ns();
	if (isatty(STDOUT_FILENO))
		printf("\r\033[K");
	if (ret) {
		printf("  not available here: %s\n", thpvm_last_error());
		thpvm_memmap_destroy(map);
		return 0;
	}
	printf("  allocated and prefaulted in %.1f ms\n", (double)(t1 - t0) / 1e6);
	thpvm_memmap_coverage_print(stdout, map, THPVM_COVERAGE_ALL);
	t1 = bench_now_ns();
	thpvm_memmap_coverage(map, THPVM_COVERAGE_REFRESH, &cov);
	t2 = bench_now_ns();
	thpvm_host_thp_read(&host);
	printf("  coverage measured in %.3f ms (%s)\n", (double)(t2 - t1) / 1e6,
	       host.pagemap_scan ? "one PAGEMAP_SCAN walk" : "/proc/self/pagemap");
	thpvm_memmap_destroy(map);
	return 0;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = { { "memory", required_argument, NULL, 'm' }, { 0 } };
	uint64_t size_bytes = 1ULL << 30;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'm' || parse_size(optarg, &size_bytes) || !size_bytes || size_bytes % (2ULL << 20)) {
			cli_error("demo: --memory expects a non-zero multiple of 2 MiB, e.g. 1G");
			return 2;
		}
	}
	printf("thpvm demo: guest RAM on transparent huge pages, measured per 2 MiB extent\n");
	for (unsigned b = 0; b < THPVM_NR_BACKINGS; b++)
		if (b != THPVM_BACKING_FILE && demo_backing((enum thpvm_backing)b, size_bytes))
			return 1;
	return 0;
}

const struct cli_command cmd_demo = {
	.name = "demo",
	.summary = "show the project's main job on this machine",
	.usage = "thpvm demo [--memory SIZE]",
	.run = run,
};
