/* SPDX-License-Identifier: MIT */
/*
 * Every `thpvm bench` subcommand once, with small sizes: a smoke check of the
 * shape of what each measures, never of its timings (those come from the
 * benchmark commands themselves, docs/benchmarks.md). Run in the nested lab
 * by make check, so on NPT there too:
 *   tlb        KVM maps THP guest RAM with 2 MiB pages under 2 MiB guest
 *              pages, and under 4 KiB guest pages where the paging mode
 *              allows it (TDP); never 4 KiB-backed RAM;
 *   fork       children writing 1% of their pages amplify guest memory by
 *              at most 1.05;
 *   collapse   a forked child's split RAM is back to >= 99% HUGE;
 *   collapse-mem, coverage  run and report;
 *   snapshot   the disk baseline, the memory-only image and (with KVM) the
 *              whole VM print their tables, every bandwidth is positive,
 *              the ratios to the baseline are there, and a load leaves
 *              every present extent HUGE where the host gives THP; the
 *              memory-only parts run without KVM too.
 *   blk        every cell of the table (host, thpvm, QEMU x random read,
 *              random write, sequential read, sequential write) is a
 *              number > 0 with its ratio to the host's, where Linux boots
 *              natively; where it cannot, the host's row, and thpvm's and
 *              QEMU's skipped; in the lab, lab case 32 (L2 Linux boots stall
 *              under the suite's thread=single TCG).
 *   clone      (with KVM) the shared restore alone and of --clones at once
 *              times something and maps next to nothing; clones writing 1%
 *              of their pages amplify memory by at most 1.05 (4 KiB copies,
 *              never 2 MiB); every file system measured or said why not; a
 *              clone that wrote every extent is back to >= 99% HUGE with no
 *              write lost.
 * Each names its host on its first line, and where the CPU is emulated (the
 * lab) says its timings are, so no emulated figure passes for a hardware one.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include "helpers.h"
#include "kvm_test.h"
#include "kvm/kvm_host.h"

#define A(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* TCG in the lab: the time scale stretches these */
TestSuite(bench, .timeout = 300);

static char json_path[64];

static void setup(void)
{
	int fd;

	strcpy(json_path, "/tmp/thpvm-bench-test-XXXXXX");
	fd = mkstemp(json_path);
	cr_assert(fd >= 0);
	close(fd);
}

static void teardown(void)
{
	unlink(json_path);
}

/* Runs thpvm bench NAME ARGS... --json: asserts status 0 and the host line; returns the JSON (new reference). */
static json_t *bench(const char *name, const char *const *args, bool json, const struct thpvm_cmd **out)
{
	const char *argv[40] = { "bench", name };
	const struct thpvm_cmd *c;
	char first[96];
	json_error_t err;
	json_t *j = NULL, *host;
	int n = 2;

	while (*args && n < 36)
		argv[n++] = *args++;
	if (json) {
		argv[n++] = "--json";
		argv[n++] = json_path;
	}
	argv[n] = NULL;
	c = thpvm_cmd_run(argv);
	cr_assert_eq(c->status, 0, "thpvm bench %s: status %d\nstderr: %s\nstdout: %s", name, c->status, c->err, c->out);
	cr_log_info("thpvm bench %s:\n%s", name, c->out);
	snprintf(first, sizeof(first), "bench %s: host: ", name);
	cr_assert(!strncmp(c->out, first, strlen(first)), "the first line names the host: %s", c->out);
	if (json) {
		j = json_load_file(json_path, 0, &err);
		cr_assert_not_null(j, "%s: %s", json_path, err.text);
		host = json_object_get(j, "host");
		cr_assert(json_is_object(host), "the JSON names the host");
		cr_assert(json_is_string(json_object_get(host, "paging")));
		/* an emulated CPU's timings are marked so on the host line */
		if (json_is_true(json_object_get(host, "emulated"))) {
			const char *mark = strstr(c->out, "timings emulated by QEMU TCG"), *nl = strchr(c->out, '\n');

			cr_assert(mark && (!nl || mark < nl), "the host line does not mark emulated timings: %s", c->out);
		}
	}
	if (out)
		*out = c;
	return j;
}

