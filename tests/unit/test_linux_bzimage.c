/* SPDX-License-Identifier: MIT */
/* Loading a bzImage through the 64-bit boot protocol: real Debian kernel and synthetic images. */
#include <criterion/criterion.h>
#include <asm/bootparam.h>
#include <stdlib.h>
#include <string.h>
#include "x86/e820.h"
#include "x86/layout.h"
#include "x86/linux.h"
#include "x86/pagetable.h"
#include "helpers.h"
#include "linux_helpers.h"

TestSuite(linux_bzimage, .fini = linux_fixture_fini);

static const struct boot_params *zero_page(void)
{
	const struct boot_params *bp = thpvm_memmap_gpa_to_hva(fix_map, X86_ZERO_PAGE_GPA, sizeof(*bp));

	cr_assert_not_null(bp);
	return bp;
}

/* The zero page's e820 table is what e820_build makes of the map. */
static void check_e820(const struct boot_params *bp, unsigned expect_nr)
{
	struct boot_e820_entry e[E820_MAX_ENTRIES_ZEROPAGE];
	int n = e820_build(fix_map, e, E820_MAX_ENTRIES_ZEROPAGE);

	cr_assert_eq(n, (int)expect_nr);
	cr_assert_eq(bp->e820_entries, expect_nr);
	cr_assert_eq(memcmp(bp->e820_table, e, n * sizeof(e[0])), 0);
}

/* The identity map covers [0, 4 GiB) with writable 2 MiB pages and stops there. */
static void check_page_tables(uint64_t cr3)
{
	struct pt_builder pt = { .map = fix_map, .pml4_gpa = cr3 };
	static const uint64_t probes[] = { 0, X86_ZERO_PAGE_GPA + 0x1f1, X86_CMDLINE_GPA, 0x1000200, 0x7ffff123,
					   X86_MMIO_HOLE_GPA - 1, X86_LAPIC_GPA, 0xffffffffULL };
	uint64_t gpa, size, flags;

	cr_assert_geq(cr3, X86_BOOT_PT_GPA);
	cr_assert_lt(cr3, X86_BOOT_PT_GPA + X86_BOOT_PT_SIZE);
	for (unsigned i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		cr_assert_eq(pt_translate(&pt, probes[i], &gpa, &size, &flags), 0, "0x%llx unmapped",
			     (unsigned long long)probes[i]);
		cr_assert_eq(gpa, probes[i]);
		cr_assert_eq(size, 2 * MIB);
		cr_assert(flags & PTE_W);
	}
	cr_assert_eq(pt_translate(&pt, 1ULL << 32, &gpa, &size, &flags), -EFAULT);
}

struct real_bz {
	uint8_t *file;
	size_t len;
	struct setup_header hdr;
	uint64_t pm_offset, pm_size;
};

static struct real_bz read_real_bzimage(void)
{
	struct real_bz r;

	r.file = linux_test_read(linux_test_kernel("bzImage"), &r.len);
	memcpy(&r.hdr, r.file + 0x1f1, sizeof(r.hdr));
	r.pm_offset = ((uint64_t)(r.hdr.setup_sects ? r.hdr.setup_sects : 4) + 1) * 512;
	r.pm_size = r.hdr.syssize * 16ULL;
	return r;
}

