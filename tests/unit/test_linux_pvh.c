/* SPDX-License-Identifier: MIT */
/* Loading a vmlinux through its PVH ELF note: real Debian kernel and synthetic ELF files. */
#include <criterion/criterion.h>
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include "x86/e820.h"
#include "x86/layout.h"
#include "x86/linux.h"
#include "x86/pvh.h"
#include "helpers.h"
#include "linux_helpers.h"

TestSuite(linux_pvh, .fini = linux_fixture_fini);

static const struct hvm_start_info *start_info(void)
{
	const struct hvm_start_info *si = thpvm_memmap_gpa_to_hva(fix_map, X86_PVH_START_INFO_GPA, sizeof(*si));

	cr_assert_not_null(si);
	cr_assert_eq(si->magic, XEN_HVM_START_MAGIC_VALUE);
	cr_assert_eq(si->version, 1);
	return si;
}

/* start_info's memmap is the e820 table of the map, entry for entry. */
static void check_memmap(const struct hvm_start_info *si, unsigned expect_nr)
{
	struct boot_e820_entry e[E820_MAX_ENTRIES_ZEROPAGE];
	int n = e820_build(fix_map, e, E820_MAX_ENTRIES_ZEROPAGE);
	const struct hvm_memmap_table_entry *mm;

	cr_assert_eq(n, (int)expect_nr);
	cr_assert_eq(si->memmap_entries, expect_nr);
	mm = thpvm_memmap_gpa_to_hva(fix_map, si->memmap_paddr, n * sizeof(*mm));
	cr_assert_not_null(mm);
	for (int i = 0; i < n; i++) {
		cr_assert_eq(mm[i].addr, e[i].addr);
		cr_assert_eq(mm[i].size, e[i].size);
		cr_assert_eq(mm[i].type, e[i].type);
		cr_assert_eq(mm[i].reserved, 0);
	}
	cr_assert_eq(mm[0].type, XEN_HVM_MEMMAP_TYPE_RAM);
	cr_assert_eq(mm[1].type, XEN_HVM_MEMMAP_TYPE_RESERVED);
}

static void check_initrd_module(const struct hvm_start_info *si, const struct linux_boot *b, uint64_t size)
{
	const struct hvm_modlist_entry *mod;

	cr_assert_eq(si->nr_modules, 1);
	mod = thpvm_memmap_gpa_to_hva(fix_map, si->modlist_paddr, sizeof(*mod));
	cr_assert_not_null(mod);
	cr_assert_eq(mod->paddr, b->initrd_gpa);
	cr_assert_eq(mod->size, size);
	cr_assert_eq(b->initrd_gpa % 4096, 0);
	cr_assert_geq(b->initrd_gpa, b->kernel_end_gpa);
	cr_assert_leq(b->initrd_gpa + size, b->low_ram_end_gpa);
	cr_assert_gt(b->initrd_gpa + size + 4096, b->low_ram_end_gpa, "initrd as high as possible");
	cr_assert_eq(linux_test_check_pattern(fix_map, b->initrd_gpa, size, LINUX_TEST_INITRD_SEED), 0, "initrd contents");
}

/* The test's own reading of the vmlinux: PT_LOADs and the PVH note. */
struct real_elf {
	uint8_t *file;
	size_t len;
	const Elf64_Phdr *ph;
	unsigned phnum;
	uint64_t pvh_entry;
	uint64_t lo, hi;
};

static struct real_elf read_real_vmlinux(void)
{
	struct real_elf r = { .lo = UINT64_MAX };
	const Elf64_Ehdr *eh;

	r.file = linux_test_read(linux_test_kernel("vmlinux"), &r.len);
	eh = (const Elf64_Ehdr *)r.file;
	r.ph = (const Elf64_Phdr *)(r.file + eh->e_phoff);
	r.phnum = eh->e_phnum;
	for (unsigned i = 0; i < r.phnum; i++) {
		const Elf64_Phdr *p = &r.ph[i];

		if (p->p_type == PT_LOAD) {
			r.lo = p->p_paddr < r.lo ? p->p_paddr : r.lo;
			r.hi = p->p_paddr + p->p_memsz > r.hi ? p->p_paddr + p->p_memsz : r.hi;
		}
		for (uint64_t off = 0; p->p_type == PT_NOTE && off < p->p_filesz;) {
			const Elf64_Nhdr *n = (const Elf64_Nhdr *)(r.file + p->p_offset + off);
			const uint8_t *name = (const uint8_t *)(n + 1);
			const uint8_t *desc = name + ((n->n_namesz + 3) & ~3u);

			if (n->n_type == XEN_ELFNOTE_PHYS32_ENTRY && !memcmp(name, "Xen", 4))
				memcpy(&r.pvh_entry, desc, n->n_descsz); /* 4 or 8 bytes, little endian */
			off += sizeof(*n) + ((n->n_namesz + 3) & ~3u) + ((n->n_descsz + 3) & ~3u);
		}
	}
	return r;
}

