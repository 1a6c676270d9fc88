/* SPDX-License-Identifier: MIT */
/*
 * Every malformed input the loader can meet is refused with its result code
 * and a one-line message naming the problem, and nothing is written to guest
 * memory. All inputs are synthetic, made by the test.
 */
#include <criterion/criterion.h>
#include <asm/bootparam.h>
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include "x86/layout.h"
#include "x86/linux.h"
#include "x86/mptable.h"
#include "helpers.h"
#include "linux_helpers.h"

TestSuite(linux_refuse, .init = linux_fixture_init, .fini = linux_fixture_fini);

/* No byte of low memory or of the kernel's area was written. */
static void assert_guest_untouched(void)
{
	static const uint64_t ranges[][2] = {
		{ 0, X86_EBDA_END }, { X86_HIMEM_GPA, 2 * MIB }, { 0x1000000, 16 * MIB }, { 62 * MIB, 2 * MIB },
	};

	for (unsigned r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
		const uint64_t *p = thpvm_memmap_gpa_to_hva(fix_map, ranges[r][0], ranges[r][1]);

		for (uint64_t i = 0; i < ranges[r][1] / 8; i++)
			cr_assert_eq(p[i], 0, "guest memory written at 0x%llx", (unsigned long long)(ranges[r][0] + i * 8));
	}
}

static void refuse_cfg(const struct linux_load_config *cfg, int err, enum linux_result result, const char *needle)
{
	expect_load_refused(fix_map, cfg, err, result, needle);
	assert_guest_untouched();
}

/* Loading kernel_path with initrd_path (or none) is refused, and guest memory stays untouched. */
static void refuse_initrd(const char *kernel_path, const char *initrd_path, int err, enum linux_result result,
			  const char *needle)
{
	struct linux_load_config cfg = {
		.kernel_path = kernel_path, .initrd_path = initrd_path, .cmdline = "console=ttyS0", .nr_cpus = 1,
	};

	refuse_cfg(&cfg, err, result, needle);
}

static void refuse(const char *kernel_path, int err, enum linux_result result, const char *needle)
{
	refuse_initrd(kernel_path, NULL, err, result, needle);
}

static const char *default_bz_file(void)
{
	struct synth_bz s = synth_bz_default();

	return synth_bz_file("bzImage", &s);
}

/*
 * REFUSE(name, kind, err, result, needle, change): the test linux_refuse::name
 * makes the default synthetic kernel of kind (bz or elf: s, a struct
 * synth_bz or synth_elf) with the statements change and expects its load
 * refused (refuse()).
 */
