/* SPDX-License-Identifier: MIT */
/*
 * The MSR values a Linux guest's vCPUs start with (KVM_SET_MSRS), as the
 * BIOS would leave them: fast strings on, syscall MSRs clear, PAT at its
 * power-on default, MTRRs enabled with write-back default (no MTRR ranges),
 * TSC 0 (written on every vCPU at about the same time, KVM synchronizes them).
 * Numbers from the SDM; Debian's UAPI headers do not carry msr-index.h.
 */
#ifndef THPVM_X86_MSR_H
#define THPVM_X86_MSR_H

#include <stdint.h>
#include <linux/kvm.h>

#define MSR_IA32_TSC             0x00000010
#define MSR_IA32_SYSENTER_CS     0x00000174
#define MSR_IA32_SYSENTER_ESP    0x00000175
#define MSR_IA32_SYSENTER_EIP    0x00000176
#define MSR_IA32_MISC_ENABLE     0x000001a0
#define MSR_IA32_CR_PAT          0x00000277
#define MSR_MTRR_DEF_TYPE        0x000002ff
#define MSR_EFER                 0xc0000080 /* set through KVM_SET_SREGS, not here */
#define MSR_STAR                 0xc0000081
#define MSR_LSTAR                0xc0000082
#define MSR_CSTAR                0xc0000083
#define MSR_SYSCALL_MASK         0xc0000084
#define MSR_KERNEL_GS_BASE       0xc0000102

#define MSR_IA32_MISC_ENABLE_FAST_STRING (1ULL << 0)
#define MSR_IA32_CR_PAT_DEFAULT  0x0007040600070406ULL /* WB WT UC- UC, twice */
#define MSR_MTRR_DEF_TYPE_E      (1ULL << 11)
#define MSR_MTRR_TYPE_WB         6ULL

#define MSR_NR_BOOT_ENTRIES 12

/*
 * Writes the boot MSR list into out (room for capacity entries). Returns the
 * number of entries (MSR_NR_BOOT_ENTRIES) or -E2BIG. KVM_SET_MSRS returns
 * how many it set: anything short of this number is an error naming
 * out[returned].index.
 */
int msr_boot_entries(struct kvm_msr_entry *out, unsigned capacity);

#endif
