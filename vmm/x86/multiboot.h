/* SPDX-License-Identifier: MIT */
/* Multiboot v1 kernels (multiboot.c): for the Linux loader's files only, like linux_internal.h. */
#ifndef THPVM_X86_MULTIBOOT_H
#define THPVM_X86_MULTIBOOT_H

#include <stdbool.h>
#include <stdint.h>
#include "linux_internal.h"

#define MULTIBOOT_BOOT_MAGIC 0x2BADB002u /* EAX at the kernel's entry */
#define MULTIBOOT_MAX_MODULES 12         /* their list fits between the info and the memory map (layout.h) */

/* Whether head (the file's first bytes, 8 KiB or all of it) holds a multiboot header. */
bool multiboot_is_multiboot(const uint8_t *head, uint64_t head_len);
/* The header (checksum, flags thpvm can honour) and the ELF32 image's segments and entry into img. */
int multiboot_probe(const struct linux_file *f, const uint8_t *head, uint64_t head_len, struct linux_image *img);
/*
 * cfg's modules into guest RAM from from_gpa on (page-aligned, below
 * low_end), their list and strings in low memory; b->nr_modules and
 * b->modules_end_gpa say what was done.
 */
int multiboot_load_modules(struct thpvm_memmap *map, const struct linux_load_config *cfg, uint64_t from_gpa,
			   uint64_t low_end, struct linux_boot *b);
/* The multiboot information at X86_MB_INFO_GPA: memory sizes, the e820 map, command line, modules, our name. */
int multiboot_write_info(const struct linux_boot *b, const struct boot_e820_entry *e820, unsigned nr_e820,
			 struct thpvm_memmap *map);

#endif
