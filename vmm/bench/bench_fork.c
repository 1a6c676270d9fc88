/* SPDX-License-Identifier: MIT */
#include "config.h"
#include "bench.h"

static int run(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return 2;
}

const struct bench bench_fork = {
	.name = "fork",
	.summary = "snapshot-fork: latency, density, copy-on-write cost",
	.usage = "thpvm bench fork",
	.run = run,
};
