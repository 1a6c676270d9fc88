/* SPDX-License-Identifier: MIT */
/* Guest page tables built by the VMM (4-level, 4 KiB and 2 MiB leaves). */
#ifndef THPVM_X86_PAGETABLE_H
#define THPVM_X86_PAGETABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <thpvm.h>

#define PTE_P   (1ULL << 0)
#define PTE_W   (1ULL << 1)
#define PTE_U   (1ULL << 2)
#define PTE_PWT (1ULL << 3)
#define PTE_PCD (1ULL << 4)
#define PTE_A   (1ULL << 5)
#define PTE_D   (1ULL << 6)
#define PTE_PS  (1ULL << 7)
#define PTE_G   (1ULL << 8)
#define PTE_NX  (1ULL << 63)
#define PTE_ADDR_MASK 0x000ffffffffff000ULL

/*
 * Page tables are allocated, zeroed, from [area_gpa, area_gpa + area_size),
 * which must be RAM in map, 4 KiB aligned.
 */
struct pt_builder {
	struct thpvm_memmap *map;
	uint64_t area_gpa;
	uint64_t area_size;
	uint64_t used;       /* bytes handed out so far */
	uint64_t pml4_gpa;   /* CR3 */
};

/* Tables needed to map size bytes with the given leaf size (upper bound, for sizing the area). */
uint64_t pt_bytes_needed(uint64_t size_bytes, uint64_t page_size);

/* Allocates the PML4. Returns 0 or -ENOMEM / -EFAULT. */
int pt_init(struct pt_builder *pt, struct thpvm_memmap *map, uint64_t area_gpa, uint64_t area_size);

/*
 * Maps [gva, gva + size) to [gpa, gpa + size) with leaves of page_size
 * (4096 or 2 MiB; addresses and size aligned to it). flags: PTE_W, PTE_U,
 * PTE_NX, PTE_G; intermediate entries are P|W|U so leaf flags decide.
 * Returns 0, -EINVAL (alignment, already mapped), -ENOMEM (area full).
 */
int pt_map(struct pt_builder *pt, uint64_t gva, uint64_t gpa, uint64_t size, uint64_t page_size, uint64_t flags);

/*
 * Walks the tables like the MMU: the gpa gva translates to, or -EFAULT,
 * with the leaf's size and flags. For tests and register dumps.
 */
int pt_translate(const struct pt_builder *pt, uint64_t gva, uint64_t *gpa, uint64_t *page_size, uint64_t *flags);

#endif