#define REFUSE(name, kind, err, result, needle, ...)                                                       \
	Test(linux_refuse, name)                                                                           \
	{                                                                                                  \
		struct synth_##kind s = synth_##kind##_default();                                          \
                                                                                                           \
		__VA_ARGS__;                                                                               \
		refuse(synth_##kind##_file(#name, &s), err, result, needle);                               \
	}

/* The image (malloc'd, freed) cut to its first keep bytes (keep < 0: all but the last -keep) is refused as truncated. */
static void refuse_cut(const char *name, void *img, size_t len, long keep, const char *needle)
{
	refuse(linux_test_file(name, img, keep < 0 ? len - (size_t)-keep : (size_t)keep), ENOEXEC,
	       LINUX_LOAD_TRUNCATED, needle);
	free(img);
}

/* REFUSE_CUT(name, kind, keep, needle): linux_refuse::name refuses the default image of kind, cut (refuse_cut()). */
#define REFUSE_CUT(name, kind, keep, needle)                                                               \
	Test(linux_refuse, name)                                                                           \
	{                                                                                                  \
		struct synth_##kind s = synth_##kind##_default();                                          \
		size_t len;                                                                                \
		void *img = synth_##kind##_build(&s, &len);                                                \
                                                                                                           \
		refuse_cut(#name, img, len, keep, needle);                                                 \
	}

/* files */
Test(linux_refuse, missing_kernel)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/no-such-kernel", linux_test_dir());
	refuse(path, ENOENT, LINUX_LOAD_FILE_MISSING, "no-such-kernel");
}

Test(linux_refuse, kernel_is_a_directory)
{
	refuse(linux_test_dir(), EISDIR, LINUX_LOAD_FILE_NOT_REGULAR, "directory");
}

Test(linux_refuse, zero_length_kernel)
{
	refuse(linux_test_file("empty", "", 0), ENOEXEC, LINUX_LOAD_FILE_EMPTY, "empty");
}

Test(linux_refuse, random_file)
{
	uint8_t *junk = malloc(64 * 1024);

	for (unsigned i = 0; i < 64 * 1024; i++)
		junk[i] = (uint8_t)(pattern_word(i / 8, 1, 7, i % 8) >> (8 * (i % 8)));
	junk[0] = 0x42;    /* not \177ELF */
	junk[0x1fe] = 0x12; /* not 0xAA55 */
	refuse(linux_test_file("random", junk, 64 * 1024), ENOEXEC, LINUX_LOAD_NOT_A_KERNEL, "not a Linux kernel");
	free(junk);
}

Test(linux_refuse, tiny_file)
{
	refuse(linux_test_file("tiny", "hello, kernel\n", 14), ENOEXEC, LINUX_LOAD_NOT_A_KERNEL, "14 bytes, too short");
}

/* bzImage header */
Test(linux_refuse, boot_sector_without_hdrs_magic)
{
	struct synth_bz s = synth_bz_default();
	size_t len;
	uint8_t *img = synth_bz_build(&s, &len);

	memcpy(img + 0x202, "MBR!", 4);
	refuse(linux_test_file("mbr", img, len), ENOEXEC, LINUX_LOAD_BZ_NO_HDRS, "no HdrS magic at 0x202");
	free(img);
}

REFUSE_CUT(bzimage_truncated_in_the_setup_header, bz, 0x230, "truncated")
REFUSE_CUT(bzimage_truncated_in_the_kernel, bz, -1, "truncated")
REFUSE(bzimage_protocol_too_old, bz, ENOEXEC, LINUX_LOAD_BZ_OLD_PROTOCOL, "2.11", s.version = 0x020b)
REFUSE(bzimage_without_64bit_entry, bz, ENOEXEC, LINUX_LOAD_BZ_NOT_64BIT, "XLF_KERNEL_64", s.xloadflags = 0)
REFUSE(zimage_not_loaded_high, bz, ENOEXEC, LINUX_LOAD_BZ_BAD_HEADER, "LOADED_HIGH", s.loadflags = 0)
REFUSE(bzimage_with_bad_kernel_alignment, bz, ENOEXEC, LINUX_LOAD_BZ_BAD_HEADER, "kernel_alignment",
	  s.kernel_alignment = 0x300000)
/* startup_64 is at +0x200: not one byte of it is loaded */
REFUSE(bzimage_whose_code_ends_before_the_64bit_entry, bz, ENOEXEC, LINUX_LOAD_BZ_BAD_HEADER,
	  "end before the 64-bit entry", s.pm_bytes = 0x200)
REFUSE(fixed_bzimage_that_decompresses_below_1m, bz, ENOEXEC, LINUX_LOAD_BZ_BAD_HEADER,
	  "pref_address 0x10000, below 1 MiB", s.relocatable = 0; s.pref_address = 0x10000)
REFUSE(bzimage_with_zero_init_size, bz, ENOEXEC, LINUX_LOAD_BZ_BAD_HEADER, "init_size", s.init_size = 0)
/* from 16 MiB: past the end of 64 MiB */
REFUSE(bzimage_bigger_than_ram, bz, ENOMEM, LINUX_LOAD_RAM_TOO_SMALL, "needs guest RAM", s.init_size = 60 * MIB)

/* command line and initrd */
Test(linux_refuse, command_line_longer_than_cmdline_size)
{
	struct synth_bz s = synth_bz_default();
	char cl[300];
	struct linux_load_config cfg = { .kernel_path = synth_bz_file("bzImage", &s), .cmdline = cl, .nr_cpus = 1 };

	memset(cl, 'a', sizeof(cl));
	cl[s.cmdline_size + 1] = '\0';
	refuse_cfg(&cfg, E2BIG, LINUX_LOAD_CMDLINE_TOO_LONG, "at most 255");
}

Test(linux_refuse, pvh_command_line_over_2047_bytes)
{
	struct synth_elf s = synth_elf_default();
	char *cl = malloc(2049);
	struct linux_load_config cfg = { .kernel_path = synth_elf_file("vmlinux", &s), .cmdline = cl, .nr_cpus = 1 };
	struct linux_boot b;

	memset(cl, 'a', 2048);
	cl[2048] = '\0';
	refuse_cfg(&cfg, E2BIG, LINUX_LOAD_CMDLINE_TOO_LONG, "at most 2047");
	cl[2047] = '\0';
	cr_assert_eq(linux_load(fix_map, &cfg, &b), 0, "%s", linux_last_error());
	free(cl);
}

Test(linux_refuse, initrd_too_big_for_ram)
{
	refuse_initrd(default_bz_file(), linux_test_sparse_file("huge-initrd", 300 * MIB), ENOSPC,
		      LINUX_LOAD_INITRD_NO_ROOM, "huge-initrd");
}

Test(linux_refuse, initrd_one_page_too_big_for_the_gap_above_the_kernel)
{
	struct synth_bz s = synth_bz_default();

	refuse_initrd(synth_bz_file("bzImage", &s),
		      linux_test_sparse_file("initrd", 64 * MIB - (0x1000000 + s.init_size) + 1), ENOSPC,
		      LINUX_LOAD_INITRD_NO_ROOM, "does not fit");
}

Test(linux_refuse, initrd_below_initrd_addr_max_has_no_room)
{
	struct synth_bz s = synth_bz_default();

	/* the kernel wants its initrd below 20 MiB, but its init_size reaches 24 MiB */
	s.initrd_addr_max = 20 * MIB - 1;
	refuse_initrd(synth_bz_file("bzImage", &s), linux_test_pattern_file("initrd", 4096, 1), ENOSPC,
		      LINUX_LOAD_INITRD_NO_ROOM, "wants its initrd below 0x1400000");
}

Test(linux_refuse, missing_initrd)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/no-initrd", linux_test_dir());
	refuse_initrd(default_bz_file(), path, ENOENT, LINUX_LOAD_FILE_MISSING, "initrd '");
}