static const char *paging(json_t *j)
{
	return json_string_value(json_object_get(json_object_get(j, "host"), "paging"));
}

Test(bench, coverage_measures_a_region_every_way, .init = setup, .fini = teardown)
{
	json_t *j;

	REQUIRE_THP();
	j = bench("coverage", A("--memory", "32M", "--reps", "3"), true, NULL);
	cr_assert_str_eq(json_string_value(json_object_get(j, "bench")), "coverage");
	cr_assert(json_object_size(json_object_get(j, "samples_ms")) >= 3, "every method timed");
	json_decref(j);
}

/* KVM's pages_2m of the cell's last sample */
static json_int_t cell_pages_2m(json_t *j, const char *backing, const char *guest_page, bool *found)
{
	size_t i;
	json_t *cell;

	*found = false;
	json_array_foreach(json_object_get(j, "cells"), i, cell)
	{
		json_t *samples = json_object_get(cell, "samples");

		if (strcmp(json_string_value(json_object_get(cell, "backing")), backing) ||
		    strcmp(json_string_value(json_object_get(cell, "guest_page")), guest_page) || !json_array_size(samples))
			continue;
		*found = true;
		return json_integer_value(json_object_get(json_array_get(samples, json_array_size(samples) - 1),
							  "kvm_pages_2m"));
	}
	return 0;
}

Test(bench, tlb_thp_is_mapped_2m_as_the_paging_mode_allows, .init = setup, .fini = teardown)
{
	json_int_t thp2m, thp4k, k4_2m, k4_4k;
	bool f1, f2, f3, f4;
	json_t *j;

	REQUIRE_KVM();
	REQUIRE_THP();
	j = bench("tlb", A("--working-set", "16M", "--reps", "1", "--laps", "1"), true, NULL);
	thp2m = cell_pages_2m(j, "thp", "2m", &f1);
	thp4k = cell_pages_2m(j, "thp", "4k", &f2);
	k4_2m = cell_pages_2m(j, "4k", "2m", &f3);
	k4_4k = cell_pages_2m(j, "4k", "4k", &f4);
	cr_assert(f1 && f2 && f3 && f4, "the thp and 4k cells ran");
	cr_assert_geq(thp2m, 8, "THP under 2 MiB guest pages: KVM maps the 16 MiB working set with 2 MiB pages");
	if (!strcmp(paging(j), "shadow"))
		cr_assert_lt(thp4k, thp2m / 2, "shadow paging: no 2 MiB mapping under 4 KiB guest pages (%lld of %lld)",
			     (long long)thp4k, (long long)thp2m);
	else
		cr_assert_geq(thp4k, 8, "%s paging: a host THP is mapped 2 MiB whatever the guest page size",
			      paging(j));
	cr_assert_eq(k4_2m + k4_4k, 0, "4 KiB-backed RAM is never mapped 2 MiB");
	json_decref(j);
}

Test(bench, fork_children_share_the_template_copy_on_write, .init = setup, .fini = teardown)
{
	json_t *j, *d;
	double amp;

	REQUIRE_KVM();
	REQUIRE_THP();
	j = bench("fork",
		  A("--sizes", "128M", "--backings", "thp", "--reps", "1", "--children", "4", "--write-pct", "1",
		    "--parts", "latency,density"),
		  true, NULL);
	cr_assert(json_array_size(json_object_get(j, "latency")) >= 1, "the fork latency was measured");
	d = json_object_get(j, "density");
	cr_assert(json_is_object(d));
	cr_assert_gt(json_integer_value(json_object_get(d, "pages_written")), 0);
	amp = json_real_value(json_object_get(d, "guest_amplification"));
	cr_log_info("guest RAM amplification %.3f, whole processes %.3f", amp,
		    json_real_value(json_object_get(d, "amplification")));
	cr_assert(amp > 0.9 && amp <= 1.05, "4 children writing 1%% of their pages: guest amplification %.3f", amp);
	json_decref(j);
}

