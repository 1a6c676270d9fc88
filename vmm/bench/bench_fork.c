/* SPDX-License-Identifier: MIT */
/*
 * thpvm bench fork: what snapshot-fork costs (docs/fork.md).
 *
 * Every part drives real templates the way a user does: `thpvm run` of the
 * forktest payload on prefaulted RAM, one process per template (a fork()
 * copies every mapping of its process), `fork` commands sent to its control
 * socket, children that report through their console files and are reaped
 * by their template.
 *
 *  latency  1 GiB and 8 GiB templates, thp and 4k backing, each forked into
 *           one child per repetition (configurations interleaved, grouped so
 *           the templates alive at once stay under --max-resident). The
 *           child's guest reads the TSC first thing and reports it minus the
 *           fork command's: the latency. The fork reply and the child's
 *           report give the breakdown.
 *  density  a template of the first --sizes (1 GiB) forked into N children (default 16) that each
 *           write 1% of their pages and idle: the sum of the processes' Pss
 *           against the ideal (the template alone plus the pages written).
 *  cow      a child of such a template times, in 64 extents, its first write
 *           (a shared extent: split + 4 KiB copy), a write to the next page
 *           of the same extent and a rewrite, as the guest sees them.
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
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <thpvm.h>
#include "bench.h"
#include "bench_fork.h"
#include "util/util.h"
#include "util/opts.h"
#include "../ctl/ctl.h"
#include "util/error.h"
#include "../fork/fork.h"
#include "machine/guest_ram.h"
#include "../kvm/vcpu.h"
#include "../kvm/vm.h"
#include "machine/payload.h"
#include "ctl/vm_ctl.h"
#include "util/clock.h"

/* ---- latency ---- */

enum { L_TOTAL, L_REPLY, L_PAUSE, L_CAPTURE, L_FORK, L_STARTED, L_INIT, L_DESTROY, L_CREATE, L_MEMSLOTS, L_VCPUS,
       L_RESTORE, L_HOOKS_START, L_FIRST_RUN, L_RUNNING, L_NR };
static const char *const l_names[L_NR] = {
	"latency_ms", "reply_ms", "pause_ms", "capture_ms", "fork_ms", "child_started_ms", "child_init_ms",
	"child_destroy_ms", "child_create_ms", "child_memslots_ms", "child_vcpus_ms", "child_restore_ms",
	"child_hooks_start_ms", "first_run_ms", "child_running_ms",
};

struct lat_cfg {
	struct tmpl t;
	uint64_t size;
	enum thpvm_backing backing;
	double (*s)[L_NR];
	unsigned nr;
};

static int latency_once(struct lat_cfg *c)
{
	double v[L_NR], lat = NAN, resume = NAN;
	json_t *r;
	const char *console;
	uint64_t t0 = util_mono_ns();
	double khz = (double)fork_tsc_khz;

	r = fork_tmpl_fork(&c->t, 1);
	if (!r)
		return -EIO;
	v[L_REPLY] = (double)(util_mono_ns() - t0) / 1e6;
	console = fork_reply_console(r, 0);
	if (bench_wait_gone(fork_reply_pid(r, 0))) {
		json_decref(r);
		return -ETIMEDOUT;
	}
	if (!console || bench_console_values(console, "fork_latency_cycles", &lat, 1) != 1 ||
	    bench_console_values(console, "fork_resume_cycles", &resume, 1) != 1 || !khz) {
		vmm_fail(-EIO, "a child of the %s template did not report its latency (%s)", c->t.vm.label,
			 console ? console : "no console");
		json_decref(r);
		return -EIO;
	}
	unlink(console);
	v[L_TOTAL] = lat / khz;
	v[L_FIRST_RUN] = resume / khz;
	v[L_PAUSE] = bench_json_num(json_object_get(r, "timing"), "pause_ms", NULL);
	v[L_CAPTURE] = bench_json_num(json_object_get(r, "timing"), "capture_ms", NULL);
	v[L_FORK] = bench_json_num(json_object_get(r, "timing"), "fork_ms", NULL);
	{
		json_t *k = json_object_get(json_object_get(r, "timing"), "first_child");

		v[L_STARTED] = bench_json_num(k, "started_ms", NULL);
		v[L_INIT] = bench_json_num(k, "init_ms", NULL);
		v[L_DESTROY] = bench_json_num(k, "destroy_ms", NULL);
		v[L_CREATE] = bench_json_num(k, "create_ms", NULL);
		v[L_MEMSLOTS] = bench_json_num(k, "memslots_ms", NULL);
		v[L_VCPUS] = bench_json_num(k, "vcpus_ms", NULL);
		v[L_RESTORE] = bench_json_num(k, "restore_ms", NULL);
		v[L_HOOKS_START] = bench_json_num(k, "hooks_ms", NULL) + bench_json_num(k, "start_ms", NULL);
		v[L_RUNNING] = bench_json_num(k, "running_ms", NULL);
	}
	memcpy(c->s[c->nr++], v, sizeof(v));
	json_decref(r);
	return 0;
}

