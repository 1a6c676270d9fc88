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

#include <stdint.h>
#include <jansson.h>
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

/* Reads dir's state file into *s (snapshot_state_read(): every check). Free it with snapshot_state_free(). */
int vm_snapshot_open(const char *dir, struct snapshot_state *s);

/*
 * Loads s (from vm_snapshot_open(dir)) into vm, freshly built over its guest
 * RAM from the snapshot's description and not started: checks that the RAM
 * regions are the snapshot's (names, addresses, sizes), reads the memory
 * files into guest RAM (eager, O_DIRECT where possible: a THP region runs
 * on 2 MiB pages from the first instruction), then restores the vCPUs,
 * in-kernel devices and bus devices. The guest's clocks continue from the
 * capture: its TSC and kvmclock stood still while it was on disk. Returns 0
 * or -errno with vmm_last_error() naming the file and the problem.
 */
int vm_snapshot_load(struct vm *vm, const char *dir, struct snapshot_state *s, struct snapshot_report *rep);

#endif
