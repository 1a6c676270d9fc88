/* SPDX-License-Identifier: MIT */
/*
 * thpvm bench snapshot: what a snapshot on disk costs (docs/snapshot-format.md).
 *
 *  disk     the file system's own O_DIRECT sequential write (fsync included)
 *           and read (the file dropped from the page cache first) of a file
 *           of the size, with the images' request size and queue depth: the
 *           best an image can do here;
 *  memory   a THP region (libthpvm, no KVM) saved with
 *           thpvm_region_image_save and loaded into a fresh region, against
 *           that baseline, and the loaded region's HUGE share;
 *  vm       a payload VM (memtest, all its RAM written) restored the way
 *           `thpvm run --restore` does it, to the moment it could run, its
 *           HUGE share then and KVM's 2 MiB mappings once it ran; and saved.
 *
 * Sizes run one after another (two of the largest must fit in memory and
 * on disk, never more); within a size every repetition runs each part once,
 * in a rotating order, after one unrecorded round; medians and ratios come
 * from this one run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
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
#define GIB (1ULL << 30)
/* the run's directory, --dir and a name: short enough for every path made in it (snap_vm.dir) */
#define TMP_MAX_LEN 200
#define TMP_NAME "/thpvm-bench-snapshot-XXXXXX"

static int parse_sizes(const char *arg, struct opts *o)
{
	char *copy = strdup(arg), *save = NULL;

	o->nr_sizes = 0;
	for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (o->nr_sizes == MAX_SIZES || parse_size(t, &v) || v < 64 * MIB || v > 64 * GIB || v % (2 * MIB)) {
			free(copy);
			return -EINVAL;
		}
		o->sizes[o->nr_sizes++] = v;
	}
	free(copy);
	return o->nr_sizes ? 0 : -EINVAL;
}

static int parse_depths(const char *arg, struct opts *o)
{
	char *copy = strdup(arg), *save = NULL;

	o->nr_depths = 0;
	for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (o->nr_depths == MAX_DEPTHS || parse_uint(t, 1, THPVM_IMAGE_MAX_QUEUE_DEPTH, &v)) {
			free(copy);
			return -EINVAL;
		}
		o->depths[o->nr_depths++] = (unsigned)v;
	}
	free(copy);
	return o->nr_depths ? 0 : -EINVAL;
}

/* A comma-separated list of names from names[0..n): on[i] for each one given. */
static int parse_names(const char *arg, const char *const *names, unsigned n, bool *on)
{
	char *copy = strdup(arg), *save = NULL;
	bool any = false;

	memset(on, 0, n * sizeof(*on));
	for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
		unsigned i;

		for (i = 0; i < n && strcmp(t, names[i]); i++)
			;
		if (i == n) {
			free(copy);
			return -EINVAL;
		}
		on[i] = any = true;
	}
	free(copy);
	return any ? 0 : -EINVAL;
}

/* Snapshot files belong on a disk: $TMPDIR, else /var/tmp (a disk where /tmp is tmpfs), else /tmp (the lab's L1 has no /var/tmp). */
static const char *default_dir(void)
{
	const char *t = getenv("TMPDIR");
	struct stat sb;

	if (t && *t)
		return t;
	return !stat("/var/tmp", &sb) && S_ISDIR(sb.st_mode) ? "/var/tmp" : "/tmp";
}

