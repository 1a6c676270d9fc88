/* SPDX-License-Identifier: MIT */
/*
 * A whole VM on disk (docs/snapshot-format.md): a directory holding the
 * state file (snapshot_file.h) and one memory file per RAM region
 * (libthpvm's region images). Saved from a paused VM under a temporary name,
 * fsynced and renamed into place, so a crash or a full disk leaves no
 * half-snapshot that looks whole and never touches an earlier one; loaded
 * into a machine built again from the snapshot's own description.
 */
#ifndef THPVM_STATE_SNAPSHOT_DIR_H
#define THPVM_STATE_SNAPSHOT_DIR_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "util/progress.h"
#include <thpvm.h>
#include "state/snapshot_file.h"

struct vm;

struct snapshot_report {
	struct thpvm_image_stats mem;   /* summed over the regions (direct: every region's file was) */
	uint64_t state_bytes;           /* the state file's size */
	uint64_t capture_ns;            /* the VM's state out of KVM (save) or into it (load) */
	uint64_t memory_ns;             /* the memory files */
	uint64_t total_ns;
};

/*
 * Saves vm, which must be paused (or never started), into dir, which must
 * not exist yet; machine is the machine's description
 * (machine_config_to_json()). Returns 0 or -errno with vmm_last_error()
 * naming dir and the problem; nothing is left behind on failure.
 */
int vm_snapshot_save(struct vm *vm, const char *dir, const json_t *machine, struct snapshot_report *rep);
/* Where a save's progress goes: lines on fd where it is a terminal (-1: none), and/or events (NULL: none). */
struct snapshot_progress {
	int fd;
	progress_event_fn event;
	void *arg;
};
/*
 * The same, with progress for each memory file (vmm/util/progress.h): the
 * control socket's snapshot passes the VMM's stderr and, where the client
 * asked, an event sender. Either prints one warning line, once per process,
 * where io_uring is refused and the memory files go through pread/pwrite.
 */
int vm_snapshot_save_progress(struct vm *vm, const char *dir, const json_t *machine,
			      const struct snapshot_progress *progress, struct snapshot_report *rep);

/*
 * Reads dir's state file into *s (snapshot_state_read(): every check) and
 * checks every memory file's size. Free it with snapshot_state_free(); on
 * failure nothing is left to free.
 */
int vm_snapshot_open(const char *dir, struct snapshot_state *s);

/*
 * Whether RAM regions ram[0..nr_regions) and nr_vcpus vCPUs are the ones
 * of snapshot s (from vm_snapshot_open(dir)): names, addresses and sizes,
 * one for one. A run checks the layout it is about to build, before any
 * guest memory exists; vm_snapshot_load() checks the one it got. Returns 0
 * or -EINVAL with vmm_last_error() naming dir and the first difference.
 */
int vm_snapshot_check_layout(const char *dir, const struct snapshot_state *s, const struct thpvm_region_info *ram,
			     unsigned nr_regions, unsigned nr_vcpus);

/*
 * The memory files of s (from vm_snapshot_open(dir)), opened read-only into
 * fds[i] for region i, for guest RAM mapped from them (--memory-mode
 * shared). Returns 0 or -errno with vmm_last_error(); nothing stays open on
 * failure. The caller closes them once the regions exist.
 */
int vm_snapshot_open_memory(const char *dir, const struct snapshot_state *s, int *fds);

/*
 * Loads s (from vm_snapshot_open(dir)) into vm, freshly built over its guest
 * RAM from the snapshot's description and not started: checks that the RAM
 * regions are the snapshot's (names, addresses, sizes), reads the memory
 * files into guest RAM (eager, O_DIRECT where possible: a THP region runs
 * on 2 MiB pages from the first instruction) or, with shared, where guest
 * RAM is the memory files mapped MAP_PRIVATE, drops what the machine wrote
 * into it while it was built, so every page comes from the file (lazy: no
 * copy before the first instruction, the page cache shared by every VM
 * restored so); then restores the vCPUs, in-kernel devices and bus devices. The guest's clocks continue from the
 * capture: its TSC and kvmclock stood still while it was on disk. Returns 0
 * or -errno with vmm_last_error() naming the file and the problem.
 */
int vm_snapshot_load(struct vm *vm, const char *dir, struct snapshot_state *s, bool shared,
		     struct snapshot_report *rep);

/*
 * --memory-mode shared (page_cache.c): whether the page cache of s's memory
 * files gives 2 MiB mappings, measured on a few extents holding data; if
 * not, one line on stderr names the reason (host THP off, a tmpfs without
 * huge=, a file system without large folios) and the remedy (a tmpfs with
 * huge=within_size, XFS, or --memory-mode eager), once per process and the
 * processes it forks afterwards. Never fails: a probe that cannot run says
 * nothing.
 */
void snapshot_page_cache_check(const char *dir, const struct snapshot_state *s);

#endif
