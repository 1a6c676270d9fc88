/* SPDX-License-Identifier: MIT */
/*
 * The new huge pages of copy-and-remap, allocated outside any lock or claim:
 * a private anonymous area, 2 MiB aligned so each window can be one PMD,
 * MADV_HUGEPAGE + MADV_POPULATE_WRITE, and measured: a window the kernel
 * could only back with 4 KiB pages is an allocation failure, not a collapse.
 */
#include <errno.h>
#include <sys/mman.h>
#include "collapse_internal.h"
#include "../kernel_compat.h"

uint8_t *staging_alloc(struct thpvm_collapse *c, uint32_t nr_extents)
{
	uint64_t len = (uint64_t)nr_extents * THPVM_EXTENT_SIZE;
	struct window_count counts[COLLAPSE_MAX_BATCH];
	uint8_t *raw, *p;

	if (collapse_injected(c, THPVM_COLLAPSE_INJECT_ALLOC_FAIL))
		return NULL;
	raw = mmap(NULL, len + THPVM_EXTENT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (raw == MAP_FAILED)
		return NULL;
	p = (uint8_t *)ALIGN_UP((uintptr_t)raw, THPVM_EXTENT_SIZE);
	if (p > raw)
		munmap(raw, (size_t)(p - raw));
	if (raw + THPVM_EXTENT_SIZE > p)
		munmap(p + len, (size_t)(raw + THPVM_EXTENT_SIZE - p));
	if (madvise(p, len, MADV_HUGEPAGE) || madvise(p, len, MADV_POPULATE_WRITE))
		goto fail;
	if (pagemap_count_windows_fd(c->pagemap_fd, (uintptr_t)p, (uintptr_t)(p + len), (uintptr_t)p, counts,
				     nr_extents))
		goto fail;
	for (uint32_t i = 0; i < nr_extents; i++)
		if (counts[i].nr_huge != THPVM_EXTENT_PAGES)
			goto fail;
	return p;
fail:
	munmap(p, len);
	return NULL;
}

void staging_free(uint8_t *staging, uint32_t nr_extents)
{
	if (staging && nr_extents)
		munmap(staging, (uint64_t)nr_extents * THPVM_EXTENT_SIZE);
}
