/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the collapse thread's tests on real VMs (tests/kvm/test_collapse_vm*.c).
 *
 * Splitting a running VM's memory without the snapshot-fork feature: a
 * "sharer" is a forked child of the VMM process that only sleeps, holding
 * every page of guest RAM shared (the trick of the kernel's cow selftests).
 * The guest's next write into an extent then copy-on-write splits the VMM's
 * PMD and KVM falls back to 4 KiB mappings there.
 */
#ifndef THPVM_TEST_COLLAPSE_VM_H
#define THPVM_TEST_COLLAPSE_VM_H

#include <stdint.h>
#include <sys/types.h>
#include "kvm_test.h"
#include "helpers.h"
#include "collapse/collapse_vm.h"
#include "util/error.h"


/* Forks a child that holds guest RAM shared until sharer_stop(). Collapser paused around the fork when given. */
pid_t sharer_start(struct thpvm_collapse *c);
void sharer_stop(pid_t pid);

/* KVM's pages_2m of the VM, read now. */
uint64_t kvm_pages_2m(struct vm *vm);

/* HUGE and SPLIT extents in [gpa, gpa + size_bytes), measured now. */
void range_states(struct thpvm_memmap *mem, uint64_t gpa, uint64_t size_bytes, unsigned *huge, unsigned *split);

/*
 * The guest's writes splitting a range while a sharer holds it: every extent
 * must be seen SPLIT once, not all at one moment, since the host's own
 * collapser (khugepaged, max_ptes_shared) may collapse an extent again in
 * between. split_watch_all() is a wait_until() condition; split_watch_why()
 * says what was seen, for a failure message.
 */
#define SPLIT_WATCH_MAX_EXTENTS 256
struct split_watch {
	struct thpvm_memmap *mem;
	uint64_t gpa, size_bytes;
	bool seen[SPLIT_WATCH_MAX_EXTENTS];
	unsigned nr_seen, huge, split;   /* seen so far; HUGE and SPLIT at the last look */
	uint64_t host_collapses_before;  /* /proc/vmstat thp_collapse_alloc at the start */
};
void split_watch_start(struct split_watch *w, struct thpvm_memmap *mem, uint64_t gpa, uint64_t size_bytes);
bool split_watch_all(void *arg);
const char *split_watch_why(struct split_watch *w, char *buf, size_t len);

/*
 * Polls (every 20 ms, up to timeout_ms times the time scale, test_ms()) until cond(arg) holds; returns
 * whether it did. For conditions on a running VM.
 */
bool wait_until(bool (*cond)(void *arg), void *arg, unsigned timeout_ms);

/*
 * The collapser's statistics once a pass that began after this call has
 * ended. The counters are added at the end of each pass: what a test just
 * saw in memory (extents HUGE) is counted only then. Returns immediately
 * when the thread does not run.
 */
void settled_stats(struct thpvm_collapse *c, struct thpvm_collapse_stats *st);

/* First free guest address of a payload guest (memtest's first page). */
uint64_t guest_free_gpa(struct guest *g);

/*
 * Checks, from the host, the memory a memtest mode=seq guest (size bytes
 * after skip bytes of free memory, gen 1, seed 1, nr_cpus vCPUs) left when
 * it stopped: vCPU c's pages hold generation `passes` of vCPU c. Returns the
 * number of bad pages (and the first in *first_bad_gpa).
 */
uint64_t memtest_seq_verify(struct guest *g, uint64_t skip_bytes, uint64_t size_bytes, unsigned nr_cpus,
			    uint64_t *first_bad_gpa);

/* The collapse configuration of these tests: mode and engine, no sleeps to speak of. */
void vm_test_config(struct thpvm_collapse_config *cfg, enum thpvm_collapse_mode mode, enum thpvm_collapse_engine engine);

#endif
