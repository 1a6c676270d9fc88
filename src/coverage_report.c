/* SPDX-License-Identifier: MIT */
/* The coverage report as JSON (jansson) and as a readable table. */
#include <errno.h>
#include <inttypes.h>
#include "internal.h"

#define MIB (1024.0 * 1024.0)

THPVM_EXPORT json_t *thpvm_coverage_file_json(const struct thpvm_coverage *c)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "pmd_mapped_extents", (json_int_t)c->nr_huge_file,
			 "private_huge_extents", (json_int_t)(c->nr_huge - c->nr_huge_file), "split_extents",
			 (json_int_t)c->nr_split, "absent_extents", (json_int_t)c->nr_absent, "pmd_mapped_bytes",
			 (json_int_t)c->huge_file_bytes);
}

THPVM_EXPORT json_t *thpvm_coverage_to_json(const struct thpvm_coverage *c)
{
	json_t *counters = json_object(), *o;

#define X(name, desc) json_object_set_new(counters, #name, json_integer((json_int_t)c->counters.name));
	THPVM_THP_COUNTERS(X)
#undef X
	o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:s, s:s, s:o}",
		      "size_bytes", (json_int_t)c->size_bytes,
		      "nr_extents", (json_int_t)c->nr_extents,
		      "nr_huge", (json_int_t)c->nr_huge,
		      "nr_split", (json_int_t)c->nr_split,
		      "nr_absent", (json_int_t)c->nr_absent,
		      "huge_bytes", (json_int_t)c->huge_bytes,
		      "split_bytes", (json_int_t)c->split_bytes,
		      "absent_bytes", (json_int_t)c->absent_bytes,
		      "present_bytes", (json_int_t)c->present_bytes,
		      "huge_pct", thpvm_coverage_pct(c, c->huge_bytes),
		      "split_pct", thpvm_coverage_pct(c, c->split_bytes),
		      "absent_pct", thpvm_coverage_pct(c, c->absent_bytes),
		      "thp_reason", thpvm_thp_reason_name(c->thp_reason),
		      "thp_reason_str", thpvm_thp_reason_str(c->thp_reason),
		      "counters", counters);
	if (!o)
		return NULL;
	if (c->file_backed)
		json_object_set_new(o, "file", thpvm_coverage_file_json(c));
	if (c->detail_valid)
		json_object_set_new(o, "split_detail",
				    json_pack("{s:I, s:I, s:I}",
					      "private_bytes", (json_int_t)c->split_private_bytes,
					      "shared_bytes", (json_int_t)c->split_shared_bytes,
					      "absent_bytes", (json_int_t)c->split_absent_bytes));
	if (c->smaps_valid)
		json_object_set_new(o, "smaps",
				    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
					      "rss_bytes", (json_int_t)c->smaps_rss_bytes,
					      "anon_huge_bytes", (json_int_t)c->smaps_anon_huge_bytes,
					      "file_pmd_bytes", (json_int_t)c->smaps_file_pmd_bytes,
					      "private_dirty_bytes", (json_int_t)c->smaps_private_dirty_bytes,
					      "shared_bytes", (json_int_t)c->smaps_shared_bytes,
					      "nr_vmas", (json_int_t)c->smaps_nr_vmas));
	return o;
}

THPVM_EXPORT json_t *thpvm_host_thp_to_json(const struct thpvm_host_thp *h)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:{s:I, s:I, s:I, s:I, s:i}, s:i, s:{s:I, s:I, s:I}, s:b}",
			 "enabled", thpvm_thp_mode_str(h->enabled),
			 "enabled_2m", thpvm_thp_mode_str(h->enabled_2m),
			 "defrag", h->defrag,
			 "shmem_enabled", h->shmem_enabled,
			 "hpage_pmd_size", (json_int_t)h->hpage_pmd_size,
			 "khugepaged",
			 "pages_to_scan", (json_int_t)h->khugepaged_pages_to_scan,
			 "scan_sleep_millisecs", (json_int_t)h->khugepaged_scan_sleep_millisecs,
			 "max_ptes_none", (json_int_t)h->khugepaged_max_ptes_none,
			 "max_ptes_shared", (json_int_t)h->khugepaged_max_ptes_shared,
			 "defrag", h->khugepaged_defrag,
			 "prctl_thp_disable", h->prctl_thp_disable,
			 "hugetlb_2m", "total", (json_int_t)h->hugetlb_2m_total, "free",
			 (json_int_t)h->hugetlb_2m_free, "resv", (json_int_t)h->hugetlb_2m_resv,
			 "pagemap_scan", h->pagemap_scan);
}

static json_t *vmstat_to_json(const struct thpvm_vmstat_thp *v)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "thp_fault_alloc", (json_int_t)v->thp_fault_alloc,
			 "thp_fault_fallback", (json_int_t)v->thp_fault_fallback,
			 "thp_collapse_alloc", (json_int_t)v->thp_collapse_alloc,
			 "thp_collapse_alloc_failed", (json_int_t)v->thp_collapse_alloc_failed,
			 "thp_split_pmd", (json_int_t)v->thp_split_pmd,
			 "thp_split_page", (json_int_t)v->thp_split_page,
			 "thp_zero_page_alloc", (json_int_t)v->thp_zero_page_alloc);
}

