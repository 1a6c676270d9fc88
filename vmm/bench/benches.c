/* SPDX-License-Identifier: MIT */
#include <stddef.h>
#include "bench.h"

extern const struct bench bench_coverage;
extern const struct bench bench_tlb;

const struct bench *const benches[] = {
	&bench_coverage,
	&bench_tlb,
	NULL,
};
