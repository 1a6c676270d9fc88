/* SPDX-License-Identifier: MIT */
/*
 * thpvm bench snapshot, shared by its files: the figures each part
 * measures, and the parts themselves (bench_snapshot_mem.c: the disk
 * baseline and the memory-only image; bench_snapshot_vm.c: a whole VM).
 * Each part's once() measures one sample into v[] (indexed by enum
 * snap_metric, only its own entries) and returns 0 or -errno with
 * vmm_last_error() set.
 */
#ifndef THPVM_BENCH_SNAPSHOT_H
#define THPVM_BENCH_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <thpvm.h>
#include "machine/payload.h"

enum snap_metric {
	SM_DISK_WRITE,      /* GB/s, O_DIRECT write + fsync */
	SM_DISK_READ,       /* GB/s, O_DIRECT read, the file out of the page cache */
	SM_MEM_SAVE,        /* GB/s, thpvm_region_image_save */
	SM_MEM_LOAD,        /* GB/s, thpvm_region_image_load */
	SM_MEM_READY,       /* ms, a fresh region to the load's end */
	SM_MEM_HUGE,        /* % of the present extents HUGE after the load */
	SM_VM_SAVE,         /* ms, vm_snapshot_save */
	SM_VM_SAVE_GBPS,    /* GB/s, its memory files */
	SM_VM_RESTORE,      /* ms, vm_snapshot_open to vm_snapshot_load's end, the VM built between */
	SM_VM_LOAD_MEM,     /* ms, vm_snapshot_load's memory files */
	SM_VM_LOAD_GBPS,    /* GB/s, the same */
	SM_VM_HUGE,         /* % of the present extents HUGE right after the restore */
	SM_VM_PAGES_2M,     /* KVM's 2 MiB mappings after 100 ms of running */
	SM_NR
};

#define MAX_SIZES 4

/* The run: its options, and each size's samples (bench_snapshot.c), printed and written by bench_snapshot_out.c. */
enum part { P_DISK, P_MEMORY, P_VM, NR_PARTS };
extern const char *const part_name[NR_PARTS];
/* Each part's figures: part_first[p]..part_last[p] of enum snap_metric. */
extern const enum snap_metric part_first[NR_PARTS], part_last[NR_PARTS];

/* The io_uring registrations the sweep compares (thpvm_image_io_config). */
enum reg { REG_NONE, REG_FILES, REG_BUFFERS, REG_BOTH, NR_REGS };
extern const char *const reg_name[NR_REGS];
#define MAX_DEPTHS 8

struct opts {
	uint64_t sizes[MAX_SIZES];
	unsigned nr_sizes;
	unsigned reps;
	const char *dir;
	bool part[NR_PARTS];
	bool warm;
	const char *json;
	/* the sweep (--queue-depths, --register): given, it runs instead of the parts */
	unsigned depths[MAX_DEPTHS];
	unsigned nr_depths;
	bool regs[NR_REGS];
	bool sweep;
};

/* One size's samples, repetition by repetition. */
struct size_run {
	uint64_t size;
	double *s[SM_NR];
	unsigned n;
	bool disk_direct, mem_direct, vm_direct;
	uint64_t vm_data_bytes;
};

void snap_print_tables(const struct opts *o, const bool *on, struct size_run *runs, unsigned n, const char *no_vm);
json_t *snap_runs_json(const struct opts *o, const bool *on, struct size_run *runs, unsigned n, const char *no_vm);

/* The disk baseline: the file system's own sequential bandwidth, as the images use it. */
int snap_disk_once(const char *path, uint64_t size, bool *direct, double *v);

/* The memory-only part: a THP region saved and loaded into a fresh one, which becomes the next source. */
struct snap_mem {
	uint64_t size;
	struct thpvm_memmap *map;
	struct thpvm_region *region;
	uint8_t *extents;           /* the image's extent map */
	bool direct;                /* the last save and load used O_DIRECT */
	bool fixed_buffers;         /* ... and registered buffers */
};
int snap_mem_setup(struct snap_mem *m, uint64_t size);
int snap_mem_once(struct snap_mem *m, const char *path, bool warm, double *v);
void snap_mem_free(struct snap_mem *m);

/* The whole-VM part: a snapshot directory restored into a fresh VM, which is saved again in its place. */
struct snap_vm {
	uint64_t size;
	char dir[256];              /* the snapshot */
	FILE *null;                 /* the guest's output */
	uint64_t data_bytes;        /* the last save's memory files' data */
	bool direct;
};
/* The first snapshot: memtest (mode=fork) writes all its RAM, then waits; saved, not timed. */
int snap_vm_setup(struct snap_vm *sv, uint64_t size, const char *dir);
int snap_vm_once(struct snap_vm *sv, bool warm, double *v);
void snap_vm_free(struct snap_vm *sv);

/*
 * The sweep of the images' io_uring settings, disk baseline and memory-only
 * image per setting, tables printed; *json gets every sample (free it).
 */
int snap_sweep(const struct opts *o, const char *tmp, const char *host, json_t **json);
/* "host KIND, PAGING paging[, timings emulated...]": beside every table. */
void snap_host_tag(char *buf, size_t len);

/* Removes path and everything below it (the snapshot directory before a save into its place; the run's files). */
int snap_rm_tree(const char *path);

/* HUGE share of the present extents (HUGE + SPLIT), the restore's measure: absent extents were never data. */
double snap_huge_pct(const struct thpvm_coverage *cov);

#endif
