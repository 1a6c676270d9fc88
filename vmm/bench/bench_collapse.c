/* SPDX-License-Identifier: MIT */
/*
 * thpvm bench collapse: a VM's collapse thread recovering a forked child.
 *
 * A template (`thpvm run` of the collbench payload on prefaulted THP RAM,
 * `--collapse off`, its own process, driven through its control socket)
 * builds a pointer cycle over its memory, times a lap and waits for a fork.
 * For every configuration, in every repetition (configurations interleaved),
 * it is forked into one child (`fork template=true`) whose guest writes one
 * byte into every extent (all split: the child's PMDs copy-on-write split,
 * KVM maps it with 4 KiB pages), times a lap on the split memory, and then
 * times lap after lap. The host then sets the child's collapse policy
 * (`collapse options=...` on the child's socket; for "khugepaged" our
 * thread stays off and the kernel's khugepaged works at its own settings,
 * which are read, never changed) and watches: the child's AnonHugePages
 * (smaps_rollup) every 50 ms, KVM's pages_2m from the child's `stats` once
 * the memory is huge. Measured: time until >= 99% of guest RAM is HUGE
 * again and pages_2m is back (>= 99% of the template's), the guest's
 * cycles per access before the fork, right after the split and after
 * recovery, the collapse thread's operation latency and writer stalls, the
 * guest's slowest chunks during the recovery, and the memory the child
 * owns afterwards (Private_* of its smaps_rollup).
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <thpvm.h>
#include "bench.h"
#include "plot.h"
#include "util/util.h"
#include "util/opts.h"
#include "../ctl/ctl.h"
#include "util/error.h"
#include "util/clock.h"

#define MIB (1ULL << 20)
#define MAX_CONFIGS 8
#define MAX_REPS 16
#define MAX_SAMPLES 4096
#define MAX_ROUNDS 4096
#define TARGET_PCT 99.0
#define SAMPLE_MS 50

struct config {
	char name[96];
	bool khugepaged;
	char options[160];   /* for the child's `collapse options=...` */
};

struct sample {
	double t_s;
	double huge_pct;
};

struct result {
	bool ok;
	bool huge99, kvm2m;       /* reached within the window */
	double to_huge99_ms, to_2m_ms, window_ms;
	double huge_pct_end, kvm_2m_pct_end;
	double split_ms;          /* the guest's one byte per extent */
	double before_cpa, split_cpa, after_cpa; /* cycles per access: chunk medians / 1024 (before: the child's, unsplit) */
	double recov_chunk_p99_us, recov_chunk_max_us; /* the guest's slowest chunks while recovering (worst lap's p99, max) */
	double steady_chunk_us;   /* the median chunk after the window */
	uint64_t collapsed, ops, bytes_copied, nr_stalls;
	uint64_t op_p50_us, op_p99_us, stall_p50_us, stall_p99_us;
	double extents_per_op;
	uint64_t owned_bytes;
	unsigned nr_samples;
	struct sample samples[MAX_SAMPLES];
};

struct opts {
	uint64_t memory;
	unsigned reps;
	double window_s;
	bool warm;
	const char *json, *plot;
	struct config cfgs[MAX_CONFIGS];
	unsigned nr_cfgs;
};

static char dir[64];
static double tsc_per_us;

static uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* The guest's TSC is the host's here (kvm-pvm; docs/fork.md, "Guest time"): one clock for both. */
static void calibrate_tsc(void)
{
	uint64_t t0 = util_mono_ns(), c0 = rdtsc();

	bench_sleep_ms(200);
	tsc_per_us = (double)(rdtsc() - c0) / ((double)(util_mono_ns() - t0) / 1e3);
}

static double console_value(const char *path, const char *name)
{
	double v = NAN;

	return bench_console_values(path, name, &v, 1) == 1 ? v : NAN;
}

/* Fields of /proc/PID/smaps_rollup, in bytes. */
static int smaps_rollup(pid_t pid, uint64_t *anon_huge, uint64_t *private_bytes)
{
	struct thpvm_smaps s;
	int ret = thpvm_smaps_read(pid, NULL, NULL, &s);

	*anon_huge = s.anon_huge;
	*private_bytes = s.private_clean + s.private_dirty;
	return ret;
}

/* ---- the template ---- */

