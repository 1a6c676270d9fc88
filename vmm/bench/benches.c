/* SPDX-License-Identifier: MIT */
#include <stddef.h>
#include "bench.h"

extern const struct bench bench_coverage;
extern const struct bench bench_tlb;
extern const struct bench bench_collapse_mem;
extern const struct bench bench_fork;
extern const struct bench bench_collapse;
extern const struct bench bench_snapshot;
extern const struct bench bench_blk;
extern const struct bench bench_clone;

const struct bench *const benches[] = {
	&bench_coverage,
	&bench_tlb,
	&bench_collapse_mem,
	&bench_fork,
	&bench_collapse,
	&bench_snapshot,
	&bench_blk,
	&bench_clone,
	NULL,
};
