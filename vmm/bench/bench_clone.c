/* SPDX-License-Identifier: MIT */
/*
 * thpvm bench clone: what clones of a snapshot cost (issue 12,
 * docs/snapshot-format.md "Clones"), each clone a process of its own.
 *
 *  restore   a payload VM (memtest, all its RAM written) snapshotted, then
 *            restored shared (`--memory-mode shared`: the memory file
 *            mapped MAP_PRIVATE, nothing copied) to the moment it could
 *            run: one clone alone, and --clones at once (released together);
 *            how much guest RAM is mapped then (lazy: next to nothing; the
 *            HUGE share a clone gets is the fs part's). Needs KVM.
 *  density   --clones host clones of one memory file (no vCPU: the host
 *            touches the RAM as the guest would), each reading all of it and
 *            writing --write-pct % of its pages: the sum of their Pss against
 *            the ideal (the page cache once + 4 KiB per page written).
 *  fs        one clone's map and first read of every page, and the HUGE
 *            share it got, per file system: DIR's own, a tmpfs, a tmpfs with
 *            huge=within_size (both in a mount namespace of the bench's own).
 *  collapse  a clone that wrote one page of every extent (each split, a
 *            4 KiB copy beside the page cache) until its collapse thread
 *            (tlb, copy-and-remap) has >= 99% of its extents HUGE again; no
 *            write may be lost.
 *
 * Sizes one after another (density and fs on the first); within a size the
 * repetitions interleave the parts, after one unrecorded round; medians
 * from this one run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "bench.h"
#include "bench_clone.h"
#include "bench_snapshot.h"
#include "cli/cli.h"
#include "util/util.h"
#include "util/opts.h"
#include "util/error.h"
#include "../kvm/kvm_host.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static const char *const part_names[NR_CLONE_PARTS] = { "restore", "density", "fs", "collapse" };

static int parse_parts(const char *arg, struct clone_opts *o)
{
	char *copy = strdup(arg), *save = NULL;
	bool any = false;
	unsigned p;

	memset(o->part, 0, sizeof(o->part));
	for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save), any = true) {
		for (p = 0; p < NR_CLONE_PARTS && strcmp(t, part_names[p]); p++)
			;
		if (p == NR_CLONE_PARTS) {
			any = false;
			break;
		}
		o->part[p] = true;
	}
	free(copy);
	return any ? 0 : -EINVAL;
}

static int parse(int argc, char **argv, struct clone_opts *o)
{
	enum { O_SIZES = 256, O_CLONES, O_REPS, O_WRITE_PCT, O_DIR, O_PARTS, O_JSON };
	static const struct option opts[] = {
		{ "sizes", required_argument, NULL, O_SIZES },
		{ "clones", required_argument, NULL, O_CLONES },
		{ "reps", required_argument, NULL, O_REPS },
		{ "write-pct", required_argument, NULL, O_WRITE_PCT },
		{ "dir", required_argument, NULL, O_DIR },
		{ "parts", required_argument, NULL, O_PARTS },
		{ "json", required_argument, NULL, O_JSON },
		{ 0 },
	};
	const char *t = getenv("TMPDIR");
	struct stat sb;
	uint64_t v;
	char *end;
	int c, ret;

	*o = (struct clone_opts){ .sizes = { GIB, 8 * GIB }, .nr_sizes = 2, .clones = 16, .reps = 5, .write_pct = 1 };
	for (unsigned p = 0; p < NR_CLONE_PARTS; p++)
		o->part[p] = true;
	/* a snapshot belongs on a disk: $TMPDIR, else /var/tmp (a disk where /tmp is tmpfs), else /tmp */
	o->dir = t && *t ? t : !stat("/var/tmp", &sb) && S_ISDIR(sb.st_mode) ? "/var/tmp" : "/tmp";
	opt_begin();
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case O_SIZES:
			if ((ret = bench_parse_sizes(optarg, 64 * MIB, 64 * GIB, o->sizes, CLONE_MAX_SIZES)) < 0) {
				cli_error("bench clone: --sizes '%s': expected up to %d sizes, 64M..64G, multiples of 2 MiB",
					  optarg, CLONE_MAX_SIZES);
				return 2;
			}
			o->nr_sizes = (unsigned)ret;
			break;
		case O_CLONES:
			if (parse_uint(optarg, 1, CLONE_MAX_CLONES, &v)) {
				cli_error("bench clone: --clones '%s': expected 1..%d", optarg, CLONE_MAX_CLONES);
				return 2;
			}
			o->clones = (unsigned)v;
			break;
		case O_REPS:
			if (parse_uint(optarg, 1, 1000, &v)) {
				cli_error("bench clone: --reps '%s': expected 1..1000", optarg);
				return 2;
			}
			o->reps = (unsigned)v;
			break;
		case O_WRITE_PCT:
			o->write_pct = strtod(optarg, &end);
			if (*end || end == optarg || !(o->write_pct >= 0 && o->write_pct <= 100)) {
				cli_error("bench clone: --write-pct '%s': expected 0..100", optarg);
				return 2;
			}
			break;
		case O_DIR:
			o->dir = optarg;
			break;
		case O_PARTS:
			if (parse_parts(optarg, o)) {
				cli_error("bench clone: --parts '%s': expected some of restore,density,fs,collapse", optarg);
				return 2;
			}
			break;
		case O_JSON:
			o->json = optarg;
			break;
		default:
			return opt_bad("bench clone", c, argv);
		}
	}
	if (opt_rest("bench clone", argc, argv))
		return 2;
	if (stat(o->dir, &sb) || !S_ISDIR(sb.st_mode)) {
		cli_error("bench clone: --dir '%s': not a directory", o->dir);
		return 2;
	}
	return 0;
}