static double med(struct lat_cfg *c, unsigned k)
{
	double v[c->nr ? c->nr : 1];

	for (unsigned i = 0; i < c->nr; i++)
		v[i] = c->s[i][k];
	return bench_median(v, c->nr);
}

static double minimum(struct lat_cfg *c, unsigned k)
{
	double m = INFINITY;

	for (unsigned i = 0; i < c->nr; i++)
		m = c->s[i][k] < m ? c->s[i][k] : m;
	return m;
}

static int run_latency(const struct opts *o, json_t *out)
{
	static const char *const args[] = { "mode=latency", "then=exit", NULL };
	struct lat_cfg cfg[8];
	unsigned n = 0, status = 0;
	json_t *list = json_array();

	for (unsigned s = 0; s < o->nr_sizes; s++)
		for (unsigned b = 0; b < 2; b++) {
			if ((b == 0 && !o->thp) || (b == 1 && !o->k4))
				continue;
			cfg[n] = (struct lat_cfg){ .size = o->sizes[s], .backing = b ? THPVM_BACKING_4K : THPVM_BACKING_THP };
			cfg[n].s = calloc(o->reps + 1, sizeof(*cfg[n].s));
			n++;
		}
	/* groups of configurations whose templates fit in max_resident together, interleaved inside */
	for (unsigned g0 = 0; g0 < n && !status;) {
		uint64_t sum = 0;
		unsigned g1 = g0;

		while (g1 < n && (g1 == g0 || sum + cfg[g1].size <= o->max_resident))
			sum += cfg[g1++].size;
		for (unsigned i = g0; i < g1 && !status; i++)
			if (fork_tmpl_create(&cfg[i].t, cfg[i].size, cfg[i].backing, args)) {
				cli_error("bench fork: %s", vmm_last_error());
				status = 1;
			}
		bench_progress_done();
		/* one unrecorded fork each: the first pauses the template and warms the paths */
		for (unsigned i = g0; i < g1 && !status; i++) {
			if (latency_once(&cfg[i])) {
				cli_error("bench fork: %s", vmm_last_error());
				status = 1;
			}
			cfg[i].nr = 0;
		}
		for (unsigned r = 0; r < o->reps && !status; r++)
			for (unsigned k = 0; k < g1 - g0 && !status; k++) {
				struct lat_cfg *c = &cfg[g0 + (k + r) % (g1 - g0)];

				bench_progress("bench fork: latency", r + 1, o->reps);
				if (latency_once(c)) {
					cli_error("bench fork: %s", vmm_last_error());
					status = 1;
				}
			}
		bench_progress_done();
		for (unsigned i = g0; i < g1; i++)
			fork_tmpl_destroy(&cfg[i].t);
		g0 = g1;
	}
	if (!status) {
		char sz[32];

		printf("fork latency: fork command -> first guest instruction in the child (guest TSC), ms, median of %u\n",
		       o->reps);
		printf("  %-10s %8s %8s | %7s %7s %7s | %7s %7s %9s %8s %7s %8s %9s\n", "template", "latency", "min",
		       "pause", "capture", "fork()", "started", "init", "create", "(slots)", "restore", "hk+start",
		       "first run");
		for (unsigned i = 0; i < n; i++) {
			struct lat_cfg *c = &cfg[i];
			json_t *o1 = json_object();

			printf("  %-4s %-5s %8.3f %8.3f | %7.3f %7.3f %7.3f | %7.3f %7.3f %9.3f %8.3f %7.3f %8.3f %9.3f\n",
			       format_size(c->size, sz, sizeof(sz)), thpvm_backing_str(c->backing), med(c, L_TOTAL),
			       minimum(c, L_TOTAL), med(c, L_PAUSE), med(c, L_CAPTURE), med(c, L_FORK), med(c, L_STARTED),
			       med(c, L_INIT), med(c, L_CREATE), med(c, L_MEMSLOTS), med(c, L_RESTORE),
			       med(c, L_HOOKS_START), med(c, L_FIRST_RUN));
			json_object_set_new(o1, "size_bytes", json_integer((json_int_t)c->size));
			json_object_set_new(o1, "backing", json_string(thpvm_backing_str(c->backing)));
			json_object_set_new(o1, "reps", json_integer(c->nr));
			for (unsigned k = 0; k < L_NR; k++)
				json_object_set_new(o1, l_names[k], json_real(med(c, k)));
			json_object_set_new(o1, "latency_min_ms", json_real(minimum(c, L_TOTAL)));
			json_array_append_new(list, o1);
		}
		printf("  started: command -> the child's first line (pause + capture + fork); create includes the\n"
		       "  memslots; first run: vCPUs released -> the guest's first look at its mailbox (includes\n"
		       "  the fork_child hooks, thread start, the first KVM_RUN and the shadow MMU's first faults).\n"
		       "  A TSC restored as captured would run %.3f ms (median, first config) behind the parent's.\n\n",
		       n ? med(&cfg[0], L_RUNNING) - med(&cfg[0], L_PAUSE) - med(&cfg[0], L_CAPTURE) : 0.0);
	}
	json_object_set_new(out, "latency", list);
	for (unsigned i = 0; i < n; i++)
		free(cfg[i].s);
	return (int)status;
}

