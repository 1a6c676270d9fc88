/* SPDX-License-Identifier: MIT */
#ifndef THPVM_COLLAPSE_H
#define THPVM_COLLAPSE_H

/*
 * The collapse thread: moves 4 KiB-backed guest memory back onto 2 MiB
 * pages, under a policy, without losing a write. A pipeline in the style of
 * mm/khugepaged.c: scan (PAGEMAP_SCAN of all guest RAM, a cursor, a budget)
 * -> choose (the mode's policy) -> collapse (MADV_COLLAPSE, or copy-and-remap
 * under a userfaultfd write-protect) -> account (a counter per result,
 * histograms). docs/collapse.md has the whole story.
 */

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <thpvm/memmap.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * What happened to one extent at one stage. Counted per extent in
 * thpvm_collapse_stats.results. The errno is what a caller would return
 * for it (0: not a failure).
 */
#define THPVM_COLLAPSE_RESULTS(X)                                                                           \
	X(THPVM_COLLAPSE_SUCCEED, 0, "collapsed to a 2 MiB page")                                          \
	X(THPVM_COLLAPSE_NOT_SPLIT, 0, "not split: already huge or absent")                                \
	X(THPVM_COLLAPSE_CLIPPED, 0, "extent clipped by its region edge: can never be huge")               \
	X(THPVM_COLLAPSE_NOT_ELIGIBLE, 0, "region not eligible for THP under the host's current settings")  \
	X(THPVM_COLLAPSE_POLICY_OFF, 0, "collapse mode is off")                                            \
	X(THPVM_COLLAPSE_POLICY_SHARED, 0, "policy keeps it split: too few private pages")                 \
	X(THPVM_COLLAPSE_POLICY_YOUNG, 0, "policy keeps it split: too few private pages, split too recently") \
	X(THPVM_COLLAPSE_POLICY_ABSENT, 0, "policy keeps it split: too many absent pages")                 \
	X(THPVM_COLLAPSE_BUSY, EBUSY, "extent claimed by another collapser")                               \
	X(THPVM_COLLAPSE_CHANGED, EAGAIN, "extent changed between scan and claim")                         \
	X(THPVM_COLLAPSE_ALLOC_FAILED, ENOMEM, "no 2 MiB page available")                                 \
	X(THPVM_COLLAPSE_BACKOFF, EAGAIN, "backing off after an allocation failure")                      \
	X(THPVM_COLLAPSE_MADV_EAGAIN, EAGAIN, "MADV_COLLAPSE: pages busy, retry later")                   \
	X(THPVM_COLLAPSE_MADV_EINVAL, EINVAL, "MADV_COLLAPSE cannot collapse this range")                 \
	X(THPVM_COLLAPSE_MADV_FAILED, EIO, "MADV_COLLAPSE failed")                                        \
	X(THPVM_COLLAPSE_NO_WRITE_PROTECT, EOPNOTSUPP,                                                     \
	  "cannot stop writers: no userfaultfd write-protect for this mapping and no quiesce hook")        \
	X(THPVM_COLLAPSE_UFFD_FAILED, EIO, "userfaultfd write-protect failed")                            \
	X(THPVM_COLLAPSE_QUIESCE_FAILED, EIO, "the quiesce hook failed")                                  \
	X(THPVM_COLLAPSE_GENERATION_CHANGED, EAGAIN, "extent generation changed during the copy")         \
	X(THPVM_COLLAPSE_WRITTEN, EAGAIN, "extent written during the copy")                               \
	X(THPVM_COLLAPSE_VMA_LIMIT, ENOSPC, "too many VMAs: stopped before vm.max_map_count")             \
	X(THPVM_COLLAPSE_REMAP_FAILED, EIO, "mremap of the new page failed")                              \
	X(THPVM_COLLAPSE_NOT_HUGE, EAGAIN, "collapsed, but the kernel did not map it with one PMD")

enum thpvm_collapse_result {
	THPVM_COLLAPSE_RESULTS(THPVM_RESULT_ENUM_ITEM)
	THPVM_NR_COLLAPSE_RESULTS
};

