/* SPDX-License-Identifier: MIT */
/*
 * thpvm bench tlb: the guest's memory latency under each combination of
 * host backing (thp, 4k, hugetlb) and guest page size (2m, 4k), next to
 * KVM's count of 2 MiB mappings and libthpvm's HUGE coverage, so the table
 * says both how fast a cell is and why.
 *
 * Each backing's RAM is allocated and prefaulted once and reused by every
 * run (fresh memory is slow to touch here: see host-facts); one unrecorded
 * run per cell warms it; then every repetition runs each cell once, in a
 * rotating order, in a new VM over that RAM. A run's latency is its median
 * chunk of 1024 dependent loads (tlbbench): the TSC counts wall time, and
 * the median chunk is immune to the vCPU being preempted now and then.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include <thpvm.h>
#include "bench.h"
#include "plot.h"
#include "util/util.h"
#include "util/opts.h"
#include "util/error.h"
#include "machine/guest_ram.h"
#include "machine/payload.h"
#include "../kvm/vm.h"
#include "../kvm/vm_stats.h"

#define MIB (1ULL << 20)
#define NR_PAGES 2
static const uint64_t guest_pages[NR_PAGES] = { 2 * MIB, 4096 };
static const char *const guest_page_str[NR_PAGES] = { "2m", "4k" };

struct sample {
	double cpa;             /* median chunk, cycles per access */
	double cpa_min;         /* fastest chunk */
	double cpa_all;         /* all laps, preemption included */
	double seq_cpl;         /* sequential pass, cycles per line */
	uint64_t pages_2m, pages_4k;
	double huge_pct;
};

struct cell {
	enum thpvm_backing backing;
	unsigned page;          /* index into guest_pages */
	struct thpvm_memmap *mem;
	const char *skipped;    /* why this cell cannot run here */
	struct sample *samples;
	unsigned nr;
};

struct opts {
	uint64_t ws;
	uint64_t reps;
	uint64_t laps;
	const char *mode;
	const char *json;
	const char *plot;
};

static int progress(uint64_t done, uint64_t total, void *arg)
{
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\rbench tlb: prefault %s RAM %3llu%%   ", (const char *)arg,
			(unsigned long long)(done * 100 / total));
	return 0;
}

static int run_cell(struct cell *c, const struct payload_image *img, const struct opts *o, FILE *null,
		    struct sample *s)
{
	struct payload_args args = { 0 };
	struct payload_config pc = { .image = img, .args = &args, .guest_page_size = guest_pages[c->page], .out = null,
				     .quiet_results = true };
	uint64_t chunk_med, chunk_min, chunk_acc, cycles, acc, seq, seq_acc;
	struct vm_stats_summary sum;
	struct payload *p;
	struct vm *vm;
	char kv[64];
	int ret;

	snprintf(kv, sizeof(kv), "size=%llu", (unsigned long long)o->ws);
	payload_args_add(&args, kv);
	snprintf(kv, sizeof(kv), "laps=%llu", (unsigned long long)o->laps);
	payload_args_add(&args, kv);
	snprintf(kv, sizeof(kv), "mode=%s", o->mode);
	payload_args_add(&args, kv);
	if ((ret = payload_vm_create(c->mem, 1, &pc, &vm, &p)))
		return ret;
	if ((ret = vm_run(vm, 0, NULL))) {
		vm_destroy(vm);
		return ret;
	}
	if (vm->exit.reason != VM_STOP_GUEST_EXIT || vm->exit.status) {
		ret = vmm_fail(-EIO, "tlbbench failed: %s", vm->exit.message);
		vm_destroy(vm);
		return ret;
	}
	if (payload_result(p, "chase_chunk_median_cycles", 0, &chunk_med) ||
	    payload_result(p, "chase_chunk_min_cycles", 0, &chunk_min) ||
	    payload_result(p, "chase_chunk_accesses", 0, &chunk_acc) || payload_result(p, "chase_cycles", 0, &cycles) ||
	    payload_result(p, "chase_accesses", 0, &acc) || payload_result(p, "seq_cycles", 0, &seq) ||
	    payload_result(p, "seq_accesses", 0, &seq_acc) || !chunk_acc || !acc || !seq_acc) {
		vm_destroy(vm);
		return vmm_fail(-EIO, "tlbbench did not report its results");
	}
	if ((ret = vm_stats_summary(vm, &sum))) {
		vm_destroy(vm);
		return ret;
	}
	s->cpa = (double)chunk_med / (double)chunk_acc;
	s->cpa_min = (double)chunk_min / (double)chunk_acc;
	s->cpa_all = (double)cycles / (double)acc;
	s->seq_cpl = (double)seq / (double)seq_acc;
	s->pages_2m = sum.pages_2m;
	s->pages_4k = sum.pages_4k;
	s->huge_pct = thpvm_coverage_pct(&sum.cov, sum.cov.huge_bytes);
	vm_destroy(vm);
	return 0;
}