/* A size's samples. */
struct size_samples {
	uint64_t size;
	double *single_ms, *single_mapped, *conc_ms, *conc_max_ms, *collapse_ms, *collapse_before;
	uint64_t lost_writes;
	unsigned n;                     /* repetitions recorded */
};

static double med(const double *v, unsigned n)
{
	return n ? bench_median(v, n) : NAN;
}

static void host_tag(char *buf, size_t len)
{
	snap_host_tag(buf, len);
}

/* The restore part of one repetition: one clone alone, then --clones at once. */
static int restore_rep(const struct clone_opts *o, const char *snap, struct size_samples *s, bool record)
{
	struct clone_restore r;
	double ms[CLONE_MAX_CLONES], max = 0;
	int ret;

	if ((ret = clone_restore_once(snap, &r)) || (ret = clone_restore_concurrent(snap, o->clones, ms)))
		return ret;
	if (!record)
		return 0;
	for (unsigned i = 0; i < o->clones; i++)
		max = ms[i] > max ? ms[i] : max;
	s->single_ms[s->n] = r.ms;
	s->single_mapped[s->n] = (double)r.mapped_bytes / MIB;
	s->conc_ms[s->n] = bench_median(ms, o->clones);
	s->conc_max_ms[s->n] = max;
	return 0;
}

static int collapse_rep(int fd, struct size_samples *s, bool record)
{
	struct clone_collapse c;
	int ret = clone_collapse_once(fd, s->size, &c);

	if (ret || !record)
		return ret;
	s->collapse_ms[s->n] = c.ms;
	s->collapse_before[s->n] = c.huge_pct_before;
	s->lost_writes += c.lost_writes;
	return 0;
}

