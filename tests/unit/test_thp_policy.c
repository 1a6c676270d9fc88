/* SPDX-License-Identifier: MIT */
/* THP eligibility is decided in one place, from the host's settings and the region's policy. */
#include <criterion/criterion.h>
#include <thpvm.h>
#include "internal.h"
#include "kernel_compat.h"
#include "helpers.h"

static struct thpvm_host_thp host(enum thpvm_thp_mode enabled, enum thpvm_thp_mode enabled_2m, int prctl_flags)
{
	struct thpvm_host_thp h = { .enabled = enabled, .enabled_2m = enabled_2m, .prctl_thp_disable = prctl_flags };

	return h;
}

static enum thpvm_thp_reason elig(struct thpvm_host_thp h)
{
	return thp_eligibility(&h, THPVM_BACKING_THP, 0, 0, 64 * MIB);
}

Test(thp_policy, host_modes)
{
	cr_assert_eq(elig(host(THPVM_THP_MODE_ALWAYS, THPVM_THP_MODE_INHERIT, 0)), THPVM_THP_ELIGIBLE);
	cr_assert_eq(elig(host(THPVM_THP_MODE_MADVISE, THPVM_THP_MODE_INHERIT, 0)), THPVM_THP_ELIGIBLE);
	cr_assert_eq(elig(host(THPVM_THP_MODE_NEVER, THPVM_THP_MODE_INHERIT, 0)), THPVM_THP_HOST_NEVER);
	cr_assert_eq(elig(host(THPVM_THP_MODE_UNSUPPORTED, THPVM_THP_MODE_INHERIT, 0)), THPVM_THP_HOST_UNSUPPORTED);
}

Test(thp_policy, per_size_2m_setting_overrides_global)
{
	cr_assert_eq(elig(host(THPVM_THP_MODE_ALWAYS, THPVM_THP_MODE_NEVER, 0)), THPVM_THP_HOST_2M_NEVER);
	cr_assert_eq(elig(host(THPVM_THP_MODE_NEVER, THPVM_THP_MODE_MADVISE, 0)), THPVM_THP_ELIGIBLE);
	cr_assert_eq(elig(host(THPVM_THP_MODE_NEVER, THPVM_THP_MODE_NEVER, 0)), THPVM_THP_HOST_NEVER);
}

Test(thp_policy, prctl_disable)
{
	cr_assert_eq(elig(host(THPVM_THP_MODE_ALWAYS, THPVM_THP_MODE_INHERIT, 1)), THPVM_THP_PRCTL_DISABLED);
	/* "disabled except advised" leaves MADV_HUGEPAGE regions eligible */
	cr_assert_eq(elig(host(THPVM_THP_MODE_ALWAYS, THPVM_THP_MODE_INHERIT, 1 | PR_THP_DISABLE_EXCEPT_ADVISED)),
		     THPVM_THP_ELIGIBLE);
}

Test(thp_policy, region_policy_wins_over_host)
{
	struct thpvm_host_thp h = host(THPVM_THP_MODE_ALWAYS, THPVM_THP_MODE_INHERIT, 0);

	cr_assert_eq(thp_eligibility(&h, THPVM_BACKING_THP, THPVM_REGION_F_NOHUGE, 0, 64 * MIB), THPVM_THP_REGION_NOHUGE);
	cr_assert_eq(thp_eligibility(&h, THPVM_BACKING_4K, 0, 0, 64 * MIB), THPVM_THP_BACKING_4K);
	cr_assert_eq(thp_eligibility(&h, THPVM_BACKING_HUGETLB, 0, 0, 64 * MIB), THPVM_THP_BACKING_HUGETLB);
}

Test(thp_policy, region_without_a_whole_extent)
{
	struct thpvm_host_thp h = host(THPVM_THP_MODE_ALWAYS, THPVM_THP_MODE_INHERIT, 0);

	cr_assert_eq(thp_eligibility(&h, THPVM_BACKING_THP, 0, 0, 2 * MIB - 4096), THPVM_THP_UNALIGNED);
	cr_assert_eq(thp_eligibility(&h, THPVM_BACKING_THP, 0, 4096, 2 * MIB), THPVM_THP_UNALIGNED);
	cr_assert_eq(thp_eligibility(&h, THPVM_BACKING_THP, 0, 4096, 4 * MIB - 4096), THPVM_THP_ELIGIBLE);
	cr_assert_eq(thp_eligibility(&h, THPVM_BACKING_THP, 0, 2 * MIB, 2 * MIB), THPVM_THP_ELIGIBLE);
}

Test(thp_policy, live_host_settings_are_read)
{
	struct thpvm_host_thp h;

	cr_assert_eq(thpvm_host_thp_read(&h), 0);
	cr_assert_neq(h.enabled, THPVM_THP_MODE_UNKNOWN);
	if (h.enabled != THPVM_THP_MODE_UNSUPPORTED)
		cr_assert_eq(h.hpage_pmd_size, 2 * MIB);
	cr_assert_eq(h.prctl_thp_disable, 0);
}