Test(bench, collapse_brings_a_forked_childs_ram_back_onto_2m_pages, .init = setup, .fini = teardown)
{
	json_t *j, *run;

	REQUIRE_KVM();
	REQUIRE_THP();
	j = bench("collapse", A("--memory", "64M", "--reps", "1", "--config", "tlb", "--window", "30"), true, NULL);
	run = json_array_get(json_object_get(json_array_get(json_object_get(j, "configs"), 0), "runs"), 0);
	cr_assert(json_is_object(run));
	cr_assert(json_is_true(json_object_get(run, "huge99")), "tlb did not reach 99%% HUGE: %.1f%% at the end",
		  json_real_value(json_object_get(run, "huge_pct_end")));
	cr_assert_geq(json_real_value(json_object_get(run, "huge_pct_end")), 99.0);
	json_decref(j);
}

Test(bench, collapse_mem_recovers_a_template_in_process_memory)
{
	const struct thpvm_cmd *c;
	const char *row;
	double to99, huge;

	REQUIRE_THP();
	bench("collapse-mem", A("--memory", "32M", "--reps", "1", "--config", "tlb", "--window", "5"), false, &c);
	row = strstr(c->out, "\ntlb ");
	cr_assert_not_null(row, "no tlb row: %s", c->out);
	cr_assert_eq(sscanf(row, " tlb %lf %lf", &to99, &huge), 2, "%s", row);
	cr_assert_geq(huge, 99.0, "tlb recovered only %.1f%% HUGE: %s", huge, c->out);
}

/* o[part][metric]["median"] of the first size */
static double snap_median(json_t *j, const char *part, const char *metric)
{
	json_t *v = json_object_get(json_object_get(json_object_get(json_array_get(json_object_get(j, "sizes"), 0), part),
						    metric),
				    "median");

	cr_assert(json_is_number(v), "no %s.%s median", part, metric);
	return json_number_value(v);
}

/* What the disk baseline and the memory-only image must show: positive bandwidths, ratios, a HUGE load. */
static void snapshot_mem_shape(json_t *j, const struct thpvm_cmd *c)
{
	json_t *mem = json_object_get(json_array_get(json_object_get(j, "sizes"), 0), "memory");

	cr_assert(strstr(c->out, "\ndisk baseline (host ") && strstr(c->out, "\nmemory-only (host "), "%s", c->out);
	cr_assert_gt(snap_median(j, "disk", "write_gbps"), 0);
	cr_assert_gt(snap_median(j, "disk", "read_gbps"), 0);
	cr_assert_gt(snap_median(j, "memory", "save_gbps"), 0);
	cr_assert_gt(snap_median(j, "memory", "load_gbps"), 0);
	cr_assert_gt(json_real_value(json_object_get(mem, "save_ratio")), 0, "the save's ratio to the disk baseline");
	cr_assert_gt(json_real_value(json_object_get(mem, "load_ratio")), 0, "the load's ratio to the disk baseline");
	if (host_thp_allowed())
		cr_assert_eq(snap_median(j, "memory", "huge_pct"), 100.0, "a load into fresh THP RAM left split extents");
}

