/* SPDX-License-Identifier: MIT */
#ifndef THPVM_COVERAGE_H
#define THPVM_COVERAGE_H

#include <stdio.h>
#include <stdint.h>
#include <jansson.h>
#include <thpvm/extent.h>
#include <thpvm/host.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Refresh the extent table before reporting (otherwise the last refresh is used). */
#define THPVM_COVERAGE_REFRESH (1u << 0)
/* Read per-page detail (private / shared / absent) for every SPLIT extent. */
#define THPVM_COVERAGE_DETAIL (1u << 1)
/* Add the host's view from /proc/self/smaps. */
#define THPVM_COVERAGE_SMAPS (1u << 2)
#define THPVM_COVERAGE_ALL (THPVM_COVERAGE_REFRESH | THPVM_COVERAGE_DETAIL | THPVM_COVERAGE_SMAPS)

/* How much of some guest RAM is on 2 MiB pages, by thpvm's measure and the host's. */
struct thpvm_coverage {
	uint64_t size_bytes;
	uint64_t nr_extents, nr_huge, nr_split, nr_absent;
	uint64_t huge_bytes;       /* bytes in HUGE extents */
	uint64_t split_bytes;      /* bytes in SPLIT extents (whole extents) */
	uint64_t absent_bytes;     /* bytes in ABSENT extents */
	uint64_t present_bytes;    /* resident: HUGE extents plus present pages of SPLIT ones */
	/*
	 * Guest RAM mapped from a file (THPVM_BACKING_FILE: a snapshot's
	 * memory file, MAP_PRIVATE): of the HUGE extents, those PMD-mapped
	 * from the page cache (shared with every VM mapping the file; smaps'
	 * FilePmdMapped); the others are private THPs the collapse thread put
	 * there. SPLIT ones hold the guest's copied 4 KiB pages next to 4 KiB
	 * page-cache pages.
	 */
	bool file_backed;
	uint64_t nr_huge_file;
	uint64_t huge_file_bytes;
	/* THPVM_COVERAGE_DETAIL: pages of SPLIT extents, in bytes */
	bool detail_valid;
	uint64_t split_private_bytes;
	uint64_t split_shared_bytes;
	uint64_t split_absent_bytes;
	/* THPVM_COVERAGE_SMAPS: the host's view of the same range */
	bool smaps_valid;
	uint64_t smaps_rss_bytes;
	uint64_t smaps_anon_huge_bytes;    /* AnonHugePages */
	uint64_t smaps_file_pmd_bytes;     /* FilePmdMapped */
	uint64_t smaps_private_dirty_bytes;
	uint64_t smaps_shared_bytes;       /* Shared_Clean + Shared_Dirty */
	uint64_t smaps_nr_vmas;
	struct thpvm_thp_counters counters;
	enum thpvm_thp_reason thp_reason;  /* for a region; the worst one for a map */
};

/* Percentage of size_bytes, 0 for an empty report. */
double thpvm_coverage_pct(const struct thpvm_coverage *cov, uint64_t bytes);

int thpvm_region_coverage(struct thpvm_region *region, unsigned flags, struct thpvm_coverage *out);
/* The whole map: the sum of its regions. */
int thpvm_memmap_coverage(struct thpvm_memmap *map, unsigned flags, struct thpvm_coverage *out);

/* Plain JSON object for one report (new reference). */
json_t *thpvm_coverage_to_json(const struct thpvm_coverage *cov);
/*
 * File-backed RAM (file_backed): {"pmd_mapped_extents", "private_huge_extents",
 * "split_extents", "absent_extents", "pmd_mapped_bytes"}, the "file" member
 * of thpvm_coverage_to_json(); and the same as one line of text.
 */
json_t *thpvm_coverage_file_json(const struct thpvm_coverage *cov);
void thpvm_coverage_file_print(FILE *out, const struct thpvm_coverage *cov);
json_t *thpvm_host_thp_to_json(const struct thpvm_host_thp *host);
/*
 * The full report of a map: {"host": ..., "regions": [...], "total": ...,
 * "vmstat": ...}. Returns NULL and sets thpvm_last_error() on failure.
 */
json_t *thpvm_memmap_coverage_json(struct thpvm_memmap *map, unsigned flags);

/* The same report as a readable table. Returns 0 or -errno. */
int thpvm_memmap_coverage_print(FILE *out, struct thpvm_memmap *map, unsigned flags);

#ifdef __cplusplus
}
#endif

#endif
