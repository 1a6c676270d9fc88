/* SPDX-License-Identifier: MIT */
/* Guest memory map: validation, alignment and congruence, lookups. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <thpvm.h>
#include "helpers.h"

TestSuite(memmap, .init = map_fixture_init, .fini = map_fixture_fini);

static int add(uint64_t gpa, uint64_t size, enum thpvm_backing backing)
{
	struct thpvm_region_config cfg = { .gpa = gpa, .size_bytes = size, .backing = backing };

	return thpvm_memmap_add(fix_map, &cfg, NULL);
}

/*
 * Each bad input gets its documented errno, result code and a message, and
 * maps nothing: no mapping the size of the region or its reservation appears.
 * Looked for only for regions of 8 MiB or more: smaller mappings come and go
 * with the sanitizers' allocator (CI's ASan run once counted one more VMA of
 * 4 KiB..4 MiB while a 2 MiB + 1 or 4 KiB region was refused), so the
 * refusals whose subject is not the size use 64 MiB regions.
 */
static void expect_refused(uint64_t gpa, uint64_t size, enum thpvm_backing backing, int err,
			   enum thpvm_map_result result)
{
	bool look = size >= 8 * MIB;
	int vmas = look ? count_vmas(size) : 0;

	cr_assert_eq(add(gpa, size, backing), -err, "gpa 0x%llx size 0x%llx: expected -%d", (unsigned long long)gpa,
		     (unsigned long long)size, err);
	cr_assert_eq(thpvm_memmap_last_result(fix_map), result, "got %s, want %s",
		     thpvm_map_result_name(thpvm_memmap_last_result(fix_map)), thpvm_map_result_name(result));
	cr_assert(strstr(thpvm_last_error(), thpvm_map_result_str(result)), "message: %s", thpvm_last_error());
	cr_assert_eq(look ? count_vmas(size) : 0, vmas, "a refused region left mappings behind");
}

Test(memmap, zero_size_is_refused)
{
	expect_refused(0, 0, THPVM_BACKING_THP, EINVAL, THPVM_MAP_ZERO_SIZE);
}

Test(memmap, unaligned_gpa_is_refused)
{
	expect_refused(0x1001, 64 * MIB, THPVM_BACKING_THP, EINVAL, THPVM_MAP_UNALIGNED_GPA);
	expect_refused(0x1000, 64 * MIB, THPVM_BACKING_HUGETLB, EINVAL, THPVM_MAP_UNALIGNED_GPA);
}

Test(memmap, unaligned_size_is_refused)
{
	expect_refused(0, 64 * MIB + 1, THPVM_BACKING_THP, EINVAL, THPVM_MAP_UNALIGNED_SIZE);
	expect_refused(0, 64 * MIB + 4096, THPVM_BACKING_HUGETLB, EINVAL, THPVM_MAP_UNALIGNED_SIZE);
}

Test(memmap, overflowing_region_is_refused)
{
	expect_refused(~0ULL & ~0xfffULL, 2 * MIB, THPVM_BACKING_THP, EOVERFLOW, THPVM_MAP_OVERFLOW);
	expect_refused(THPVM_GPA_LIMIT - 2 * MIB, 4 * MIB, THPVM_BACKING_THP, EOVERFLOW, THPVM_MAP_OVERFLOW);
	cr_assert_eq(add(THPVM_GPA_LIMIT - 2 * MIB, 2 * MIB, THPVM_BACKING_THP), 0, "%s", thpvm_last_error());
}

Test(memmap, overlapping_region_is_refused)
{
	cr_assert_eq(add(16 * MIB, 16 * MIB, THPVM_BACKING_THP), 0, "%s", thpvm_last_error());
	expect_refused(16 * MIB, 16 * MIB, THPVM_BACKING_THP, EEXIST, THPVM_MAP_OVERLAP);
	expect_refused(8 * MIB, 8 * MIB + 4096, THPVM_BACKING_THP, EEXIST, THPVM_MAP_OVERLAP);
	expect_refused(32 * MIB - 4096, 4096, THPVM_BACKING_4K, EEXIST, THPVM_MAP_OVERLAP);
	expect_refused(0, 64 * MIB, THPVM_BACKING_THP, EEXIST, THPVM_MAP_OVERLAP);
	/* touching is not overlapping */
	cr_assert_eq(add(8 * MIB, 8 * MIB, THPVM_BACKING_THP), 0, "%s", thpvm_last_error());
	cr_assert_eq(add(32 * MIB, 4096, THPVM_BACKING_4K), 0, "%s", thpvm_last_error());
}