struct tmpl {
	struct bench_template vm;
	double before_cpa;
	uint64_t pages_2m;
};

static void tmpl_destroy(struct tmpl *t)
{
	bench_template_stop(&t->vm);
}

static int tmpl_create(struct tmpl *t, uint64_t memory)
{
	char mem[32];
	const char *argv[] = { "--payload", "collbench", "--memory", mem, "--prefault", "--collapse", "off",
			       "--timeout", "7200", NULL };
	json_t *st;
	int ret;

	memset(t, 0, sizeof(*t));
	snprintf(t->vm.label, sizeof(t->vm.label), "collapse");
	snprintf(t->vm.sock, sizeof(t->vm.sock), "%s/template.sock", dir);
	snprintf(t->vm.out, sizeof(t->vm.out), "%s/template.out", dir);
	snprintf(mem, sizeof(mem), "%lluM", (unsigned long long)(memory >> 20));
	/* prefaulting memory the host has not touched for a while, and the pointer cycle over it, take seconds */
	if ((ret = bench_template_start(&t->vm, argv, 600, &st)))
		return ret;
	/* the yardstick for the children's pages_2m: a busy host can show the template's late, so look again */
	for (unsigned i = 0; i < 20; i++) {
		double v = bench_json_num(json_object_get(st, "summary"), "kvm_pages_2m", NULL);

		t->pages_2m = v > 0 ? (uint64_t)v : 0;
		if (t->pages_2m)
			break;
		bench_sleep_ms(100);
		json_decref(st);
		st = bench_call(t->vm.sock, "stats", NULL, 30000);
	}
	json_decref(st);
	t->before_cpa = console_value(t->vm.out, "before_median") / 1024.0;
	if (!(t->before_cpa > 0))
		return vmm_fail(-EIO, "the template did not report its lap (see %s)", t->vm.out);
	return 0;
}

/* ---- one child ---- */

static double kvm_2m_pct(json_t *st, const struct tmpl *t)
{
	return t->pages_2m ? 100.0 * bench_json_num(json_object_get(st, "summary"), "kvm_pages_2m", NULL) / (double)t->pages_2m : NAN;
}

/* The guest's last MAX_ROUNDS complete rounds: start TSCs and chunk statistics, in order. */
struct rounds {
	unsigned n;
	double tsc[MAX_ROUNDS], median[MAX_ROUNDS], p99[MAX_ROUNDS], max[MAX_ROUNDS];
};

/*
 * A small guest laps thousands of times in a window: keep the newest rounds
 * (the host looks for the first one after its watch), in one pass over the
 * console, a round counting once its round_max (its last line) is there.
 */
static void read_rounds(const char *console, struct rounds *r)
{
	static const char *const names[] = { "round_tsc", "round_median", "round_p99", "round_max" };
	double cur[4] = { NAN, NAN, NAN, NAN }, (*tmp)[4];
	unsigned long long total = 0;
	char line[256];
	FILE *f = fopen(console, "r");

	r->n = 0;
	tmp = malloc(sizeof(*tmp) * MAX_ROUNDS);
	if (!f || !tmp) {
		if (f)
			fclose(f);
		free(tmp);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '=');

		if (strncmp(line, "result ", 7) || !eq)
			continue;
		for (unsigned k = 0; k < 4; k++) {
			size_t len = strlen(names[k]);

			if ((size_t)(eq - line - 7) != len || strncmp(line + 7, names[k], len))
				continue;
			if (k == 0)
				cur[1] = cur[2] = cur[3] = NAN;
			cur[k] = strtod(eq + 1, NULL);
			if (k == 3 && !isnan(cur[0]))
				memcpy(tmp[total++ % MAX_ROUNDS], cur, sizeof(cur));
		}
	}
	fclose(f);
	r->n = total < MAX_ROUNDS ? (unsigned)total : MAX_ROUNDS;
	for (unsigned i = 0; i < r->n; i++) {
		const double *x = tmp[(total - r->n + i) % MAX_ROUNDS];

		r->tsc[i] = x[0];
		r->median[i] = x[1];
		r->p99[i] = x[2];
		r->max[i] = x[3];
	}
	free(tmp);
}