static double median_of(const struct cell *c, size_t field)
{
	double v[c->nr ? c->nr : 1];

	for (unsigned i = 0; i < c->nr; i++)
		v[i] = *(const double *)((const char *)&c->samples[i] + field);
	return bench_median(v, c->nr);
}

static uint64_t last_u64(const struct cell *c, size_t field)
{
	return c->nr ? *(const uint64_t *)((const char *)&c->samples[c->nr - 1] + field) : 0;
}

static json_t *cells_json(const struct cell *cells, unsigned n, const struct opts *o)
{
	json_t *root = json_pack("{s:s, s:I, s:I, s:I, s:s, s:[]}", "bench", "tlb", "ws_bytes", (json_int_t)o->ws, "reps",
				 (json_int_t)o->reps, "laps", (json_int_t)o->laps, "mode", o->mode, "cells");

	for (unsigned i = 0; i < n; i++) {
		const struct cell *c = &cells[i];
		json_t *cj = json_pack("{s:s, s:s}", "backing", thpvm_backing_str(c->backing), "guest_page",
				       guest_page_str[c->page]);

		if (c->skipped) {
			json_object_set_new(cj, "skipped", json_string(c->skipped));
		} else {
			json_t *a = json_array();

			for (unsigned k = 0; k < c->nr; k++) {
				const struct sample *s = &c->samples[k];

				json_array_append_new(a, json_pack("{s:f, s:f, s:f, s:f, s:I, s:I, s:f}", "cycles_per_access",
								   s->cpa, "chunk_min_cycles_per_access", s->cpa_min,
								   "all_laps_cycles_per_access", s->cpa_all,
								   "seq_cycles_per_line", s->seq_cpl, "kvm_pages_2m",
								   (json_int_t)s->pages_2m, "kvm_pages_4k",
								   (json_int_t)s->pages_4k, "huge_pct", s->huge_pct));
			}
			json_object_set_new(cj, "samples", a);
			json_object_set_new(cj, "median_cycles_per_access",
					    json_real(median_of(c, offsetof(struct sample, cpa))));
		}
		json_array_append_new(json_object_get(root, "cells"), cj);
	}
	return root;
}