Test(memmap, unknown_backing_populate_and_flags_are_refused)
{
	struct thpvm_region_config cfg = { .size_bytes = 2 * MIB, .backing = (enum thpvm_backing)7 };
	enum thpvm_backing b;

	cr_assert_eq(thpvm_memmap_add(fix_map, &cfg, NULL), -EINVAL);
	cr_assert_eq(thpvm_memmap_last_result(fix_map), THPVM_MAP_BAD_BACKING);
	cfg.backing = THPVM_BACKING_THP;
	cfg.populate = (enum thpvm_populate)9;
	cr_assert_eq(thpvm_memmap_add(fix_map, &cfg, NULL), -EINVAL);
	cr_assert_eq(thpvm_memmap_last_result(fix_map), THPVM_MAP_BAD_POPULATE);
	cfg.populate = THPVM_POPULATE_ON_DEMAND;
	cfg.flags = 0x80;
	cr_assert_eq(thpvm_memmap_add(fix_map, &cfg, NULL), -EINVAL);
	cr_assert_eq(thpvm_memmap_last_result(fix_map), THPVM_MAP_BAD_FLAGS);
	cr_assert_eq(thpvm_backing_parse("huge", &b), -EINVAL);
	cr_assert(strstr(thpvm_last_error(), "unknown backing 'huge'"), "%s", thpvm_last_error());
	cr_assert_eq(thpvm_backing_parse("4k", &b), 0);
	cr_assert_eq(b, THPVM_BACKING_4K);
}

Test(memmap, too_many_regions_are_refused)
{
	for (unsigned i = 0; i < THPVM_MAX_REGIONS; i++)
		cr_assert_eq(add(i * 2 * MIB, 2 * MIB, THPVM_BACKING_THP), 0, "region %u: %s", i, thpvm_last_error());
	expect_refused(THPVM_MAX_REGIONS * 2 * MIB, 2 * MIB, THPVM_BACKING_THP, ENOSPC, THPVM_MAP_TOO_MANY_REGIONS);
}

Test(memmap, hugetlb_without_pool_says_how_to_reserve)
{
	struct thpvm_host_thp host;

	thpvm_host_thp_read(&host);
	if (host.hugetlb_2m_free >= 2)
		cr_skip_test("host has %llu free 2 MiB hugetlb pages: the no-pool error cannot be provoked",
			     (unsigned long long)host.hugetlb_2m_free);
	expect_refused(0, 4 * MIB, THPVM_BACKING_HUGETLB, ENOMEM, THPVM_MAP_HUGETLB_NO_POOL);
	cr_assert(strstr(thpvm_last_error(), "nr_hugepages"), "message should say how to reserve: %s",
		  thpvm_last_error());
}