/* Policy modes: how TLB reach is weighed against sharing with a template. */
#define THPVM_COLLAPSE_MODES(X)                                                    \
	X(THPVM_COLLAPSE_MODE_OFF, 0, "off")                                       \
	X(THPVM_COLLAPSE_MODE_TLB, 0, "tlb")           /* every split extent */    \
	X(THPVM_COLLAPSE_MODE_BALANCED, 0, "balanced") /* private >= threshold, or split > delay */ \
	X(THPVM_COLLAPSE_MODE_DENSITY, 0, "density")   /* private >= threshold only */

enum thpvm_collapse_mode {
	THPVM_COLLAPSE_MODES(THPVM_RESULT_ENUM_ITEM)
	THPVM_NR_COLLAPSE_MODES
};

/* Engines: auto = MADV_COLLAPSE where the kernel can, copy-and-remap otherwise. */
#define THPVM_COLLAPSE_ENGINES(X)                                 \
	X(THPVM_COLLAPSE_ENGINE_AUTO, 0, "auto")                  \
	X(THPVM_COLLAPSE_ENGINE_MADV, 0, "madv")                  \
	X(THPVM_COLLAPSE_ENGINE_REMAP, 0, "remap")

enum thpvm_collapse_engine {
	THPVM_COLLAPSE_ENGINES(THPVM_RESULT_ENUM_ITEM)
	THPVM_NR_COLLAPSE_ENGINES
};

/*
 * Stops (stop = true) or restarts (false) every thread that may write guest
 * memory, for mappings the kernel cannot write-protect with userfaultfd
 * (MAP_PRIVATE files on ext4 and the like). A VMM pauses its vCPUs and
 * device threads. Returns 0 or -errno. Called from the collapse thread with
 * no lock of libthpvm held.
 */
typedef int (*thpvm_collapse_quiesce_fn)(void *arg, bool stop);

struct thpvm_collapse_config {
	enum thpvm_collapse_mode mode;     /* default balanced */
	enum thpvm_collapse_engine engine; /* default auto */
	uint32_t private_pages;    /* balanced/density: collapse at >= this many private pages (64 / 256) */
	uint32_t delay_ms;         /* balanced: collapse any extent split longer than this (2000) */
	uint32_t max_absent_pages; /* never collapse an extent with more absent pages (511: any present page) */
	uint32_t budget_extents;   /* extents examined per pass (512) */
	uint32_t batch_extents;    /* adjacent extents handed to the engines at once; one MADV_COLLAPSE call (16) */
	uint32_t remap_batch_extents; /* extents per copy-and-remap operation: writers wait for this many copies (1) */
	uint32_t interval_ms;      /* sleep after a pass that collapsed nothing (100) */
	uint32_t rate_mib_s;       /* copy rate limit, MiB/s; 0 = unlimited (0) */
	int nice;                  /* the thread's nice value (0) */
	int wp_nice;               /* nice while writers wait on its write-protect (-10; needs CAP_SYS_NICE) */
	uint32_t max_vmas;         /* stop at this many VMAs; 0 = vm.max_map_count less 1/8 (0) */
	uint32_t backoff_min_ms;   /* first sleep after an allocation failure (10) */
	uint32_t backoff_max_ms;   /* doubling up to this (5000) */
	thpvm_collapse_quiesce_fn quiesce; /* NULL: such mappings are left split */
	void *quiesce_arg;
};

/* log2 histogram of microseconds: bucket i counts values in [2^i, 2^(i+1)) us, bucket 0 also < 1 us. */
#define THPVM_COLLAPSE_HIST_BUCKETS 24
struct thpvm_collapse_hist {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t max_ns;
	uint64_t buckets[THPVM_COLLAPSE_HIST_BUCKETS];
};