static int run_size(const struct clone_opts *o, bool kvm, const char *tmp, struct size_samples *s)
{
	char snap[300], file[300];
	int fd = -1, ret = 0;

	snprintf(snap, sizeof(snap), "%s/snap", tmp);
	snprintf(file, sizeof(file), "%s/clone.mem", tmp);
	bench_warm_memory(s->size);
	if (o->part[CP_RESTORE] && kvm && (ret = clone_snapshot_make(snap, s->size)))
		return ret;
	if (o->part[CP_COLLAPSE]) {
		if ((fd = clone_file_make(file, s->size)) < 0)
			return fd;
		unlink(file);
	}
	/* round 0 unrecorded; then the parts in turn, the first of them rotating */
	for (unsigned rep = 0; rep <= o->reps && !ret; rep++) {
		for (unsigned k = 0; k < 2 && !ret; k++) {
			bench_progress("bench clone", rep, o->reps);
			if ((k + rep) % 2 == 0 && o->part[CP_RESTORE] && kvm)
				ret = restore_rep(o, snap, s, rep > 0);
			else if ((k + rep) % 2 == 1 && o->part[CP_COLLAPSE])
				ret = collapse_rep(fd, s, rep > 0);
		}
		if (!ret && rep > 0)
			s->n++;
	}
	bench_progress_done();
	if (fd >= 0)
		close(fd);
	if (o->part[CP_RESTORE] && kvm)
		snap_rm_tree(snap);
	return ret;
}

static json_t *samples_json(const double *v, unsigned n)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < n; i++)
		json_array_append_new(a, json_real(v[i]));
	return a;
}

static void print_size(const struct clone_opts *o, bool kvm, const struct size_samples *s, const char *host, json_t *j)
{
	char sz[32];

	format_size(s->size, sz, sizeof(sz));
	if (o->part[CP_RESTORE] && kvm) {
		printf("\nrestore, %s (%s): vm_snapshot_open to vm_snapshot_load's end, the VM built between, ms\n", sz,
		       host);
		printf("  one clone alone      %8.3f   guest RAM mapped right after %.1f MiB (nothing copied: the "
		       "guest's first touches map it)\n", med(s->single_ms, s->n), med(s->single_mapped, s->n));
		printf("  %2u clones at once    %8.3f each (median), slowest %.3f\n", o->clones, med(s->conc_ms, s->n),
		       med(s->conc_max_ms, s->n));
		json_object_set_new(j, "restore_ms", samples_json(s->single_ms, s->n));
		json_object_set_new(j, "restore_mapped_mib", samples_json(s->single_mapped, s->n));
		json_object_set_new(j, "concurrent_median_ms", samples_json(s->conc_ms, s->n));
		json_object_set_new(j, "concurrent_max_ms", samples_json(s->conc_max_ms, s->n));
	}
	if (o->part[CP_COLLAPSE]) {
		double ms = med(s->collapse_ms, s->n);

		printf("collapse, %s (host clone, %s): a page written in every extent, back to >= 99%% HUGE\n", sz, host);
		printf("  HUGE before %.1f%%, collapse thread (tlb) %s%.0f ms, writes lost %llu\n",
		       med(s->collapse_before, s->n), ms < 0 ? "did not reach 99% in 120 s: " : "", ms,
		       (unsigned long long)s->lost_writes);
		json_object_set_new(j, "collapse_ms", samples_json(s->collapse_ms, s->n));
		json_object_set_new(j, "collapse_huge_pct_before", samples_json(s->collapse_before, s->n));
		json_object_set_new(j, "collapse_lost_writes", json_integer((json_int_t)s->lost_writes));
	}
}

