/* SPDX-License-Identifier: MIT */
/*
 * THP eligibility, decided here and only here (seed 002: hugepage_vma_check
 * decides once; the fault path falls back rather than each caller guessing).
 * The allocation path itself never fails for lack of a huge page: an
 * ineligible or unlucky region simply runs on 4 KiB pages.
 */
#include "internal.h"
#include "kernel_compat.h"

static const char *const reason_str[] = { THPVM_THP_REASONS(THPVM_RESULT_STR_ITEM) };
static const char *const reason_name[] = { THPVM_THP_REASONS(THPVM_RESULT_NAME_ITEM) };

THPVM_EXPORT const char *thpvm_thp_reason_str(enum thpvm_thp_reason reason)
{
	return (unsigned)reason < THPVM_NR_THP_REASONS ? reason_str[reason] : "unknown";
}

THPVM_EXPORT const char *thpvm_thp_reason_name(enum thpvm_thp_reason reason)
{
	return (unsigned)reason < THPVM_NR_THP_REASONS ? reason_name[reason] : "THPVM_THP_UNKNOWN";
}

enum thpvm_thp_reason thp_eligibility(const struct thpvm_host_thp *host, enum thpvm_backing backing,
				      uint32_t flags, uint64_t gpa, uint64_t size_bytes)
{
	/* Region policy first: it holds whatever the host allows. */
	if (flags & THPVM_REGION_F_NOHUGE)
		return THPVM_THP_REGION_NOHUGE;
	if (backing == THPVM_BACKING_4K)
		return THPVM_THP_BACKING_4K;
	if (backing == THPVM_BACKING_HUGETLB)
		return THPVM_THP_BACKING_HUGETLB;
	if (ALIGN_UP(gpa, THPVM_EXTENT_SIZE) + THPVM_EXTENT_SIZE > gpa + size_bytes)
		return THPVM_THP_UNALIGNED;

	switch (host->enabled) {
	case THPVM_THP_MODE_UNSUPPORTED:
	case THPVM_THP_MODE_UNKNOWN:
		return THPVM_THP_HOST_UNSUPPORTED;
	case THPVM_THP_MODE_NEVER:
		/* mTHP: a 2 MiB size set to always/madvise still works when the global mode is never */
		if (host->enabled_2m == THPVM_THP_MODE_INHERIT || host->enabled_2m == THPVM_THP_MODE_NEVER)
			return THPVM_THP_HOST_NEVER;
		break;
	default:
		break;
	}
	if (thpvm_host_thp_effective(host) == THPVM_THP_MODE_NEVER)
		return THPVM_THP_HOST_2M_NEVER;
	/* We always MADV_HUGEPAGE, so "disabled except advised" still leaves us eligible. */
	if ((host->prctl_thp_disable & 1) && !(host->prctl_thp_disable & PR_THP_DISABLE_EXCEPT_ADVISED))
		return THPVM_THP_PRCTL_DISABLED;
	return THPVM_THP_ELIGIBLE;
}
