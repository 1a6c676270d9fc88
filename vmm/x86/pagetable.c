/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include "pagetable.h"

#define PT_ENTRIES 512
#define PT_INTERMEDIATE (PTE_P | PTE_W | PTE_U)

uint64_t pt_bytes_needed(uint64_t size_bytes, uint64_t page_size)
{
	uint64_t leaves = (size_bytes + page_size - 1) / page_size;
	uint64_t pts = page_size == 4096 ? (leaves + PT_ENTRIES - 1) / PT_ENTRIES : 0;
	uint64_t pds = ((page_size == 4096 ? pts : leaves) + PT_ENTRIES - 1) / PT_ENTRIES;
	uint64_t pdpts = (pds + PT_ENTRIES - 1) / PT_ENTRIES;

	/* +1 of each level for a range that straddles a boundary, +1 PML4 */
	return (pts + pds + pdpts + 3 + 1) * 4096;
}

static uint64_t *table_at(const struct pt_builder *pt, uint64_t gpa)
{
	return thpvm_memmap_gpa_to_hva(pt->map, gpa, 4096);
}

static int alloc_table(struct pt_builder *pt, uint64_t *gpa)
{
	uint64_t *t;

	if (pt->used + 4096 > pt->area_size)
		return -ENOMEM;
	*gpa = pt->area_gpa + pt->used;
	t = table_at(pt, *gpa);
	if (!t)
		return -EFAULT;
	memset(t, 0, 4096);
	pt->used += 4096;
	return 0;
}

int pt_init(struct pt_builder *pt, struct thpvm_memmap *map, uint64_t area_gpa, uint64_t area_size)
{
	if (area_gpa % 4096 || area_size % 4096 || !thpvm_memmap_gpa_to_hva(map, area_gpa, area_size))
		return -EFAULT;
	memset(pt, 0, sizeof(*pt));
	pt->map = map;
	pt->area_gpa = area_gpa;
	pt->area_size = area_size;
	return alloc_table(pt, &pt->pml4_gpa);
}

/* The next-level table under entry e of table, created if absent. */
static int next_table(struct pt_builder *pt, uint64_t *table, unsigned idx, uint64_t **out)
{
	uint64_t gpa;
	int ret;

	if (!(table[idx] & PTE_P)) {
		ret = alloc_table(pt, &gpa);
		if (ret)
			return ret;
		table[idx] = gpa | PT_INTERMEDIATE;
	} else if (table[idx] & PTE_PS) {
		return -EINVAL; /* a large leaf is already here */
	}
	*out = table_at(pt, table[idx] & PTE_ADDR_MASK);
	return *out ? 0 : -EFAULT;
}

int pt_map(struct pt_builder *pt, uint64_t gva, uint64_t gpa, uint64_t size, uint64_t page_size, uint64_t flags)
{
	if ((page_size != 4096 && page_size != (2ULL << 20)) || gva % page_size || gpa % page_size || size % page_size)
		return -EINVAL;
	if (flags & ~(PTE_W | PTE_U | PTE_NX | PTE_G | PTE_PCD | PTE_PWT))
		return -EINVAL;
	for (uint64_t off = 0; off < size; off += page_size) {
		uint64_t va = gva + off, *pdpt, *pd, *ptab, *leaf;
		int ret;

		if ((ret = next_table(pt, table_at(pt, pt->pml4_gpa), (va >> 39) & 511, &pdpt)) ||
		    (ret = next_table(pt, pdpt, (va >> 30) & 511, &pd)))
			return ret;
		if (page_size == 4096) {
			if ((ret = next_table(pt, pd, (va >> 21) & 511, &ptab)))
				return ret;
			leaf = &ptab[(va >> 12) & 511];
		} else {
			leaf = &pd[(va >> 21) & 511];
		}
		if (*leaf & PTE_P)
			return -EINVAL;
		/* A and D preset: the guest never takes the assist to set them */
		*leaf = (gpa + off) | PTE_P | PTE_A | PTE_D | flags | (page_size == 4096 ? 0 : PTE_PS);
	}
	return 0;
}

int pt_translate(const struct pt_builder *pt, uint64_t gva, uint64_t *gpa, uint64_t *page_size, uint64_t *flags)
{
	uint64_t table = pt->pml4_gpa, e = 0;
	int shift = 39;

	for (int level = 4; level >= 1; level--, shift -= 9) {
		const uint64_t *t = table_at(pt, table);

		if (!t)
			return -EFAULT;
		e = t[(gva >> shift) & 511];
		if (!(e & PTE_P))
			return -EFAULT;
		if (level == 1 || (level == 2 && (e & PTE_PS))) {
			uint64_t size = 1ULL << shift;

			*gpa = (e & PTE_ADDR_MASK & ~(size - 1)) | (gva & (size - 1));
			*page_size = size;
			*flags = e & ~PTE_ADDR_MASK;
			return 0;
		}
		if (level == 3 && (e & PTE_PS))
			return -EFAULT; /* 1 GiB pages are not used (kvm-pvm triple-faults on them) */
		table = e & PTE_ADDR_MASK;
	}
	return -EFAULT;
}