struct thpvm_collapse_pass {
	uint64_t nr_examined;    /* extents looked at */
	uint64_t nr_candidates;  /* chosen by the policy */
	uint64_t nr_collapsed;   /* now huge */
	uint64_t nr_collapsed_by_engine[THPVM_NR_COLLAPSE_ENGINES]; /* the same, by the engine that did it */
	uint64_t nr_failed;      /* candidates that stayed split */
	uint64_t nr_ops;         /* collapse operations (a batch of adjacent extents is one) */
	uint64_t bytes_copied;
	uint64_t duration_ns;
	bool wrapped;            /* the cursor went past the last extent: a full round is done */
	bool paused;             /* nothing done: the collapser is paused */
	bool backing_off;        /* nothing done: backing off after an allocation failure */
	bool vma_limit;          /* stopped at the VMA limit */
	uint64_t results[THPVM_NR_COLLAPSE_RESULTS];
};

struct thpvm_collapse_stats {
	struct thpvm_collapse_config config;
	bool running;            /* the thread exists */
	bool paused;
	bool uffd;               /* userfaultfd write-protect available */
	bool uffd_wp_unpopulated; /* and on absent pages too (Linux 6.4); else they get the zero page first */
	char kernel_note[256];   /* what the engines lack on this kernel and do instead, or "" */
	uint64_t nr_passes;
	uint64_t nr_rounds;      /* full rounds of the cursor */
	uint64_t nr_examined;
	uint64_t nr_candidates;
	uint64_t nr_collapsed;
	uint64_t nr_collapsed_by_engine[THPVM_NR_COLLAPSE_ENGINES]; /* [AUTO] unused */
	uint64_t nr_ops;
	uint64_t bytes_copied;
	uint64_t busy_ns;        /* time spent in collapse operations */
	uint64_t nr_backoffs;    /* allocation failures that started or lengthened a back-off */
	uint64_t backoff_ns;     /* time the thread slept backing off */
	uint64_t backoff_ms_now; /* current back-off step, 0 when not backing off */
	uint64_t rate_sleep_ns;  /* time slept by the rate limit */
	uint64_t nr_vmas;        /* this process's VMAs at the last count */
	uint64_t max_vmas;       /* the limit in force */
	uint64_t nr_stalls;      /* writer faults on a write-protected extent */
	uint64_t nr_stalls_unseen; /* stalls woken before the handler read their event */
	/* where copy-and-remap spends its time, summed over operations */
	uint64_t remap_alloc_ns;   /* staging THP: mmap + MADV_POPULATE_WRITE + check */
	uint64_t remap_protect_ns; /* UFFDIO_REGISTER + UFFDIO_WRITEPROTECT (or the quiesce hook) */
	uint64_t remap_copy_ns;    /* memcpy */
	uint64_t remap_install_ns; /* revalidate + mremap */
	uint64_t remap_wake_ns;    /* UFFDIO_WAKE (or unprotect) + measure + release */
	uint64_t results[THPVM_NR_COLLAPSE_RESULTS];
	struct thpvm_collapse_hist latency; /* per collapse operation */
	struct thpvm_collapse_hist stall;   /* per writer fault: event read -> wake */
};

/* Test hooks: make the next `count` attempts of a step fail as the kernel would. */
#define THPVM_COLLAPSE_INJECTS(X)                                                          \
	X(THPVM_COLLAPSE_INJECT_ALLOC_FAIL, ENOMEM, "allocation of the 2 MiB page fails")  \
	X(THPVM_COLLAPSE_INJECT_REMAP_FAIL, EIO, "mremap fails after the copy")            \
	X(THPVM_COLLAPSE_INJECT_GENERATION, EAGAIN, "the generation changes during the copy")

enum thpvm_collapse_inject {
	THPVM_COLLAPSE_INJECTS(THPVM_RESULT_ENUM_ITEM)
	THPVM_NR_COLLAPSE_INJECTS
};

struct thpvm_collapse;

/*
 * Tests: collapsers created after thpvm_collapse_uffd_wp_unpopulated_enable(false)
 * behave as on a kernel without UFFD_FEATURE_WP_UNPOPULATED (Linux < 6.4),
 * as thpvm_pagemap_scan_enable(false) does for PAGEMAP_SCAN.
 */