static int run_child(const struct opts *o, const struct config *cfg, const struct tmpl *t, struct result *res)
{
	static struct rounds rr;
	json_t *args = json_pack("{s:i, s:b}", "count", 1, "template", 1), *rep, *child, *st;
	char sock[128], console[160];
	uint64_t t0, tsc0, tsc_end, huge, priv, last_stats = 0;
	double guest_bytes = (double)o->memory, steady;
	pid_t pid;
	int ret = 0;

	rep = bench_call(t->vm.sock, "fork", args, 120000);
	json_decref(args);
	if (!rep)
		return -EIO;
	child = json_array_get(json_object_get(rep, "children"), 0);
	pid = (pid_t)json_integer_value(json_object_get(child, "pid"));
	snprintf(sock, sizeof(sock), "%s", json_string_value(json_object_get(child, "socket")));
	snprintf(console, sizeof(console), "%s", json_string_value(json_object_get(child, "console")));
	json_decref(rep);
	if (pid <= 0 || !sock[0] || !console[0])
		return vmm_fail(-EIO, "the fork reply names no child");

	/* the guest splits everything and times a lap on the split memory */
	for (unsigned i = 0; !(console_value(console, "split_done") == 1); i++) {
		if (i > 12000 || (kill(pid, 0) && errno == ESRCH)) {
			ret = vmm_fail(-ETIMEDOUT, "the child never finished its split lap (see %s)", console);
			goto out;
		}
		bench_sleep_ms(10);
	}
	res->split_ms = console_value(console, "split_cycles") / tsc_per_us / 1e3;
	res->before_cpa = console_value(console, "child_before_median") / 1024.0;
	res->split_cpa = console_value(console, "split_median") / 1024.0;
	if (o->warm)
		bench_warm_memory(o->memory); /* what the copies will use */
	if (!cfg->khugepaged) {
		args = json_pack("{s:s}", "options", cfg->options);
		st = bench_call(sock, "collapse", args, 30000);
		json_decref(args);
		if (!st) {
			ret = -EIO;
			goto out;
		}
		json_decref(st);
	}

	/* watch: AnonHugePages every SAMPLE_MS; pages_2m from stats once the memory is huge */
	t0 = util_mono_ns();
	tsc0 = rdtsc();
	for (;;) {
		double t_s = (double)(util_mono_ns() - t0) / 1e9;

		if (smaps_rollup(pid, &huge, &priv)) {
			ret = vmm_fail(-EIO, "the child %d is gone", (int)pid);
			goto out;
		}
		if (res->nr_samples < MAX_SAMPLES)
			res->samples[res->nr_samples++] = (struct sample){ t_s, 100.0 * (double)huge / guest_bytes };
		if (!res->huge99 && 100.0 * (double)huge / guest_bytes >= TARGET_PCT) {
			res->huge99 = true;
			res->to_huge99_ms = t_s * 1e3;
		}
		if (res->huge99 && util_mono_ns() - last_stats > 200000000ULL) {
			last_stats = util_mono_ns();
			st = bench_call(sock, "stats", NULL, 30000);
			if (st && kvm_2m_pct(st, t) >= TARGET_PCT) {
				res->kvm2m = true;
				res->to_2m_ms = (double)(util_mono_ns() - t0) / 1e6;
				json_decref(st);
				break;
			}
			json_decref(st);
		}
		if (t_s >= o->window_s)
			break;
		bench_sleep_ms(SAMPLE_MS);
	}
	res->window_ms = (double)(util_mono_ns() - t0) / 1e6;
	tsc_end = rdtsc();

	st = bench_call(sock, "stats", NULL, 30000);
	if (!st) {
		ret = -EIO;
		goto out;
	}
	res->huge_pct_end = bench_json_num(json_object_get(st, "summary"), "huge_pct", NULL);
	res->kvm_2m_pct_end = kvm_2m_pct(st, t);
	{
		json_t *c = json_object_get(st, "collapse");

		res->collapsed = (uint64_t)bench_json_num(c, "collapsed", NULL);
		res->ops = (uint64_t)bench_json_num(c, "ops", NULL);
		res->bytes_copied = (uint64_t)bench_json_num(c, "bytes_copied", NULL);
		res->nr_stalls = (uint64_t)bench_json_num(c, "stalls", NULL);
		res->op_p50_us = (uint64_t)bench_json_num(c, "latency_us", "p50");
		res->op_p99_us = (uint64_t)bench_json_num(c, "latency_us", "p99");
		res->stall_p50_us = (uint64_t)bench_json_num(c, "stall_us", "p50");
		res->stall_p99_us = (uint64_t)bench_json_num(c, "stall_us", "p99");
		res->extents_per_op = res->ops ? (double)res->collapsed / (double)res->ops : 0;
	}
	json_decref(st);
	if (!smaps_rollup(pid, &huge, &priv))
		res->owned_bytes = priv;

	/* after: the first lap that started after the watch ended; the recovery: laps that overlapped it */
	for (unsigned i = 0; i < 3000; i++) {
		read_rounds(console, &rr);
		if (rr.n && rr.tsc[rr.n - 1] >= (double)tsc_end && i)
			break;
		bench_sleep_ms(10);
	}
	steady = NAN;
	for (unsigned i = 0; i < rr.n; i++)
		if (rr.tsc[i] >= (double)tsc_end) {
			steady = rr.median[i];
			break;
		}
	res->after_cpa = steady / 1024.0;
	/* the guest's chunks while the collapse thread worked: laps that overlapped the watch */
	for (unsigned i = 0; i < rr.n; i++) {
		bool overlaps = rr.tsc[i] < (double)tsc_end && (i + 1 >= rr.n || rr.tsc[i + 1] > (double)tsc0);

		if (overlaps) {
			res->recov_chunk_p99_us = fmax(res->recov_chunk_p99_us, rr.p99[i] / tsc_per_us);
			res->recov_chunk_max_us = fmax(res->recov_chunk_max_us, rr.max[i] / tsc_per_us);
		}
	}
	res->steady_chunk_us = steady / tsc_per_us;
	res->ok = true;
out:
	json_decref(bench_call(sock, "quit", NULL, 10000));
	if (!bench_wait_gone(pid))
		unlink(console);
	return ret;
}