/* Host placement for many sizes and GPAs: 2 MiB congruent, guarded, and found by lookups. */
Test(memmap, regions_are_congruent_with_their_gpa)
{
	static const uint64_t gpas[] = { 0, 4096, 0x9f000, 1 * MIB, 2 * MIB, 2 * MIB + 4096, 0xfee00000ULL,
					 3 * GIB + 0x123000, 1ULL << 40, (1ULL << 51) + 0x1ff000 };
	static const uint64_t sizes[] = { 4096, 64 * 1024, 2 * MIB - 4096, 2 * MIB, 2 * MIB + 4096, 6 * MIB, 130 * MIB };
	char prot[8];

	for (size_t g = 0; g < sizeof(gpas) / sizeof(gpas[0]); g++) {
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			struct thpvm_memmap *m;
			struct thpvm_region *r;
			struct thpvm_region_info info;
			struct thpvm_region_config cfg = { .gpa = gpas[g], .size_bytes = sizes[s] };
			uint64_t want_extents;

			cr_assert_eq(thpvm_memmap_create(&m), 0);
			cr_assert_eq(thpvm_memmap_add(m, &cfg, &r), 0, "gpa 0x%llx size 0x%llx: %s",
				     (unsigned long long)cfg.gpa, (unsigned long long)cfg.size_bytes, thpvm_last_error());
			thpvm_region_get_info(r, &info);
			cr_assert_eq((uintptr_t)info.hva % (2 * MIB), cfg.gpa % (2 * MIB), "hva %p not congruent with 0x%llx",
				     info.hva, (unsigned long long)cfg.gpa);
			want_extents = ((cfg.gpa + cfg.size_bytes + 2 * MIB - 1) / (2 * MIB)) - cfg.gpa / (2 * MIB);
			cr_assert_eq(info.nr_extents, want_extents);
			cr_assert_eq(thpvm_memmap_gpa_to_hva(m, cfg.gpa, cfg.size_bytes), info.hva);
			cr_assert_eq(thpvm_memmap_gpa_to_hva(m, cfg.gpa + cfg.size_bytes - 1, 1),
				     (char *)info.hva + cfg.size_bytes - 1);
			cr_assert_null(thpvm_memmap_gpa_to_hva(m, cfg.gpa, cfg.size_bytes + 1));
			cr_assert_null(thpvm_memmap_find(m, cfg.gpa + cfg.size_bytes));
			cr_assert_eq(thpvm_memmap_find(m, cfg.gpa), r);
			cr_assert_str_eq(vma_prot((char *)info.hva - 1, prot, sizeof(prot)), "---p", "no guard below");
			cr_assert_str_eq(vma_prot((char *)info.hva + cfg.size_bytes, prot, sizeof(prot)), "---p",
					 "no guard above");
			cr_assert_str_eq(vma_prot(info.hva, prot, sizeof(prot)), "rw-p");
			((volatile char *)info.hva)[0] = 1;
			((volatile char *)info.hva)[cfg.size_bytes - 1] = 1;
			thpvm_memmap_destroy(m);
		}
	}
}

Test(memmap, destroy_unmaps_everything)
{
	int vmas = count_vmas(6 * MIB);
	struct thpvm_memmap *m;

	cr_assert_eq(thpvm_memmap_create(&m), 0);
	for (unsigned i = 0; i < 8; i++) {
		struct thpvm_region_config cfg = { .gpa = i * 16 * MIB, .size_bytes = 6 * MIB,
						   .backing = i % 2 ? THPVM_BACKING_4K : THPVM_BACKING_THP };

		cr_assert_eq(thpvm_memmap_add(m, &cfg, NULL), 0, "%s", thpvm_last_error());
	}
	cr_assert_eq(thpvm_memmap_nr_regions(m), 8);
	cr_assert_eq(thpvm_memmap_size_bytes(m), 48 * MIB);
	thpvm_memmap_destroy(m);
	cr_assert_eq(count_vmas(6 * MIB), vmas);
}

Test(memmap, regions_get_default_names)
{
	struct thpvm_region *r0, *r1;
	struct thpvm_region_info info;
	struct thpvm_region_config cfg = { .size_bytes = 2 * MIB };

	cr_assert_eq(thpvm_memmap_add(fix_map, &cfg, &r0), 0);
	cfg.gpa = 2 * MIB;
	cfg.name = "rom";
	cfg.flags = THPVM_REGION_F_NOHUGE;
	cr_assert_eq(thpvm_memmap_add(fix_map, &cfg, &r1), 0);
	thpvm_region_get_info(r0, &info);
	cr_assert_str_eq(info.name, "ram0");
	thpvm_region_get_info(r1, &info);
	cr_assert_str_eq(info.name, "rom");
	cr_assert_eq(info.thp_reason, THPVM_THP_REGION_NOHUGE);
	cr_assert_eq(thpvm_memmap_region(fix_map, 1), r1);
	cr_assert_null(thpvm_memmap_region(fix_map, 2));
}

Test(memmap, result_tables_are_complete)
{
	for (unsigned i = 0; i < THPVM_NR_MAP_RESULTS; i++) {
		cr_assert(strlen(thpvm_map_result_str(i)) > 0);
		cr_assert(!strncmp(thpvm_map_result_name(i), "THPVM_MAP_", 10));
		cr_assert_eq(thpvm_map_result_errno(i) == 0, i == THPVM_MAP_OK);
	}
	for (unsigned i = 0; i < THPVM_NR_THP_REASONS; i++)
		cr_assert(!strncmp(thpvm_thp_reason_name(i), "THPVM_THP_", 10));
}
