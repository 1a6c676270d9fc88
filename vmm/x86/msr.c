/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include "msr.h"

static const struct {
	uint32_t index;
	uint64_t data;
} boot_msrs[MSR_NR_BOOT_ENTRIES] = {
	{ MSR_IA32_SYSENTER_CS, 0 },
	{ MSR_IA32_SYSENTER_ESP, 0 },
	{ MSR_IA32_SYSENTER_EIP, 0 },
	{ MSR_STAR, 0 },
	{ MSR_LSTAR, 0 },
	{ MSR_CSTAR, 0 },
	{ MSR_SYSCALL_MASK, 0 },
	{ MSR_KERNEL_GS_BASE, 0 },
	{ MSR_IA32_TSC, 0 },
	{ MSR_IA32_MISC_ENABLE, MSR_IA32_MISC_ENABLE_FAST_STRING },
	{ MSR_IA32_CR_PAT, MSR_IA32_CR_PAT_DEFAULT },
	{ MSR_MTRR_DEF_TYPE, MSR_MTRR_DEF_TYPE_E | MSR_MTRR_TYPE_WB },
};

int msr_boot_entries(struct kvm_msr_entry *out, unsigned capacity)
{
	if (capacity < MSR_NR_BOOT_ENTRIES)
		return -E2BIG;
	for (unsigned i = 0; i < MSR_NR_BOOT_ENTRIES; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		out[i].index = boot_msrs[i].index;
		out[i].data = boot_msrs[i].data;
	}
	return MSR_NR_BOOT_ENTRIES;
}