static int parse(int argc, char **argv, struct opts *o)
{
	enum { O_SIZES = 256, O_REPS, O_DIR, O_PARTS, O_JSON, O_NO_WARM, O_DEPTHS, O_REGISTER };
	static const struct option opts[] = {
		{ "sizes", required_argument, NULL, O_SIZES }, { "reps", required_argument, NULL, O_REPS },
		{ "dir", required_argument, NULL, O_DIR },     { "parts", required_argument, NULL, O_PARTS },
		{ "json", required_argument, NULL, O_JSON },   { "no-warm", no_argument, NULL, O_NO_WARM },
		{ "queue-depths", required_argument, NULL, O_DEPTHS }, { "register", required_argument, NULL, O_REGISTER },
		{ 0 },
	};
	struct thpvm_image_io_config io;
	struct stat sb;
	uint64_t v;
	int c;

	*o = (struct opts){ .sizes = { GIB, 8 * GIB }, .nr_sizes = 2, .reps = 5, .dir = default_dir(),
			    .part = { true, true, true }, .warm = true, .regs = { [REG_NONE] = true } };
	thpvm_image_io_config_get(&io);
	o->depths[o->nr_depths++] = io.queue_depth;
	opt_begin();
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case O_SIZES:
			if (parse_sizes(optarg, o)) {
				cli_error("bench snapshot: --sizes '%s': expected up to %d sizes, 64M..64G, multiples of 2 MiB",
					  optarg, MAX_SIZES);
				return 2;
			}
			break;
		case O_REPS:
			if (parse_uint(optarg, 1, 1000, &v)) {
				cli_error("bench snapshot: --reps '%s': expected 1..1000", optarg);
				return 2;
			}
			o->reps = (unsigned)v;
			break;
		case O_DIR:
			o->dir = optarg;
			break;
		case O_PARTS:
			if (parse_names(optarg, part_name, NR_PARTS, o->part)) {
				cli_error("bench snapshot: --parts '%s': expected disk, memory and/or vm, comma-separated",
					  optarg);
				return 2;
			}
			break;
		case O_JSON:
			o->json = optarg;
			break;
		case O_NO_WARM:
			o->warm = false;
			break;
		case O_DEPTHS:
			if (parse_depths(optarg, o)) {
				cli_error("bench snapshot: --queue-depths '%s': expected up to %d depths, 1..%d", optarg,
					  MAX_DEPTHS, THPVM_IMAGE_MAX_QUEUE_DEPTH);
				return 2;
			}
			o->sweep = true;
			break;
		case O_REGISTER:
			if (parse_names(optarg, reg_name, NR_REGS, o->regs)) {
				cli_error("bench snapshot: --register '%s': expected none, files, buffers and/or both", optarg);
				return 2;
			}
			o->sweep = true;
			break;
		default:
			return opt_bad("bench snapshot", c, argv);
		}
	}
	if (opt_rest("bench snapshot", argc, argv))
		return 2;
	if (strlen(o->dir) + strlen(TMP_NAME) >= TMP_MAX_LEN) {
		cli_error("bench snapshot: --dir '%s': longer than %zu characters", o->dir, TMP_MAX_LEN - strlen(TMP_NAME) - 1);
		return 2;
	}
	if (stat(o->dir, &sb)) {
		cli_error("bench snapshot: --dir '%s': %s", o->dir, strerror(errno));
		return 2;
	}
	if (!S_ISDIR(sb.st_mode)) {
		cli_error("bench snapshot: --dir '%s': not a directory", o->dir);
		return 2;
	}
	return 0;
}

static uint64_t largest(const struct opts *o)
{
	uint64_t m = 0;

	for (unsigned i = 0; i < o->nr_sizes; i++)
		m = o->sizes[i] > m ? o->sizes[i] : m;
	return m;
}

