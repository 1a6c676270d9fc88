/* SPDX-License-Identifier: MIT */
/*
 * The guest's e820 memory map, built from the thpvm memory map. One table
 * feeds both the bzImage zero page and the PVH hvm_start_info memmap (whose
 * types are the e820 types).
 */
#ifndef THPVM_X86_E820_H
#define THPVM_X86_E820_H

#include <stdint.h>
#include <asm/bootparam.h>
#include <thpvm.h>

#define E820_TYPE_RAM      1
#define E820_TYPE_RESERVED 2

/*
 * RAM regions of map (regions flagged THPVM_REGION_F_NOHUGE are device
 * memory or ROM: reserved), minus [X86_EBDA_GPA, X86_EBDA_END) which is
 * reserved (EBDA, MP table, VGA hole, BIOS ROM), minus the MMIO hole, which is
 * not listed at all (it is no memory; Linux finds its PCI gap there). Page 0
 * stays usable RAM, as with Firecracker and kvmtool: Linux reserves it itself.
 * Sorted by address, non-overlapping, adjacent entries of one type merged.
 * Returns the number of entries, or -E2BIG when more than max are needed.
 */
int e820_build(const struct thpvm_memmap *map, struct boot_e820_entry *out, unsigned max);

#endif
