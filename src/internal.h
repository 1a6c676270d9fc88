/* SPDX-License-Identifier: MIT */
/* libthpvm internals: the memory map, regions and their extent tables. */
#ifndef THPVM_INTERNAL_H
#define THPVM_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <thpvm.h>

#define THPVM_EXPORT __attribute__((visibility("default")))
#define ALIGN_DOWN(x, a) ((x) & ~((uint64_t)(a) - 1))
#define ALIGN_UP(x, a) ALIGN_DOWN((x) + (a) - 1, (a))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * One 2 MiB extent. The lock guards every field; it is held only to read or
 * update the record, never while another extent's lock is held: no nesting,
 * ever. A collapser that rewrites the extent's mapping sets `claimed` under
 * the lock and owns the mapping until it clears it: claims are try-only (a
 * claimed extent is skipped, never waited for), so a batch may hold several
 * without any lock order (docs/collapse.md).
 */
struct extent {
	pthread_mutex_t lock;
	uint64_t generation;
	uint64_t state_since_ns;
	uint8_t state;
	uint8_t detail_valid;
	uint8_t claimed;
	uint16_t nr_pages;
	uint16_t nr_present;
	uint16_t nr_private;
	uint16_t nr_shared;
	uint8_t file_huge;      /* HUGE and mapped from a file's page cache, not a private THP */
};

struct thpvm_region {
	char name[32];
	uint64_t gpa;
	uint64_t size_bytes;
	uint8_t *hva;
	enum thpvm_backing backing;
	enum thpvm_populate populate;
	uint32_t flags;
	/* THPVM_BACKING_FILE: the caller's fd, used only while mapping; offset of gpa in the file */
	int file_fd;
	uint64_t file_offset;
	/* the guard-page-padded mapping we own: [map_base, map_base + map_len) */
	uint8_t *map_base;
	uint64_t map_len;
	enum thpvm_thp_reason thp_reason;
	uint32_t inject_populate_at; /* test hook: 1 + the chunk whose population fails next, 0 = none */
	uint64_t first_extent_gpa;  /* ALIGN_DOWN(gpa, 2 MiB) */
	uint64_t nr_extents;
	struct extent *extents;
	pthread_mutex_t counters_lock;
	struct thpvm_thp_counters counters;
};

struct thpvm_memmap {
	unsigned nr_regions;
	struct thpvm_region *regions[THPVM_MAX_REGIONS];
	enum thpvm_map_result last_result;
};

/* errmsg.c: the thread's last error, one line. */
__attribute__((format(printf, 1, 2))) void thpvm_set_error(const char *fmt, ...);
void thpvm_clear_error(void);
/* Sets the message "<result string>: <detail>" and returns result. */
__attribute__((format(printf, 2, 3))) enum thpvm_map_result map_error(enum thpvm_map_result result,
									 const char *fmt, ...);

/* thp_policy.c: the one place that decides THP eligibility. */
enum thpvm_thp_reason thp_eligibility(const struct thpvm_host_thp *host, enum thpvm_backing backing,
				      uint32_t flags, uint64_t gpa, uint64_t size_bytes);

/* region_map.c */
enum thpvm_map_result region_map(struct thpvm_region *r);
enum thpvm_map_result region_prefault(struct thpvm_region *r, thpvm_progress_fn progress, void *arg);
void region_unmap(struct thpvm_region *r);

/* extent.c */
enum thpvm_map_result extent_table_init(struct thpvm_region *r);
void extent_table_free(struct thpvm_region *r);
uint64_t extent_gpa(const struct thpvm_region *r, uint64_t idx);
uint32_t extent_nr_pages(const struct thpvm_region *r, uint64_t idx);
uint8_t *extent_hva(const struct thpvm_region *r, uint64_t idx);
uint64_t monotonic_ns(void);

/* pagemap.c: measure one host range */
/*
 * Counts, for each 2 MiB window [first + i * 2 MiB) clipped to [start, end),
 * present pages and whether the whole window is PMD-mapped. Uses PAGEMAP_SCAN
 * or, where missing, /proc/self/pagemap.
 */
struct window_count {
	uint32_t nr_present;
	uint32_t nr_huge;   /* pages reported PAGE_IS_HUGE (PMD-mapped) */
	uint32_t nr_file_huge; /* of which a file's (page cache) folio, not anonymous memory */
};
int pagemap_count_windows(uintptr_t start, uintptr_t end, uintptr_t first_window,
			  struct window_count *out, uint64_t nr_windows);
/* The same on an open /proc/self/pagemap (of this process: a forked child opens its own). */
int pagemap_count_windows_fd(int fd, uintptr_t start, uintptr_t end, uintptr_t first_window,
			     struct window_count *out, uint64_t nr_windows);
bool pagemap_scan_supported(void);
struct page_detail {
	uint32_t nr_present, nr_private, nr_shared;
};
int pagemap_detail(uintptr_t start, uint32_t nr_pages, struct page_detail *out);

/* extent.c: collapse claims. Each takes the extent's lock, alone. */
struct extent_snapshot {
	uint8_t state;
	uint16_t nr_pages, nr_present;
	uint64_t generation;
	uint64_t state_since_ns;
};
/* Claims the extent for one collapse: 0, or -EBUSY when another collapser holds it. */
int extent_claim(struct thpvm_region *r, uint64_t idx, struct extent_snapshot *out);
/* The generation of the extent now. */
uint64_t extent_generation(struct thpvm_region *r, uint64_t idx);
/* Bumps the generation: the extent's mapping changed under a claim (and for tests). */
void extent_bump_generation(struct thpvm_region *r, uint64_t idx);
/*
 * Ends a claim. measured (may be NULL: mapping untouched) is the window as
 * PAGEMAP_SCAN saw it after the attempt; a huge window counts a
 * thp_collapse_alloc, alloc_failed a thp_collapse_alloc_failed. Takes the
 * extent's lock, then the region's counters lock, never both at once.
 */
void extent_release(struct thpvm_region *r, uint64_t idx, const struct window_count *measured, bool alloc_failed);
/* Counts nr thp_collapse_alloc_failed for extents no claim was taken for. Takes the counters lock. */
void region_count_collapse_failed(struct thpvm_region *r, uint64_t nr);
/*
 * Records the host's current verdict for a region that refused THP for a
 * host reason (never, prctl): once it says ELIGIBLE, the region is again.
 * Takes the counters lock.
 */
void region_thp_reason_update(struct thpvm_region *r, enum thpvm_thp_reason current);


#endif
