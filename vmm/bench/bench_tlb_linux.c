/* SPDX-License-Identifier: MIT */
/*
 * thpvm bench tlb --linux (issue 15): what THP on the host buys a Linux
 * guest, per cell of {host backing thp, 4k, hugetlb (where the host has a
 * pool)} x {the guest kernel's THP always, never}. Each cell boots the
 * Linux guest recipe under `thpvm run` with transparent_hugepage= on its
 * command line and runs tlbbench in it (the Linux build of the payload,
 * guests/linux-user: a random cycle over the working set, one access per
 * 4 KiB page, one 2 MiB-aligned MADV_HUGEPAGE mapping); the guest's /init
 * samples its AnonHugePages (thpvm.thp=1), thpvm's --stats-json gives KVM's
 * pages_2m/pages_4k and the host's HUGE share at the end. One unrecorded
 * round, then every repetition runs each cell once, the first rotating;
 * medians and ratios to the best cell from this one run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include "bench.h"
#include "bench_snapshot.h"
#include "cli/cli.h"
#include "util/util.h"
#include "util/opts.h"
#include "util/error.h"
#include "../kvm/kvm_host.h"

#define MIB (1ULL << 20)
#define CHUNK_ACCESSES 1024.0   /* tlbbench's chunk of dependent loads */
#define MAX_REPS 100

enum { B_THP, B_4K, B_HUGETLB, NR_BACKINGS };
static const char *const backing_str[NR_BACKINGS] = { "thp", "4k", "hugetlb" };
enum { G_ALWAYS, G_NEVER, NR_GUEST };
static const char *const guest_str[NR_GUEST] = { "always", "never" };

struct sample {
	double cpa;                     /* guest TSC cycles per access: the median chunk / 1024 */
	double anon_huge_mib;           /* the guest's AnonHugePages for tlbbench, its largest */
	double pages_2m, pages_4k;      /* KVM's stage-2 mappings at the end */
	double huge_pct;                /* the host's HUGE share of guest RAM at the end */
};

struct cell {
	unsigned backing, guest;
	const char *skipped;
	struct sample s[MAX_REPS];
	unsigned n;
};

struct ctx {
	const char *guest_dir, *json;
	uint64_t memory, ws, laps, reps, timeout;
	char kernel[4096], initrd[4096], exe[4096], work[4096];
	struct cell cells[NR_BACKINGS * NR_GUEST];
};

/* "result NAME=V" or "KEY=V" after marker in the log: the first value, NAN when none */
static double log_value(const char *path, const char *marker, const char *key)
{
	char line[1024], want[96];
	FILE *f = fopen(path, "r");
	double v = NAN;

	if (!f)
		return NAN;
	snprintf(want, sizeof(want), "%s=", key);
	while (isnan(v) && fgets(line, sizeof(line), f)) {
		char *m = strstr(line, marker), *k = m ? strstr(m, want) : NULL;

		if (k)
			v = strtod(k + strlen(want), NULL);
	}
	fclose(f);
	return v;
}