Test(bench, snapshot_measures_disk_image_and_a_whole_vm, .init = setup, .fini = teardown)
{
	const struct thpvm_cmd *c;
	json_t *j;

	REQUIRE_KVM();
	j = bench("snapshot", A("--sizes", "64M", "--reps", "1"), true, &c);
	snapshot_mem_shape(j, c);
	cr_assert(strstr(c->out, "\nwhole VM (host "), "%s", c->out);
	cr_assert_gt(snap_median(j, "vm", "save_ms"), 0);
	cr_assert_gt(snap_median(j, "vm", "restore_ms"), 0);
	cr_assert_gt(snap_median(j, "vm", "load_gbps"), 0);
	cr_assert_geq(snap_median(j, "vm", "pages_2m"), 0, "KVM's statistics were read");
	cr_assert(json_is_real(json_object_get(json_object_get(json_array_get(json_object_get(j, "sizes"), 0), "vm"),
					       "load_ratio")));
	cr_assert_gt(json_real_value(json_object_get(
			     json_object_get(json_array_get(json_object_get(j, "sizes"), 0), "vm"), "save_ratio")),
		     0, "the whole VM's save against the disk's write");
	cr_assert_gt(snap_median(j, "vm", "save_gbps"), 0);
	if (host_thp_allowed())
		cr_assert_eq(snap_median(j, "vm", "huge_pct"), 100.0, "the restored RAM has split extents");
	json_decref(j);
}

/* Without KVM as with it: the disk and the memory-only image need none. */
Test(bench, snapshot_memory_parts_run_without_kvm, .init = setup, .fini = teardown)
{
	const struct thpvm_cmd *c;
	json_t *j;

	j = bench("snapshot", A("--sizes", "64M", "--reps", "1", "--parts", "disk,memory"), true, &c);
	snapshot_mem_shape(j, c);
	cr_assert_null(strstr(c->out, "whole VM"), "--parts disk,memory ran the VM part: %s", c->out);
	json_decref(j);
}

/* thpvm bench NAME OPTION VALUE for each of n bad pairs: status 2 and one line on stderr. */
static void expect_refused(const char *name, const char *const *const *bad, unsigned n)
{
	const struct thpvm_cmd *c;

	for (unsigned i = 0; i < n; i++) {
		const char *argv[8] = { "bench", name, bad[i][0], bad[i][1], NULL };

		c = thpvm_cmd_run(argv);
		cr_assert_eq(c->status, 2, "%s %s: status %d: %s", bad[i][0], bad[i][1], c->status, c->err);
		cr_assert_eq(strchr(c->err, '\n'), c->err + strlen(c->err) - 1, "more than one line: %s", c->err);
	}
}

/*
 * The io_uring settings' sweep: a row per depth and registration with
 * positive figures in the table and the JSON; a registration the kernel
 * took is not marked refused (root here: RLIMIT_MEMLOCK does not apply).
 */
Test(bench, snapshot_sweeps_queue_depths_and_registrations, .init = setup, .fini = teardown)
{
	static const char *const regs[] = { "none", "buffers" };
	const struct thpvm_cmd *c;
	json_t *j, *set;
	unsigned k = 0;

	j = bench("snapshot", A("--sizes", "64M", "--reps", "1", "--queue-depths", "2,32", "--register", "none,buffers"),
		  true, &c);
	cr_assert(strstr(c->out, "\nio_uring settings (host "), "%s", c->out);
	cr_assert(strstr(c->out, "\n  register none   : ") && strstr(c->out, "\n  register buffers: "), "%s", c->out);
	cr_assert_null(strstr(c->out, "memory-only"), "the parts ran too: %s", c->out);
	set = json_object_get(json_array_get(json_object_get(j, "sweep"), 0), "settings");
	cr_assert_eq(json_array_size(set), 4);
	for (unsigned d = 0; d < 2; d++)
		for (unsigned g = 0; g < 2; g++, k++) {
			json_t *s = json_array_get(set, k);

			cr_assert_eq(json_integer_value(json_object_get(s, "queue_depth")), d ? 32 : 2);
			cr_assert_str_eq(json_string_value(json_object_get(s, "register")), regs[g]);
			cr_assert(json_is_false(json_object_get(s, "buffers_refused")));
			for (unsigned m = 0; m < 4; m++) {
				static const char *const names[] = { "write_gbps", "read_gbps", "save_gbps", "load_gbps" };

				cr_assert_gt(json_number_value(json_object_get(json_object_get(s, names[m]), "median")), 0,
					     "setting %u: %s", k, names[m]);
			}
		}
	json_decref(j);
}