/* density and fs: once per repetition on the first size, interleaved */
static int run_host_parts(const struct clone_opts *o, const char *tmp, const char *host, json_t *out)
{
	double amp[1000], pss_mib[1000], map_ms[CLONE_NR_FS][1000], huge[CLONE_NR_FS][1000];
	struct clone_density d = { 0 };
	struct clone_fs fs[CLONE_NR_FS];
	char file[300], sz[32];
	unsigned n = 0;
	int fd = -1, ret = 0;

	format_size(o->sizes[0], sz, sizeof(sz));
	snprintf(file, sizeof(file), "%s/density.mem", tmp);
	if (o->part[CP_DENSITY]) {
		if ((fd = clone_file_make(file, o->sizes[0])) < 0)
			return fd;
		unlink(file);
	}
	for (unsigned rep = 0; rep <= o->reps && !ret; rep++) {
		bench_progress("bench clone (host)", rep, o->reps);
		if (o->part[CP_DENSITY] && !(ret = clone_density_once(fd, o->sizes[0], o->clones, o->write_pct, &d)) &&
		    rep) {
			amp[n] = (double)(d.page_cache_bytes + d.copied_bytes) / (double)d.ideal_bytes;
			pss_mib[n] = (double)d.process_pss_bytes / MIB;
		}
		for (unsigned f = 0; f < CLONE_NR_FS && o->part[CP_FS] && !ret; f++) {
			if (clone_fs_once(f, o->dir, o->sizes[0], &fs[f])) {
				/* a file system this host cannot give (no tmpfs mount here): said, not fatal */
				snprintf(fs[f].skipped, sizeof(fs[f].skipped), "%s", vmm_last_error());
			} else if (rep) {
				map_ms[f][n] = fs[f].map_ms;
				huge[f][n] = fs[f].huge_pct;
			}
		}
		if (rep && !ret)
			n++;
	}
	bench_progress_done();
	if (fd >= 0)
		close(fd);
	if (ret)
		return ret;
	if (o->part[CP_DENSITY]) {
		printf("\ndensity, %s (host clones, %s): %u clones of one memory file, each reading all of it and writing "
		       "%.3g%% of its pages\n", sz, host, d.clones, o->write_pct);
		printf("  pages written by all clones   %10llu (%.1f MiB)\n", (unsigned long long)d.pages_written,
		       (double)d.pages_written * 4096 / MIB);
		printf("  page cache %.1f MiB + the clones' copies %.1f MiB = %.1f MiB   ideal %.1f MiB   "
		       "amplification %.3f\n", (double)d.page_cache_bytes / MIB, (double)d.copied_bytes / MIB,
		       (double)(d.page_cache_bytes + d.copied_bytes) / MIB, (double)d.ideal_bytes / MIB, med(amp, n));
		printf("  the clones' processes: Pss %.1f MiB in all (what of the page cache they map, their copies, "
		       "the rest of each process)\n", med(pss_mib, n));
		printf("  (ideal: the memory file once plus 4 KiB per page written; page cache by mincore, copies by "
		       "smaps Private_Dirty of each clone's RAM; last repetition's MiB, median amplification)\n");
		json_object_set_new(out, "density",
				    json_pack("{s:i, s:f, s:I, s:I, s:I, s:I, s:o, s:o}", "clones", (int)d.clones, "write_pct",
					      o->write_pct, "pages_written", (json_int_t)d.pages_written, "page_cache_bytes",
					      (json_int_t)d.page_cache_bytes, "copied_bytes", (json_int_t)d.copied_bytes,
					      "ideal_bytes", (json_int_t)d.ideal_bytes, "amplification", samples_json(amp, n),
					      "process_pss_mib", samples_json(pss_mib, n)));
	}
	if (o->part[CP_FS]) {
		json_t *a = json_array();

		printf("\nfile systems, %s (host clone, %s): map + first read of every page; HUGE right after (extents\n"
		       "PMD-mapped from the page cache, by libthpvm's scan)\n", sz, host);
		for (unsigned f = 0; f < CLONE_NR_FS; f++) {
			if (fs[f].skipped[0]) {
				printf("  %-28s not measured: %s\n", fs[f].name[0] ? fs[f].name : "?", fs[f].skipped);
				continue;
			}
			printf("  %-28s %8.1f ms   HUGE %5.1f%%\n", fs[f].name, med(map_ms[f], n), med(huge[f], n));
			json_array_append_new(a, json_pack("{s:s, s:o, s:o}", "fs", fs[f].name, "map_ms",
							   samples_json(map_ms[f], n), "huge_pct", samples_json(huge[f], n)));
		}
		printf("  XFS: not measured (no mkfs.xfs among the project's packages)\n");
		json_object_set_new(out, "fs", a);
	}
	return 0;
}

