/* SPDX-License-Identifier: MIT */
/*
 * A VM's whole state in memory: every vCPU (kvm_state), the VM's in-kernel
 * devices and clock, every device on the I/O bus (its save() JSON) and the
 * TSC offsets. Captured from a paused (or never started) VM; restored into
 * the fresh KVM objects of a vm_kvm_create(), it continues exactly where the
 * original stopped. Guest RAM is not part of it: a forked child shares it.
 */
#ifndef THPVM_FORK_SNAPSHOT_H
#define THPVM_FORK_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "state/kvm_state.h"

struct vm;

struct vm_snapshot {
	unsigned nr_vcpus;
	struct vcpu_state *vcpus;
	int64_t *tsc_offsets;       /* per vCPU: guest TSC = host TSC + offset */
	bool tsc_exact;             /* offsets read from KVM, not estimated */
	struct vm_state vm;
	json_t *devices;            /* iobus_save() */
	uint64_t host_tsc;          /* host TSC when the capture finished */
	uint64_t mono_ns;           /* CLOCK_MONOTONIC then */
	uint64_t complete_io_ns;    /* time spent completing pending port/MMIO exits */
	uint64_t vcpus_ns, vm_ns, devices_ns;   /* time per part of the capture */
};

/*
 * Captures vm, which must be paused (vm_pause) or never started. First
 * completes every vCPU's pending port I/O or MMIO (a KVM_RUN with
 * immediate_exit, which finishes the instruction and enters no guest code),
 * so the captured RIP is past it. Returns 0 or -errno with vmm_last_error().
 */
int vm_snapshot_capture(struct vm *vm, struct vm_snapshot *snap);

/*
 * Restores snap into vm's KVM objects, freshly created by vm_kvm_create()
 * with the same configuration: VM state, vCPUs, the TSC offsets (so guest
 * time continues on the original's timeline), kvmclock advanced by the time
 * since the capture, then the devices. Returns 0 or -errno.
 */
int vm_snapshot_restore(struct vm *vm, struct vm_snapshot *snap);

void vm_snapshot_free(struct vm_snapshot *snap);

#endif
