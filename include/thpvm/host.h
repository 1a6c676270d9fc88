/* SPDX-License-Identifier: MIT */
#ifndef THPVM_HOST_H
#define THPVM_HOST_H

#include <stdbool.h>
#include <stdint.h>
#include <thpvm/result.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The host's transparent hugepage mode, as in /sys/kernel/mm/transparent_hugepage/enabled. */
#define THPVM_THP_MODES(X)                                   \
	X(THPVM_THP_MODE_UNKNOWN, 0, "unknown")              \
	X(THPVM_THP_MODE_ALWAYS, 0, "always")                \
	X(THPVM_THP_MODE_MADVISE, 0, "madvise")              \
	X(THPVM_THP_MODE_NEVER, 0, "never")                  \
	X(THPVM_THP_MODE_INHERIT, 0, "inherit")              \
	X(THPVM_THP_MODE_UNSUPPORTED, 0, "unsupported")

enum thpvm_thp_mode {
	THPVM_THP_MODES(THPVM_RESULT_ENUM_ITEM)
};

const char *thpvm_thp_mode_str(enum thpvm_thp_mode mode);

/*
 * Host settings that decide whether guest RAM can be huge. Read-only: thpvm
 * never changes them, it detects them and adapts.
 */
struct thpvm_host_thp {
	enum thpvm_thp_mode enabled;     /* transparent_hugepage/enabled */
	enum thpvm_thp_mode enabled_2m;  /* hugepages-2048kB/enabled; INHERIT follows enabled */
	char defrag[32];                 /* transparent_hugepage/defrag (selected word) */
	char shmem_enabled[32];          /* transparent_hugepage/shmem_enabled (selected word) */
	uint64_t hpage_pmd_size;         /* hpage_pmd_size, bytes */
	/* khugepaged's knobs, -1 when unreadable */
	int64_t khugepaged_pages_to_scan;
	int64_t khugepaged_scan_sleep_millisecs;
	int64_t khugepaged_max_ptes_none;
	int64_t khugepaged_max_ptes_shared;
	int khugepaged_defrag;
	/* prctl(PR_GET_THP_DISABLE) of this process: 0, or 1 (| 2 = except advised) */
	int prctl_thp_disable;
	/* 2 MiB hugetlb pool */
	uint64_t hugetlb_2m_total;
	uint64_t hugetlb_2m_free;
	uint64_t hugetlb_2m_resv;
	bool pagemap_scan;               /* PAGEMAP_SCAN ioctl available */
};

/* Reads the host's THP settings (sysfs, prctl, meminfo). Returns 0 or -errno. */
int thpvm_host_thp_read(struct thpvm_host_thp *out);

/* The 2 MiB THP mode that applies to anonymous memory: enabled_2m unless it says inherit. */
enum thpvm_thp_mode thpvm_host_thp_effective(const struct thpvm_host_thp *host);

/*
 * Host-wide THP counters from /proc/vmstat (thp_fault_alloc, ...), for the
 * host's view next to our own per-region counters. Unknown names read as 0.
 */
struct thpvm_vmstat_thp {
	uint64_t thp_fault_alloc;
	uint64_t thp_fault_fallback;
	uint64_t thp_collapse_alloc;
	uint64_t thp_collapse_alloc_failed;
	uint64_t thp_split_pmd;
	uint64_t thp_split_page;
	uint64_t thp_zero_page_alloc;
};
int thpvm_vmstat_thp_read(struct thpvm_vmstat_thp *out);

/* The kernel's own accounting of a process's memory, from /proc/PID/smaps, in bytes. */
struct thpvm_smaps {
	uint64_t rss, pss;
	uint64_t shared_clean, shared_dirty, private_clean, private_dirty;
	uint64_t anon_huge;              /* AnonHugePages */
	uint64_t file_pmd;               /* FilePmdMapped */
	unsigned nr_vmas;                /* the VMAs summed (0 for a whole-process read) */
};
/* Whether the VMA [start, end) counts. */
typedef bool (*thpvm_smaps_match_fn)(uint64_t start, uint64_t end, void *arg);
/*
 * Sums /proc/PID/smaps (pid 0: this process) over the VMAs for which
 * match(start, end, arg) is true; with match NULL, the whole process from
 * /proc/PID/smaps_rollup. Returns 0 or -errno (thpvm_last_error() says why).
 */
int thpvm_smaps_read(int pid, thpvm_smaps_match_fn match, void *arg, struct thpvm_smaps *out);

#ifdef __cplusplus
}
#endif

#endif
