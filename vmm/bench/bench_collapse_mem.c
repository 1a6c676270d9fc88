/* SPDX-License-Identifier: MIT */
/*
 * Collapse recovery on real memory, without a VM: a parent holds a template
 * of THP memory; for every configuration a forked child writes one byte into
 * every extent (all split, as a VM child's first writes would leave them),
 * then recovers with the collapse thread's engine and mode, while writer
 * threads keep touching random pages and time every write (the stall a vCPU
 * would see). Measured: time until >= 99% of the child's memory is HUGE
 * again, operation latency, writer stalls, where copy-and-remap spends its
 * time, and what the child owns afterwards. The kernel's khugepaged, at its
 * own settings (never changed here), is watched over a window for
 * comparison. Configurations are interleaved in every repetition.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <thpvm.h>
#include "bench.h"
#include "util/util.h"
#include "util/opts.h"
#include "util/clock.h"

#define MAX_CONFIGS 8
#define TARGET_PCT 99.0
#define NS_BUCKETS 40

struct config {
	char name[96];
	bool khugepaged;
	struct thpvm_collapse_config cc;
};

/* What one child measured; sent back through a pipe. */
struct result {
	int ok;
	char error[160];
	double split_ms;        /* writing one byte into every extent */
	double recover_ms;      /* until >= 99% HUGE, or the window */
	double huge_pct;        /* at the end */
	uint64_t collapsed, ops, bytes_copied, vmas;
	uint64_t op_p50_us, op_p99_us, stall_p50_us, stall_p99_us, stall_max_us, nr_stalls;
	double alloc_ms, protect_ms, copy_ms, install_ms, wake_ms;
	uint64_t writes, write_p99_ns, write_max_ns, writes_over_100us;
	uint64_t private_dirty_bytes, anon_huge_bytes;
	uint64_t vmstat_collapse_alloc; /* /proc/vmstat thp_collapse_alloc delta (host-wide) */
};

struct writer {
	uint8_t *hva;
	uint64_t size_bytes;
	volatile bool *stop;
	pthread_t thread;
	uint64_t writes;
	uint64_t buckets[NS_BUCKETS]; /* log2 ns */
	uint64_t max_ns;
	uint64_t over_100us;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t rng = (uintptr_t)w | 1, pages = w->size_bytes / 4096;

	while (!*w->stop) {
		uint64_t t0, dt, p;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		p = rng % pages;
		t0 = util_mono_ns();
		/* offset 64: page 0 bytes are the splitter's, and the line stays distinct */
		((volatile uint64_t *)(w->hva + p * 4096))[8 + (rng >> 60)] = rng;
		dt = util_mono_ns() - t0;
		w->buckets[dt ? 63 - __builtin_clzll(dt) : 0]++;
		if (dt > w->max_ns)
			w->max_ns = dt;
		w->over_100us += dt > 100000;
		w->writes++;
	}
	return NULL;
}

static uint64_t buckets_pct(const uint64_t *b, uint64_t total, double pct)
{
	uint64_t rank = (uint64_t)(pct / 100.0 * (double)total), seen = 0;

	for (unsigned i = 0; i < NS_BUCKETS; i++) {
		seen += b[i];
		if (seen > rank)
			return 2ULL << i;
	}
	return 0;
}

static double huge_pct(struct thpvm_region *r)
{
	struct thpvm_coverage cov;

	if (thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH, &cov))
		return 0;
	return thpvm_coverage_pct(&cov, cov.huge_bytes);
}

