/* SPDX-License-Identifier: MIT */
/* Guest page tables and GDT descriptors built by the VMM. */
#include <criterion/criterion.h>
#include <errno.h>
#include <thpvm.h>
#include "x86/gdt.h"
#include "x86/layout.h"
#include "x86/pagetable.h"
#include "helpers.h"

static struct thpvm_memmap *map;

static void setup(void)
{
	struct thpvm_region_config cfg = { .size_bytes = 64 * MIB };

	cr_assert_eq(thpvm_memmap_create(&map), 0);
	cr_assert_eq(thpvm_memmap_add(map, &cfg, NULL), 0);
}

static void teardown(void)
{
	thpvm_memmap_destroy(map);
}

TestSuite(x86_tables, .init = setup, .fini = teardown);

Test(x86_tables, page_tables_translate_like_the_mmu)
{
	struct pt_builder pt;
	uint64_t gpa, size, flags;

	cr_assert_eq(pt_init(&pt, map, 32 * MIB, pt_bytes_needed(16 * MIB, 4096) + pt_bytes_needed(16 * MIB, 2 * MIB)), 0);
	cr_assert_eq(pt_map(&pt, 0, 0, 16 * MIB, 2 * MIB, PTE_W), 0);
	cr_assert_eq(pt_map(&pt, 0x400000000ULL, 16 * MIB, 16 * MIB, 4096, PTE_W | PTE_U), 0);
	cr_assert_eq(pt_translate(&pt, 0x123456, &gpa, &size, &flags), 0);
	cr_assert_eq(gpa, 0x123456);
	cr_assert_eq(size, 2 * MIB);
	cr_assert(flags & PTE_PS);
	cr_assert(!(flags & PTE_U));
	cr_assert_eq(pt_translate(&pt, 0x400000000ULL + 5 * 4096 + 7, &gpa, &size, &flags), 0);
	cr_assert_eq(gpa, 16 * MIB + 5 * 4096 + 7);
	cr_assert_eq(size, 4096);
	cr_assert(flags & PTE_U);
	cr_assert_eq(pt_translate(&pt, 16 * MIB, &gpa, &size, &flags), -EFAULT);
	cr_assert_eq(pt_translate(&pt, 0x400000000ULL + 16 * MIB, &gpa, &size, &flags), -EFAULT);
}

Test(x86_tables, page_table_errors)
{
	struct pt_builder pt;

	cr_assert_eq(pt_init(&pt, map, 128 * MIB, 4096), -EFAULT, "area outside RAM");
	cr_assert_eq(pt_init(&pt, map, 32 * MIB, 3 * 4096), 0);
	cr_assert_eq(pt_map(&pt, 4096, 0, 4096, 2 * MIB, 0), -EINVAL, "misaligned 2M leaf");
	cr_assert_eq(pt_map(&pt, 0, 0, 2 * MIB, 2 * MIB, 0), 0);
	cr_assert_eq(pt_map(&pt, 0, 0, 4096, 4096, 0), -EINVAL, "4K under an existing 2M leaf");
	cr_assert_eq(pt_map(&pt, 0, 2 * MIB, 2 * MIB, 2 * MIB, 0), -EINVAL, "remap of a mapped leaf");
	cr_assert_eq(pt_map(&pt, 1ULL << 39, 0, 2 * MIB, 2 * MIB, 0), -ENOMEM, "area exhausted");
}

Test(x86_tables, pt_bytes_needed_is_enough)
{
	uint64_t sizes[] = { 4096, 2 * MIB, 64 * MIB, 1 * GIB + 4096 };

	for (unsigned i = 0; i < 4; i++) {
		for (uint64_t ps = 4096; ps <= 2 * MIB; ps *= 512) {
			struct pt_builder pt;
			uint64_t len = (sizes[i] + ps - 1) / ps * ps;
			uint64_t need = pt_bytes_needed(len, ps);

			if (need > 30 * MIB)
				continue;
			cr_assert_eq(pt_init(&pt, map, 32 * MIB, need), 0);
			/* straddle a 1 GiB boundary on purpose */
			cr_assert_eq(pt_map(&pt, (1ULL << 30) - ps, 0, len, ps, 0), 0, "size %llu page %llu",
				     (unsigned long long)len, (unsigned long long)ps);
		}
	}
}

Test(x86_tables, gdt_descriptors_match_the_architecture)
{
	struct kvm_segment cs = seg_code64(0x10, 0), ucs = seg_code64(0x2b, 3), ds = seg_data(0x18, 0);
	struct kvm_segment tss = seg_tss64(0x30, 0x123456789000ULL, 0x67);
	uint64_t sys[2];

	/* the descriptors Linux's boot GDT and every 64-bit kernel use */
	cr_assert_eq(gdt_encode(&cs), 0x00af9b000000ffffULL);
	cr_assert_eq(gdt_encode(&ds), 0x00cf93000000ffffULL);
	cr_assert_eq(gdt_encode(&ucs), 0x00affb000000ffffULL);
	cr_assert_eq(ucs.selector, 0x2b);
	gdt_encode_system(&tss, sys);
	cr_assert_eq(sys[0], 0x56008b7890000067ULL);
	cr_assert_eq(sys[1], 0x1234);
	struct kvm_segment segs[] = { cs, ds, tss };
	cr_assert_eq(gdt_write(map, X86_BOOT_GDT_GPA, 16, segs, 3), 0);
	uint64_t *gdt = thpvm_memmap_gpa_to_hva(map, X86_BOOT_GDT_GPA, 128);
	cr_assert_eq(gdt[0], 0);
	cr_assert_eq(gdt[2], 0x00af9b000000ffffULL);
	cr_assert_eq(gdt[6], sys[0]);
	cr_assert_eq(gdt[7], sys[1]);
	cr_assert_eq(gdt_write(map, X86_BOOT_GDT_GPA, 6, segs, 3), -EINVAL, "TSS past the end");
}