/* Two of the largest size: a part's file and the whole VM's snapshot, or the baseline's file beside it. */
static int check_space(const struct opts *o)
{
	uint64_t need = 2 * largest(o), avail;
	struct statvfs st;
	char a[32], n[32];

	if (statvfs(o->dir, &st)) {
		cli_error("bench snapshot: %s: %s", o->dir, strerror(errno));
		return 1;
	}
	avail = (uint64_t)st.f_bavail * st.f_frsize;
	if (avail < need) {
		cli_error("bench snapshot: %s: %s free, the benchmark needs %s (twice the largest size)", o->dir,
			  format_size(avail, a, sizeof(a)), format_size(need, n, sizeof(n)));
		return 1;
	}
	return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

int snap_rm_tree(const char *path)
{
	if (nftw(path, rm_entry, 8, FTW_DEPTH | FTW_PHYS) && errno != ENOENT)
		return vmm_fail(-errno, "%s: cannot remove it: %s", path, strerror(errno));
	return 0;
}

/* One sample of part p; v gets its figures. */
static int part_once(enum part p, const char *tmp, struct size_run *sr, struct snap_mem *m, struct snap_vm *sv,
		     bool warm, double *v)
{
	char path[256];
	int ret;

	switch (p) {
	case P_DISK:
		snprintf(path, sizeof(path), "%s/disk.bin", tmp);
		return snap_disk_once(path, sr->size, &sr->disk_direct, v);
	case P_MEMORY:
		snprintf(path, sizeof(path), "%s/memory.img", tmp);
		ret = snap_mem_once(m, path, warm, v);
		sr->mem_direct = m->direct;
		return ret;
	default:
		ret = snap_vm_once(sv, warm, v);
		sr->vm_direct = sv->direct;
		sr->vm_data_bytes = sv->data_bytes;
		return ret;
	}
}

static int run_size(const struct opts *o, const bool *on, const char *tmp, struct size_run *sr)
{
	struct snap_mem m = { 0 };
	struct snap_vm sv = { 0 };
	enum part active[NR_PARTS];
	unsigned na = 0;
	char dir[sizeof(sv.dir)], label[64], sz[32];
	int ret = 0;

	for (unsigned p = 0; p < NR_PARTS; p++)
		if (on[p])
			active[na++] = (enum part)p;
	snprintf(label, sizeof(label), "bench snapshot: %s", format_size(sr->size, sz, sizeof(sz)));
	snprintf(dir, sizeof(dir), "%s/vm", tmp);
	bench_progress(label, 0, o->reps + 1);
	if (on[P_MEMORY])
		ret = snap_mem_setup(&m, sr->size);
	if (!ret && on[P_VM])
		ret = snap_vm_setup(&sv, sr->size, dir);
	/* round 0 warms every path and is not recorded */
	for (unsigned r = 0; r <= o->reps && !ret; r++) {
		bench_progress(label, r + 1, o->reps + 1);
		for (unsigned k = 0; k < na && !ret; k++) {
			enum part p = active[(k + r) % na];
			double v[SM_NR];

			ret = part_once(p, tmp, sr, &m, &sv, o->warm, v);
			for (unsigned i = part_first[p]; r && !ret && i <= part_last[p]; i++)
				sr->s[i][r - 1] = v[i];
		}
		if (r && !ret)
			sr->n = r;
	}
	bench_progress_done();
	snap_mem_free(&m);
	snap_vm_free(&sv);
	/* the next size starts with room for its own files */
	if (snap_rm_tree(dir) && !ret)
		ret = -EIO;
	return ret;
}

static int run(int argc, char **argv)
{
	struct size_run runs[MAX_SIZES] = { 0 };
	const char *no_vm = NULL;
	struct opts o;
	bool on[NR_PARTS];
	char tmp[TMP_MAX_LEN], sz[32];
	unsigned done = 0;
	int ret, status = 0;

	if ((ret = parse(argc, argv, &o)) || (ret = check_space(&o)))
		return ret;
	memcpy(on, o.part, sizeof(on));
	/* the other parts run without KVM: only the VM's is skipped, in one line */
	if (on[P_VM] && (bench_host_get()->kind == KVM_HOST_NONE || access("/dev/kvm", R_OK | W_OK)))
		no_vm = "no usable /dev/kvm";
	snprintf(tmp, sizeof(tmp), "%s" TMP_NAME, o.dir);
	if (!mkdtemp(tmp)) {
		cli_error("bench snapshot: cannot make a directory in %s: %s", o.dir, strerror(errno));
		return 1;
	}
	printf("bench snapshot: ");
	for (unsigned i = 0; i < o.nr_sizes; i++)
		printf("%s%s", i ? ", " : "", format_size(o.sizes[i], sz, sizeof(sz)));
	if (o.sweep)
		printf(" one after another; %u repetitions of %u io_uring settings (disk, then memory, each)", o.reps,
		       o.nr_depths * (o.regs[REG_NONE] + o.regs[REG_FILES] + o.regs[REG_BUFFERS] + o.regs[REG_BOTH]));
	else
		printf(" one after another; %u repetitions of the parts (", o.reps);
	for (unsigned p = 0, first = 1; p < NR_PARTS && !o.sweep; p++)
		if (on[p]) {
			printf("%s%s", first ? "" : ",", part_name[p]);
			first = 0;
		}
	printf("%s, after one unrecorded\nround; median [p10 p90] (under 10 repetitions: min and max); "
	       "memory %swarmed; files in %s\n", o.sweep ? " in a shuffled order" : ") interleaved", o.warm ? "" : "not ",
	       tmp);
	fflush(stdout);
	if (o.sweep) {
		char host[256];

		json_t *j = NULL;

		snap_host_tag(host, sizeof(host));
		if (snap_sweep(&o, tmp, host, &j)) {
			cli_error("bench snapshot: %s", vmm_last_error());
			status = 1;
		} else if (o.json && bench_json_write(j, o.json)) {
			cli_error("bench snapshot: cannot write %s", o.json);
			status = 1;
		}
		json_decref(j);
		goto out;
	}
	if (no_vm)
		on[P_VM] = false;
	for (unsigned i = 0; i < o.nr_sizes && !status; i++) {
		runs[i].size = o.sizes[i];
		for (unsigned m = 0; m < SM_NR; m++)
			runs[i].s[m] = calloc(o.reps, sizeof(double));
		if (run_size(&o, on, tmp, &runs[i])) {
			cli_error("bench snapshot: %s", vmm_last_error());
			status = 1;
		} else {
			done++;
		}
	}
	on[P_VM] = o.part[P_VM];
	if (!status) {
		snap_print_tables(&o, on, runs, done, no_vm);
		if (o.json) {
			json_t *j = snap_runs_json(&o, on, runs, done, no_vm);

			if (bench_json_write(j, o.json)) {
				cli_error("bench snapshot: cannot write %s", o.json);
				status = 1;
			}
			json_decref(j);
		}
	}
out:
	if (snap_rm_tree(tmp))
		cli_error("bench snapshot: %s", vmm_last_error());
	for (unsigned i = 0; i < o.nr_sizes; i++)
		for (unsigned m = 0; m < SM_NR; m++)
			free(runs[i].s[m]);
	return status;
}

const struct bench bench_snapshot = {
	.name = "snapshot",
	.summary = "snapshots on disk: the disk's own bandwidth, a region's image, a whole VM saved and restored",
	.usage = "thpvm bench snapshot [--sizes 1G,8G] [--reps N] [--dir DIR] [--parts disk,memory,vm] [--json FILE]\n"
		 "                     [--no-warm] [--queue-depths 1,2,4,... --register none,files,buffers,both]\n"
		 "  the files go in a fresh directory in DIR (default $TMPDIR, else /var/tmp, else /tmp), removed\n"
		 "  at the end; DIR's file system needs twice the largest size free;\n"
		 "  --queue-depths/--register: instead of the parts, the disk and memory-only parts once per\n"
		 "  io_uring setting (each depth with each registration, default: today's depth, none)",
	.run = run,
};
