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

static struct thpvm_memmap *map;

static void setup(void)
{
	map = linux_test_map(64 * MIB);
}

static void teardown(void)
{
	thpvm_memmap_destroy(map);
	linux_test_cleanup();
}

TestSuite(linux_refuse, .init = setup, .fini = teardown);

/* No byte of low memory or of the kernel's area was written. */
static void assert_guest_untouched(void)
{
	static const uint64_t ranges[][2] = {
		{ 0, X86_EBDA_END }, { X86_HIMEM_GPA, 2 * MIB }, { 0x1000000, 16 * MIB }, { 62 * MIB, 2 * MIB },
	};

	for (unsigned r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
		const uint64_t *p = thpvm_memmap_gpa_to_hva(map, ranges[r][0], ranges[r][1]);

		for (uint64_t i = 0; i < ranges[r][1] / 8; i++)
			cr_assert_eq(p[i], 0, "guest memory written at 0x%llx", (unsigned long long)(ranges[r][0] + i * 8));
	}
}

static void refuse(const char *kernel_path, int err, enum linux_result result, const char *needle)
{
	struct linux_load_config cfg = { .kernel_path = kernel_path, .cmdline = "console=ttyS0", .nr_cpus = 1 };

	expect_load_refused(map, &cfg, err, result, needle);
	assert_guest_untouched();
}

static const char *bz_file(const struct synth_bz *s)
{
	size_t len;
	void *img = synth_bz_build(s, &len);
	const char *path = linux_test_file("bzImage", img, len);

	free(img);
	return path;
}

static const char *elf_file(const struct synth_elf *s)
{
	size_t len;
	void *img = synth_elf_build(s, &len);
	const char *path = linux_test_file("vmlinux", img, len);

	free(img);
	return path;
}

