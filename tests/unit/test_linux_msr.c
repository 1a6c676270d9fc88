/* SPDX-License-Identifier: MIT */
/* The boot MSR list for Linux vCPUs. */
#include <criterion/criterion.h>
#include <errno.h>
#include "x86/msr.h"

TestSuite(msr);

static uint64_t value_of(const struct kvm_msr_entry *e, int n, uint32_t index, bool *found)
{
	*found = false;
	for (int i = 0; i < n; i++)
		if (e[i].index == index) {
			cr_assert(!*found, "MSR 0x%x listed twice", index);
			*found = true;
			return e[i].data;
		}
	return 0;
}

Test(msr, boot_values)
{
	struct kvm_msr_entry e[MSR_NR_BOOT_ENTRIES];
	static const uint32_t zero[] = { MSR_IA32_SYSENTER_CS, MSR_IA32_SYSENTER_ESP, MSR_IA32_SYSENTER_EIP,
					 MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SYSCALL_MASK, MSR_KERNEL_GS_BASE,
					 MSR_IA32_TSC };
	int n = msr_boot_entries(e, MSR_NR_BOOT_ENTRIES);
	bool found;

	cr_assert_eq(n, MSR_NR_BOOT_ENTRIES);
	for (unsigned i = 0; i < sizeof(zero) / sizeof(zero[0]); i++) {
		cr_assert_eq(value_of(e, n, zero[i], &found), 0);
		cr_assert(found, "MSR 0x%x missing", zero[i]);
	}
	cr_assert_eq(value_of(e, n, MSR_IA32_MISC_ENABLE, &found), 1, "fast strings");
	cr_assert(found);
	cr_assert_eq(value_of(e, n, MSR_IA32_CR_PAT, &found), 0x0007040600070406ULL, "power-on PAT");
	cr_assert(found);
	cr_assert_eq(value_of(e, n, MSR_MTRR_DEF_TYPE, &found), (1 << 11) | 6, "MTRRs on, default WB");
	cr_assert(found);
	value_of(e, n, MSR_EFER, &found);
	cr_assert(!found, "EFER belongs to KVM_SET_SREGS");
	for (int i = 0; i < n; i++)
		cr_assert_eq(e[i].reserved, 0);
}

Test(msr, too_small_array)
{
	struct kvm_msr_entry e[MSR_NR_BOOT_ENTRIES];

	cr_assert_eq(msr_boot_entries(e, MSR_NR_BOOT_ENTRIES - 1), -E2BIG);
}