/* ---- reporting ---- */

#define MED(field) ({ double v_[MAX_REPS]; for (unsigned i_ = 0; i_ < o->reps; i_++) v_[i_] = (double)res[i_][k].field; bench_median(v_, o->reps); })

/* JSON has no NaN: null for a value not measured. */
static void set_num(json_t *o, const char *key, double v)
{
	json_object_set_new(o, key, isfinite(v) ? json_real(v) : json_null());
}

static json_t *to_json(const struct opts *o, struct result (*res)[MAX_CONFIGS], const struct tmpl *t,
		       const struct thpvm_host_thp *host)
{
	json_t *root = json_pack("{s:I, s:i, s:f, s:f, s:I}", "memory_bytes", (json_int_t)o->memory, "reps", (int)o->reps,
				 "window_s", o->window_s, "before_cycles_per_access", t->before_cpa, "template_pages_2m",
				 (json_int_t)t->pages_2m);
	json_t *cfgs = json_array();

	json_object_set_new(root, "khugepaged",
			    json_pack("{s:I, s:I, s:I}", "pages_to_scan", (json_int_t)host->khugepaged_pages_to_scan,
				      "scan_sleep_millisecs", (json_int_t)host->khugepaged_scan_sleep_millisecs,
				      "max_ptes_shared", (json_int_t)host->khugepaged_max_ptes_shared));
	for (unsigned k = 0; k < o->nr_cfgs; k++) {
		json_t *runs = json_array();

		for (unsigned i = 0; i < o->reps; i++) {
			const struct result *r = &res[i][k];
			json_t *samples = json_array();

			for (unsigned s = 0; s < r->nr_samples; s++)
				json_array_append_new(samples, json_pack("[f, f]", r->samples[s].t_s, r->samples[s].huge_pct));
			json_t *run = json_object();

			json_object_set_new(run, "huge99", json_boolean(r->huge99));
			json_object_set_new(run, "kvm2m", json_boolean(r->kvm2m));
			set_num(run, "to_huge99_ms", r->huge99 ? r->to_huge99_ms : NAN);
			set_num(run, "to_2m_ms", r->kvm2m ? r->to_2m_ms : NAN);
			set_num(run, "window_ms", r->window_ms);
			set_num(run, "huge_pct_end", r->huge_pct_end);
			set_num(run, "kvm_2m_pct_end", r->kvm_2m_pct_end);
			set_num(run, "split_ms", r->split_ms);
			set_num(run, "before_cycles_per_access", r->before_cpa);
			set_num(run, "split_cycles_per_access", r->split_cpa);
			set_num(run, "after_cycles_per_access", r->after_cpa);
			set_num(run, "recovery_chunk_p99_us", r->recov_chunk_p99_us);
			set_num(run, "recovery_chunk_max_us", r->recov_chunk_max_us);
			set_num(run, "steady_chunk_us", r->steady_chunk_us);
			set_num(run, "extents_per_op", r->extents_per_op);
			set_num(run, "collapsed", (double)r->collapsed);
			set_num(run, "ops", (double)r->ops);
			set_num(run, "bytes_copied", (double)r->bytes_copied);
			set_num(run, "op_p50_us", (double)r->op_p50_us);
			set_num(run, "op_p99_us", (double)r->op_p99_us);
			set_num(run, "stall_p50_us", (double)r->stall_p50_us);
			set_num(run, "stall_p99_us", (double)r->stall_p99_us);
			set_num(run, "stalls", (double)r->nr_stalls);
			set_num(run, "owned_bytes", (double)r->owned_bytes);
			json_object_set_new(run, "huge_pct_samples", samples);
			json_array_append_new(runs, run);
		}
		json_array_append_new(cfgs, json_pack("{s:s, s:s, s:o}", "name", o->cfgs[k].name, "options",
						      o->cfgs[k].khugepaged ? "" : o->cfgs[k].options, "runs", runs));
	}
	json_object_set_new(root, "configs", cfgs);
	return root;
}