static int run(int argc, char **argv)
{
	struct size_samples s[CLONE_MAX_SIZES] = { 0 };
	struct clone_opts o;
	char tmp[256], host[256], sz[32];
	json_t *j, *sizes;
	bool kvm;
	int ret, status = 0;

	if ((ret = parse(argc, argv, &o)))
		return ret;
	kvm = bench_host_get()->kind != KVM_HOST_NONE && !access("/dev/kvm", R_OK | W_OK);
	host_tag(host, sizeof(host));
	snprintf(tmp, sizeof(tmp), "%s/thpvm-bench-clone-XXXXXX", o.dir);
	if (!mkdtemp(tmp)) {
		cli_error("bench clone: cannot make a directory in %s: %s", o.dir, strerror(errno));
		return 1;
	}
	/* the report, once nothing can refuse the run any more */
	j = json_object();
	sizes = json_array();
	printf("bench clone: ");
	for (unsigned i = 0; i < o.nr_sizes; i++)
		printf("%s%s", i ? ", " : "", format_size(o.sizes[i], sz, sizeof(sz)));
	printf(" one after another; %u repetitions after one unrecorded round, %u clones; files in %s\n", o.reps,
	       o.clones, tmp);
	if (o.part[CP_RESTORE] && !kvm)
		printf("restore: not measured: no usable /dev/kvm (the host parts run without it)\n");
	fflush(stdout);
	if ((o.part[CP_DENSITY] || o.part[CP_FS]) && run_host_parts(&o, tmp, host, j)) {
		cli_error("bench clone: %s", vmm_last_error());
		status = 1;
	}
	for (unsigned i = 0; i < o.nr_sizes && !status && (o.part[CP_COLLAPSE] || (o.part[CP_RESTORE] && kvm)); i++) {
		json_t *js = json_object();

		s[i].size = o.sizes[i];
		s[i].single_ms = calloc(o.reps, sizeof(double));
		s[i].single_mapped = calloc(o.reps, sizeof(double));
		s[i].conc_ms = calloc(o.reps, sizeof(double));
		s[i].conc_max_ms = calloc(o.reps, sizeof(double));
		s[i].collapse_ms = calloc(o.reps, sizeof(double));
		s[i].collapse_before = calloc(o.reps, sizeof(double));
		if (run_size(&o, kvm, tmp, &s[i])) {
			cli_error("bench clone: %s", vmm_last_error());
			status = 1;
		} else {
			print_size(&o, kvm, &s[i], host, js);
			if (s[i].lost_writes)
				status = 1;
		}
		json_object_set_new(js, "size_bytes", json_integer((json_int_t)o.sizes[i]));
		json_array_append_new(sizes, js);
	}
	json_object_set_new(j, "clones", json_integer(o.clones));
	json_object_set_new(j, "sizes", sizes);
	if (!status && o.json && bench_json_write(j, o.json)) {
		cli_error("bench clone: cannot write %s", o.json);
		status = 1;
	}
	json_decref(j);
	snap_rm_tree(tmp);
	for (unsigned i = 0; i < o.nr_sizes; i++) {
		free(s[i].single_ms);
		free(s[i].single_mapped);
		free(s[i].conc_ms);
		free(s[i].conc_max_ms);
		free(s[i].collapse_ms);
		free(s[i].collapse_before);
	}
	return status;
}

const struct bench bench_clone = {
	.name = "clone",
	.summary = "clones of a snapshot: shared restore latency alone and at once, density, HUGE by file system, "
		   "collapse back",
	.usage = "thpvm bench clone [--sizes 1G,8G] [--clones N] [--reps N] [--write-pct P] [--dir DIR]\n"
		 "                  [--parts restore,density,fs,collapse] [--json FILE]\n"
		 "  files in a fresh directory in DIR (default $TMPDIR, else /var/tmp, else /tmp), removed at the\n"
		 "  end; restore needs KVM, the other parts run on any host",
	.run = run,
};
