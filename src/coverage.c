/* SPDX-License-Identifier: MIT */
/* The coverage report: how much guest RAM is huge, by our measure and the host's. */
#include <errno.h>
#include <string.h>
#include "internal.h"

THPVM_EXPORT double thpvm_coverage_pct(const struct thpvm_coverage *cov, uint64_t bytes)
{
	return cov->size_bytes ? 100.0 * (double)bytes / (double)cov->size_bytes : 0.0;
}

/* A VMA inside the region's [start, end): regions are fenced by guard pages, so none straddles it. */
static bool vma_inside(uint64_t start, uint64_t end, void *arg)
{
	const uint64_t *range = arg;

	return start >= range[0] && end <= range[1];
}

THPVM_EXPORT int thpvm_region_coverage(struct thpvm_region *r, unsigned flags, struct thpvm_coverage *out)
{
	int ret;

	memset(out, 0, sizeof(*out));
	if (flags & THPVM_COVERAGE_REFRESH) {
		ret = thpvm_region_refresh(r);
		if (ret)
			return ret;
	}
	out->size_bytes = r->size_bytes;
	out->nr_extents = r->nr_extents;
	out->detail_valid = !!(flags & THPVM_COVERAGE_DETAIL);
	out->file_backed = r->backing == THPVM_BACKING_FILE;
	for (uint64_t i = 0; i < r->nr_extents; i++) {
		struct thpvm_extent_info e;
		uint64_t bytes;

		thpvm_region_extent(r, i, &e);
		bytes = (uint64_t)e.nr_pages * THPVM_PAGE_SIZE;
		switch (e.state) {
		case THPVM_EXTENT_HUGE:
			out->nr_huge++;
			out->huge_bytes += bytes;
			out->nr_huge_file += e.file_huge;
			out->huge_file_bytes += e.file_huge ? bytes : 0;
			break;
		case THPVM_EXTENT_SPLIT:
			out->nr_split++;
			out->split_bytes += bytes;
			if (flags & THPVM_COVERAGE_DETAIL) {
				ret = thpvm_region_refresh_detail(r, i);
				if (ret)
					return ret;
				thpvm_region_extent(r, i, &e);
				out->split_private_bytes += e.nr_private * THPVM_PAGE_SIZE;
				out->split_shared_bytes += e.nr_shared * THPVM_PAGE_SIZE;
				out->split_absent_bytes += e.nr_absent * THPVM_PAGE_SIZE;
			}
			break;
		default:
			out->nr_absent++;
			out->absent_bytes += bytes;
			break;
		}
		out->present_bytes += e.state == THPVM_EXTENT_HUGE ? bytes : e.nr_present * THPVM_PAGE_SIZE;
	}
	if (flags & THPVM_COVERAGE_SMAPS) {
		uint64_t range[2] = { (uint64_t)(uintptr_t)r->hva, (uint64_t)(uintptr_t)(r->hva + r->size_bytes) };
		struct thpvm_smaps s;

		ret = thpvm_smaps_read(0, vma_inside, range, &s);
		if (ret)
			return ret;
		out->smaps_valid = true;
		out->smaps_rss_bytes = s.rss;
		out->smaps_anon_huge_bytes = s.anon_huge;
		out->smaps_file_pmd_bytes = s.file_pmd;
		out->smaps_private_dirty_bytes = s.private_dirty;
		out->smaps_shared_bytes = s.shared_clean + s.shared_dirty;
		out->smaps_nr_vmas = s.nr_vmas;
	}
	thpvm_region_counters(r, &out->counters);
	out->thp_reason = r->thp_reason;
	return 0;
}

static void coverage_add(struct thpvm_coverage *sum, const struct thpvm_coverage *c)
{
	sum->size_bytes += c->size_bytes;
	sum->nr_extents += c->nr_extents;
	sum->nr_huge += c->nr_huge;
	sum->nr_split += c->nr_split;
	sum->nr_absent += c->nr_absent;
	sum->huge_bytes += c->huge_bytes;
	sum->split_bytes += c->split_bytes;
	sum->absent_bytes += c->absent_bytes;
	sum->present_bytes += c->present_bytes;
	sum->file_backed |= c->file_backed;
	sum->nr_huge_file += c->nr_huge_file;
	sum->huge_file_bytes += c->huge_file_bytes;
	sum->detail_valid = c->detail_valid;
	sum->split_private_bytes += c->split_private_bytes;
	sum->split_shared_bytes += c->split_shared_bytes;
	sum->split_absent_bytes += c->split_absent_bytes;
	sum->smaps_valid = c->smaps_valid;
	sum->smaps_rss_bytes += c->smaps_rss_bytes;
	sum->smaps_anon_huge_bytes += c->smaps_anon_huge_bytes;
	sum->smaps_file_pmd_bytes += c->smaps_file_pmd_bytes;
	sum->smaps_private_dirty_bytes += c->smaps_private_dirty_bytes;
	sum->smaps_shared_bytes += c->smaps_shared_bytes;
	sum->smaps_nr_vmas += c->smaps_nr_vmas;
#define X(name, desc) sum->counters.name += c->counters.name;
	THPVM_THP_COUNTERS(X)
#undef X
	/* the map's reason is the first fallback; device and ROM regions are policy, not fallback */
	if (sum->thp_reason == THPVM_THP_ELIGIBLE && c->thp_reason != THPVM_THP_REGION_NOHUGE)
		sum->thp_reason = c->thp_reason;
}

THPVM_EXPORT int thpvm_memmap_coverage(struct thpvm_memmap *map, unsigned flags, struct thpvm_coverage *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < map->nr_regions; i++) {
		struct thpvm_coverage c;
		int ret = thpvm_region_coverage(map->regions[i], flags, &c);

		if (ret)
			return ret;
		coverage_add(out, &c);
	}
	return 0;
}
