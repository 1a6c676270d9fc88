/* SPDX-License-Identifier: MIT */
/*
 * Guest RAM of an x86 guest from libthpvm: below the 32-bit MMIO hole
 * ("ram-low", from 0) and above it ("ram-high", from 4 GiB), each region
 * congruent with its host mapping modulo 2 MiB so KVM can map 2 MiB pages.
 */
#ifndef THPVM_GUEST_RAM_H
#define THPVM_GUEST_RAM_H

#include <stdint.h>
#include <thpvm.h>

struct guest_ram_config {
	uint64_t size_bytes;            /* non-zero multiple of 2 MiB */
	enum thpvm_backing backing;
	enum thpvm_populate populate;
	thpvm_progress_fn progress;     /* prefault progress, may be NULL */
	void *progress_arg;
	/*
	 * A snapshot's memory files, one per region of guest_ram_layout():
	 * each region is then that file mapped MAP_PRIVATE (THPVM_BACKING_FILE,
	 * backing ignored), its pages shared with the page cache until the guest
	 * writes one. NULL: anonymous memory of backing.
	 */
	const int *file_fds;
};

#define GUEST_RAM_MAX_REGIONS 2

struct guest_ram_region {
	const char *name;
	uint64_t gpa, size_bytes;
};

/* The regions guest_ram_create() makes for size_bytes of RAM, in order; returns how many. */
unsigned guest_ram_layout(uint64_t size_bytes, struct guest_ram_region out[GUEST_RAM_MAX_REGIONS]);

/* Returns 0 or -errno with vmm_last_error() set (libthpvm's message for refused regions). */
int guest_ram_create(const struct guest_ram_config *cfg, struct thpvm_memmap **out);

/* Guest-physical end of RAM (the highest address + 1). */
uint64_t guest_ram_end(const struct thpvm_memmap *map);

#endif
