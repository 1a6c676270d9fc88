/* SPDX-License-Identifier: MIT */
/* thpvm bench snapshot: its tables, each under its host, and its --json file. */
#include <math.h>
#include <stdio.h>
#include <jansson.h>
#include "bench.h"
#include "bench_snapshot.h"
#include "util/util.h"
#include "../kvm/kvm_host.h"

#define MIB (1ULL << 20)

const char *const part_name[NR_PARTS] = { "disk", "memory", "vm" };
const enum snap_metric part_first[NR_PARTS] = { SM_DISK_WRITE, SM_MEM_SAVE, SM_VM_SAVE };
const enum snap_metric part_last[NR_PARTS] = { SM_DISK_READ, SM_MEM_HUGE, SM_VM_PAGES_2M };
static const char *const metric_name[SM_NR] = {
	"write_gbps", "read_gbps", "save_gbps", "load_gbps", "ready_ms", "huge_pct", "save_ms",
	"save_gbps", "restore_ms", "restore_memory_ms", "load_gbps", "huge_pct", "pages_2m",
};

struct stat3 {
	double med, lo, hi;
};

static struct stat3 stat_of(const struct size_run *sr, enum snap_metric i)
{
	return (struct stat3){ bench_median(sr->s[i], sr->n), bench_percentile(sr->s[i], sr->n, 10),
			       bench_percentile(sr->s[i], sr->n, 90) };
}

/* "median [p10 p90]" in a field of width w */
static const char *fmt3(char *buf, size_t len, struct stat3 s, int decimals)
{
	snprintf(buf, len, "%.*f [%.*f %.*f]", decimals, s.med, decimals, s.lo, decimals, s.hi);
	return buf;
}

/* a's median over base's, from the same run; NAN without a baseline */
static double ratio(const struct size_run *sr, enum snap_metric a, enum snap_metric base)
{
	double b = bench_median(sr->s[base], sr->n);

	return b > 0 ? bench_median(sr->s[a], sr->n) / b : NAN;
}

static const char *fmt_ratio(char *buf, size_t len, double r)
{
	if (isnan(r))
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.2fx", r);
	return buf;
}

/* The host beside each table: every figure's worth depends on it (an emulated CPU's are not hardware's). */
void snap_host_tag(char *buf, size_t len)
{
	const struct kvm_host *h = bench_host_get();

	snprintf(buf, len, "host %s, %s paging%s%s", kvm_host_kind_str(h->kind), kvm_paging_str(h->paging),
		 h->emulated ? ", timings " : "", kvm_host_timing_note(h));
}

void snap_print_tables(const struct opts *o, const bool *on, struct size_run *runs, unsigned n, const char *no_vm)
{
	char host[256], sz[32], a[64], b[64], x1[16], x2[16];

	snap_host_tag(host, sizeof(host));
	if (on[P_DISK]) {
		struct thpvm_image_io_config io;

		thpvm_image_io_config_get(&io);
		printf("\ndisk baseline (%s): sequential, io_uring, 2 MiB requests, queue depth %u%s (the images'), GB/s\n",
		       host, io.queue_depth, io.register_buffers ? ", registered buffers" : io.register_file ? ", registered file" : "");
		printf("  %-8s %-8s %-23s %-23s\n", "size", "I/O", "write + fsync", "read, page cache dropped");
		for (unsigned i = 0; i < n; i++)
			printf("  %-8s %-8s %-23s %-23s\n", format_size(runs[i].size, sz, sizeof(sz)),
			       runs[i].disk_direct ? "O_DIRECT" : "buffered",
			       fmt3(a, sizeof(a), stat_of(&runs[i], SM_DISK_WRITE), 3),
			       fmt3(b, sizeof(b), stat_of(&runs[i], SM_DISK_READ), 3));
	}
	if (on[P_MEMORY]) {
		printf("\nmemory-only (%s): a prefaulted THP region, every extent data, thpvm_region_image_save,\n"
		       "then thpvm_region_image_load into a fresh region, GB/s\n", host);
		printf("  %-8s %-23s %7s %-23s %7s %9s %6s\n", "size", "save", "x disk", "load", "x disk", "ready ms",
		       "HUGE%");
		for (unsigned i = 0; i < n; i++) {
			struct size_run *r = &runs[i];

			printf("  %-8s %-23s %7s %-23s %7s %9.1f %6.1f%s\n", format_size(r->size, sz, sizeof(sz)),
			       fmt3(a, sizeof(a), stat_of(r, SM_MEM_SAVE), 3),
			       fmt_ratio(x1, sizeof(x1), ratio(r, SM_MEM_SAVE, SM_DISK_WRITE)),
			       fmt3(b, sizeof(b), stat_of(r, SM_MEM_LOAD), 3),
			       fmt_ratio(x2, sizeof(x2), ratio(r, SM_MEM_LOAD, SM_DISK_READ)),
			       bench_median(r->s[SM_MEM_READY], r->n), bench_median(r->s[SM_MEM_HUGE], r->n),
			       r->mem_direct ? "" : "  (buffered)");
		}
		printf("  x disk: over the disk baseline's median write / read in this run (goal >= 0.9x%s);\n"
		       "  ready: a fresh region to the load's end; HUGE%%: of the present extents after the load (goal 100)\n",
		       on[P_DISK] ? "" : "; no baseline in this run: -");
	}
	if (!on[P_VM])
		return;
	if (no_vm) {
		printf("\nwhole VM: skipped: %s\n", no_vm);
		return;
	}
	printf("\nwhole VM (%s): memtest mode=fork (all its RAM written), 2 vCPUs, 2 MiB guest pages;\n"
	       "restore = vm_snapshot_open + a fresh VM + vm_snapshot_load, to the moment it could run; ms\n", host);
	printf("  %-8s %8s %-23s %9s %7s %-23s %8s %9s %7s %6s %8s\n", "size", "data MiB", "save", "save GB/s", "x disk",
	       "restore", "(memory)", "load GB/s", "x disk", "HUGE%", "pages_2m");
	for (unsigned i = 0; i < n; i++) {
		struct size_run *r = &runs[i];

		printf("  %-8s %8llu %-23s %9.3f %7s %-23s %8.1f %9.3f %7s %6.1f %8.0f%s\n",
		       format_size(r->size, sz, sizeof(sz)), (unsigned long long)(r->vm_data_bytes / MIB),
		       fmt3(a, sizeof(a), stat_of(r, SM_VM_SAVE), 1), bench_median(r->s[SM_VM_SAVE_GBPS], r->n),
		       fmt_ratio(x2, sizeof(x2), ratio(r, SM_VM_SAVE_GBPS, SM_DISK_WRITE)),
		       fmt3(b, sizeof(b), stat_of(r, SM_VM_RESTORE), 1), bench_median(r->s[SM_VM_LOAD_MEM], r->n),
		       bench_median(r->s[SM_VM_LOAD_GBPS], r->n),
		       fmt_ratio(x1, sizeof(x1), ratio(r, SM_VM_LOAD_GBPS, SM_DISK_READ)),
		       bench_median(r->s[SM_VM_HUGE], r->n), bench_median(r->s[SM_VM_PAGES_2M], r->n),
		       r->vm_direct ? "" : "  (buffered)");
	}
	printf("  save GB/s: the memory files' data over the save's memory part; x disk: over the baseline's write / read;\n"
	       "  HUGE%%: host THP share of the present extents right after the restore (the restore's own result);\n"
	       "  pages_2m: KVM's 2 MiB mappings after %s100 ms of running: KVM maps what the guest touches%s, and this\n"
	       "  guest idles waiting for a fork, so the count is small whatever the host backs its RAM with\n",
	       "", bench_host_get()->paging == KVM_PAGING_SHADOW ? " (shadow paging, kvm-pvm)" : "");
}