static int plot(const struct cell *cells, unsigned n, const struct opts *o)
{
	static const char script[] =
		"set terminal pngcairo size 900,540\n"
		"set output '$PNG'\n"
		"set title 'thpvm bench tlb: guest dependent-load latency'\n"
		"set ylabel 'cycles per access (median)'\n"
		"set style data histograms\n"
		"set style histogram clustered gap 1\n"
		"set style fill solid 0.8 border -1\n"
		"set boxwidth 0.9\n"
		"set yrange [0:*]\n"
		"set key top left\n"
		"plot '$DATA' using 2:xtic(1) title 'guest 2 MiB pages', '' using 3 title 'guest 4 KiB pages'\n";
	char data[1024];
	size_t len = 0;

	len += (size_t)snprintf(data + len, sizeof(data) - len, "# backing guest2m guest4k\n");
	for (unsigned b = 0; b < THPVM_NR_BACKINGS; b++) {
		double v[NR_PAGES] = { 0, 0 };
		bool any = false;

		for (unsigned i = 0; i < n; i++)
			if (cells[i].backing == b && !cells[i].skipped) {
				v[cells[i].page] = median_of(&cells[i], offsetof(struct sample, cpa));
				any = true;
			}
		if (any)
			len += (size_t)snprintf(data + len, sizeof(data) - len, "\"host %s\" %.1f %.1f\n",
						thpvm_backing_str((enum thpvm_backing)b), v[0], v[1]);
	}
	(void)o;
	return bench_plot(o->plot, script, data);
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option opts[] = {
		{ "working-set", required_argument, NULL, 'w' },
		{ "reps", required_argument, NULL, 'r' },
		{ "laps", required_argument, NULL, 'l' },
		{ "mode", required_argument, NULL, 'm' },
		{ "json", required_argument, NULL, 'j' },
		{ "plot", required_argument, NULL, 'p' },
		{ 0 },
	};
	int c;

	*o = (struct opts){ .ws = 1ULL << 30, .reps = 5, .laps = 4, .mode = "page" };
	opt_begin();
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			if (parse_size(optarg, &o->ws) || o->ws < 2 * MIB || o->ws % (2 * MIB) || o->ws > (64ULL << 30)) {
				cli_error("bench tlb: --working-set '%s': expected a multiple of 2 MiB, 2M..64G", optarg);
				return 2;
			}
			break;
		case 'r':
			if (parse_uint(optarg, 1, 1000, &o->reps)) {
				cli_error("bench tlb: --reps '%s': expected 1..1000", optarg);
				return 2;
			}
			break;
		case 'l':
			if (parse_uint(optarg, 1, 1000, &o->laps)) {
				cli_error("bench tlb: --laps '%s': expected 1..1000", optarg);
				return 2;
			}
			break;
		case 'm':
			if (strcmp(optarg, "page") && strcmp(optarg, "line")) {
				cli_error("bench tlb: --mode '%s': expected page or line", optarg);
				return 2;
			}
			o->mode = optarg;
			break;
		case 'j':
			o->json = optarg;
			break;
		case 'p':
			o->plot = optarg;
			break;
		default:
			return opt_bad("bench tlb", c, argv);
		}
	}
	return opt_rest("bench tlb", argc, argv);
}

static void print_table(const struct cell *cells, unsigned n, const struct opts *o)
{
	double base = 0;
	char sz[32];

	for (unsigned i = 0; i < n; i++)
		if (!cells[i].skipped && cells[i].backing == THPVM_BACKING_THP && cells[i].page == 0)
			base = median_of(&cells[i], offsetof(struct sample, cpa));
	printf("bench tlb: tlbbench, working set %s, %s, %llu laps, %llu repetitions, cells interleaved\n",
	       format_size(o->ws, sz, sizeof(sz)),
	       strcmp(o->mode, "line") ? "one line per 4 KiB page" : "every 64-byte line", (unsigned long long)o->laps,
	       (unsigned long long)o->reps);
	printf("%-8s %-6s %14s %7s %9s %9s %9s %9s %7s\n", "backing", "guest", "cycles/access", "ratio", "best",
	       "all-laps", "pages_2m", "pages_4k", "HUGE%");
	for (unsigned i = 0; i < n; i++) {
		const struct cell *c = &cells[i];
		double med;

		if (c->skipped) {
			if (c->page == 0) /* one line per backing: the reason is the host's */
				printf("%-8s %-6s skipped: %s\n", thpvm_backing_str(c->backing), "any", c->skipped);
			continue;
		}
		med = median_of(c, offsetof(struct sample, cpa));
		printf("%-8s %-6s %14.1f %6.2fx %9.1f %9.1f %9llu %9llu %7.1f\n", thpvm_backing_str(c->backing),
		       guest_page_str[c->page], med, base > 0 ? med / base : 0.0,
		       median_of(c, offsetof(struct sample, cpa_min)), median_of(c, offsetof(struct sample, cpa_all)),
		       (unsigned long long)last_u64(c, offsetof(struct sample, pages_2m)),
		       (unsigned long long)last_u64(c, offsetof(struct sample, pages_4k)),
		       median_of(c, offsetof(struct sample, huge_pct)));
	}
	printf("cycles/access: median over repetitions of each run's median chunk of 1024 dependent loads;\n"
	       "best: fastest chunk; all-laps: every load, preemption included; pages_2m/4k: KVM's stage-2\n"
	       "mappings after the run; HUGE%%: guest RAM on 2 MiB THP (libthpvm coverage)\n");
}