static void check_real_vmlinux(struct real_elf *r, const struct linux_boot *b, const char *cmdline)
{
	const struct hvm_start_info *si = start_info();

	cr_assert_neq(r->pvh_entry, 0, "Debian's vmlinux has the PVH note");
	cr_assert_eq(b->mode, LINUX_ENTRY_PVH32);
	cr_assert_eq(b->entry_gpa, r->pvh_entry);
	cr_assert_eq(b->boot_params_gpa, X86_PVH_START_INFO_GPA);
	cr_assert_eq(b->kernel_gpa, r->lo);
	cr_assert_eq(b->kernel_end_gpa, r->hi);
	cr_assert_eq(b->cr3, 0, "PVH enters with paging off");
	for (unsigned i = 0; i < r->phnum; i++) {
		const Elf64_Phdr *p = &r->ph[i];
		const uint8_t *g;

		if (p->p_type != PT_LOAD)
			continue;
		g = thpvm_memmap_gpa_to_hva(fix_map, p->p_paddr, p->p_memsz);
		cr_assert_not_null(g);
		cr_assert_eq(memcmp(g, r->file + p->p_offset, p->p_filesz), 0, "segment %u at 0x%llx", i,
			     (unsigned long long)p->p_paddr);
		for (uint64_t j = p->p_filesz; j < p->p_memsz; j++)
			cr_assert_eq(g[j], 0);
	}
	cr_assert_eq(si->cmdline_paddr, X86_CMDLINE_GPA);
	cr_assert_str_eq(thpvm_memmap_gpa_to_hva(fix_map, si->cmdline_paddr, strlen(cmdline) + 1), cmdline);
	cr_assert_eq(si->rsdp_paddr, 0, "no ACPI: Linux uses the MP table");
}

Test(linux_pvh, real_vmlinux_loads_with_initrd_in_256m)
{
	struct real_elf r = read_real_vmlinux();
	const char *cmdline = "console=ttyS0 quiet nokaslr pci=off";
	uint64_t initrd_size = 2 * MIB + 4096 + 17;
	struct linux_boot b;

	linux_fixture_load(linux_test_kernel("vmlinux"), 256 * MIB, cmdline, 2, initrd_size, &b);
	cr_log_info("PVH entry 0x%llx, kernel [0x%llx, 0x%llx), initrd at 0x%llx", (unsigned long long)b.entry_gpa,
		    (unsigned long long)b.kernel_gpa, (unsigned long long)b.kernel_end_gpa,
		    (unsigned long long)b.initrd_gpa);
	check_real_vmlinux(&r, &b, cmdline);
	check_initrd_module(start_info(), &b, initrd_size);
	check_memmap(start_info(), 3);
	free(r.file);
}

Test(linux_pvh, real_vmlinux_in_ram_split_by_the_mmio_hole)
{
	struct real_elf r = read_real_vmlinux();
	uint64_t initrd_size = 1 * MIB;
	struct linux_boot b;

	linux_fixture_load(linux_test_kernel("vmlinux"), 4 * GIB + 64 * MIB, "console=ttyS0", 4, initrd_size, &b);
	check_real_vmlinux(&r, &b, "console=ttyS0");
	/* no initrd_addr_max in PVH: the top of RAM below the hole */
	cr_assert_eq(b.low_ram_end_gpa, X86_MMIO_HOLE_GPA);
	check_initrd_module(start_info(), &b, initrd_size);
	check_memmap(start_info(), 4);
	free(r.file);
}

Test(linux_pvh, real_vmlinux_without_initrd_has_no_modules)
{
	struct linux_boot b;

	linux_fixture_load(linux_test_kernel("vmlinux"), 128 * MIB, NULL, 1, 0, &b);
	cr_assert_eq(start_info()->nr_modules, 0);
	cr_assert_eq(start_info()->modlist_paddr, 0);
	cr_assert_eq(b.initrd_gpa, 0);
	cr_assert_str_eq(thpvm_memmap_gpa_to_hva(fix_map, X86_CMDLINE_GPA, 1), "");
}

static void load_synthetic(uint32_t descsz, bool other_notes)
{
	struct synth_elf s = {
		.elf_class = ELFCLASS64,
		.machine = EM_X86_64,
		.segs = { { 0x1000000, 0x3000, 0x3000 }, { 0x1200000, 0x1800, 0x5000 } },
		.nr_segs = 2,
		.pvh_note = true,
		.note_descsz = descsz,
		.entry = 0x1000040,
		.other_notes = other_notes,
	};
	struct linux_load_config cfg = {
		.kernel_path = synth_elf_file("vmlinux", &s),
		.initrd_path = linux_test_pattern_file("initrd", 3 * 4096, LINUX_TEST_INITRD_SEED),
		.cmdline = "root=/dev/ram0",
		.nr_cpus = 1,
	};
	struct linux_boot b;
	uint8_t *bss;

	fix_map = linux_test_map(64 * MIB);
	/* dirty the bss first: the loader must zero it, not rely on fresh memory */
	bss = thpvm_memmap_gpa_to_hva(fix_map, 0x1201800, 0x3800);
	memset(bss, 0xee, 0x3800);
	cr_assert_eq(linux_load(fix_map, &cfg, &b), 0, "%s", linux_last_error());
	cr_assert_eq(b.mode, LINUX_ENTRY_PVH32);
	cr_assert_eq(b.entry_gpa, 0x1000040);
	cr_assert_eq(b.kernel_gpa, 0x1000000);
	cr_assert_eq(b.kernel_end_gpa, 0x1205000);
	cr_assert_eq(linux_test_check_pattern(fix_map, 0x1000000, 0x3000, SYNTH_ELF_SEED), 0);
	cr_assert_eq(linux_test_check_pattern(fix_map, 0x1200000, 0x1800, SYNTH_ELF_SEED + 1), 0);
	for (unsigned i = 0; i < 0x3800; i++)
		cr_assert_eq(bss[i], 0, "bss byte %u", i);
	cr_assert_eq(b.initrd_gpa, 64 * MIB - 3 * 4096);
	check_initrd_module(start_info(), &b, 3 * 4096);
}

Test(linux_pvh, synthetic_elf_with_a_4_byte_note_loads_and_zeroes_bss)
{
	load_synthetic(4, false);
}

Test(linux_pvh, synthetic_elf_with_an_8_byte_note_among_others_loads)
{
	load_synthetic(8, true);
}