THPVM_EXPORT json_t *thpvm_memmap_coverage_json(struct thpvm_memmap *map, unsigned flags)
{
	struct thpvm_host_thp host;
	struct thpvm_vmstat_thp vmstat;
	struct thpvm_coverage c;
	json_t *regions = json_array(), *root;

	/* refresh once, then report every region from the same measurement */
	if ((flags & THPVM_COVERAGE_REFRESH) && thpvm_memmap_refresh(map))
		goto fail;
	flags &= ~THPVM_COVERAGE_REFRESH;
	for (unsigned i = 0; i < map->nr_regions; i++) {
		struct thpvm_region *r = map->regions[i];
		json_t *o;

		if (thpvm_region_coverage(r, flags, &c))
			goto fail;
		o = thpvm_coverage_to_json(&c);
		json_object_set_new(o, "name", json_string(r->name));
		json_object_set_new(o, "gpa", json_integer((json_int_t)r->gpa));
		json_object_set_new(o, "hva", json_integer((json_int_t)(uintptr_t)r->hva));
		json_object_set_new(o, "backing", json_string(thpvm_backing_str(r->backing)));
		json_array_append_new(regions, o);
	}
	if (thpvm_memmap_coverage(map, flags, &c))
		goto fail;
	thpvm_host_thp_read(&host);
	thpvm_vmstat_thp_read(&vmstat);
	root = json_pack("{s:o, s:o, s:o, s:o}", "host", thpvm_host_thp_to_json(&host), "regions", regions,
			 "total", thpvm_coverage_to_json(&c), "vmstat", vmstat_to_json(&vmstat));
	return root;
fail:
	json_decref(regions);
	return NULL;
}

THPVM_EXPORT void thpvm_coverage_file_print(FILE *out, const struct thpvm_coverage *c)
{
	fprintf(out, "mapped from a file: %" PRIu64 " extents PMD-mapped from the page cache, %" PRIu64
		     " on private THP, %" PRIu64 " split (copied 4 KiB pages), %" PRIu64 " absent",
		c->nr_huge_file, c->nr_huge - c->nr_huge_file, c->nr_split, c->nr_absent);
	if (c->smaps_valid)
		fprintf(out, "; smaps FilePmdMapped %.1f MiB, Private_Dirty %.1f MiB", (double)c->smaps_file_pmd_bytes / MIB,
			(double)c->smaps_private_dirty_bytes / MIB);
	fputc('\n', out);
}

static void print_row(FILE *out, const char *name, const char *backing, const struct thpvm_coverage *c)
{
	fprintf(out, "%-10s %-8s %9.1f %7.1f%% %7.1f%% %7.1f%% %6" PRIu64 " %6" PRIu64 " %6" PRIu64, name, backing,
		(double)c->size_bytes / MIB, thpvm_coverage_pct(c, c->huge_bytes), thpvm_coverage_pct(c, c->split_bytes),
		thpvm_coverage_pct(c, c->absent_bytes), c->nr_huge, c->nr_split, c->nr_absent);
	if (c->smaps_valid)
		fprintf(out, " %10.1f %10.1f", (double)c->smaps_rss_bytes / MIB, (double)c->smaps_anon_huge_bytes / MIB);
	fputc('\n', out);
}

THPVM_EXPORT int thpvm_memmap_coverage_print(FILE *out, struct thpvm_memmap *map, unsigned flags)
{
	struct thpvm_host_thp host;
	struct thpvm_coverage c;
	int ret;

	thpvm_host_thp_read(&host);
	fprintf(out, "host THP: enabled=%s 2M=%s defrag=%s shmem=%s khugepaged=%" PRId64 " pages/%" PRId64
		     " ms prctl_disable=%d hugetlb_2m=%" PRIu64 "/%" PRIu64 " free pagemap_scan=%s\n",
		thpvm_thp_mode_str(host.enabled), thpvm_thp_mode_str(host.enabled_2m), host.defrag,
		host.shmem_enabled, host.khugepaged_pages_to_scan, host.khugepaged_scan_sleep_millisecs,
		host.prctl_thp_disable, host.hugetlb_2m_free, host.hugetlb_2m_total, host.pagemap_scan ? "yes" : "no");
	if ((flags & THPVM_COVERAGE_REFRESH) && (ret = thpvm_memmap_refresh(map)))
		return ret;
	flags &= ~THPVM_COVERAGE_REFRESH;
	fprintf(out, "%-10s %-8s %9s %8s %8s %8s %6s %6s %6s", "region", "backing", "MiB", "HUGE", "SPLIT", "ABSENT",
		"#huge", "#split", "#abs");
	if (flags & THPVM_COVERAGE_SMAPS)
		fprintf(out, " %10s %10s", "smaps Rss", "AnonHuge");
	fputc('\n', out);
	for (unsigned i = 0; i < map->nr_regions; i++) {
		struct thpvm_region *r = map->regions[i];

		ret = thpvm_region_coverage(r, flags, &c);
		if (ret)
			return ret;
		print_row(out, r->name, thpvm_backing_str(r->backing), &c);
	}
	ret = thpvm_memmap_coverage(map, flags, &c);
	if (ret)
		return ret;
	if (map->nr_regions > 1)
		print_row(out, "total", "", &c);
	if (c.detail_valid && c.nr_split)
		fprintf(out, "split extents: %.1f MiB private, %.1f MiB shared, %.1f MiB absent\n",
			(double)c.split_private_bytes / MIB, (double)c.split_shared_bytes / MIB,
			(double)c.split_absent_bytes / MIB);
	fprintf(out, "counters:");
#define X(name, desc) fprintf(out, " " #name "=%" PRIu64, c.counters.name);
	THPVM_THP_COUNTERS(X)
#undef X
	fprintf(out, "\nTHP: %s\n", thpvm_thp_reason_str(c.thp_reason));
	return 0;
}