/* Coverage over time, first repetition of each configuration. */
static int plot(const struct opts *o, struct result (*res)[MAX_CONFIGS])
{
	size_t cap = 64 + (size_t)o->nr_cfgs * MAX_SAMPLES * 32, len = 0;
	char *data = malloc(cap), script[2048];
	int n = 0, ret;

	if (!data)
		return -ENOMEM;
	for (unsigned k = 0; k < o->nr_cfgs; k++) {
		len += (size_t)snprintf(data + len, cap - len, "\"%s\"\n", o->cfgs[k].name);
		for (unsigned s = 0; s < res[0][k].nr_samples; s++)
			len += (size_t)snprintf(data + len, cap - len, "%.3f %.2f\n", res[0][k].samples[s].t_s,
						res[0][k].samples[s].huge_pct);
		len += (size_t)snprintf(data + len, cap - len, "\n\n");
	}
	n = snprintf(script, sizeof(script),
		     "set terminal pngcairo size 900,540\n"
		     "set output '$PNG'\n"
		     "set title 'thpvm bench collapse: a forked child of a %llu MiB template, every extent split'\n"
		     "set xlabel 'seconds since the policy was set'\n"
		     "set ylabel 'child RAM on 2 MiB pages (%%)'\n"
		     "set yrange [0:105]\n"
		     "set key bottom right\n"
		     "plot for [i=0:%u] '$DATA' index i using 1:2 with lines lw 2 title columnheader(1)\n",
		     (unsigned long long)(o->memory >> 20), o->nr_cfgs - 1);
	(void)n;
	ret = bench_plot(o->plot, script, data);
	free(data);
	return ret;
}

static double med_reached(struct result (*res)[MAX_CONFIGS], unsigned reps, unsigned k, bool kvm)
{
	double v[MAX_REPS];
	unsigned n = 0;

	for (unsigned i = 0; i < reps; i++)
		if (kvm ? res[i][k].kvm2m : res[i][k].huge99)
			v[n++] = kvm ? res[i][k].to_2m_ms : res[i][k].to_huge99_ms;
	return bench_median(v, n);
}

static int add_config(struct opts *o, const char *spec)
{
	struct config *c = &o->cfgs[o->nr_cfgs];
	struct thpvm_collapse_config cc;

	if (o->nr_cfgs == MAX_CONFIGS) {
		cli_error("bench collapse: at most %d configurations", MAX_CONFIGS);
		return -1;
	}
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", spec);
	if (!strcmp(spec, "khugepaged")) {
		c->khugepaged = true;
	} else {
		/* the mode's own defaults: a productive pass is followed by the next at once (as fast as it can) */
		snprintf(c->options, sizeof(c->options), "%s", spec);
		thpvm_collapse_config_default(&cc);
		if (strlen(spec) > 120 || thpvm_collapse_config_parse(&cc, c->options)) {
			cli_error("bench collapse: --config '%s': %s", spec, thpvm_last_error());
			return -1;
		}
	}
	o->nr_cfgs++;
	return 0;
}