static struct synth_elf elf_default(void)
{
	return (struct synth_elf){
		.elf_class = ELFCLASS64,
		.machine = EM_X86_64,
		.segs = { { 0x1000000, 0x2000, 0x3000 } },
		.nr_segs = 1,
		.pvh_note = true,
		.note_descsz = 4,
		.entry = 0x1000010,
	};
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

Test(linux_refuse, bzimage_truncated_in_the_setup_header)
{
	struct synth_bz s = synth_bz_default();
	size_t len;
	uint8_t *img = synth_bz_build(&s, &len);

	refuse(linux_test_file("short", img, 0x230), ENOEXEC, LINUX_LOAD_TRUNCATED, "truncated");
	free(img);
}

Test(linux_refuse, bzimage_truncated_in_the_kernel)
{
	struct synth_bz s = synth_bz_default();
	size_t len;
	uint8_t *img = synth_bz_build(&s, &len);

	refuse(linux_test_file("cut", img, len - 1), ENOEXEC, LINUX_LOAD_TRUNCATED, "truncated");
	free(img);
}

Test(linux_refuse, bzimage_protocol_too_old)
{
	struct synth_bz s = synth_bz_default();

	s.version = 0x020b;
	refuse(bz_file(&s), ENOEXEC, LINUX_LOAD_BZ_OLD_PROTOCOL, "2.11");
}

Test(linux_refuse, bzimage_without_64bit_entry)
{
	struct synth_bz s = synth_bz_default();

	s.xloadflags = 0;
	refuse(bz_file(&s), ENOEXEC, LINUX_LOAD_BZ_NOT_64BIT, "XLF_KERNEL_64");
}

Test(linux_refuse, zimage_not_loaded_high)
{
	struct synth_bz s = synth_bz_default();

	s.loadflags = 0;
	refuse(bz_file(&s), ENOEXEC, LINUX_LOAD_BZ_BAD_HEADER, "LOADED_HIGH");
}

Test(linux_refuse, bzimage_with_bad_kernel_alignment)
{
	struct synth_bz s = synth_bz_default();

	s.kernel_alignment = 0x300000;
	refuse(bz_file(&s), ENOEXEC, LINUX_LOAD_BZ_BAD_HEADER, "kernel_alignment");
}

Test(linux_refuse, bzimage_whose_code_ends_before_the_64bit_entry)
{
	struct synth_bz s = synth_bz_default();

	s.pm_bytes = 0x200; /* startup_64 is at +0x200: not one byte of it is loaded */
	refuse(bz_file(&s), ENOEXEC, LINUX_LOAD_BZ_BAD_HEADER, "end before the 64-bit entry");
}

Test(linux_refuse, fixed_bzimage_that_decompresses_below_1m)
{
	struct synth_bz s = synth_bz_default();

	s.relocatable = 0;
	s.pref_address = 0x10000;
	refuse(bz_file(&s), ENOEXEC, LINUX_LOAD_BZ_BAD_HEADER, "pref_address 0x10000, below 1 MiB");
}

Test(linux_refuse, bzimage_with_zero_init_size)
{
	struct synth_bz s = synth_bz_default();

	s.init_size = 0;
	refuse(bz_file(&s), ENOEXEC, LINUX_LOAD_BZ_BAD_HEADER, "init_size");
}

Test(linux_refuse, bzimage_bigger_than_ram)
{
	struct synth_bz s = synth_bz_default();

	s.init_size = 60 * MIB; /* from 16 MiB: past the end of 64 MiB */
	refuse(bz_file(&s), ENOMEM, LINUX_LOAD_RAM_TOO_SMALL, "needs guest RAM");
}

/* command line and initrd */
Test(linux_refuse, command_line_longer_than_cmdline_size)
{
	struct synth_bz s = synth_bz_default();
	char cl[300];
	struct linux_load_config cfg = { .kernel_path = bz_file(&s), .cmdline = cl, .nr_cpus = 1 };

	memset(cl, 'a', sizeof(cl));
	cl[s.cmdline_size + 1] = '\0';
	expect_load_refused(map, &cfg, E2BIG, LINUX_LOAD_CMDLINE_TOO_LONG, "at most 255");
	assert_guest_untouched();
}

Test(linux_refuse, pvh_command_line_over_2047_bytes)
{
	struct synth_elf s = elf_default();
	char *cl = malloc(2049);
	struct linux_load_config cfg = { .kernel_path = elf_file(&s), .cmdline = cl, .nr_cpus = 1 };
	struct linux_boot b;

	memset(cl, 'a', 2048);
	cl[2048] = '\0';
	expect_load_refused(map, &cfg, E2BIG, LINUX_LOAD_CMDLINE_TOO_LONG, "at most 2047");
	assert_guest_untouched();
	cl[2047] = '\0';
	cr_assert_eq(linux_load(map, &cfg, &b), 0, "%s", linux_last_error());
	free(cl);
}

Test(linux_refuse, initrd_too_big_for_ram)
{
	struct synth_bz s = synth_bz_default();
	struct linux_load_config cfg = {
		.kernel_path = bz_file(&s),
		.initrd_path = linux_test_sparse_file("huge-initrd", 300 * MIB),
		.nr_cpus = 1,
	};

	expect_load_refused(map, &cfg, ENOSPC, LINUX_LOAD_INITRD_NO_ROOM, "huge-initrd");
	assert_guest_untouched();
}

Test(linux_refuse, initrd_one_page_too_big_for_the_gap_above_the_kernel)
{
	struct synth_bz s = synth_bz_default();
	struct linux_load_config cfg = {
		.kernel_path = bz_file(&s),
		.initrd_path = linux_test_sparse_file("initrd", 64 * MIB - (0x1000000 + s.init_size) + 1),
		.nr_cpus = 1,
	};

	expect_load_refused(map, &cfg, ENOSPC, LINUX_LOAD_INITRD_NO_ROOM, "does not fit");
	assert_guest_untouched();
}

Test(linux_refuse, initrd_below_initrd_addr_max_has_no_room)
{
	struct synth_bz s = synth_bz_default();

	/* the kernel wants its initrd below 20 MiB, but its init_size reaches 24 MiB */
	s.initrd_addr_max = 20 * MIB - 1;
	struct linux_load_config cfg = {
		.kernel_path = bz_file(&s),
		.initrd_path = linux_test_pattern_file("initrd", 4096, 1),
		.nr_cpus = 1,
	};

	expect_load_refused(map, &cfg, ENOSPC, LINUX_LOAD_INITRD_NO_ROOM, "wants its initrd below 0x1400000");
	assert_guest_untouched();
}

Test(linux_refuse, missing_initrd)
{
	struct synth_bz s = synth_bz_default();
	char path[4096];
	struct linux_load_config cfg = { .kernel_path = bz_file(&s), .initrd_path = path, .nr_cpus = 1 };

	snprintf(path, sizeof(path), "%s/no-initrd", linux_test_dir());
	expect_load_refused(map, &cfg, ENOENT, LINUX_LOAD_FILE_MISSING, "initrd '");
	assert_guest_untouched();
}

Test(linux_refuse, initrd_is_a_directory)
{
	struct synth_bz s = synth_bz_default();
	struct linux_load_config cfg = { .kernel_path = bz_file(&s), .initrd_path = "/", .nr_cpus = 1 };

	expect_load_refused(map, &cfg, EISDIR, LINUX_LOAD_FILE_NOT_REGULAR, "initrd '/'");
	assert_guest_untouched();
}

Test(linux_refuse, empty_initrd)
{
	struct synth_bz s = synth_bz_default();
	struct linux_load_config cfg = {
		.kernel_path = bz_file(&s), .initrd_path = linux_test_file("initrd", "", 0), .nr_cpus = 1,
	};

	expect_load_refused(map, &cfg, ENOEXEC, LINUX_LOAD_FILE_EMPTY, "initrd");
	assert_guest_untouched();
}

/* configuration */
Test(linux_refuse, zero_or_too_many_cpus)
{
	struct synth_bz s = synth_bz_default();
	struct linux_load_config cfg = { .kernel_path = bz_file(&s), .nr_cpus = 0 };

	expect_load_refused(map, &cfg, EINVAL, LINUX_LOAD_BAD_CONFIG, "vCPUs");
	cfg.nr_cpus = MPTABLE_MAX_CPUS + 1;
	expect_load_refused(map, &cfg, EINVAL, LINUX_LOAD_TOO_MANY_CPUS, "65 vCPUs");
	cfg.kernel_path = NULL;
	cfg.nr_cpus = 1;
	expect_load_refused(map, &cfg, EINVAL, LINUX_LOAD_BAD_CONFIG, "no kernel");
	assert_guest_untouched();
}

Test(linux_refuse, ram_not_starting_at_zero)
{
	struct synth_bz s = synth_bz_default();
	struct thpvm_memmap *high;
	struct thpvm_region_config rc = { .gpa = 4 * MIB, .size_bytes = 60 * MIB };
	struct linux_load_config cfg = { .kernel_path = bz_file(&s), .nr_cpus = 1 };

	cr_assert_eq(thpvm_memmap_create(&high), 0);
	cr_assert_eq(thpvm_memmap_add(high, &rc, NULL), 0);
	expect_load_refused(high, &cfg, ENOMEM, LINUX_LOAD_RAM_TOO_SMALL, "must start at 0");
	thpvm_memmap_destroy(high);
}

/* ELF */
Test(linux_refuse, plain_elf_without_the_pvh_note)
{
	struct synth_elf s = elf_default();

	s.pvh_note = false;
	s.other_notes = true; /* Xen and GNU notes, just not PHYS32_ENTRY */
	refuse(elf_file(&s), ENOEXEC, LINUX_LOAD_ELF_NO_PVH, "no PVH entry note");
}

Test(linux_refuse, elf_without_any_note)
{
	struct synth_elf s = elf_default();

	s.pvh_note = false;
	refuse(elf_file(&s), ENOEXEC, LINUX_LOAD_ELF_NO_PVH, "CONFIG_PVH");
}

Test(linux_refuse, elf32_file)
{
	struct synth_elf s = elf_default();

	s.elf_class = ELFCLASS32;
	refuse(elf_file(&s), ENOEXEC, LINUX_LOAD_ELF_BAD, "x86-64");
}

Test(linux_refuse, elf_for_another_machine)
{
	struct synth_elf s = elf_default();

	s.machine = EM_AARCH64;
	refuse(elf_file(&s), ENOEXEC, LINUX_LOAD_ELF_BAD, "machine 183");
}

Test(linux_refuse, elf_truncated_in_its_header)
{
	struct synth_elf s = elf_default();
	size_t len;
	void *img = synth_elf_build(&s, &len);

	refuse(linux_test_file("vmlinux", img, 40), ENOEXEC, LINUX_LOAD_TRUNCATED, "ELF header");
	free(img);
}

Test(linux_refuse, elf_truncated_in_a_segment)
{
	struct synth_elf s = elf_default();
	size_t len;
	void *img = synth_elf_build(&s, &len);

	refuse(linux_test_file("vmlinux", img, len - 4096), ENOEXEC, LINUX_LOAD_TRUNCATED, "truncated");
	free(img);
}

Test(linux_refuse, elf_segment_below_1m)
{
	struct synth_elf s = elf_default();

	s.segs[1] = (struct synth_elf_seg){ 0x7000, 0x1000, 0x1000 };
	s.nr_segs = 2;
	refuse(elf_file(&s), ENOEXEC, LINUX_LOAD_ELF_BAD_SEGMENT, "below 1 MiB");
}

Test(linux_refuse, elf_segment_in_the_mmio_hole)
{
	struct synth_elf s = elf_default();

	s.segs[0] = (struct synth_elf_seg){ X86_MMIO_HOLE_GPA - 0x1000, 0x2000, 0x2000 };
	s.entry = X86_MMIO_HOLE_GPA - 0x1000;
	refuse(elf_file(&s), ENOEXEC, LINUX_LOAD_ELF_BAD_SEGMENT, "MMIO hole");
}

Test(linux_refuse, elf_bigger_than_ram)
{
	struct synth_elf s = elf_default();

	s.segs[0].memsz = 80 * MIB;
	refuse(elf_file(&s), ENOMEM, LINUX_LOAD_RAM_TOO_SMALL, "needs guest RAM");
}

Test(linux_refuse, pvh_entry_outside_the_segments)
{
	struct synth_elf s = elf_default();

	s.entry = 0x2000000;
	refuse(elf_file(&s), ENOEXEC, LINUX_LOAD_ELF_BAD, "PVH entry 0x2000000");
}

Test(linux_refuse, pvh_entry_in_a_segments_bss)
{
	struct synth_elf s = elf_default();

	s.entry = 0x1002010; /* file bytes end at 0x1002000, memory at 0x1003000 */
	refuse(elf_file(&s), ENOEXEC, LINUX_LOAD_ELF_BAD, "PVH entry 0x1002010 lies in the bss");
}

Test(linux_refuse, pvh_entry_in_a_gap_between_segments)
{
	struct synth_elf s = elf_default();

	s.segs[1] = (struct synth_elf_seg){ 0x1200000, 0x1000, 0x1000 };
	s.nr_segs = 2;
	s.entry = 0x1100000;
	refuse(elf_file(&s), ENOEXEC, LINUX_LOAD_ELF_BAD, "PVH entry 0x1100000 lies in a gap");
}

Test(linux_refuse, pvh_note_of_odd_size)
{
	struct synth_elf s = elf_default();

	s.note_descsz = 2;
	refuse(elf_file(&s), ENOEXEC, LINUX_LOAD_ELF_BAD, "not 4 or 8");
}

Test(linux_refuse, result_table_is_consistent)
{
	for (unsigned r = 0; r < LINUX_NR_LOAD_RESULTS; r++) {
		cr_assert(linux_result_str(r)[0]);
		cr_assert_eq(strncmp(linux_result_name(r), "LINUX_LOAD_", 11), 0);
		cr_assert_eq(linux_result_errno(r) == 0, r == LINUX_LOAD_OK);
	}
	cr_assert_str_eq(linux_result_str(LINUX_NR_LOAD_RESULTS), "unknown result");
}
