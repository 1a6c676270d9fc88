/* SPDX-License-Identifier: MIT */
/* The guest e820 map built from the thpvm memory map. */
#include <criterion/criterion.h>
#include <errno.h>
#include "x86/e820.h"
#include "x86/layout.h"
#include "helpers.h"
#include "linux_helpers.h"

TestSuite(e820, .init = map_fixture_init, .fini = map_fixture_fini);

static void add(uint64_t gpa, uint64_t size, uint32_t flags)
{
	struct thpvm_region_config cfg = { .gpa = gpa, .size_bytes = size, .flags = flags };

	cr_assert_eq(thpvm_memmap_add(fix_map, &cfg, NULL), 0, "%s", thpvm_last_error());
}

struct want {
	uint64_t addr, end;
	uint32_t type;
};

static void expect(const struct want *w, unsigned nr)
{
	struct boot_e820_entry e[E820_MAX_ENTRIES_ZEROPAGE];
	int n = e820_build(fix_map, e, E820_MAX_ENTRIES_ZEROPAGE);

	cr_assert_eq(n, (int)nr, "%d entries, want %u", n, nr);
	for (unsigned i = 0; i < nr; i++) {
		cr_assert_eq(e[i].addr, w[i].addr, "entry %u addr 0x%llx", i, (unsigned long long)e[i].addr);
		cr_assert_eq(e[i].addr + e[i].size, w[i].end, "entry %u end 0x%llx", i,
			     (unsigned long long)(e[i].addr + e[i].size));
		cr_assert_eq(e[i].type, w[i].type, "entry %u type %u", i, e[i].type);
		if (i)
			cr_assert_geq(e[i].addr, e[i - 1].addr + e[i - 1].size, "sorted, non-overlapping");
	}
}

Test(e820, low_ram_keeps_page_0_and_reserves_the_ebda_to_1m)
{
	add(0, 256 * MIB, 0);
	const struct want w[] = {
		{ 0, X86_EBDA_GPA, E820_TYPE_RAM },
		{ X86_EBDA_GPA, X86_EBDA_END, E820_TYPE_RESERVED },
		{ X86_EBDA_END, 256 * MIB, E820_TYPE_RAM },
	};
	expect(w, 3);
}

Test(e820, mmio_hole_is_not_listed)
{
	/* as the VMM lays out 4.5 GiB: two regions, and high RAM added first to check sorting */
	add(X86_RAM_HIGH_GPA, 4 * GIB + 512 * MIB - X86_MMIO_HOLE_GPA, 0);
	add(0, X86_MMIO_HOLE_GPA, 0);
	const struct want w[] = {
		{ 0, X86_EBDA_GPA, E820_TYPE_RAM },
		{ X86_EBDA_GPA, X86_EBDA_END, E820_TYPE_RESERVED },
		{ X86_EBDA_END, X86_MMIO_HOLE_GPA, E820_TYPE_RAM },
		{ X86_RAM_HIGH_GPA, 4 * GIB + 512 * MIB + (X86_RAM_HIGH_GPA - X86_MMIO_HOLE_GPA), E820_TYPE_RAM },
	};
	expect(w, 4);
}

Test(e820, a_region_across_the_hole_is_cut)
{
	add(0, 5 * GIB, 0);
	const struct want w[] = {
		{ 0, X86_EBDA_GPA, E820_TYPE_RAM },
		{ X86_EBDA_GPA, X86_EBDA_END, E820_TYPE_RESERVED },
		{ X86_EBDA_END, X86_MMIO_HOLE_GPA, E820_TYPE_RAM },
		{ X86_MMIO_HOLE_END, 5 * GIB, E820_TYPE_RAM },
	};
	expect(w, 4);
}

Test(e820, adjacent_regions_merge_and_device_memory_is_reserved)
{
	add(0, 2 * MIB, 0);
	add(2 * MIB, 30 * MIB, 0);
	add(32 * MIB, 2 * MIB, THPVM_REGION_F_NOHUGE);
	add(64 * MIB, 4 * MIB, 0);
	const struct want w[] = {
		{ 0, X86_EBDA_GPA, E820_TYPE_RAM },
		{ X86_EBDA_GPA, X86_EBDA_END, E820_TYPE_RESERVED },
		{ X86_EBDA_END, 32 * MIB, E820_TYPE_RAM },
		{ 32 * MIB, 34 * MIB, E820_TYPE_RESERVED },
		{ 64 * MIB, 68 * MIB, E820_TYPE_RAM },
	};
	expect(w, 5);
}

Test(e820, ram_only_above_1m_has_no_reserved_entry)
{
	add(X86_EBDA_END, 63 * MIB, 0);
	const struct want w[] = { { X86_EBDA_END, 64 * MIB, E820_TYPE_RAM } };
	expect(w, 1);
}

Test(e820, too_many_entries_is_an_error)
{
	struct boot_e820_entry e[4];

	add(0, 64 * MIB, 0);
	add(128 * MIB, 2 * MIB, 0);
	cr_assert_eq(e820_build(fix_map, e, 4), 4);
	cr_assert_eq(e820_build(fix_map, e, 3), -E2BIG);
	for (unsigned i = 0; i < 62; i++)
		add(256 * MIB + i * 4 * MIB, 2 * MIB, 0);
	struct boot_e820_entry all[E820_MAX_ENTRIES_ZEROPAGE];
	cr_assert_eq(e820_build(fix_map, all, E820_MAX_ENTRIES_ZEROPAGE), 66);
}

Test(e820, empty_map_has_no_entries)
{
	struct boot_e820_entry e[4];

	cr_assert_eq(e820_build(fix_map, e, 4), 0);
}