void thpvm_collapse_uffd_wp_unpopulated_enable(bool enable);

const char *thpvm_collapse_result_str(enum thpvm_collapse_result result);
const char *thpvm_collapse_result_name(enum thpvm_collapse_result result);
int thpvm_collapse_result_errno(enum thpvm_collapse_result result);
const char *thpvm_collapse_mode_str(enum thpvm_collapse_mode mode);
const char *thpvm_collapse_engine_str(enum thpvm_collapse_engine engine);

/* The defaults above. */
void thpvm_collapse_config_default(struct thpvm_collapse_config *cfg);
/*
 * Applies "MODE[,key=value...]" on top of cfg, e.g. "tlb",
 * "balanced,private=64,delay_ms=500", "density,private=384,engine=remap".
 * Keys: engine, private, delay_ms, max_absent, budget, batch, remap_batch, interval_ms,
 * rate (MiB/s), nice, wp_nice, max_vmas, backoff_min_ms, backoff_max_ms. A mode word
 * resets the thresholds to that mode's defaults. Returns 0 or -EINVAL with
 * thpvm_last_error() naming the bad option.
 */
int thpvm_collapse_config_parse(struct thpvm_collapse_config *cfg, const char *str);

/*
 * A collapser for every region of map (which must outlive it). Opens a
 * userfaultfd and starts its fault-handler thread; without userfaultfd
 * (EPERM, old kernel) only MADV_COLLAPSE and the quiesce hook remain. Does
 * not start the collapse thread. Returns 0 or -errno.
 */
int thpvm_collapse_create(struct thpvm_memmap *map, const struct thpvm_collapse_config *cfg,
			  struct thpvm_collapse **out);
/*
 * Stops and frees. In a child forked from the creating process (where the
 * threads do not exist) it only closes descriptors and frees memory.
 */
void thpvm_collapse_destroy(struct thpvm_collapse *c);
/* Replaces the configuration; the next pass uses it. Returns 0 or -EINVAL. */
int thpvm_collapse_configure(struct thpvm_collapse *c, const struct thpvm_collapse_config *cfg);

/* Starts the collapse thread (idempotent). Returns 0 or -errno. */
int thpvm_collapse_start(struct thpvm_collapse *c);
/* Stops it: waits for the operation in flight, then joins. */
int thpvm_collapse_stop(struct thpvm_collapse *c);
/*
 * Pause returns once no collapse is in flight: no extent claimed or
 * write-protected, no staging page mapped. Call it before pausing vCPUs for
 * a fork (a child must not inherit a half-done collapse) and before
 * discarding guest memory (MADV_DONTNEED); resume after. Nests: N pauses
 * need N resumes. Returns 0.
 */
int thpvm_collapse_pause(struct thpvm_collapse *c);
int thpvm_collapse_resume(struct thpvm_collapse *c);

/*
 * One pass, synchronously, in the calling thread (tests, benchmarks, or a
 * VMM that runs no thread). Serialised with the thread's passes. Returns 0
 * or -errno (a failed refresh); per-extent failures are results, not errors.
 */
int thpvm_collapse_run_pass(struct thpvm_collapse *c, struct thpvm_collapse_pass *out);

int thpvm_collapse_stats(struct thpvm_collapse *c, struct thpvm_collapse_stats *out);
/* The stats as JSON for the control socket (new reference; docs/collapse.md). */
json_t *thpvm_collapse_stats_json(struct thpvm_collapse *c);

/* Upper bound (us) of the bucket holding the p-th percentile, p in [0, 100]; 0 when empty. */
uint64_t thpvm_collapse_hist_percentile_us(const struct thpvm_collapse_hist *h, double p);

/* Test hook: the next `count` attempts of the step fail (0 clears). Returns 0 or -EINVAL. */
int thpvm_collapse_inject(struct thpvm_collapse *c, enum thpvm_collapse_inject what, uint32_t count);

#ifdef __cplusplus
}
#endif

#endif