/* The TSC frequency KVM gives guests (no scaling: the guest's is the host's). */
static uint64_t host_tsc_khz(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vmfd = -1, vcpu = -1, khz = 0;

	if (kvm >= 0 && (vmfd = ioctl(kvm, KVM_CREATE_VM, 0)) >= 0 && (vcpu = ioctl(vmfd, KVM_CREATE_VCPU, 0)) >= 0)
		khz = ioctl(vcpu, KVM_GET_TSC_KHZ, NULL);
	if (vcpu >= 0)
		close(vcpu);
	if (vmfd >= 0)
		close(vmfd);
	if (kvm >= 0)
		close(kvm);
	return khz > 0 ? (uint64_t)khz : 0;
}

/* ---- options ---- */

static int parse(int argc, char **argv, struct opts *o)
{
	enum { O_SIZES = 256, O_BACKINGS, O_REPS, O_CHILDREN, O_WRITE, O_COW_EXTENTS, O_COW_REPS, O_MAX, O_PARTS, O_JSON };
	static const struct option opts[] = {
		{ "sizes", required_argument, NULL, O_SIZES },
		{ "backings", required_argument, NULL, O_BACKINGS },
		{ "reps", required_argument, NULL, O_REPS },
		{ "children", required_argument, NULL, O_CHILDREN },
		{ "write-pct", required_argument, NULL, O_WRITE },
		{ "cow-extents", required_argument, NULL, O_COW_EXTENTS },
		{ "cow-reps", required_argument, NULL, O_COW_REPS },
		{ "max-resident", required_argument, NULL, O_MAX },
		{ "parts", required_argument, NULL, O_PARTS },
		{ "json", required_argument, NULL, O_JSON },
		{ 0 },
	};
	uint64_t v;
	int c, ret;

	*o = (struct opts){ .sizes = { GIB, 8 * GIB }, .nr_sizes = 2, .thp = true, .k4 = true, .reps = 11,
			    .children = 16, .write_pct = 1, .cow_extents = 64, .cow_reps = 3, .max_resident = 10 * GIB,
			    .latency = true, .density = true, .cow = true };
	opt_begin();
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case O_SIZES:
			if ((ret = bench_parse_sizes(optarg, 64 * MIB, UINT64_MAX, o->sizes, 4)) < 0) {
				cli_error("bench fork: --sizes '%s': expected up to 4 sizes, 64M or more, 2 MiB multiples",
					  optarg);
				return 2;
			}
			o->nr_sizes = (unsigned)ret;
			break;
		case O_BACKINGS:
			o->thp = strstr(optarg, "thp") != NULL;
			o->k4 = strstr(optarg, "4k") != NULL;
			if (!o->thp && !o->k4) {
				cli_error("bench fork: --backings '%s': expected thp, 4k or thp,4k", optarg);
				return 2;
			}
			break;
		case O_REPS:
		case O_CHILDREN:
		case O_WRITE:
		case O_COW_EXTENTS:
		case O_COW_REPS:
			if (parse_uint(optarg, c == O_WRITE ? 0 : 1, c == O_CHILDREN ? VM_FORK_MAX_COUNT : 100000, &v) ||
			    (c == O_WRITE && v > 100)) {
				cli_error("bench fork: %s '%s': expected a positive number%s", argv[optind - 1], optarg,
					  c == O_WRITE ? " up to 100" : "");
				return 2;
			}
			if (c == O_REPS)
				o->reps = (unsigned)v;
			else if (c == O_CHILDREN)
				o->children = (unsigned)v;
			else if (c == O_WRITE)
				o->write_pct = (double)v;
			else if (c == O_COW_EXTENTS)
				o->cow_extents = (unsigned)v;
			else
				o->cow_reps = (unsigned)v;
			break;
		case O_MAX:
			if (parse_size(optarg, &o->max_resident)) {
				cli_error("bench fork: --max-resident '%s': expected a size", optarg);
				return 2;
			}
			break;
		case O_PARTS:
			o->latency = strstr(optarg, "latency") != NULL;
			o->density = strstr(optarg, "density") != NULL;
			o->cow = strstr(optarg, "cow") != NULL;
			if (!o->latency && !o->density && !o->cow) {
				cli_error("bench fork: --parts '%s': expected latency, density and/or cow", optarg);
				return 2;
			}
			break;
		case O_JSON:
			o->json = optarg;
			break;
		default:
			return opt_bad("bench fork", c, argv);
		}
	}
	return opt_rest("bench fork", argc, argv);
}

