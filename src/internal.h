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
 * update the record (or, in the collapse engines, across one extent's
 * remap), never while another extent's lock is held: no nesting, ever.
 */
struct extent {
	pthread_mutex_t lock;
	uint64_t generation;
	uint64_t state_since_ns;
	uint8_t state;
	uint8_t detail_valid;
	uint16_t nr_pages;
	uint16_t nr_present;
	uint16_t nr_private;
	uint16_t nr_shared;
};

struct thpvm_region {
	char name[32];
	uint64_t gpa;
	uint64_t size_bytes;
	uint8_t *hva;
	enum thpvm_backing backing;
	enum thpvm_populate populate;
	uint32_t flags;
	/* the guard-page-padded mapping we own: [map_base, map_base + map_len) */
	uint8_t *map_base;
	uint64_t map_len;
	enum thpvm_thp_reason thp_reason;
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
};
int pagemap_count_windows(uintptr_t start, uintptr_t end, uintptr_t first_window,
			  struct window_count *out, uint64_t nr_windows);
bool pagemap_scan_supported(void);
struct page_detail {
	uint32_t nr_present, nr_private, nr_shared;
};
int pagemap_detail(uintptr_t start, uint32_t nr_pages, struct page_detail *out);

/* smaps.c */
struct smaps_sum {
	uint64_t rss, anon_huge, file_pmd, private_dirty, shared, nr_vmas;
};
int smaps_sum_range(uintptr_t start, uintptr_t end, struct smaps_sum *out);

#endif
