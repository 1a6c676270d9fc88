/* SPDX-License-Identifier: MIT */
/*
 * The guest's TSC relative to the host's: guest TSC = host TSC + offset (no
 * scaling here: thpvm never asks KVM for another TSC frequency). Read and
 * set through KVM_VCPU_TSC_OFFSET where KVM has it (Linux 5.16+), else
 * estimated from a KVM_GET_MSRS of IA32_TSC bracketed by host RDTSC and set
 * by writing IA32_TSC. On kvm-pvm the offset is always 0 and writes are
 * ignored: the guest's RDTSC runs natively (measured, docs/fork.md).
 */
#ifndef THPVM_STATE_TSC_H
#define THPVM_STATE_TSC_H

#include <stdbool.h>
#include <stdint.h>

/* The host's TSC, ordered after earlier loads. */
uint64_t host_rdtsc(void);

/* vCPU's offset. *exact: read from KVM (true) or estimated (within the bracket, ~1 us). Returns 0 or -errno. */
int vcpu_tsc_offset_get(int vcpu_fd, int64_t *offset, bool *exact);
/* Makes the vCPU's TSC read host TSC + offset from now on. Returns 0 or -errno. */
int vcpu_tsc_offset_set(int vcpu_fd, int64_t offset);

#endif