static int run_cell(struct ctx *c, struct cell *cl, struct sample *s)
{
	char mem[32], cmdline[512], log[4200], stats[4200];
	const char *argv[20];
	json_t *j, *sum;
	json_error_t err;
	int st, n = 0;

	snprintf(mem, sizeof(mem), "%lluM", (unsigned long long)(c->memory / MIB));
	/* tlbbench's mapping: the working set and 4 MiB of slack for its 2 MiB alignment */
	snprintf(cmdline, sizeof(cmdline), BENCH_LINUX_CMDLINE " transparent_hugepage=%s thpvm.thp=1 "
		 "thpvm.run=tlbbench,mem=%lluM,size=%lluM,laps=%llu", guest_str[cl->guest],
		 (unsigned long long)(c->ws / MIB + 4), (unsigned long long)(c->ws / MIB), (unsigned long long)c->laps);
	snprintf(log, sizeof(log), "%s/%s-%s.log", c->work, backing_str[cl->backing], guest_str[cl->guest]);
	snprintf(stats, sizeof(stats), "%s/%s-%s.json", c->work, backing_str[cl->backing], guest_str[cl->guest]);
	argv[n++] = c->exe;
	argv[n++] = "run";
	argv[n++] = "--kernel";
	argv[n++] = c->kernel;
	argv[n++] = "--initrd";
	argv[n++] = c->initrd;
	argv[n++] = "--memory";
	argv[n++] = mem;
	/* two vCPUs: the guest's /init samples on one while tlbbench runs on the other */
	argv[n++] = "--cpus";
	argv[n++] = "2";
	argv[n++] = "--backing";
	argv[n++] = backing_str[cl->backing];
	argv[n++] = "--cmdline";
	argv[n++] = cmdline;
	argv[n++] = "--stats-json";
	argv[n++] = stats;
	argv[n] = NULL;
	st = bench_run_logged(argv, log, (unsigned)c->timeout);
	if (st == -1)
		return vmm_fail(-EIO, "%s/%s: %s (log: %s)", backing_str[cl->backing], guest_str[cl->guest],
				vmm_last_error(), log);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return vmm_fail(-EIO, "%s/%s: thpvm exit status %d (log: %s)", backing_str[cl->backing],
				guest_str[cl->guest], WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), log);
	s->cpa = log_value(log, "result ", "chase_chunk_median_cycles") / CHUNK_ACCESSES;
	s->anon_huge_mib = log_value(log, "THPVM-GUEST-THP ", "anon_huge_kb_max") / 1024.0;
	j = json_load_file(stats, 0, &err);
	sum = json_object_get(j, "summary");
	s->pages_2m = json_is_integer(json_object_get(sum, "kvm_pages_2m")) ?
			      (double)json_integer_value(json_object_get(sum, "kvm_pages_2m")) : NAN;
	s->pages_4k = json_is_integer(json_object_get(sum, "kvm_pages_4k")) ?
			      (double)json_integer_value(json_object_get(sum, "kvm_pages_4k")) : NAN;
	s->huge_pct = json_number_value(json_object_get(sum, "huge_pct"));
	json_decref(j);
	if (!(s->cpa > 0) || isnan(s->anon_huge_mib) || !sum)
		return vmm_fail(-EIO, "%s/%s: no tlbbench result, THP line or statistics (log: %s, %s)",
				backing_str[cl->backing], guest_str[cl->guest], log, stats);
	return 0;
}

/* Free hugetlb pages for memory bytes of guest RAM: the pool is the host's, never changed here. */
static bool hugetlb_pool(uint64_t memory)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	unsigned long long free_pages = 0;

	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "HugePages_Free: %llu", &free_pages);
	if (f)
		fclose(f);
	return free_pages * 2 * MIB >= memory;
}

static int parse(int argc, char **argv, struct ctx *c)
{
	enum { O_LINUX = 256, O_GUEST_DIR, O_MEMORY, O_WS, O_LAPS, O_REPS, O_JSON, O_TIMEOUT };
	static const struct option opts[] = {
		{ "linux", no_argument, NULL, O_LINUX },
		{ "guest-dir", required_argument, NULL, O_GUEST_DIR },
		{ "memory", required_argument, NULL, O_MEMORY },
		{ "working-set", required_argument, NULL, O_WS },
		{ "laps", required_argument, NULL, O_LAPS },
		{ "reps", required_argument, NULL, O_REPS },
		{ "json", required_argument, NULL, O_JSON },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ 0 },
	};
	int o;

	c->memory = 1024 * MIB, c->ws = 512 * MIB, c->laps = 4, c->reps = 3, c->timeout = 300;
	opt_begin();
	while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (o) {
		case O_LINUX:
			break;
		case O_GUEST_DIR:
			c->guest_dir = optarg;
			break;
		case O_MEMORY:
			/* Linux turns its THP off on less than 512 MiB of RAM, whatever transparent_hugepage= says */
			if (parse_size(optarg, &c->memory) || c->memory < 576 * MIB || c->memory % (2 * MIB)) {
				cli_error("bench tlb: --memory '%s': expected 576M or more (a Linux guest with less than "
					  "512 MiB of RAM has no THP), a multiple of 2 MiB", optarg);
				return 2;
			}
			break;
		case O_WS:
			if (parse_size(optarg, &c->ws) || c->ws < 4 * MIB || c->ws % MIB) {
				cli_error("bench tlb: --working-set '%s': expected 4M or more, whole MiB", optarg);
				return 2;
			}
			break;
		case O_LAPS:
			if (parse_uint(optarg, 1, 1000, &c->laps)) {
				cli_error("bench tlb: --laps '%s': expected 1..1000", optarg);
				return 2;
			}
			break;
		case O_REPS:
			if (parse_uint(optarg, 1, MAX_REPS, &c->reps)) {
				cli_error("bench tlb: --reps '%s': expected 1..%d", optarg, MAX_REPS);
				return 2;
			}
			break;
		case O_JSON:
			c->json = optarg;
			break;
		case O_TIMEOUT:
			if (parse_uint(optarg, 10, 86400, &c->timeout)) {
				cli_error("bench tlb: --timeout '%s': expected 10..86400 seconds a guest", optarg);
				return 2;
			}
			break;
		default:
			return opt_bad("bench tlb", o, argv);
		}
	}
	if (opt_rest("bench tlb", argc, argv))
		return 2;
	/* the guest's kernel, its page tables and tlbbench's slack beside the working set */
	if (c->ws + 96 * MIB > c->memory) {
		cli_error("bench tlb: --working-set %llu MiB does not fit a %llu MiB guest with its kernel (96 MiB)",
			  (unsigned long long)(c->ws / MIB), (unsigned long long)(c->memory / MIB));
		return 2;
	}
	return 0;
}

