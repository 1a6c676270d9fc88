/* SPDX-License-Identifier: MIT */
/* Shared by the tests of the Linux loader: guest memory maps, kernels, synthetic images. */
#ifndef THPVM_TEST_LINUX_HELPERS_H
#define THPVM_TEST_LINUX_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <thpvm.h>
#include "x86/linux.h"

/*
 * A guest memory map laid out as the VMM does: RAM [0, min(size, 3.25 GiB))
 * and the rest from 4 GiB; on demand, nothing prefaulted.
 */
struct thpvm_memmap *linux_test_map(uint64_t size_bytes);

/*
 * Path of a real kernel ("bzImage" or "vmlinux") in $THPVM_TEST_KERNEL_DIR
 * (default: the build tree's guests/linux). Skips the test, saying where it
 * looked, when the file is not there.
 */
const char *linux_test_kernel(const char *name);

/* A scratch directory for this test's files (removed by linux_test_cleanup). */
const char *linux_test_dir(void);
void linux_test_cleanup(void);
/*
 * The fixture of the suites that run thpvm on synthetic kernels (.init,
 * .fini): linux_run_fixture_init() skips the test without /dev/kvm;
 * linux_run_fixture_fini() removes the scratch directory with all in it
 * (thpvm's own files too: console files, stats, sockets), then
 * linux_test_cleanup()s.
 */
void linux_run_fixture_init(void);
void linux_run_fixture_fini(void);
/* Writes data to a new file in the scratch directory; returns its path (static storage per call slot). */
const char *linux_test_file(const char *name, const void *data, size_t len);
/* A file of size_bytes holding the per-page index pattern (seed), last page partial. */
const char *linux_test_pattern_file(const char *name, uint64_t size_bytes, uint32_t seed);
/* Checks guest memory at gpa against the pattern file's content; returns the number of bad pages. */
uint64_t linux_test_check_pattern(struct thpvm_memmap *map, uint64_t gpa, uint64_t size_bytes, uint32_t seed);
/* A sparse file of size_bytes (no disk blocks). */
const char *linux_test_sparse_file(const char *name, uint64_t size_bytes);

/* Reads a whole file (malloc'd; *len set). */
void *linux_test_read(const char *path, size_t *len);

/* A minimal synthetic bzImage: header fields the tests vary, protected-mode part of pm_bytes pattern. */
struct synth_bz {
	uint16_t version;
	uint8_t loadflags;
	uint16_t xloadflags;
	uint8_t relocatable;
	uint32_t kernel_alignment;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t cmdline_size;
	uint32_t initrd_addr_max;
	uint64_t pm_bytes;
	uint8_t setup_sects;
};
/* Defaults of a valid 64-bit relocatable kernel (protocol 2.15). */
struct synth_bz synth_bz_default(void);
/* Builds the image; *len set. The protected-mode part holds pattern seed 0x62 from page 0. */
void *synth_bz_build(const struct synth_bz *s, size_t *len);
#define SYNTH_BZ_SEED 0x62

/* A synthetic ELF64 vmlinux: PT_LOADs and optionally a Xen PHYS32_ENTRY note. */
struct synth_elf_seg {
	uint64_t paddr, filesz, memsz;
};
struct synth_elf {
	unsigned char elf_class;   /* ELFCLASS64 unless testing */
	uint16_t machine;          /* EM_X86_64 */
	struct synth_elf_seg segs[4];
	unsigned nr_segs;
	bool pvh_note;
	uint32_t note_descsz;      /* 4 or 8 */
	uint64_t entry;
	bool other_notes;          /* a few unrelated notes before the PVH one */
};
/* Segment i's file bytes hold pattern seed 0x70 + i. */
void *synth_elf_build(const struct synth_elf *s, size_t *len);
#define SYNTH_ELF_SEED 0x70
/*
 * A synthetic PVH vmlinux in the test directory, file name: one PT_LOAD at
 * 16 MiB, the PVH note, code (len bytes) at the entry (0x1000100), which
 * runs in 32-bit protected mode with paging off. Returns its path.
 */
const char *synth_pvh_kernel(const char *name, const uint8_t *code, size_t len);

/* synth_bz_build()/synth_elf_build() written to a file name in the test directory; returns its path. */
const char *synth_bz_file(const char *name, const struct synth_bz *s);
const char *synth_elf_file(const char *name, const struct synth_elf *s);
/* A valid PVH vmlinux: one PT_LOAD at 16 MiB of 8 KiB of file and 4 KiB of bss, a 4-byte PVH note, entry 0x1000010. */
struct synth_elf synth_elf_default(void);

/* The pattern seed of the tests' initrd files (linux_test_pattern_file(), linux_test_check_pattern()). */
#define LINUX_TEST_INITRD_SEED 0x1d
/*
 * The loader suites' fixture: linux_fixture_init() (.init) makes fix_map
 * (helpers.h) a 64 MiB linux_test_map(), or a test makes its own;
 * linux_fixture_fini() (.fini) destroys it and removes the test's files.
 */
void linux_fixture_init(void);
void linux_fixture_fini(void);
/*
 * Makes fix_map a new linux_test_map(ram_bytes) and loads kernel_path
 * into it with cmdline (may be NULL) on nr_cpus vCPUs and, unless
 * initrd_size is 0, an initrd file of initrd_size bytes of pattern
 * LINUX_TEST_INITRD_SEED; asserts success (b filled).
 */
void linux_fixture_load(const char *kernel_path, uint64_t ram_bytes, const char *cmdline, unsigned nr_cpus,
			uint64_t initrd_size, struct linux_boot *b);

/* Loads and asserts failure with err and result, a message naming the problem (contains needle). */
void expect_load_refused(struct thpvm_memmap *map, const struct linux_load_config *cfg, int err,
			 enum linux_result result, const char *needle);

#endif