Test(linux_refuse, initrd_is_a_directory)
{
	refuse_initrd(default_bz_file(), "/", EISDIR, LINUX_LOAD_FILE_NOT_REGULAR, "initrd '/'");
}

Test(linux_refuse, empty_initrd)
{
	refuse_initrd(default_bz_file(), linux_test_file("initrd", "", 0), ENOEXEC, LINUX_LOAD_FILE_EMPTY, "initrd");
}

/* configuration */
Test(linux_refuse, zero_or_too_many_cpus)
{
	struct linux_load_config cfg = { .kernel_path = default_bz_file(), .nr_cpus = 0 };

	expect_load_refused(fix_map, &cfg, EINVAL, LINUX_LOAD_BAD_CONFIG, "vCPUs");
	cfg.nr_cpus = MPTABLE_MAX_CPUS + 1;
	expect_load_refused(fix_map, &cfg, EINVAL, LINUX_LOAD_TOO_MANY_CPUS, "65 vCPUs");
	cfg.kernel_path = NULL;
	cfg.nr_cpus = 1;
	refuse_cfg(&cfg, EINVAL, LINUX_LOAD_BAD_CONFIG, "no kernel");
}

Test(linux_refuse, ram_not_starting_at_zero)
{
	struct thpvm_memmap *high;
	struct thpvm_region_config rc = { .gpa = 4 * MIB, .size_bytes = 60 * MIB };
	struct linux_load_config cfg = { .kernel_path = default_bz_file(), .nr_cpus = 1 };

	cr_assert_eq(thpvm_memmap_create(&high), 0);
	cr_assert_eq(thpvm_memmap_add(high, &rc, NULL), 0);
	expect_load_refused(high, &cfg, ENOMEM, LINUX_LOAD_RAM_TOO_SMALL, "must start at 0");
	thpvm_memmap_destroy(high);
}