static double median_of(const struct cell *cl, size_t off)
{
	double v[MAX_REPS];

	for (unsigned i = 0; i < cl->n; i++)
		v[i] = *(const double *)((const char *)&cl->s[i] + off);
	return cl->n ? bench_median(v, cl->n) : NAN;
}
#define MEDIAN(cl, field) median_of(cl, offsetof(struct sample, field))

static void print_and_json(struct ctx *c, const char *host, json_t *out)
{
	json_t *cells = json_array();
	double best = INFINITY;

	for (unsigned i = 0; i < NR_BACKINGS * NR_GUEST; i++)
		if (!c->cells[i].skipped && MEDIAN(&c->cells[i], cpa) < best)
			best = MEDIAN(&c->cells[i], cpa);
	printf("\nLinux guest TLB (%s): tlbbench in a %llu MiB guest, %llu MiB working set, one access per 4 KiB "
	       "page, %llu laps;\nmedians of %llu; cycles per access (guest TSC), ratio to the best cell\n", host,
	       (unsigned long long)(c->memory / MIB), (unsigned long long)(c->ws / MIB), (unsigned long long)c->laps,
	       (unsigned long long)c->reps);
	printf("  %-8s %-7s %10s %7s %14s %10s %10s %7s\n", "backing", "guest", "cyc/access", "x best",
	       "guest THP MiB", "pages_2m", "pages_4k", "HUGE%");
	for (unsigned i = 0; i < NR_BACKINGS * NR_GUEST; i++) {
		struct cell *cl = &c->cells[i];
		double cpa = MEDIAN(cl, cpa);

		if (cl->skipped) {
			printf("  %-8s %-7s not measured: %s\n", backing_str[cl->backing], guest_str[cl->guest], cl->skipped);
			json_array_append_new(cells, json_pack("{s:s, s:s, s:s}", "backing", backing_str[cl->backing],
							       "guest_thp", guest_str[cl->guest], "skipped", cl->skipped));
			continue;
		}
		printf("  %-8s %-7s %10.1f %7.2f %14.1f %10.0f %10.0f %7.1f\n", backing_str[cl->backing],
		       guest_str[cl->guest], cpa, cpa / best, MEDIAN(cl, anon_huge_mib), MEDIAN(cl, pages_2m),
		       MEDIAN(cl, pages_4k), MEDIAN(cl, huge_pct));
		json_array_append_new(cells, json_pack("{s:s, s:s, s:f, s:f, s:f, s:f, s:f, s:f}", "backing",
						       backing_str[cl->backing], "guest_thp", guest_str[cl->guest],
						       "cycles_per_access", cpa, "ratio_to_best", cpa / best,
						       "guest_anon_huge_mib", MEDIAN(cl, anon_huge_mib), "kvm_pages_2m",
						       MEDIAN(cl, pages_2m), "kvm_pages_4k", MEDIAN(cl, pages_4k), "huge_pct",
						       MEDIAN(cl, huge_pct)));
	}
	printf("  (guest THP MiB: the guest's AnonHugePages for tlbbench, sampled by its /init; pages_2m/4k: KVM's\n"
	       "   stage-2 mappings and HUGE%%: the host's THP share of guest RAM, both when the guest ended)\n");
	json_object_set_new(out, "cells", cells);
	json_object_set_new(out, "memory_bytes", json_integer((json_int_t)c->memory));
	json_object_set_new(out, "working_set_bytes", json_integer((json_int_t)c->ws));
}