static void child_run(const struct config *cfg, struct thpvm_memmap *map, struct thpvm_region *r, uint8_t *hva,
		      uint64_t size, unsigned nr_writers, double timeout_s, bool warm, struct result *res)
{
	struct writer *w = calloc(nr_writers ? nr_writers : 1, sizeof(*w));
	struct thpvm_vmstat_thp v0, v1;
	struct thpvm_collapse *c = NULL;
	struct thpvm_collapse_stats st;
	struct thpvm_collapse_pass pass;
	struct thpvm_coverage cov;
	volatile bool stop = false;
	uint64_t t0;

	if (warm)
		bench_warm_memory(size); /* what the copies will use */
	t0 = util_mono_ns();
	for (uint64_t off = 0; off < size; off += 2ULL << 20)
		hva[off + 4096] ^= 1;
	res->split_ms = (double)(util_mono_ns() - t0) / 1e6;
	if (huge_pct(r) > 1.0) {
		snprintf(res->error, sizeof(res->error), "child: %.1f%% still huge after one write per extent", huge_pct(r));
		return;
	}
	if (!cfg->khugepaged && thpvm_collapse_create(map, &cfg->cc, &c)) {
		snprintf(res->error, sizeof(res->error), "collapse: %s", thpvm_last_error());
		return;
	}
	for (unsigned i = 0; i < nr_writers; i++) {
		w[i] = (struct writer){ .hva = hva, .size_bytes = size, .stop = &stop };
		pthread_create(&w[i].thread, NULL, writer_main, &w[i]);
	}
	thpvm_vmstat_thp_read(&v0);
	t0 = util_mono_ns();
	for (;;) {
		double elapsed = (double)(util_mono_ns() - t0) / 1e9;

		res->huge_pct = huge_pct(r);
		if (res->huge_pct >= TARGET_PCT && !cfg->khugepaged)
			break;
		if (elapsed >= timeout_s)
			break;
		if (c && (thpvm_collapse_run_pass(c, &pass), pass.nr_collapsed || cfg->cc.mode == THPVM_COLLAPSE_MODE_TLB))
			continue;
		usleep(c ? 10000 : 100000); /* a policy that waits (balanced's delay) or khugepaged */
	}
	res->recover_ms = (double)(util_mono_ns() - t0) / 1e6;
	thpvm_vmstat_thp_read(&v1);
	stop = true;
	for (unsigned i = 0; i < nr_writers; i++) {
		pthread_join(w[i].thread, NULL);
		res->writes += w[i].writes;
		res->writes_over_100us += w[i].over_100us;
		if (w[i].max_ns > res->write_max_ns)
			res->write_max_ns = w[i].max_ns;
		if (i)
			for (unsigned b = 0; b < NS_BUCKETS; b++)
				w[0].buckets[b] += w[i].buckets[b];
	}
	if (nr_writers)
		res->write_p99_ns = buckets_pct(w[0].buckets, res->writes, 99);
	res->vmstat_collapse_alloc = v1.thp_collapse_alloc - v0.thp_collapse_alloc;
	if (c) {
		thpvm_collapse_stats(c, &st);
		res->collapsed = st.nr_collapsed;
		res->ops = st.nr_ops;
		res->bytes_copied = st.bytes_copied;
		res->vmas = st.nr_vmas;
		res->op_p50_us = thpvm_collapse_hist_percentile_us(&st.latency, 50);
		res->op_p99_us = thpvm_collapse_hist_percentile_us(&st.latency, 99);
		res->stall_p50_us = thpvm_collapse_hist_percentile_us(&st.stall, 50);
		res->stall_p99_us = thpvm_collapse_hist_percentile_us(&st.stall, 99);
		res->stall_max_us = st.stall.max_ns / 1000;
		res->nr_stalls = st.nr_stalls;
		res->alloc_ms = (double)st.remap_alloc_ns / 1e6;
		res->protect_ms = (double)st.remap_protect_ns / 1e6;
		res->copy_ms = (double)st.remap_copy_ns / 1e6;
		res->install_ms = (double)st.remap_install_ns / 1e6;
		res->wake_ms = (double)st.remap_wake_ns / 1e6;
		thpvm_collapse_destroy(c);
	}
	if (!thpvm_region_coverage(r, THPVM_COVERAGE_SMAPS, &cov)) {
		res->private_dirty_bytes = cov.smaps_private_dirty_bytes;
		res->anon_huge_bytes = cov.smaps_anon_huge_bytes;
	}
	res->ok = 1;
	free(w);
}

static int run_one(const struct config *cfg, struct thpvm_memmap *map, struct thpvm_region *r, uint8_t *hva,
		   uint64_t size, unsigned nr_writers, double timeout_s, bool warm, struct result *res)
{
	int pfd[2], status;
	pid_t pid;
	ssize_t n;

	memset(res, 0, sizeof(*res));
	if (pipe(pfd))
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(pfd[0]);
		child_run(cfg, map, r, hva, size, nr_writers, timeout_s, warm, res);
		n = write(pfd[1], res, sizeof(*res));
		_exit(n == (ssize_t)sizeof(*res) ? 0 : 1);
	}
	close(pfd[1]);
	n = read(pfd[0], res, sizeof(*res));
	close(pfd[0]);
	waitpid(pid, &status, 0);
	if (n != (ssize_t)sizeof(*res)) {
		snprintf(res->error, sizeof(res->error), "child died (status 0x%x)", status);
		res->ok = 0;
	}
	return 0;
}