static int run(int argc, char **argv)
{
	struct opts o;
	json_t *out;
	int ret, status = 0;
	char cmd[96];

	if ((ret = parse(argc, argv, &o)))
		return ret;
	if (access("/dev/kvm", R_OK | W_OK)) {
		cli_error("bench fork: /dev/kvm is not usable here: %s", strerror(errno));
		return 1;
	}
	snprintf(fork_tmpl_dir, sizeof(fork_tmpl_dir), "/tmp/thpvm-bench-fork-XXXXXX");
	if (!mkdtemp(fork_tmpl_dir)) {
		cli_error("bench fork: cannot make a directory in /tmp: %s", strerror(errno));
		return 1;
	}
	fork_tsc_khz = host_tsc_khz();
	if (!fork_tsc_khz) {
		cli_error("bench fork: KVM does not say the TSC frequency");
		return 1;
	}
	out = json_object();
	printf("thpvm bench fork: pid %d, %ld CPUs online (results vary with other load)\n\n", (int)getpid(),
	       sysconf(_SC_NPROCESSORS_ONLN));
	fflush(stdout);
	if (o.latency && !status)
		status = run_latency(&o, out);
	if (o.density && !status)
		status = bench_fork_density(&o, out);
	if (o.cow && !status)
		status = bench_fork_cow(&o, out);
	if (o.json && !status && bench_json_write(out, o.json)) {
		cli_error("bench fork: cannot write %s", o.json);
		status = 1;
	}
	json_decref(out);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fork_tmpl_dir);
	if (system(cmd)) {
		/* left in /tmp */
	}
	return status;
}

const struct bench bench_fork = {
	.name = "fork",
	.summary = "snapshot-fork: latency to the child's first instruction, density, copy-on-write cost",
	.usage = "thpvm bench fork [--sizes 1G,8G] [--backings thp,4k] [--reps N] [--children N] [--write-pct P]\n"
		 "                 [--cow-extents N] [--cow-reps N] [--max-resident SIZE] [--parts latency,density,cow]\n"
		 "                 [--json FILE]",
	.run = run,
};
