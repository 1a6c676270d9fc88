/* SPDX-License-Identifier: MIT */
/* thpvm bench: each benchmark in its own file, sharing statistics and timing helpers. */
#ifndef THPVM_BENCH_H
#define THPVM_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct bench {
	const char *name;
	const char *summary;
	const char *usage;
	int (*run)(int argc, char **argv);
};

extern const struct bench *const benches[];

uint64_t bench_now_ns(void);
/* Median of n samples (sorts a copy). */
double bench_median(const double *v, size_t n);
/* Percentile p in [0, 100] of n samples, nearest rank (sorts a copy). */
double bench_percentile(const double *v, size_t n, double p);
/* A progress line on stderr when it is a terminal: "\r<label> i/n". */
void bench_progress(const char *label, unsigned i, unsigned n);
void bench_progress_done(void);

#endif