static int add_config(struct config *cfgs, unsigned *n, const char *spec)
{
	struct config *c = &cfgs[*n];

	if (*n == MAX_CONFIGS) {
		cli_error("bench collapse-mem: at most %d configurations", MAX_CONFIGS);
		return -1;
	}
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", spec);
	if (!strcmp(spec, "khugepaged")) {
		c->khugepaged = true;
	} else {
		thpvm_collapse_config_default(&c->cc);
		c->cc.budget_extents = UINT32_MAX / 2; /* the whole child in one pass */
		c->cc.interval_ms = 0;
		if (thpvm_collapse_config_parse(&c->cc, spec)) {
			cli_error("--config '%s': %s", spec, thpvm_last_error());
			return -1;
		}
	}
	(*n)++;
	return 0;
}

#define MED(field) ({ double v_[64]; for (unsigned i_ = 0; i_ < reps; i_++) v_[i_] = (double)res[i_][k].field; bench_median(v_, reps); })

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "memory", required_argument, NULL, 'm' }, { "reps", required_argument, NULL, 'r' },
		{ "config", required_argument, NULL, 'c' }, { "writers", required_argument, NULL, 'w' },
		{ "window", required_argument, NULL, 't' }, { "no-warm", no_argument, NULL, 'n' },
		{ 0 },
	};
	struct thpvm_region_config rc = { .name = "ram", .size_bytes = 1ULL << 30, .populate = THPVM_POPULATE_PREFAULT };
	struct config cfgs[MAX_CONFIGS];
	struct result (*res)[MAX_CONFIGS];
	struct thpvm_host_thp host;
	struct thpvm_region_info info;
	struct thpvm_memmap *map;
	struct thpvm_region *r;
	uint64_t reps = 5, writers = 1, window = 10;
	unsigned nr_cfgs = 0;
	bool warm = true;
	char sz[32];
	int c;

	opt_begin();
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_size(optarg, &rc.size_bytes) || !rc.size_bytes || rc.size_bytes % (2ULL << 20)) {
				cli_error("--memory '%s': expected a non-zero multiple of 2 MiB, e.g. 1G", optarg);
				return 2;
			}
			break;
		case 'r':
			if (parse_uint(optarg, 1, 64, &reps)) {
				cli_error("--reps '%s': expected 1..64", optarg);
				return 2;
			}
			break;
		case 'w':
			if (parse_uint(optarg, 0, 16, &writers)) {
				cli_error("--writers '%s': expected 0..16", optarg);
				return 2;
			}
			break;
		case 't':
			if (parse_uint(optarg, 1, 3600, &window)) {
				cli_error("--window '%s': expected 1..3600 seconds", optarg);
				return 2;
			}
			break;
		case 'c':
			if (add_config(cfgs, &nr_cfgs, optarg))
				return 2;
			break;
		case 'n':
			warm = false;
			break;
		default:
			return opt_bad("bench collapse-mem", c, argv);
		}
	}
	if (opt_rest("bench collapse-mem", argc, argv))
		return 2;
	if (!nr_cfgs) {
		static const char *const defaults[] = { "tlb,engine=madv", "tlb,engine=remap",
							"tlb,engine=remap,remap_batch=4", "khugepaged" };

		for (unsigned i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
			add_config(cfgs, &nr_cfgs, defaults[i]);
	}
	if (thpvm_memmap_create(&map) || thpvm_memmap_add(map, &rc, &r)) {
		cli_error("%s", thpvm_last_error());
		return 1;
	}
	thpvm_region_get_info(r, &info);
	if (info.thp_reason != THPVM_THP_ELIGIBLE || huge_pct(r) < TARGET_PCT) {
		cli_error("bench collapse-mem: the template is not on THP (%s, %.1f%% huge): nothing to recover",
			  thpvm_thp_reason_str(info.thp_reason), huge_pct(r));
		return 1;
	}
	memset(info.hva, 0x5a, rc.size_bytes);
	thpvm_host_thp_read(&host);
	res = calloc(reps, sizeof(*res));
	printf("bench collapse-mem: %s template on THP, %llu reps, %llu writer thread(s), %swarm, khugepaged %lld pages/%lld ms "
	       "max_ptes_shared %lld (watched, never changed)\n",
	       format_size(rc.size_bytes, sz, sizeof(sz)), (unsigned long long)reps, (unsigned long long)writers,
	       warm ? "" : "not ", (long long)host.khugepaged_pages_to_scan, (long long)host.khugepaged_scan_sleep_millisecs,
	       (long long)host.khugepaged_max_ptes_shared);
	for (uint64_t i = 0; i < reps; i++)
		for (unsigned k = 0; k < nr_cfgs; k++) {
			bench_progress("bench collapse-mem", (unsigned)(i * nr_cfgs + k + 1), (unsigned)(reps * nr_cfgs));
			/* only tlb promises to reach 99%: the other policies (and khugepaged) get the window */
			run_one(&cfgs[k], map, r, info.hva, rc.size_bytes, (unsigned)writers,
				!cfgs[k].khugepaged && cfgs[k].cc.mode == THPVM_COLLAPSE_MODE_TLB ? 60.0 : (double)window,
				warm, &res[i][k]);
			if (!res[i][k].ok) {
				bench_progress_done();
				cli_error("%s: %s", cfgs[k].name, res[i][k].error);
				return 1;
			}
		}
	bench_progress_done();
	printf("(to99%%: time until >= 99%% HUGE, or the whole window when not reached; stall: writers blocked on the\n"
	       " collapser's write-protect, us; wr: every write timed by the writer threads, us)\n");
	printf("%-28s %9s %7s %8s %7s %7s %8s %8s %8s %8s %9s %9s\n", "config", "to99% ms", "huge%", "GiB/s", "op p50",
	       "op p99", "stall99", "stallmax", "wr p99", "wr max", "wr>100us", "owned MiB");
	for (unsigned k = 0; k < nr_cfgs; k++) {
		double ms = MED(recover_ms);

		printf("%-28s %9.1f %7.1f %8.2f %7.0f %7.0f %8.0f %8.0f %8.1f %8.0f %9.0f %9.0f\n", cfgs[k].name, ms,
		       MED(huge_pct), cfgs[k].khugepaged ? 0.0 : (double)rc.size_bytes / (1ULL << 30) / (ms / 1e3),
		       MED(op_p50_us), MED(op_p99_us), MED(stall_p99_us), MED(stall_max_us), MED(write_p99_ns) / 1e3,
		       MED(write_max_ns) / 1e3, MED(writes_over_100us), MED(private_dirty_bytes) / (1 << 20));
	}
	printf("\ncopy-and-remap phases, median ms per run (alloc / protect / copy / install / wake+measure):\n");
	for (unsigned k = 0; k < nr_cfgs; k++)
		if (!cfgs[k].khugepaged && MED(alloc_ms) + MED(copy_ms) > 0)
			printf("  %-28s %7.1f %7.1f %7.1f %7.1f %7.1f   (%.0f ops, %.0f stalls)\n", cfgs[k].name, MED(alloc_ms),
			       MED(protect_ms), MED(copy_ms), MED(install_ms), MED(wake_ms), MED(ops), MED(nr_stalls));
	printf("\n");
	for (unsigned k = 0; k < nr_cfgs; k++)
		if (cfgs[k].khugepaged || cfgs[k].cc.mode != THPVM_COLLAPSE_MODE_TLB)
			printf("%s over a %llu s window: %.1f%% huge (median)%s%.0f\n", cfgs[k].name,
			       (unsigned long long)window, MED(huge_pct),
			       cfgs[k].khugepaged ? ", /proc/vmstat thp_collapse_alloc host-wide +" : ", collapsed ",
			       cfgs[k].khugepaged ? MED(vmstat_collapse_alloc) : MED(collapsed));
	printf("split (one byte per extent): %.1f ms median\n", ({
		       double v[64 * MAX_CONFIGS];
		       unsigned n = 0;
		       for (unsigned i = 0; i < reps; i++)
			       for (unsigned k = 0; k < nr_cfgs; k++)
				       v[n++] = res[i][k].split_ms;
		       bench_median(v, n);
	       }));
	free(res);
	thpvm_memmap_destroy(map);
	return 0;
}

const struct bench bench_collapse_mem = {
	.name = "collapse-mem",
	.summary = "fork a THP template, split every extent in the child, time the recovery per mode and engine",
	.usage = "thpvm bench collapse-mem [--memory SIZE] [--reps N] [--writers N] [--config OPTS]... [--window S] "
		 "[--no-warm]\n  --config takes collapse options (e.g. tlb,engine=remap,remap_batch=4) or 'khugepaged'",
	.run = run,
};