static int run(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "memory", required_argument, NULL, 'm' }, { "reps", required_argument, NULL, 'r' },
		{ "config", required_argument, NULL, 'c' }, { "window", required_argument, NULL, 't' },
		{ "json", required_argument, NULL, 'j' },   { "plot", required_argument, NULL, 'p' },
		{ "no-warm", no_argument, NULL, 'n' },      { 0 },
	};
	struct opts opts = { .memory = 4ULL << 30, .reps = 3, .window_s = 10, .warm = true }, *o = &opts;
	struct result (*res)[MAX_CONFIGS];
	struct thpvm_host_thp host;
	struct tmpl t = { 0 };
	uint64_t v;
	char sz[32];
	int c, status = 0;

	opt_begin();
	while ((c = getopt_long(argc, argv, ":", lopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_size(optarg, &o->memory) || o->memory < 64 * MIB || o->memory % (2 * MIB)) {
				cli_error("bench collapse: --memory '%s': expected a multiple of 2 MiB, at least 64M", optarg);
				return 2;
			}
			break;
		case 'r':
			if (parse_uint(optarg, 1, MAX_REPS, &v)) {
				cli_error("bench collapse: --reps '%s': expected 1..%d", optarg, MAX_REPS);
				return 2;
			}
			o->reps = (unsigned)v;
			break;
		case 't':
			if (parse_uint(optarg, 1, 3600, &v)) {
				cli_error("bench collapse: --window '%s': expected 1..3600 seconds", optarg);
				return 2;
			}
			o->window_s = (double)v;
			break;
		case 'c':
			if (add_config(o, optarg))
				return 2;
			break;
		case 'j':
			o->json = optarg;
			break;
		case 'p':
			o->plot = optarg;
			break;
		case 'n':
			o->warm = false;
			break;
		default:
			return opt_bad("bench collapse", c, argv);
		}
	}
	if (opt_rest("bench collapse", argc, argv))
		return 2;
	if (!o->nr_cfgs) {
		static const char *const defaults[] = { "tlb", "balanced", "density", "khugepaged" };

		for (unsigned i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
			add_config(o, defaults[i]);
	}
	res = calloc(o->reps, sizeof(*res));
	snprintf(dir, sizeof(dir), "/tmp/thpvm-bench-collapse-XXXXXX");
	if (!res || !mkdtemp(dir)) {
		cli_error("bench collapse: cannot make a directory in /tmp: %s", strerror(errno));
		free(res);
		return 1;
	}
	calibrate_tsc();
	thpvm_host_thp_read(&host);
	if (tmpl_create(&t, o->memory)) {
		cli_error("bench collapse: %s", vmm_last_error());
		status = 1;
		goto out;
	}
	printf("bench collapse: %s template (collbench, prefaulted THP, guest 2 MiB pages), %u reps, window %.0f s, %swarm;\n"
	       "  khugepaged %lld pages / %lld ms, max_ptes_shared %lld (watched, never changed); template pages_2m %llu,\n"
	       "  %.0f cycles/access before the fork (TSC %.0f MHz)\n",
	       format_size(o->memory, sz, sizeof(sz)), o->reps, o->window_s, o->warm ? "" : "not ",
	       (long long)host.khugepaged_pages_to_scan, (long long)host.khugepaged_scan_sleep_millisecs,
	       (long long)host.khugepaged_max_ptes_shared, (unsigned long long)t.pages_2m, t.before_cpa, tsc_per_us);
	for (unsigned i = 0; i < o->reps && !status; i++)
		for (unsigned k = 0; k < o->nr_cfgs && !status; k++) {
			bench_progress("bench collapse", i * o->nr_cfgs + k + 1, o->reps * o->nr_cfgs);
			if (run_child(o, &o->cfgs[k], &t, &res[i][k]) || !res[i][k].ok) {
				bench_progress_done();
				cli_error("bench collapse: %s: %s", o->cfgs[k].name, vmm_last_error());
				status = 1;
			}
		}
	bench_progress_done();
	if (status)
		goto out;
	{

		printf("(medians of %u. to99%%: ms until >= 99%% of guest RAM is HUGE ('-': not within the window;\n"
		       " N/M: only N of M repetitions got there, their median); +2m: until KVM's pages_2m is back too.\n"
		       " c/a: the guest's cycles per access (median chunk of 1024 dependent loads) before the split, on the\n"
		       " split memory, and after the window. op: one collapse operation, ext/op extents in it; the kernel's\n"
		       " MADV_COLLAPSE holds the mm's lock for writing while it copies an extent, so a vCPU that faults\n"
		       " meanwhile waits up to op/(ext/op). stl: vCPU faults blocked on copy-and-remap's write-protect.\n"
		       " chunk: the guest's slowest chunks (worst lap's p99 and max, us) while the window ran; density and\n"
		       " khugepaged collapse nothing, so theirs is this host's noise. owned: the child's private memory)\n",
		       o->reps);
		printf("%-12s %10s %8s %6s %6s %6s %6s %7s %7s %6s %7s %8s %8s %9s\n", "config", "to99%", "+2m", "huge%",
		       "c/a", "split", "after", "op p50", "op p99", "ext/op", "stl p99", "chunk99", "chunkmx", "owned MiB");
		for (unsigned k = 0; k < o->nr_cfgs; k++) {
			unsigned n99 = 0, n2m = 0;
			char a[40], b[24];

			for (unsigned i = 0; i < o->reps; i++) {
				n99 += res[i][k].huge99;
				n2m += res[i][k].kvm2m;
			}
			/* the median of the repetitions that got there, and how many did */
			snprintf(a, sizeof(a), n99 ? "%.0f" : "-", med_reached(res, o->reps, k, false));
			snprintf(b, sizeof(b), n2m ? "%.0f" : "-", med_reached(res, o->reps, k, true));
			if (n99 < o->reps)
				snprintf(a + strlen(a), sizeof(a) - strlen(a), " %u/%u", n99, o->reps);
			printf("%-12s %10s %8s %6.1f %6.0f %6.0f %6.0f %7.0f %7.0f %6.1f %7.0f %8.0f %8.0f %9.0f\n",
			       o->cfgs[k].name, a, b, MED(huge_pct_end), MED(before_cpa), MED(split_cpa), MED(after_cpa),
			       MED(op_p50_us), MED(op_p99_us), MED(extents_per_op), MED(stall_p99_us), MED(recov_chunk_p99_us),
			       MED(recov_chunk_max_us), MED(owned_bytes) / (double)MIB);
		}
		printf("split (one byte into each extent, in the guest): %.1f ms median\n", ({
			       double sv[MAX_REPS * MAX_CONFIGS];
			       unsigned n = 0;
			       for (unsigned i = 0; i < o->reps; i++)
				       for (unsigned k = 0; k < o->nr_cfgs; k++)
					       sv[n++] = res[i][k].split_ms;
			       bench_median(sv, n);
		       }));
		for (unsigned k = 0; k < o->nr_cfgs; k++)
			if (!res[0][k].huge99 || o->cfgs[k].khugepaged)
				printf("%s over the %.0f s window: %.1f%% HUGE (median), KVM maps %.1f%% of the template's 2 MiB\n",
				       o->cfgs[k].name, o->window_s, MED(huge_pct_end), MED(kvm_2m_pct_end));
	}
	if (o->json) {
		json_t *j = to_json(o, res, &t, &host);

		if (!j || bench_json_write(j, o->json)) {
			cli_error("bench collapse: cannot write %s", o->json);
			status = 1;
		}
		json_decref(j);
	}
	if (o->plot && plot(o, res))
		status = 1;
out:
	tmpl_destroy(&t);
	unlink(t.vm.out);
	rmdir(dir);
	free(res);
	return status;
}

const struct bench bench_collapse = {
	.name = "collapse",
	.summary = "fork a THP template VM, split every extent in the child, time the collapse thread's recovery per mode",
	.usage = "thpvm bench collapse [--memory SIZE] [--reps N] [--config OPTS]... [--window S] [--json FILE] "
		 "[--plot FILE.png] [--no-warm]\n  --config takes --collapse options (e.g. tlb,engine=remap) or 'khugepaged' "
		 "(our thread off, the kernel's at its settings); default: tlb, balanced, density, khugepaged",
	.run = run,
};
