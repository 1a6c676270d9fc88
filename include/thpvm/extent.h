/* SPDX-License-Identifier: MIT */
#ifndef THPVM_EXTENT_H
#define THPVM_EXTENT_H

#include <stdbool.h>
#include <stdint.h>
#include <thpvm/memmap.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * An extent is the 2 MiB-aligned window of guest-physical space (clipped to
 * its region). Its state is what the kernel actually did, measured:
 *   HUGE   - the whole extent is one PMD-mapped huge page
 *   SPLIT  - some pages are present, mapped with PTEs (4 KiB)
 *   ABSENT - no page is present (never touched, or discarded)
 * Pages that map the shared zero page count as absent: they own no memory.
 */
#define THPVM_EXTENT_STATES(X)                        \
	X(THPVM_EXTENT_ABSENT, 0, "absent")           \
	X(THPVM_EXTENT_HUGE, 0, "huge")               \
	X(THPVM_EXTENT_SPLIT, 0, "split")

enum thpvm_extent_state {
	THPVM_EXTENT_STATES(THPVM_RESULT_ENUM_ITEM)
	THPVM_NR_EXTENT_STATES
};

const char *thpvm_extent_state_str(enum thpvm_extent_state state);

/*
 * Per-region THP event counters, named after the kernel's /proc/vmstat
 * counters but counted per region from the extent transitions thpvm
 * observes (ABSENT->HUGE is a thp_fault_alloc, ABSENT->SPLIT while eligible
 * a thp_fault_fallback, HUGE->SPLIT a thp_split_pmd) and from the collapse
 * thread's own work.
 */
#define THPVM_THP_COUNTERS(X)                                                  \
	X(thp_fault_alloc, "extents that became huge on fault")                \
	X(thp_fault_fallback, "extents populated with 4 KiB pages while eligible") \
	X(thp_split_pmd, "huge extents observed split to PTEs")                \
	X(thp_collapse_alloc, "extents collapsed back to huge")                \
	X(thp_collapse_alloc_failed, "collapse attempts that could not get a huge page")

struct thpvm_thp_counters {
#define X(name, desc) uint64_t name;
	THPVM_THP_COUNTERS(X)
#undef X
};

struct thpvm_extent_info {
	uint64_t gpa;              /* first guest address of the extent (clipped) */
	uint32_t nr_pages;         /* 4 KiB pages in the extent (512 unless clipped) */
	enum thpvm_extent_state state;
	/*
	 * HUGE only: the PMD maps a file's large folio from the page cache (a
	 * region mapped from a file, shared with every process mapping it),
	 * not a private THP (anonymous memory, or a file-backed extent the
	 * collapse thread moved onto one).
	 */
	bool file_huge;
	uint32_t nr_present;       /* from the last refresh */
	/* valid when detail_valid: from the last per-page (pagemap) look */
	bool detail_valid;
	uint32_t nr_private;       /* mapped by this process only */
	uint32_t nr_shared;        /* also mapped by another process, or file pages */
	uint32_t nr_absent;
	uint64_t generation;       /* bumps on every observed change and collapse */
	uint64_t state_since_ns;   /* CLOCK_MONOTONIC time the state was first seen */
};

/* Extents in the region. */
uint64_t thpvm_region_nr_extents(const struct thpvm_region *region);

/*
 * Measures the state of every extent of the region with one PAGEMAP_SCAN
 * (PAGE_IS_HUGE) walk, falling back to /proc/self/pagemap where the ioctl is
 * missing. Takes each extent's lock only while updating its record.
 * Returns 0 or -errno.
 */
int thpvm_region_refresh(struct thpvm_region *region);
int thpvm_memmap_refresh(struct thpvm_memmap *map);

/*
 * Reads /proc/self/pagemap for one extent and records how many of its pages
 * are private, shared and absent. Takes that extent's lock.
 */
int thpvm_region_refresh_detail(struct thpvm_region *region, uint64_t extent_idx);

/* Copies the extent's record (under its lock). Returns 0 or -ERANGE. */
int thpvm_region_extent(const struct thpvm_region *region, uint64_t extent_idx,
			struct thpvm_extent_info *out);

/* Index of the extent holding gpa, or -ERANGE. */
int64_t thpvm_region_extent_index(const struct thpvm_region *region, uint64_t gpa);

/*
 * Measure with /proc/self/pagemap even where PAGEMAP_SCAN exists (enable =
 * false), for benchmarks and tests of the fallback. Process-wide.
 */
void thpvm_pagemap_scan_enable(bool enable);

void thpvm_region_counters(const struct thpvm_region *region, struct thpvm_thp_counters *out);

#ifdef __cplusplus
}
#endif

#endif
