/* SPDX-License-Identifier: MIT */
/* The collapse thread's internals: scan -> choose -> collapse -> account. */
#ifndef THPVM_COLLAPSE_INTERNAL_H
#define THPVM_COLLAPSE_INTERNAL_H

#include <pthread.h>
#include <sys/types.h>
#include <thpvm/collapse.h>
#include "../internal.h"

/* Most adjacent extents one operation takes (128 MiB). */
#define COLLAPSE_MAX_BATCH 64
/* Writer faults remembered between the handler's read and the wake. */
#define UFFD_PENDING_MAX 1024

/* The userfaultfd and its fault-handler thread (uffd.c). */
struct collapse_uffd {
	int fd;                  /* -1: no userfaultfd write-protect here */
	bool wp_unpopulated;     /* UFFD_FEATURE_WP_UNPOPULATED: absent pages protected too (Linux 6.4) */
	int stop_efd;
	pthread_t handler;
	bool handler_running;
	pthread_mutex_t lock;    /* guards the fields below and every read() of fd */
	struct {
		uintptr_t addr;
		uint64_t t_ns;   /* when the event was read */
		bool unseen;     /* read by the collapser just before the wake, not by the handler */
	} pending[UFFD_PENDING_MAX];
	unsigned nr_pending;
	uint64_t nr_dropped;
};

struct thpvm_collapse {
	struct thpvm_memmap *map;
	pid_t owner_pid;         /* threads exist only in this process */

	/* op_lock serialises passes and configuration changes; cfg is read under it */
	pthread_mutex_t op_lock;
	struct thpvm_collapse_config cfg;

	/* ctl_lock guards the thread's life and the pause depth; ctl_cond wakes its sleeps */
	pthread_mutex_t ctl_lock;
	pthread_cond_t ctl_cond;
	pthread_t thread;
	bool thread_running;
	bool stop_requested;
	unsigned pause_depth;

	/* pass state, under op_lock */
	unsigned cursor_region;
	uint64_t cursor_extent;
	uint64_t backoff_until_ns;
	uint64_t backoff_step_ms;
	uint64_t rate_next_ns;
	uint64_t nr_vmas;        /* last count, plus what our remaps may have added since */
	uint64_t vma_limit;
	uint64_t max_map_count;
	uint64_t vmas_counted_ns;
	struct thpvm_host_thp host; /* sysfs settings, reread at most once a second; prctl every pass */
	uint64_t host_read_ns;
	int pagemap_fd;          /* this process's /proc/self/pagemap (a forked child opens its own) */

	struct {
		uint8_t *base;   /* 2 MiB aligned; NULL: none */
		uint32_t next;   /* first window never handed out or still populated for reuse */
	} pool;          /* staging windows, under op_lock (staging.c) */

	uint32_t inject[THPVM_NR_COLLAPSE_INJECTS]; /* atomics */
	struct collapse_uffd uffd;

	pthread_mutex_t stats_lock;
	struct thpvm_collapse_stats stats;
};

/* One collapse operation: adjacent extents of one region, collapsed together. */
struct collapse_op {
	struct thpvm_collapse_pass *pass; /* nr_ops, vma_limit and intermediate results go here */
	struct thpvm_region *r;
	uint64_t first;
	uint32_t n;
	enum thpvm_collapse_result res[COLLAPSE_MAX_BATCH];
	enum thpvm_collapse_engine engine[COLLAPSE_MAX_BATCH]; /* the engine that collapsed it */
	uint64_t bytes_copied;
};

/* result.c */
const char *collapse_inject_name(enum thpvm_collapse_inject what);

/* config.c */
int collapse_config_check(const struct thpvm_collapse_config *cfg);

/* scan.c: one pass; the caller holds op_lock. */
int collapse_pass(struct thpvm_collapse *c, struct thpvm_collapse_pass *pass);

/* policy.c: whether the extent is a candidate; the result explains a no. */
enum thpvm_collapse_result policy_choose(const struct thpvm_collapse_config *cfg, struct thpvm_region *r,
					 uint64_t idx, enum thpvm_thp_reason eligibility, uint64_t now_ns,
					 bool *candidate);

