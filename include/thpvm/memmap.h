/* SPDX-License-Identifier: MIT */
#ifndef THPVM_MEMMAP_H
#define THPVM_MEMMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <thpvm/result.h>

#ifdef __cplusplus
extern "C" {
#endif

#define THPVM_PAGE_SIZE 4096ULL
#define THPVM_EXTENT_SIZE (2ULL << 20)             /* one PMD: the unit of state */
#define THPVM_EXTENT_PAGES (THPVM_EXTENT_SIZE / THPVM_PAGE_SIZE)
#define THPVM_GPA_LIMIT (1ULL << 52)               /* x86-64 MAXPHYADDR ceiling */
#define THPVM_MAX_REGIONS 64

/*
 * How a region's host memory is backed. THP is the product; 4k and hugetlb
 * are baselines. FILE maps a file (a snapshot) MAP_PRIVATE with
 * MADV_HUGEPAGE: reads share the page cache (PMD-mapped where the file
 * system gives large folios and file_offset == gpa mod 2 MiB), the first
 * write to a page copies it; the collapse thread turns such extents back
 * into anonymous THPs.
 */
#define THPVM_BACKINGS(X)                                                   \
	X(THPVM_BACKING_THP, 0, "thp")                                      \
	X(THPVM_BACKING_4K, 0, "4k")                                        \
	X(THPVM_BACKING_HUGETLB, 0, "hugetlb")                              \
	X(THPVM_BACKING_FILE, 0, "file")

enum thpvm_backing {
	THPVM_BACKINGS(THPVM_RESULT_ENUM_ITEM)
	THPVM_NR_BACKINGS
};

enum thpvm_populate {
	THPVM_POPULATE_ON_DEMAND = 0, /* pages arrive on first touch (default) */
	THPVM_POPULATE_PREFAULT,      /* MADV_POPULATE_WRITE the whole region now */
};

/* Region is device memory or ROM: never backed by huge pages. */
#define THPVM_REGION_F_NOHUGE (1u << 0)

/*
 * Results of building the guest memory map. Each is part of the API: the
 * errno is what the public call returns (negated).
 */
#define THPVM_MAP_RESULTS(X)                                                                    \
	X(THPVM_MAP_OK, 0, "ok")                                                                \
	X(THPVM_MAP_ZERO_SIZE, EINVAL, "region size is zero")                                   \
	X(THPVM_MAP_UNALIGNED_GPA, EINVAL, "region guest address is not page aligned")          \
	X(THPVM_MAP_UNALIGNED_SIZE, EINVAL, "region size is not a multiple of the page size")   \
	X(THPVM_MAP_OVERFLOW, EOVERFLOW, "region extends past the guest physical address limit") \
	X(THPVM_MAP_OVERLAP, EEXIST, "region overlaps an existing region")                     \
	X(THPVM_MAP_BAD_BACKING, EINVAL, "unknown backing mode")                               \
	X(THPVM_MAP_BAD_POPULATE, EINVAL, "unknown populate mode")                             \
	X(THPVM_MAP_BAD_FLAGS, EINVAL, "unknown region flags")                                 \
	X(THPVM_MAP_TOO_MANY_REGIONS, ENOSPC, "too many regions in the guest memory map")      \
	X(THPVM_MAP_RESERVE_FAILED, ENOMEM, "cannot reserve host address space for the region") \
	X(THPVM_MAP_MMAP_FAILED, ENOMEM, "cannot map host memory for the region")              \
	X(THPVM_MAP_HUGETLB_NO_POOL, ENOMEM, "not enough 2 MiB hugetlb pages reserved")         \
	X(THPVM_MAP_MADVISE_FAILED, EIO, "madvise on the region failed")                       \
	X(THPVM_MAP_POPULATE_FAILED, ENOMEM, "cannot populate the region")                     \
	X(THPVM_MAP_POPULATE_CANCELLED, ECANCELED, "populate cancelled by the progress callback") \
	X(THPVM_MAP_NO_MEMORY, ENOMEM, "out of memory for region bookkeeping")                 \
	X(THPVM_MAP_BAD_FILE, EBADF, "backing file descriptor is not an open regular file")    \
	X(THPVM_MAP_UNALIGNED_OFFSET, EINVAL, "backing file offset is not page aligned")       \
	X(THPVM_MAP_FILE_TOO_SHORT, EINVAL, "backing file ends before the region does")

enum thpvm_map_result {
	THPVM_MAP_RESULTS(THPVM_RESULT_ENUM_ITEM)
	THPVM_NR_MAP_RESULTS
};

/*
 * Why a region is (or is not) on transparent huge pages. Decided in one
 * place, thp_eligibility(); ALLOC_FALLBACK is measured afterwards: the region
 * was eligible but the kernel backed some extents with 4 KiB pages.
 */
#define THPVM_THP_REASONS(X)                                                                        \
	X(THPVM_THP_ELIGIBLE, 0, "eligible for 2 MiB THP")                                          \
	X(THPVM_THP_HOST_NEVER, 0, "host THP mode is never (transparent_hugepage/enabled)")          \
	X(THPVM_THP_HOST_2M_NEVER, 0, "host 2 MiB THP size is disabled (hugepages-2048kB/enabled)")   \
	X(THPVM_THP_HOST_UNSUPPORTED, 0, "host kernel has no transparent huge pages")                 \
	X(THPVM_THP_PRCTL_DISABLED, 0, "THP disabled for this process (prctl PR_SET_THP_DISABLE)")   \
	X(THPVM_THP_REGION_NOHUGE, 0, "region is device memory or ROM (never huge)")                \
	X(THPVM_THP_BACKING_4K, 0, "region uses the 4k baseline backing")                           \
	X(THPVM_THP_BACKING_HUGETLB, 0, "region uses hugetlbfs pages, not THP")                     \
	X(THPVM_THP_UNALIGNED, 0, "region holds no whole 2 MiB extent")                             \
	X(THPVM_THP_ALLOC_FALLBACK, 0, "kernel could not allocate huge pages for some extents")

enum thpvm_thp_reason {
	THPVM_THP_REASONS(THPVM_RESULT_ENUM_ITEM)
	THPVM_NR_THP_REASONS
};

/* Called while a region is prefaulted; a non-zero return cancels. */
typedef int (*thpvm_progress_fn)(uint64_t done_bytes, uint64_t total_bytes, void *arg);

struct thpvm_region_config {
	const char *name;          /* for messages and reports; NULL = "ram<N>" */
	uint64_t gpa;              /* guest physical start, 4 KiB aligned */
	uint64_t size_bytes;       /* multiple of 4 KiB (2 MiB for hugetlb) */
	enum thpvm_backing backing;
	enum thpvm_populate populate;
	uint32_t flags;            /* THPVM_REGION_F_* */
	thpvm_progress_fn progress;
	void *progress_arg;
	/* THPVM_BACKING_FILE only: the file (may be closed after add) and where the region starts in it */
	int fd;
	uint64_t file_offset;
};

struct thpvm_memmap;
struct thpvm_region;

struct thpvm_region_info {
	const char *name;
	uint64_t gpa;
	uint64_t size_bytes;
	void *hva;                 /* hva % 2 MiB == gpa % 2 MiB */
	enum thpvm_backing backing;
	uint32_t flags;
	enum thpvm_thp_reason thp_reason;
	uint64_t nr_extents;
};

const char *thpvm_backing_str(enum thpvm_backing backing);
/* Parses "thp", "4k", "hugetlb" or "file". Returns 0 or -EINVAL. */
int thpvm_backing_parse(const char *str, enum thpvm_backing *out);
const char *thpvm_map_result_str(enum thpvm_map_result result);
const char *thpvm_map_result_name(enum thpvm_map_result result);
int thpvm_map_result_errno(enum thpvm_map_result result);
const char *thpvm_thp_reason_str(enum thpvm_thp_reason reason);
const char *thpvm_thp_reason_name(enum thpvm_thp_reason reason);

int thpvm_memmap_create(struct thpvm_memmap **out);
/* Unmaps every region. */
void thpvm_memmap_destroy(struct thpvm_memmap *map);

/*
 * Adds a region: validates it, maps host memory 2 MiB aligned and congruent
 * with the GPA modulo 2 MiB, applies the backing, and prefaults if asked.
 * Returns 0 or -errno (see THPVM_MAP_RESULTS); on failure nothing is left
 * mapped and thpvm_last_error() names the problem. When THP is not available
 * the region still succeeds on 4 KiB pages and records why.
 */
int thpvm_memmap_add(struct thpvm_memmap *map, const struct thpvm_region_config *cfg,
		     struct thpvm_region **out);

/* The last result of thpvm_memmap_add() on this map. */
enum thpvm_map_result thpvm_memmap_last_result(const struct thpvm_memmap *map);

unsigned thpvm_memmap_nr_regions(const struct thpvm_memmap *map);
struct thpvm_region *thpvm_memmap_region(const struct thpvm_memmap *map, unsigned idx);
/* The region holding gpa, or NULL. */
struct thpvm_region *thpvm_memmap_find(const struct thpvm_memmap *map, uint64_t gpa);
/* Host address of [gpa, gpa + size_bytes) when it lies inside one region, else NULL. */
void *thpvm_memmap_gpa_to_hva(const struct thpvm_memmap *map, uint64_t gpa, uint64_t size_bytes);
/* Total guest RAM in bytes. */
uint64_t thpvm_memmap_size_bytes(const struct thpvm_memmap *map);

void thpvm_region_get_info(const struct thpvm_region *region, struct thpvm_region_info *out);

/*
 * MADV_POPULATE_WRITE the whole region, calling progress (if not NULL) as it
 * goes; then refreshes the extent table and records a THP fallback, if any.
 */
int thpvm_region_prefault(struct thpvm_region *region, thpvm_progress_fn progress, void *arg);

/*
 * Test hook, for what the kernel cannot be made to do on demand: the next
 * thpvm_region_prefault() of region fails at its chunk at_chunk (64 MiB
 * each, from 0) as MADV_POPULATE_WRITE does when no memory is left
 * (ENOMEM), once. What the chunks before populated stays.
 */
void thpvm_region_inject_populate_failure(struct thpvm_region *region, uint32_t at_chunk);

#ifdef __cplusplus
}
#endif

#endif
