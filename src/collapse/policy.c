/* SPDX-License-Identifier: MIT */
/*
 * Choose: which split extents are worth a 2 MiB copy. Collapsing an extent
 * a child still shares with its template copies the shared pages, so the
 * modes weigh TLB reach against memory: tlb takes every split extent,
 * density only those already mostly private, balanced those past a private
 * threshold or split for longer than a delay.
 */
#include "collapse_internal.h"

enum thpvm_collapse_result policy_choose(const struct thpvm_collapse_config *cfg, struct thpvm_region *r,
					 uint64_t idx, enum thpvm_thp_reason eligibility, uint64_t now_ns,
					 bool *candidate)
{
	struct thpvm_extent_info e;

	*candidate = false;
	if (thpvm_region_extent(r, idx, &e))
		return THPVM_COLLAPSE_NOT_SPLIT;
	if (e.state != THPVM_EXTENT_SPLIT)
		return THPVM_COLLAPSE_NOT_SPLIT;
	if (e.nr_pages != THPVM_EXTENT_PAGES)
		return THPVM_COLLAPSE_CLIPPED;
	/* the host's settings now, not at creation: a region refused THP by prctl is promoted once allowed */
	if (eligibility != THPVM_THP_ELIGIBLE)
		return THPVM_COLLAPSE_NOT_ELIGIBLE;
	if (cfg->mode == THPVM_COLLAPSE_MODE_OFF)
		return THPVM_COLLAPSE_POLICY_OFF;
	/* present pages are exact from the scan: absent ones would become zero-filled memory */
	if (e.nr_pages - e.nr_present > cfg->max_absent_pages)
		return THPVM_COLLAPSE_POLICY_ABSENT;
	if (cfg->mode == THPVM_COLLAPSE_MODE_TLB) {
		*candidate = true;
		return THPVM_COLLAPSE_SUCCEED;
	}
	if (cfg->mode == THPVM_COLLAPSE_MODE_BALANCED && now_ns - e.state_since_ns >= cfg->delay_ms * 1000000ULL) {
		*candidate = true;
		return THPVM_COLLAPSE_SUCCEED;
	}
	/*
	 * Per-page detail only for the extents that need it (about 7 us each),
	 * and always fresh: a copy-on-write turns a shared page private without
	 * changing the present count the scan sees.
	 */
	if (thpvm_region_refresh_detail(r, idx) || thpvm_region_extent(r, idx, &e) || !e.detail_valid)
		return THPVM_COLLAPSE_CHANGED;
	if (e.nr_private >= cfg->private_pages) {
		*candidate = true;
		return THPVM_COLLAPSE_SUCCEED;
	}
	return cfg->mode == THPVM_COLLAPSE_MODE_DENSITY ? THPVM_COLLAPSE_POLICY_SHARED : THPVM_COLLAPSE_POLICY_YOUNG;
}