/* engine.c: collapses op->n extents from op->first; fills op->res. Claims each extent itself. */
void collapse_op_run(struct thpvm_collapse *c, struct collapse_op *op);
/* engine_madv.c: MADV_COLLAPSE over op's extents [from, from + n). */
void engine_madv(struct thpvm_collapse *c, struct collapse_op *op, uint32_t from, uint32_t n);
/* engine_remap.c: copy-and-remap of op's extents [from, from + n). */
void engine_remap(struct thpvm_collapse *c, struct collapse_op *op, uint32_t from, uint32_t n);

/* staging.c (under op_lock): nr_extents fresh, PMD-mapped anonymous THPs from the pool, or NULL. */
uint8_t *staging_alloc(struct thpvm_collapse *c, uint32_t nr_extents);
/* After the operation: moved[i] says whether window i now lives on guest RAM. */
void staging_done(struct thpvm_collapse *c, uint8_t *staging, uint32_t nr_extents, const bool *moved);
/* Unmaps the pool's unused windows (on pause, so a fork inherits none, and on destroy). */
void staging_release(struct thpvm_collapse *c);

/* uffd.c */
int uffd_open(struct collapse_uffd *u);
void uffd_close(struct collapse_uffd *u, bool join);
int uffd_register_wp(struct collapse_uffd *u, void *start, uint64_t len);
int uffd_unregister(struct collapse_uffd *u, void *start, uint64_t len);
/* wp = false clears the protection and wakes the writers. */
int uffd_protect(struct collapse_uffd *u, void *start, uint64_t len, bool wp);
int uffd_wake(struct collapse_uffd *u, void *start, uint64_t len);
/* Reads events still queued (the writers about to be woken), stamping them now. */
void uffd_drain(struct collapse_uffd *u);
/*
 * Removes the stalls of [start, end), protected at t_protect_ns and woken at
 * t_wake_ns, and accounts them (events older than the protection are stale).
 */
void uffd_account_stalls(struct thpvm_collapse *c, uintptr_t start, uintptr_t end, uint64_t t_protect_ns,
			 uint64_t t_wake_ns);
/*
 * Whether any page of [start, start + len) lost its write-protect (was
 * written), from PAGEMAP_SCAN or, before Linux 6.7, /proc/self/pagemap's
 * uffd-wp bit. Returns 1, 0 or -errno.
 */
int uffd_range_written(int pagemap_fd, void *start, uint64_t len);
/*
 * Before protecting [start, start + len) on a kernel without
 * UFFD_FEATURE_WP_UNPOPULATED: maps the zero page on every absent page
 * (MADV_POPULATE_READ), so that every page is present and protectable; a
 * write to one then waits like any other. No-op with the feature. 0 or -errno.
 */
int uffd_prepare_absent(struct collapse_uffd *u, void *start, uint64_t len);
/* What the engine lacks on this kernel and does instead, one line, or "" (for the stats). */
void uffd_note(const struct collapse_uffd *u, bool uffd_open, char *buf, size_t len);

/* vma.c */
uint64_t vma_count_now(void);
/* vm.max_map_count, read (never written). */
uint64_t vma_max_map_count(void);
uint64_t vma_limit_for(const struct thpvm_collapse_config *cfg, uint64_t max_map_count);

/* account.c */
void hist_add(struct thpvm_collapse_hist *h, uint64_t ns);
/* Adds an operation's latency and bytes to the stats. */
void account_op(struct thpvm_collapse *c, uint64_t latency_ns);
void account_pass(struct thpvm_collapse *c, const struct thpvm_collapse_pass *pass);

/* thread.c */
/* The next count of an injected failure, consumed: true when this attempt must fail. */
bool collapse_injected(struct thpvm_collapse *c, enum thpvm_collapse_inject what);
/* Whether the pass should stop between operations (pause or stop requested). */
bool collapse_should_yield(struct thpvm_collapse *c);
/* Runs the calling thread at wp_nice while writers may wait on it; returns what to restore. */
int collapse_boost(struct thpvm_collapse *c);
void collapse_unboost(int old_nice);
/* Sleeps until deadline_ns or until pause/stop is requested. Returns the time slept. */
uint64_t collapse_sleep_until(struct thpvm_collapse *c, uint64_t deadline_ns);

#endif