json_t *snap_runs_json(const struct opts *o, const bool *on, struct size_run *runs, unsigned n, const char *no_vm)
{
	json_t *root = json_pack("{s:s, s:i, s:s, s:b, s:[]}", "bench", "snapshot", "reps", (int)o->reps, "dir", o->dir,
				 "warm", o->warm, "sizes");

	for (unsigned i = 0; i < n; i++) {
		struct size_run *r = &runs[i];
		json_t *sj = json_pack("{s:I}", "size_bytes", (json_int_t)r->size);

		for (unsigned p = 0; p < NR_PARTS; p++) {
			json_t *pj;

			if (!on[p])
				continue;
			pj = json_object();
			json_object_set_new(sj, part_name[p], pj);
			if (p == P_VM && no_vm) {
				json_object_set_new(pj, "skipped", json_string(no_vm));
				continue;
			}
			for (unsigned m = part_first[p]; m <= part_last[p]; m++) {
				struct stat3 s = stat_of(r, (enum snap_metric)m);
				json_t *samples = json_array();

				for (unsigned k = 0; k < r->n; k++)
					json_array_append_new(samples, json_real(r->s[m][k]));
				json_object_set_new(pj, metric_name[m],
						    json_pack("{s:f, s:f, s:f, s:o}", "median", s.med, "p10", s.lo, "p90",
							      s.hi, "samples", samples));
			}
		}
		if (on[P_DISK] && on[P_MEMORY])
			json_object_update_new(json_object_get(sj, "memory"),
					   json_pack("{s:f, s:f}", "save_ratio", ratio(r, SM_MEM_SAVE, SM_DISK_WRITE),
						     "load_ratio", ratio(r, SM_MEM_LOAD, SM_DISK_READ)));
		if (on[P_MEMORY])
			json_object_set_new(json_object_get(sj, "memory"), "direct", json_boolean(r->mem_direct));
		if (on[P_DISK])
			json_object_set_new(json_object_get(sj, "disk"), "direct", json_boolean(r->disk_direct));
		if (on[P_VM] && !no_vm)
			json_object_update_new(json_object_get(sj, "vm"),
					   json_pack("{s:I, s:b}", "data_bytes", (json_int_t)r->vm_data_bytes, "direct",
						     r->vm_direct));
		if (on[P_VM] && !no_vm && on[P_DISK])
			json_object_update_new(json_object_get(sj, "vm"),
					       json_pack("{s:f, s:f}", "load_ratio", ratio(r, SM_VM_LOAD_GBPS, SM_DISK_READ),
							 "save_ratio", ratio(r, SM_VM_SAVE_GBPS, SM_DISK_WRITE)));
		json_array_append_new(json_object_get(root, "sizes"), sj);
	}
	return root;
}