static int run(int argc, char **argv)
{
	struct cell cells[THPVM_NR_BACKINGS * NR_PAGES];
	struct payload_image img;
	struct opts o;
	unsigned n = 0, active = 0, done = 0, total;
	uint64_t ram;
	FILE *null;
	int ret, status = 0;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--linux"))
			return bench_tlb_linux(argc, argv);
	if ((ret = parse(argc, argv, &o)))
		return ret;
	ram = payload_ram_for_heap(o.ws);
	if (payload_image_load("tlbbench", &img)) {
		cli_error("bench tlb: %s", vmm_last_error());
		return 1;
	}
	null = fopen("/dev/null", "w");
	memset(cells, 0, sizeof(cells));
	for (unsigned b = 0; b < THPVM_NR_BACKINGS; b++) {
		struct guest_ram_config rc = { .size_bytes = ram, .backing = (enum thpvm_backing)b,
					       .populate = THPVM_POPULATE_PREFAULT, .progress = progress,
					       .progress_arg = (void *)thpvm_backing_str((enum thpvm_backing)b) };
		struct thpvm_memmap *mem = NULL;
		const char *why = NULL;

		/* the file backing is the collapse engines' case, not a TLB baseline, and needs a file */
		if (b == THPVM_BACKING_FILE)
			continue;
		if (guest_ram_create(&rc, &mem))
			why = strdup(vmm_last_error());
		bench_progress_done();
		for (unsigned p = 0; p < NR_PAGES; p++) {
			cells[n] = (struct cell){ .backing = (enum thpvm_backing)b, .page = p, .mem = mem, .skipped = why };
			if (!why) {
				cells[n].samples = calloc(o.reps, sizeof(struct sample));
				active++;
			}
			n++;
		}
	}
	total = active * (unsigned)(o.reps + 1);
	/* warm-up: every cell once, not recorded */
	for (unsigned i = 0; i < n && !status; i++) {
		struct sample s;

		if (cells[i].skipped)
			continue;
		bench_progress("bench tlb (warm-up)", ++done, total);
		if (run_cell(&cells[i], &img, &o, null, &s)) {
			bench_progress_done();
			cli_error("bench tlb: %s", vmm_last_error());
			status = 1;
		}
	}
	for (unsigned r = 0; r < o.reps && !status; r++) {
		for (unsigned k = 0; k < n && !status; k++) {
			struct cell *c = &cells[(k + r) % n];

			if (c->skipped)
				continue;
			bench_progress("bench tlb", ++done, total);
			if (run_cell(c, &img, &o, null, &c->samples[c->nr])) {
				bench_progress_done();
				cli_error("bench tlb: %s", vmm_last_error());
				status = 1;
			} else {
				c->nr++;
			}
		}
	}
	bench_progress_done();
	if (!status) {
		print_table(cells, n, &o);
		if (o.json) {
			json_t *j = cells_json(cells, n, &o);

			if (bench_json_write(j, o.json)) {
				cli_error("bench tlb: cannot write %s", o.json);
				status = 1;
			}
			json_decref(j);
		}
		if (o.plot && plot(cells, n, &o))
			status = 1;
	}
	for (unsigned i = 0; i < n; i++) {
		free(cells[i].samples);
		if (cells[i].page == NR_PAGES - 1) {
			thpvm_memmap_destroy(cells[i].mem);
			free((char *)cells[i].skipped);
		}
	}
	fclose(null);
	payload_image_free(&img);
	return status;
}

const struct bench bench_tlb = {
	.name = "tlb",
	.summary = "guest memory latency: host backing x guest page size, with KVM's 2 MiB mappings",
	.usage = "thpvm bench tlb [--working-set SIZE] [--reps N] [--laps N] [--mode page|line] [--json FILE] [--plot FILE.png]\n"
		 "thpvm bench tlb --linux [--guest-dir DIR] [--memory SIZE] [--working-set SIZE] [--laps N] [--reps N]\n"
		 "                [--timeout S] [--json FILE]\n"
		 "  --linux: a Linux guest per cell of host backing (thp, 4k, hugetlb where a pool exists) x the guest's\n"
		 "  THP (always, never), tlbbench in it; needs a KVM host that boots Linux (the nested lab)",
	.run = run,
};
