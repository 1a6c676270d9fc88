/* SPDX-License-Identifier: MIT */
/*
 * The new huge pages of copy-and-remap, allocated outside any lock or claim.
 *
 * They come from a pool: one large anonymous VMA (address space only,
 * MAP_NORESERVE, MADV_HUGEPAGE), handed out in consecutive 2 MiB-aligned
 * windows. A window moved onto guest RAM keeps the pool's anon_vma and its
 * page offset, so windows handed out one after the other and moved onto
 * adjacent extents merge into one VMA there (host-facts.md: consecutive
 * chunks of one staging VMA merge). The collapser's cursor walks guest RAM
 * in address order, so a fully split region ends up as a few VMAs instead of
 * one per operation.
 *
 * Each window is populated (MADV_POPULATE_WRITE) and measured: a window the
 * kernel could only back with 4 KiB pages is an allocation failure, not a
 * collapse. The pool is released on pause, so a fork never inherits it.
 */
#include <errno.h>
#include <sys/mman.h>
#include "collapse_internal.h"
#include "../kernel_compat.h"

#define POOL_EXTENTS 512 /* 1 GiB of address space per pool */

static bool pool_create(struct thpvm_collapse *c)
{
	uint64_t len = POOL_EXTENTS * THPVM_EXTENT_SIZE;
	uint8_t *raw, *p;

	raw = mmap(NULL, len + THPVM_EXTENT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (raw == MAP_FAILED)
		return false;
	p = (uint8_t *)ALIGN_UP((uintptr_t)raw, THPVM_EXTENT_SIZE);
	if (p > raw)
		munmap(raw, (size_t)(p - raw));
	munmap(p + len, (size_t)(raw + THPVM_EXTENT_SIZE - p));
	if (madvise(p, len, MADV_HUGEPAGE)) {
		munmap(p, len);
		return false;
	}
	c->pool.base = p;
	c->pool.next = 0;
	return true;
}

void staging_release(struct thpvm_collapse *c)
{
	if (!c->pool.base)
		return;
	/* only windows never moved away: a moved window's hole may hold someone else's mapping now */
	munmap(c->pool.base + (uint64_t)c->pool.next * THPVM_EXTENT_SIZE,
	       (uint64_t)(POOL_EXTENTS - c->pool.next) * THPVM_EXTENT_SIZE);
	c->pool.base = NULL;
}

uint8_t *staging_alloc(struct thpvm_collapse *c, uint32_t nr_extents)
{
	uint64_t len = (uint64_t)nr_extents * THPVM_EXTENT_SIZE;
	struct window_count counts[COLLAPSE_MAX_BATCH];
	uint8_t *p;

	if (collapse_injected(c, THPVM_COLLAPSE_INJECT_ALLOC_FAIL))
		return NULL;
	if (c->pool.base && c->pool.next + nr_extents > POOL_EXTENTS)
		staging_release(c);
	if (!c->pool.base && !pool_create(c))
		return NULL;
	p = c->pool.base + (uint64_t)c->pool.next * THPVM_EXTENT_SIZE;
	/* a window left populated by a failed operation is simply reused */
	if (madvise(p, len, MADV_POPULATE_WRITE))
		goto fail;
	if (pagemap_count_windows_fd(c->pagemap_fd, (uintptr_t)p, (uintptr_t)(p + len), (uintptr_t)p, counts,
				     nr_extents))
		goto fail;
	for (uint32_t i = 0; i < nr_extents; i++)
		if (counts[i].nr_huge != THPVM_EXTENT_PAGES)
			goto fail;
	return p;
fail:
	/* give the memory back now, keep the address space: the next attempt repopulates */
	madvise(p, len, MADV_DONTNEED);
	return NULL;
}

void staging_done(struct thpvm_collapse *c, uint8_t *staging, uint32_t nr_extents, const bool *moved)
{
	bool any = false;

	for (uint32_t i = 0; i < nr_extents; i++)
		any |= moved[i];
	if (!any)
		return; /* nothing moved: the populated windows serve the next operation */
	/* windows left behind between moved ones are unmapped; the pool continues after the last */
	for (uint32_t i = 0; i < nr_extents; i++)
		if (!moved[i])
			munmap(staging + (uint64_t)i * THPVM_EXTENT_SIZE, THPVM_EXTENT_SIZE);
	c->pool.next += nr_extents;
}
