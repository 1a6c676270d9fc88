/* SPDX-License-Identifier: MIT */
/*
 * thpvm bench clone, shared by its files: the options and the parts
 * (bench_clone_parts.c). Each part measures into its own result struct and
 * returns 0 or -errno with vmm_last_error() set; bench_clone.c interleaves,
 * prints and writes them.
 */
#ifndef THPVM_BENCH_CLONE_H
#define THPVM_BENCH_CLONE_H

#include <stdbool.h>
#include <stdint.h>

#define CLONE_MAX_SIZES 4
#define CLONE_MAX_CLONES 64

enum clone_part { CP_RESTORE, CP_DENSITY, CP_FS, CP_COLLAPSE, NR_CLONE_PARTS };

struct clone_opts {
	uint64_t sizes[CLONE_MAX_SIZES];
	unsigned nr_sizes;
	unsigned clones;                /* --clones, concurrent clones (16) */
	unsigned reps;
	double write_pct;               /* density: each clone writes this % of its pages (1) */
	const char *dir;                /* the snapshot and memory files' file system */
	bool part[NR_CLONE_PARTS];
	const char *json;
};

/*
 * A clone on the host, no vCPU: a memory file mapped MAP_PRIVATE with
 * libthpvm's file backing (what --memory-mode shared maps), its pages
 * touched by the host as the guest would touch them.
 */

/* A memory file of size bytes at path, every page holding data (none a hole), in the page cache. Returns an fd or -errno. */
int clone_file_make(const char *path, uint64_t size);

/*
 * density: n clones of fd's size_bytes each read all of it and write pct %
 * of their pages: the memory they hold (the page cache once, mincore, plus
 * every clone's copies, smaps Private_Dirty of its RAM) against the ideal.
 */
struct clone_density {
	unsigned clones;
	uint64_t pages_written;
	uint64_t page_cache_bytes;           /* the file's pages in the page cache */
	uint64_t copied_bytes;               /* the clones' private copies in their RAM */
	uint64_t process_pss_bytes;          /* the clones' whole processes, for their overhead */
	uint64_t ideal_bytes;                /* the file once + 4 KiB per page written */
};
int clone_density_once(int fd, uint64_t size, unsigned n, double pct, struct clone_density *out);

/* fs: on one file system, a clone's mapping and first read of every page, and the HUGE share it got. */
struct clone_fs {
	char name[64];                  /* "ext4 (/var/tmp)", "tmpfs huge=within_size" */
	char skipped[160];              /* why it was not measured, or "" */
	double map_ms;                  /* map + read every page, ms */
	double huge_pct;                /* extents HUGE (PMD-mapped from the page cache) right after */
};
/* The file systems measured, in order: the directory's own, tmpfs, tmpfs huge=within_size. */
#define CLONE_NR_FS 3
int clone_fs_once(unsigned which, const char *dir, uint64_t size, struct clone_fs *out);

/* collapse: a clone that wrote a page of every extent, back to >= 99% HUGE by its collapse thread (tlb). */
struct clone_collapse {
	double huge_pct_before;         /* right after the writes */
	double ms;                      /* to >= 99% HUGE; -1: not within the limit */
	double huge_pct_after;
	uint64_t lost_writes;           /* pages whose first byte is not what was written or in the file */
};
int clone_collapse_once(int fd, uint64_t size, struct clone_collapse *out);

/* restore (KVM): a snapshot of a payload VM restored shared, to the moment it could run. */
int clone_snapshot_make(const char *dir, uint64_t size);
struct clone_restore {
	double ms;                      /* vm_snapshot_open to vm_snapshot_load's end, the VM built between */
	uint64_t mapped_bytes;          /* guest RAM mapped right after (lazy: what the restore itself touched) */
};
int clone_restore_once(const char *dir, struct clone_restore *out);
/* n processes restore dir at once (released together): each one's ms in ms[0..n). */
int clone_restore_concurrent(const char *dir, unsigned n, double *ms);

#endif