/* ELF */
/* Xen and GNU notes, just not PHYS32_ENTRY */
REFUSE(plain_elf_without_the_pvh_note, elf, ENOEXEC, LINUX_LOAD_ELF_NO_PVH, "no PVH entry note",
	   s.pvh_note = false; s.other_notes = true)
REFUSE(elf_without_any_note, elf, ENOEXEC, LINUX_LOAD_ELF_NO_PVH, "CONFIG_PVH", s.pvh_note = false)
/* an ELF32 is taken for a multiboot kernel: without a multiboot header it is neither */
REFUSE(elf32_file, elf, ENOEXEC, LINUX_LOAD_MB_BAD_HEADER, "no multiboot header", s.elf_class = ELFCLASS32)
REFUSE(elf_for_another_machine, elf, ENOEXEC, LINUX_LOAD_ELF_BAD, "machine 183", s.machine = EM_AARCH64)
REFUSE_CUT(elf_truncated_in_its_header, elf, 40, "ELF header")
REFUSE_CUT(elf_truncated_in_a_segment, elf, -4096, "truncated")
REFUSE(elf_segment_below_1m, elf, ENOEXEC, LINUX_LOAD_ELF_BAD_SEGMENT, "below 1 MiB",
	   s.segs[1] = (struct synth_elf_seg){ 0x7000, 0x1000, 0x1000 }; s.nr_segs = 2)
REFUSE(elf_segment_in_the_mmio_hole, elf, ENOEXEC, LINUX_LOAD_ELF_BAD_SEGMENT, "MMIO hole",
	   s.segs[0] = (struct synth_elf_seg){ X86_MMIO_HOLE_GPA - 0x1000, 0x2000, 0x2000 };
	   s.entry = X86_MMIO_HOLE_GPA - 0x1000)
REFUSE(elf_bigger_than_ram, elf, ENOMEM, LINUX_LOAD_RAM_TOO_SMALL, "needs guest RAM", s.segs[0].memsz = 80 * MIB)
REFUSE(pvh_entry_outside_the_segments, elf, ENOEXEC, LINUX_LOAD_ELF_BAD, "PVH entry 0x2000000", s.entry = 0x2000000)
/* file bytes end at 0x1002000, memory at 0x1003000 */
REFUSE(pvh_entry_in_a_segments_bss, elf, ENOEXEC, LINUX_LOAD_ELF_BAD, "PVH entry 0x1002010 lies in the bss",
	   s.entry = 0x1002010)
REFUSE(pvh_entry_in_a_gap_between_segments, elf, ENOEXEC, LINUX_LOAD_ELF_BAD, "PVH entry 0x1100000 lies in a gap",
	   s.segs[1] = (struct synth_elf_seg){ 0x1200000, 0x1000, 0x1000 }; s.nr_segs = 2; s.entry = 0x1100000)
REFUSE(pvh_note_of_odd_size, elf, ENOEXEC, LINUX_LOAD_ELF_BAD, "not 4 or 8", s.note_descsz = 2)

Test(linux_refuse, result_table_is_consistent)
{
	for (unsigned r = 0; r < LINUX_NR_LOAD_RESULTS; r++) {
		cr_assert(linux_result_str(r)[0]);
		cr_assert_eq(strncmp(linux_result_name(r), "LINUX_LOAD_", 11), 0);
		cr_assert_eq(linux_result_errno(r) == 0, r == LINUX_LOAD_OK);
	}
	cr_assert_str_eq(linux_result_str(LINUX_NR_LOAD_RESULTS), "unknown result");
}
