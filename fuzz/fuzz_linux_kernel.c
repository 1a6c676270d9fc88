/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: a kernel image (bzImage or PVH vmlinux) through the whole
 * Linux loader (probe, placement, copy, zero page or start_info, e820, MP
 * table, page tables) into a real guest memory map of 64 MiB, as thpvm run
 * --kernel does. The input is the file; it reaches the loader through a
 * memfd, by path, as a user's file would.
 */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <thpvm.h>
#include "fuzz.h"
#include "x86/layout.h"
#include "x86/linux.h"

#define RAM_BYTES (64ULL << 20)

static struct thpvm_memmap *map;
static int fd = -1;
static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct thpvm_region_config rc = { .name = "ram-low", .gpa = 0, .size_bytes = RAM_BYTES };

	/* 4 KiB backing: the loader, not THP, is under test, and inputs touch little of the map */
	rc.backing = THPVM_BACKING_4K;
	if (thpvm_memmap_create(&map) || thpvm_memmap_add(map, &rc, NULL)) {
		fprintf(stderr, "fuzz_linux_kernel: %s\n", thpvm_last_error());
		abort();
	}
	fd = memfd_create("fuzz-kernel", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct linux_load_config cfg = { .kernel_path = path, .cmdline = "console=ttyS0 panic=-1", .nr_cpus = 2 };
	struct linux_boot b;

	if (!map)
		LLVMFuzzerInitialize(NULL, NULL);
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	if (linux_load(map, &cfg, &b)) {
		FUZZ_CHECK(linux_last_error()[0] != '\0');
		return 0;
	}
	/* what a started guest relies on: its entry is a byte of the kernel the file loaded, in RAM above the boot structures */
	FUZZ_CHECK(b.kernel_gpa >= X86_HIMEM_GPA && b.kernel_end_gpa <= RAM_BYTES);
	FUZZ_CHECK(b.entry_gpa >= b.kernel_gpa && b.entry_gpa < b.kernel_end_gpa);
	if (b.mode == LINUX_ENTRY_64BIT) /* startup_64, 0x200 into the protected-mode code */
		FUZZ_CHECK(b.entry_gpa - b.kernel_gpa < size);
	FUZZ_CHECK(b.cmdline_gpa < X86_HIMEM_GPA && b.boot_params_gpa < X86_HIMEM_GPA);
	return 0;
}
