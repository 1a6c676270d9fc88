/* SPDX-License-Identifier: MIT */
#include <stddef.h>
#include "bench.h"

extern const struct bench bench_coverage;

const struct bench *const benches[] = {
	&bench_coverage,
	NULL,
};
