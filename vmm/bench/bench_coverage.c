/* SPDX-License-Identifier: MIT */
/*
 * How long measuring coverage takes: PAGEMAP_SCAN vs /proc/self/pagemap for
 * the whole region, per-page detail for every extent, and smaps. The methods
 * are interleaved in every repetition so machine noise hits all of them.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <thpvm.h>
#include "bench.h"
#include "util/util.h"
#include "util/opts.h"
#include "util/clock.h"

enum method { M_SCAN, M_PAGEMAP, M_DETAIL, M_SMAPS, NR_METHODS };
static const char *const method_name[] = { "pagemap_scan", "pagemap_read", "detail_all_extents", "smaps" };

static int measure(struct thpvm_region *r, enum method m)
{
	struct thpvm_coverage cov;
	int ret = 0;

	switch (m) {
	case M_SCAN:
		thpvm_pagemap_scan_enable(true);
		return thpvm_region_refresh(r);
	case M_PAGEMAP:
		thpvm_pagemap_scan_enable(false);
		ret = thpvm_region_refresh(r);
		thpvm_pagemap_scan_enable(true);
		return ret;
	case M_DETAIL:
		for (uint64_t i = 0; i < thpvm_region_nr_extents(r) && !ret; i++)
			ret = thpvm_region_refresh_detail(r, i);
		return ret;
	default:
		return thpvm_region_coverage(r, THPVM_COVERAGE_SMAPS, &cov);
	}
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "memory", required_argument, NULL, 'm' },
		{ "backing", required_argument, NULL, 'b' },
		{ "reps", required_argument, NULL, 'r' },
		{ "json", required_argument, NULL, 'j' },
		{ 0 },
	};
	struct thpvm_region_config cfg = { .name = "ram", .size_bytes = 1ULL << 30, .populate = THPVM_POPULATE_PREFAULT };
	const char *json_path = NULL;
	uint64_t reps = 21;
	struct thpvm_memmap *map;
	struct thpvm_region *r;
	struct thpvm_coverage cov;
	double *ms[NR_METHODS];
	char sz[32];
	int c, ret;

	opt_begin();
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_size(optarg, &cfg.size_bytes) || !cfg.size_bytes || cfg.size_bytes % (2ULL << 20)) {
				cli_error("--memory '%s': expected a non-zero multiple of 2 MiB, e.g. 1G", optarg);
				return 2;
			}
			break;
		case 'b':
			if (thpvm_backing_parse(optarg, &cfg.backing)) {
				cli_error("--backing: %s", thpvm_last_error());
				return 2;
			}
			break;
		case 'r':
			if (parse_uint(optarg, 1, 100000, &reps)) {
				cli_error("--reps '%s': expected 1..100000", optarg);
				return 2;
			}
			break;
		case 'j':
			json_path = optarg;
			break;
		default:
			return opt_bad("bench coverage", c, argv);
		}
	}
	if (opt_rest("bench coverage", argc, argv))
		return 2;
	if (thpvm_memmap_create(&map) || (ret = thpvm_memmap_add(map, &cfg, &r))) {
		cli_error("%s", thpvm_last_error());
		return 1;
	}
	thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH, &cov);
	printf("bench coverage: %s %s region, prefaulted, %.1f%% HUGE, %llu repetitions\n",
	       format_size(cfg.size_bytes, sz, sizeof(sz)), thpvm_backing_str(cfg.backing),
	       thpvm_coverage_pct(&cov, cov.huge_bytes), (unsigned long long)reps);
	for (int m = 0; m < NR_METHODS; m++)
		ms[m] = calloc(reps, sizeof(double));
	for (int m = 0; m < NR_METHODS; m++) /* warm-up: page in pagemap and smaps code paths */
		measure(r, (enum method)m);
	for (uint64_t i = 0; i < reps; i++) {
		bench_progress("bench coverage", (unsigned)i + 1, (unsigned)reps);
		for (int m = 0; m < NR_METHODS; m++) {
			uint64_t t0 = util_mono_ns();

			if ((ret = measure(r, (enum method)m))) {
				bench_progress_done();
				cli_error("%s failed: %s", method_name[m], strerror(-ret));
				return 1;
			}
			ms[m][i] = (double)(util_mono_ns() - t0) / 1e6;
		}
	}
	bench_progress_done();
	printf("%-20s %10s %10s %10s\n", "method", "median ms", "p90 ms", "ratio");
	double base = bench_median(ms[M_SCAN], reps);
	for (int m = 0; m < NR_METHODS; m++) {
		double med = bench_median(ms[m], reps);

		printf("%-20s %10.3f %10.3f %9.1fx\n", method_name[m], med, bench_percentile(ms[m], reps, 90), med / base);
	}
	if (json_path) {
		json_t *root = json_pack("{s:s, s:I, s:s, s:I, s:o}", "bench", "coverage", "size_bytes",
					 (json_int_t)cfg.size_bytes, "backing", thpvm_backing_str(cfg.backing), "reps",
					 (json_int_t)reps, "samples_ms", json_object());
		for (int m = 0; m < NR_METHODS; m++) {
			json_t *a = json_array();

			for (uint64_t i = 0; i < reps; i++)
				json_array_append_new(a, json_real(ms[m][i]));
			json_object_set_new(json_object_get(root, "samples_ms"), method_name[m], a);
		}
		if (bench_json_write(root, json_path)) {
			cli_error("cannot write %s", json_path);
			ret = 1;
		}
		json_decref(root);
	}
	for (int m = 0; m < NR_METHODS; m++)
		free(ms[m]);
	thpvm_memmap_destroy(map);
	return ret ? 1 : 0;
}

const struct bench bench_coverage = {
	.name = "coverage",
	.summary = "time to measure a region's coverage (PAGEMAP_SCAN vs pagemap, detail, smaps)",
	.usage = "thpvm bench coverage [--memory SIZE] [--backing thp|4k|hugetlb] [--reps N] [--json FILE]",
	.run = run,
};
