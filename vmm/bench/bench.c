/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"
#include "cli/cli.h"
#include "../kvm/kvm_host.h"

/* Where this run's numbers come from: every table is printed under it, every --json file carries it. */
static struct kvm_host bench_host;

const struct kvm_host *bench_host_get(void)
{
	return &bench_host;
}

void bench_warm_memory(uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return;
	madvise(p, size, MADV_HUGEPAGE);
	madvise(p, size, 23 /* MADV_POPULATE_WRITE */);
	munmap(p, size);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* v's n values sorted, in a copy (caller frees); NULL for none or out of memory. */
static double *sorted_copy(const double *v, size_t n)
{
	double *s = n ? malloc(n * sizeof(*s)) : NULL;

	if (!s)
		return NULL;
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	return s;
}

double bench_percentile(const double *v, size_t n, double p)
{
	double *s = sorted_copy(v, n), r;
	size_t rank;

	if (!s)
		return NAN;
	rank = (size_t)ceil(p / 100.0 * (double)n);
	r = s[rank ? rank - 1 : 0];
	free(s);
	return r;
}

double bench_median(const double *v, size_t n)
{
	double *s = sorted_copy(v, n), r;

	if (!s)
		return NAN;
	r = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2.0;
	free(s);
	return r;
}

void bench_progress(const char *label, unsigned i, unsigned n)
{
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\r%s %u/%u   ", label, i, n);
}

void bench_progress_done(void)
{
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\r\033[K");
}

/* The host the numbers come from (KVM kind, paging, emulated or not), as JSON. */
static json_t *bench_host_json(void)
{
	return json_pack("{s:s, s:s, s:s, s:b, s:s}", "kvm", kvm_host_kind_str(bench_host.kind), "paging",
			 kvm_paging_str(bench_host.paging), "what", bench_host.what, "emulated", bench_host.emulated,
			 "timing_note", kvm_host_timing_note(&bench_host));
}

int bench_json_write(json_t *j, const char *path)
{
	json_object_set_new(j, "host", bench_host_json());
	return json_dump_file(j, path, JSON_INDENT(1)) ? -EIO : 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: thpvm bench NAME [OPTIONS]\n\nbenchmarks:\n");
	for (const struct bench *const *b = benches; *b; b++)
		fprintf(out, "  %-9s %s\n", (*b)->name, (*b)->summary);
}

static int cmd_bench_run(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	for (const struct bench *const *b = benches; *b; b++) {
		if (strcmp(argv[1], (*b)->name))
			continue;
		if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
			printf("usage: %s\n%s\n", (*b)->usage, (*b)->summary);
			return 0;
		}
		kvm_host_detect(&bench_host);
		/* the host type beside every figure: a TCG-emulated CPU's timings say nothing about hardware */
		printf("bench %s: host: %s; paging: %s%s%s\n", (*b)->name, bench_host.what, kvm_paging_str(bench_host.paging),
		       bench_host.emulated ? "; timings " : "", kvm_host_timing_note(&bench_host));
		fflush(stdout);
		return (*b)->run(argc - 1, argv + 1);
	}
	cli_error("unknown benchmark '%s' (try 'thpvm bench --help')", argv[1]);
	return 2;
}

const struct cli_command cmd_bench = {
	.name = "bench",
	.summary = "run a benchmark (coverage, ...) and print medians",
	.usage = "thpvm bench NAME [OPTIONS]   (thpvm bench --help lists them)",
	.run = cmd_bench_run,
};

int bench_parse_sizes(const char *arg, uint64_t min, uint64_t max, uint64_t *sizes, unsigned max_n)
{
	char *copy = strdup(arg), *save = NULL;
	unsigned n = 0;

	for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (n == max_n || parse_size(t, &v) || v < min || v > max || v % (2ULL << 20)) {
			free(copy);
			return -EINVAL;
		}
		sizes[n++] = v;
	}
	free(copy);
	return n ? (int)n : -EINVAL;
}