int bench_tlb_linux(int argc, char **argv)
{
	const struct kvm_host *h = bench_host_get();
	struct ctx *c = calloc(1, sizeof(*c));
	const char *tmp = getenv("TMPDIR");
	char host[256];
	json_t *out = json_object();
	unsigned nr = NR_BACKINGS * NR_GUEST, active = 0;
	ssize_t len;
	int ret, status = 0;

	if (!c)
		return 1;
	if ((ret = parse(argc, argv, c)))
		goto done;
	snprintf(host, sizeof(host), "host %s, %s paging%s%s", kvm_host_kind_str(h->kind), kvm_paging_str(h->paging),
		 h->emulated ? ", timings " : "", kvm_host_timing_note(h));
	if (!kvm_host_boots_linux(h)) {
		printf("bench tlb --linux: not measured: %s\n", h->kind == KVM_HOST_NONE ? "no usable /dev/kvm" :
		       "this host cannot boot Linux guests (guest ring 0 would be emulated): run it in the nested lab "
		       "(tests/lab/cases/35-thpvm-bench-tlb-linux.sh)");
		ret = 0;
		goto done;
	}
	c->guest_dir = bench_linux_guest(c->guest_dir, c->kernel, c->initrd, sizeof(c->kernel));
	if (access(c->kernel, R_OK) || access(c->initrd, R_OK)) {
		cli_error("bench tlb: no Linux guest in %s (vmlinux, initramfs.cpio with tlbbench): build it with 'make "
			  "linux-guest' or pass --guest-dir DIR", c->guest_dir);
		ret = 2;
		goto done;
	}
	len = readlink("/proc/self/exe", c->exe, sizeof(c->exe) - 1);
	if (len <= 0) {
		cli_error("bench tlb: cannot find this program: %s", strerror(errno));
		ret = 1;
		goto done;
	}
	c->exe[len] = '\0';
	snprintf(c->work, sizeof(c->work), "%s/thpvm-bench-tlb-linux-XXXXXX",
		 tmp && *tmp ? tmp : !access("/var/tmp", W_OK | X_OK) ? "/var/tmp" : "/tmp");
	if (!mkdtemp(c->work)) {
		cli_error("bench tlb: cannot make %s: %s", c->work, strerror(errno));
		ret = 1;
		goto done;
	}
	for (unsigned b = 0; b < NR_BACKINGS; b++)
		for (unsigned g = 0; g < NR_GUEST; g++) {
			struct cell *cl = &c->cells[b * NR_GUEST + g];

			cl->backing = b, cl->guest = g;
			if (b == B_HUGETLB && !hugetlb_pool(c->memory))
				cl->skipped = "no free hugetlb pool for the guest's RAM (vm.nr_hugepages: the host's "
					      "setting, not changed here)";
			active += !cl->skipped;
		}
	for (unsigned rep = 0; rep <= c->reps && !status; rep++)
		for (unsigned k = 0, done = 0; k < nr && !status; k++) {
			struct cell *cl = &c->cells[(k + rep) % nr];
			struct sample s;

			if (cl->skipped)
				continue;
			bench_progress("bench tlb --linux", rep * active + done++, (unsigned)(c->reps + 1) * active);
			if (run_cell(c, cl, &s)) {
				cli_error("bench tlb: %s", vmm_last_error());
				status = 1;
			} else if (rep) {
				cl->s[cl->n++] = s;
			}
		}
	bench_progress_done();
	if (!status) {
		print_and_json(c, host, out);
		if (c->json && bench_json_write(out, c->json)) {
			cli_error("bench tlb: cannot write %s", c->json);
			status = 1;
		}
		/* the logs only matter when something failed: they are named in the error */
		snap_rm_tree(c->work);
	}
	ret = status;
done:
	json_decref(out);
	free(c);
	return ret;
}