static void check_real_bzimage(struct real_bz *r, const struct linux_boot *b, const char *cmdline,
			       uint64_t initrd_size, uint64_t initrd_top)
{
	const struct boot_params *bp = zero_page();
	const char *cl = thpvm_memmap_gpa_to_hva(fix_map, X86_CMDLINE_GPA, strlen(cmdline) + 1);
	const void *kernel = thpvm_memmap_gpa_to_hva(fix_map, b->kernel_gpa, r->pm_size);

	/* the kernel's header as the test reads it from the file */
	cr_assert(r->hdr.relocatable_kernel, "Debian's kernel is relocatable");
	cr_assert_eq(b->mode, LINUX_ENTRY_64BIT);
	cr_assert_eq(b->protocol_version, r->hdr.version);
	cr_assert_eq(b->kernel_gpa, r->hdr.pref_address, "relocatable kernel goes to pref_address");
	cr_assert_eq(b->kernel_gpa % r->hdr.kernel_alignment, 0);
	cr_assert_eq(b->entry_gpa, b->kernel_gpa + 0x200, "startup_64");
	cr_assert_eq(b->kernel_end_gpa, r->hdr.pref_address + r->hdr.init_size);
	cr_assert_eq(b->boot_params_gpa, X86_ZERO_PAGE_GPA);
	cr_assert_not_null(kernel);
	cr_assert_eq(memcmp(kernel, r->file + r->pm_offset, r->pm_size), 0, "protected-mode code copied");

	/* zero page: the kernel's header plus what the loader fills in */
	cr_assert_eq(bp->hdr.boot_flag, 0xaa55);
	cr_assert_eq(bp->hdr.header, 0x53726448);
	cr_assert_eq(bp->hdr.version, r->hdr.version);
	cr_assert_eq(bp->hdr.init_size, r->hdr.init_size);
	cr_assert_eq(bp->hdr.xloadflags, r->hdr.xloadflags);
	cr_assert_eq(bp->hdr.type_of_loader, 0xff);
	cr_assert(bp->hdr.loadflags & LOADED_HIGH);
	cr_assert(bp->hdr.loadflags & CAN_USE_HEAP);
	cr_assert_eq(bp->hdr.cmd_line_ptr, X86_CMDLINE_GPA);
	cr_assert_eq(bp->ext_cmd_line_ptr, 0);
	cr_assert_str_eq(cl, cmdline);
	cr_assert_eq(b->cmdline_size_bytes, strlen(cmdline));
	cr_assert_eq(bp->hdr.ramdisk_image | (uint64_t)bp->ext_ramdisk_image << 32, b->initrd_gpa);
	cr_assert_eq(bp->hdr.ramdisk_size | (uint64_t)bp->ext_ramdisk_size << 32, initrd_size);
	cr_assert_eq(b->initrd_size_bytes, initrd_size);

	/* initrd: page aligned, above the kernel's init_size footprint, as high as it goes */
	if (initrd_size) {
		uint64_t top = (uint64_t)r->hdr.initrd_addr_max + 1 < initrd_top ? (uint64_t)r->hdr.initrd_addr_max + 1
										   : initrd_top;

		cr_assert_eq(b->initrd_gpa % 4096, 0);
		cr_assert_geq(b->initrd_gpa, b->kernel_end_gpa);
		cr_assert_leq(b->initrd_gpa + initrd_size, top);
		cr_assert_gt(b->initrd_gpa + initrd_size + 4096, top, "initrd not as high as possible");
		cr_assert_eq(linux_test_check_pattern(fix_map, b->initrd_gpa, initrd_size, LINUX_TEST_INITRD_SEED), 0,
			     "initrd contents");
	}
	check_page_tables(b->cr3);

	/* boot GDT: __BOOT_CS 0x10 64-bit code, __BOOT_DS 0x18 data */
	const uint64_t *gdt = thpvm_memmap_gpa_to_hva(fix_map, X86_BOOT_GDT_GPA, X86_BOOT_GDT_SIZE);
	cr_assert_eq(gdt[2], 0x00af9b000000ffffULL);
	cr_assert_eq(gdt[3], 0x00cf93000000ffffULL);
	cr_assert_eq(memcmp(thpvm_memmap_gpa_to_hva(fix_map, X86_MPTABLE_GPA, 4), "_MP_", 4), 0);
}

Test(linux_bzimage, real_kernel_loads_with_initrd_in_256m)
{
	struct real_bz r = read_real_bzimage();
	const char *cmdline = "console=ttyS0 quiet nokaslr pci=off initcall_blacklist=cmos_init";
	uint64_t initrd_size = 3 * MIB + 123;
	struct linux_boot b;

	linux_fixture_load(linux_test_kernel("bzImage"), 256 * MIB, cmdline, 2, initrd_size, &b);
	cr_log_info("protocol %x, kernel [0x%llx, 0x%llx), initrd at 0x%llx", b.protocol_version,
		    (unsigned long long)b.kernel_gpa, (unsigned long long)b.kernel_end_gpa,
		    (unsigned long long)b.initrd_gpa);
	check_real_bzimage(&r, &b, cmdline, initrd_size, 256 * MIB);
	check_e820(zero_page(), 3);
	cr_assert_eq(b.low_ram_end_gpa, 256 * MIB);
	cr_assert_eq(b.nr_cpus, 2);
	free(r.file);
}

Test(linux_bzimage, real_kernel_in_ram_split_by_the_mmio_hole)
{
	struct real_bz r = read_real_bzimage();
	uint64_t initrd_size = 5 * MIB;
	struct linux_boot b;

	/* 4.5 GiB, on demand: 3.25 GiB below the hole, 1.25 GiB from 4 GiB */
	linux_fixture_load(linux_test_kernel("bzImage"), 4 * GIB + 512 * MIB, "console=ttyS0", 1, initrd_size, &b);
	cr_assert_eq(b.low_ram_end_gpa, X86_MMIO_HOLE_GPA);
	/* initrd_addr_max (2 GiB - 1 for Debian) is below the end of low RAM: it decides */
	check_real_bzimage(&r, &b, "console=ttyS0", initrd_size, X86_MMIO_HOLE_GPA);
	cr_assert_leq(b.initrd_gpa + initrd_size, (uint64_t)r.hdr.initrd_addr_max + 1);

	const struct boot_params *bp = zero_page();
	check_e820(bp, 4);
	cr_assert_eq(bp->e820_table[2].addr, X86_HIMEM_GPA);
	cr_assert_eq(bp->e820_table[2].addr + bp->e820_table[2].size, X86_MMIO_HOLE_GPA);
	cr_assert_eq(bp->e820_table[3].addr, X86_RAM_HIGH_GPA);
	cr_assert_eq(bp->e820_table[3].size, 4 * GIB + 512 * MIB - X86_MMIO_HOLE_GPA);
	free(r.file);
}

