/* SPDX-License-Identifier: MIT */
/*
 * The PVH boot ABI (Xen's public/arch-x86/hvm/start_info.h, used by Linux
 * without Xen since 4.21): a vmlinux announces a 32-bit entry point in an ELF
 * note; the loader passes an hvm_start_info in EBX. Defined here because
 * Debian's linux-libc-dev does not ship the Xen headers.
 */
#ifndef THPVM_X86_PVH_H
#define THPVM_X86_PVH_H

#include <stdint.h>

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define XEN_HVM_START_MAGIC_VALUE 0x336ec578
#define PVH_START_INFO_VERSION 1 /* with the memory map */

/* Types of hvm_memmap_table_entry: the e820 types. */
#define XEN_HVM_MEMMAP_TYPE_RAM 1
#define XEN_HVM_MEMMAP_TYPE_RESERVED 2

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	/* version 1 */
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info ABI");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry ABI");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry ABI");

#endif
