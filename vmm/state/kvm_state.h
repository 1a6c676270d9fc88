/* SPDX-License-Identifier: MIT */
/*
 * Everything KVM holds for a VM and its vCPUs, captured while the VM is
 * paused and restored into a fresh VM (a forked child's, or later a
 * snapshot's). Operates on raw KVM fds so it serves any VM object.
 */
#ifndef THPVM_KVM_STATE_H
#define THPVM_KVM_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>
#include <thpvm/result.h>

/* Results of capture and restore, one list for the pipeline. */
#define KVM_STATE_RESULTS(X)                                                           \
	X(KVM_STATE_OK, 0, "ok")                                                        \
	X(KVM_STATE_NO_MEMORY, ENOMEM, "out of memory for vCPU state")                 \
	X(KVM_STATE_GET_FAILED, EIO, "KVM refused to report state")                    \
	X(KVM_STATE_SET_FAILED, EIO, "KVM refused to accept state")                    \
	X(KVM_STATE_MSR_PARTIAL, EIO, "KVM accepted only some MSRs")                   \
	X(KVM_STATE_MISMATCH, EINVAL, "state does not fit this VM (size or features)")

THPVM_RESULT_DECLARE(kvm_state_result, enum kvm_state_result, KVM_STATE_RESULTS, KVM_STATE_NR_RESULTS);

struct vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave *xsave;    /* xsave_size bytes (KVM_CAP_XSAVE2 size) */
	uint32_t xsave_size;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp_state;
	struct kvm_debugregs debugregs;
	struct kvm_cpuid2 *cpuid;   /* as set on the vCPU (KVM_GET_CPUID2) */
	struct kvm_msrs *msrs;      /* every MSR KVM lists that it could read */
	uint32_t nr_msrs_listed;    /* KVM_GET_MSR_INDEX_LIST count, for reports */
	bool has_lapic;             /* in-kernel LAPIC present */
};

struct vm_state {
	bool has_irqchip;
	struct kvm_irqchip pic_master, pic_slave, ioapic;
	bool has_pit;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

/*
 * Captures one vCPU, which must be outside KVM_RUN (paused at an instruction
 * boundary: the last KVM_RUN ran with immediate_exit set so pending PIO/MMIO
 * completed). On failure *msg names the failing ioctl.
 */
enum kvm_state_result vcpu_state_save(int kvm_fd, int vcpu_fd, bool has_lapic, struct vcpu_state *out,
				      const char **msg);
/*
 * Restores into a fresh vCPU of a VM created with the same features (irqchip
 * before vCPUs). Order follows what KVM needs: CPUID, MSRs, regs, sregs,
 * xsave, xcrs, debug regs, LAPIC, TSC deadline, MP state, events.
 */
enum kvm_state_result vcpu_state_restore(int vcpu_fd, const struct vcpu_state *st, const char **msg);
void vcpu_state_free(struct vcpu_state *st);

enum kvm_state_result vm_state_save(int vm_fd, bool has_irqchip, bool has_pit, struct vm_state *out,
				    const char **msg);
enum kvm_state_result vm_state_restore(int vm_fd, const struct vm_state *st, const char **msg);

/* The value of one captured MSR, or false when it was not captured. */
bool vcpu_state_msr(const struct vcpu_state *st, uint32_t index, uint64_t *value);
/* Overrides one captured MSR (e.g. to carry the TSC across a fork). */
bool vcpu_state_set_msr(struct vcpu_state *st, uint32_t index, uint64_t value);

#endif