Test(linux_bzimage, real_kernel_refused_when_ram_is_below_its_init_size)
{
	struct linux_load_config cfg = { .kernel_path = linux_test_kernel("bzImage"), .nr_cpus = 1 };

	/* Debian's init_size is ~64 MiB from 16 MiB */
	fix_map = linux_test_map(64 * MIB);
	expect_load_refused(fix_map, &cfg, ENOMEM, LINUX_LOAD_RAM_TOO_SMALL, "needs guest RAM");
}

Test(linux_bzimage, real_kernel_refuses_a_command_line_over_its_cmdline_size)
{
	struct real_bz r = read_real_bzimage();
	char *cl = malloc(r.hdr.cmdline_size + 2);
	struct linux_load_config cfg = { .kernel_path = linux_test_kernel("bzImage"), .cmdline = cl, .nr_cpus = 1 };
	struct linux_boot b;

	fix_map = linux_test_map(256 * MIB);
	memset(cl, 'x', r.hdr.cmdline_size + 1);
	cl[r.hdr.cmdline_size + 1] = '\0';
	expect_load_refused(fix_map, &cfg, E2BIG, LINUX_LOAD_CMDLINE_TOO_LONG, "command line");
	cl[r.hdr.cmdline_size] = '\0'; /* exactly cmdline_size bytes: the limit excludes the NUL */
	cr_assert_eq(linux_load(fix_map, &cfg, &b), 0, "%s", linux_last_error());
	cr_assert_eq(strlen(thpvm_memmap_gpa_to_hva(fix_map, X86_CMDLINE_GPA, 1)), r.hdr.cmdline_size);
	free(cl);
	free(r.file);
}

/* Synthetic kernels: the loader's arithmetic without a real kernel. */
Test(linux_bzimage, synthetic_relocatable_kernel_goes_to_pref_address)
{
	struct synth_bz s = synth_bz_default();
	struct linux_boot b;

	linux_fixture_load(synth_bz_file("bzImage", &s), 64 * MIB, NULL, 1, 8192 + 1, &b);
	cr_assert_eq(b.kernel_gpa, 0x1000000);
	cr_assert_eq(b.entry_gpa, 0x1000200);
	cr_assert_eq(b.kernel_end_gpa, 0x1000000 + s.init_size);
	cr_assert_eq(linux_test_check_pattern(fix_map, b.kernel_gpa, s.pm_bytes, SYNTH_BZ_SEED), 0);
	/* initrd at the top of RAM (below initrd_addr_max), 4 KiB aligned */
	cr_assert_eq(b.initrd_gpa, 64 * MIB - 3 * 4096);
	cr_assert_eq(linux_test_check_pattern(fix_map, b.initrd_gpa, 8192 + 1, LINUX_TEST_INITRD_SEED), 0);
	cr_assert_str_eq(thpvm_memmap_gpa_to_hva(fix_map, X86_CMDLINE_GPA, 1), "");
	cr_assert_eq(zero_page()->hdr.cmdline_size, s.cmdline_size);
}

Test(linux_bzimage, synthetic_fixed_kernel_goes_to_1m_and_initrd_respects_initrd_addr_max)
{
	struct synth_bz s = synth_bz_default();
	struct linux_boot b;

	s.relocatable = 0;
	s.initrd_addr_max = 48 * MIB - 1;
	linux_fixture_load(synth_bz_file("bzImage", &s), 64 * MIB, NULL, 1, 1 * MIB, &b);
	cr_assert_eq(b.kernel_gpa, X86_HIMEM_GPA);
	cr_assert_eq(b.entry_gpa, X86_HIMEM_GPA + 0x200);
	/* startup_64 still decompresses at LOAD_PHYSICAL_ADDR = pref_address */
	cr_assert_eq(b.kernel_end_gpa, s.pref_address + s.init_size);
	cr_assert_eq(b.initrd_gpa, 47 * MIB);
	cr_assert_eq(linux_test_check_pattern(fix_map, X86_HIMEM_GPA, s.pm_bytes, SYNTH_BZ_SEED), 0);
}

Test(linux_bzimage, initrd_that_just_fits_is_placed_right_after_the_kernel)
{
	struct synth_bz s = synth_bz_default();
	uint64_t end = 0x1000000 + s.init_size, size = 64 * MIB - end;
	struct linux_boot b;

	linux_fixture_load(synth_bz_file("bzImage", &s), 64 * MIB, NULL, 1, size, &b);
	cr_assert_eq(b.initrd_gpa, end);
	cr_assert_eq(linux_test_check_pattern(fix_map, b.initrd_gpa, size, LINUX_TEST_INITRD_SEED), 0);
}