/* Bad input: one line, status 2, before any memory or file exists. */
Test(bench, snapshot_refuses_bad_options_in_one_line)
{
	const char *const *const bad[] = { A("--sizes", "63M"), A("--sizes", "65G"), A("--reps", "0"),
						    A("--parts", "disk,cpu"), A("--dir", "/nonexistent-thpvm"),
						    A("--queue-depths", "0"), A("--queue-depths", "65"),
						    A("--register", "pinned") };

	expect_refused("snapshot", bad, sizeof(bad) / sizeof(bad[0]));
}

/* sizes[0].key[0] of bench clone's JSON, NAN when missing */
static double clone_first(json_t *j, const char *key)
{
	json_t *v = json_array_get(json_object_get(json_array_get(json_object_get(j, "sizes"), 0), key), 0);

	return v ? json_number_value(v) : NAN;
}

Test(bench, clone_measures_restore_density_file_systems_and_collapse, .init = setup, .fini = teardown)
{
	const struct thpvm_cmd *c;
	json_t *j, *d, *fs;
	double amp;

	j = bench("clone", A("--sizes", "64M", "--clones", "3", "--reps", "1"), true, &c);
	d = json_object_get(j, "density");
	amp = json_number_value(json_array_get(json_object_get(d, "amplification"), 0));
	cr_assert_gt(json_integer_value(json_object_get(d, "pages_written")), 0, "%s", c->out);
	cr_assert(amp >= 0.95 && amp <= 1.05, "3 clones writing 1%% of their pages amplify memory %.3f", amp);
	fs = json_object_get(j, "fs");
	cr_assert_geq(json_array_size(fs), 1, "%s", c->out);
	cr_assert(strstr(c->out, "XFS: not measured ("), "%s", c->out);
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(json_object_get(j, "sizes"), 0),
							"collapse_lost_writes")),
		     0);
	if (host_thp_allowed())
		cr_assert_gt(clone_first(j, "collapse_ms"), 0, "the clone's collapse thread reached 99%%: %s", c->out);
	if (!access("/dev/kvm", R_OK | W_OK)) {
		cr_assert_gt(clone_first(j, "restore_ms"), 0, "%s", c->out);
		cr_assert_gt(clone_first(j, "concurrent_median_ms"), 0, "%s", c->out);
		cr_assert_lt(clone_first(j, "restore_mapped_mib"), 8, "a shared restore maps next to nothing: %s", c->out);
	} else {
		cr_assert(strstr(c->out, "restore: not measured: no usable /dev/kvm"), "%s", c->out);
	}
	json_decref(j);
}

Test(bench, clone_refuses_bad_options_in_one_line)
{
	const char *const *const bad[] = { A("--sizes", "63M"), A("--clones", "0"), A("--clones", "65"),
					   A("--reps", "0"), A("--write-pct", "101"), A("--parts", "restore,cpu"),
					   A("--dir", "/nonexistent-thpvm") };

	expect_refused("clone", bad, sizeof(bad) / sizeof(bad[0]));
}

/*
 * tlb --linux: bad options refused in one line before anything runs; where
 * Linux cannot boot (kvm-pvm, no KVM), status 0 and one line saying where it
 * runs instead. Its matrix is lab case 35's (L2 Linux boots stall under this
 * suite's thread=single TCG).
 */
Test(bench, tlb_linux_refuses_bad_options_and_says_where_it_cannot_run)
{
	const char *const *const bad[] = { A("--linux", "--memory=256M"), A("--linux", "--reps=0"),
					   A("--linux", "--working-set=3M"), A("--linux", "--bogus") };
	struct kvm_host h;

	expect_refused("tlb", bad, sizeof(bad) / sizeof(bad[0]));
	kvm_host_detect(&h);
	if (!kvm_host_boots_linux(&h)) {
		const struct thpvm_cmd *c = thpvm_cmd_run(A("bench", "tlb", "--linux"));

		cr_assert_eq(c->status, 0, "%s", c->err);
		cr_assert(strstr(c->out, "bench tlb --linux: not measured: "), "%s", c->out);
	}
}

/* One configuration of bench blk's JSON by name, NULL when missing. */
static json_t *blk_config(json_t *j, const char *name)
{
	size_t i;
	json_t *cf;

	json_array_foreach(json_object_get(j, "configs"), i, cf)
		if (!strcmp(json_string_value(json_object_get(cf, "config")), name))
			return cf;
	return NULL;
}

/*
 * bench blk, one short repetition without warm-up on a 16 MiB image: the
 * table's shape. Where Linux boots (the lab) the guest recipe (guests/linux,
 * with blkbench in its initramfs) runs under thpvm and under QEMU; every
 * figure and ratio is there and > 0, never a timing compared.
 */
Test(bench, blk_measures_the_host_thpvm_and_qemu_on_one_image, .init = setup, .fini = teardown)
{
	static const char *const metrics[] = { "randread_iops", "randwrite_iops", "seqread_mibs", "seqwrite_mibs" };
	static const char *const configs[] = { "host", "thpvm", "qemu" };
	const char *guest = THPVM_BUILD_DIR "/guests/linux";
	const struct thpvm_cmd *c;
	struct kvm_host h;
	bool boots;
	json_t *j;

	kvm_host_detect(&h);
	boots = kvm_host_boots_linux(&h);
	/* in the lab the suite runs on thread=single TCG, where L2 Linux boots stall (docs/lab.md) */
	if (boots && h.emulated)
		cr_skip_test("KVM here is %s, run by this suite on one host thread, where L2 Linux boots stall (docs/lab.md): "
			     "lab case 32-thpvm-bench-blk measures every cell on thread=multi",
			     h.what);
	if (boots && access(THPVM_BUILD_DIR "/guests/linux/initramfs.cpio", R_OK))
		cr_skip_test("no Linux guest in %s (make linux-guest)", guest);
	j = bench("blk", A("--size", "16M", "--secs", "1", "--reps", "1", "--warmup", "0", "--guest-dir", guest), true, &c);
	cr_assert_str_eq(json_string_value(json_object_get(j, "bench")), "blk");
	for (unsigned k = 0; k < 3; k++) {
		json_t *cf = blk_config(j, configs[k]), *med, *ratio;
		char row[16];

		cr_assert_not_null(cf, "no %s configuration", configs[k]);
		snprintf(row, sizeof(row), "\n%-6s ", configs[k]);
		cr_assert(strstr(c->out, row), "no %s row: %s", configs[k], c->out);
		if (k && !boots) {
			cr_assert(json_is_string(json_object_get(cf, "skipped")), "%s ran where Linux cannot boot", configs[k]);
			continue;
		}
		cr_assert_null(json_object_get(cf, "skipped"), "%s skipped: %s", configs[k],
			       json_string_value(json_object_get(cf, "skipped")));
		cr_assert_eq(json_array_size(json_object_get(cf, "samples")), 1);
		med = json_object_get(cf, "median");
		ratio = json_object_get(cf, "ratio_to_host");
		for (unsigned m = 0; m < 4; m++) {
			cr_assert_gt(json_real_value(json_object_get(med, metrics[m])), 0, "%s %s", configs[k], metrics[m]);
			cr_assert_gt(json_real_value(json_object_get(ratio, metrics[m])), 0, "%s %s ratio", configs[k],
				     metrics[m]);
		}
	}
	json_decref(j);
}

/* Bad input: one line, status 2. */
Test(bench, blk_refuses_bad_options_in_one_line)
{
	const char *const *const bad[] = { A("--size", "15M"), A("--size", "17.5M"), A("--reps", "0"), A("--qd", "65"),
					    A("--warmup", "2"), A("--blkbench", "/nonexistent-thpvm") };

	expect_refused("blk", bad, sizeof(bad) / sizeof(bad[0]));
}
