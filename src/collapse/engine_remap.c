/* SPDX-License-Identifier: MIT */
/*
 * Copy-and-remap engine, for what MADV_COLLAPSE cannot do (a MAP_PRIVATE
 * file range holding copied pages) or when asked for:
 *
 *   1. allocate a fresh THP area for the run (staging.c), outside any claim;
 *   2. claim the extents; stop their writers: register the range with
 *      userfaultfd and write-protect it (every present page and, with
 *      UFFD_FEATURE_WP_UNPOPULATED, every absent one; without it, Linux
 *      < 6.4, absent pages get the zero page first so that they are
 *      present), or, where the kernel cannot write-protect the mapping,
 *      call the quiesce hook;
 *   3. copy; 4. revalidate: generations unchanged, and no page lost its
 *      uffd-wp bit since the protection (PAGEMAP_SCAN, or pagemap);
 *   5. mremap the new area onto the extents (one call for the run);
 *   6. wake the writers: they retry on the new page, where their write lands;
 *   7. measure, release the claims.
 *
 * Any failure before 5 leaves the old mapping in place: the protection is
 * lifted (which wakes the writers onto their old pages) and the range
 * unregistered. docs/collapse.md argues step by step why no write is lost.
 */
#include "config.h" /* _GNU_SOURCE: mremap */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include "collapse_internal.h"

/* A remap may add the staging VMA and split guest RAM's VMA twice (register, then the moved-in page). */
#define VMAS_PER_OP 4

static bool vma_room(struct thpvm_collapse *c)
{
	if (c->nr_vmas + VMAS_PER_OP <= c->vma_limit)
		return true;
	c->nr_vmas = vma_count_now(); /* the estimate is pessimistic: count before refusing */
	c->vmas_counted_ns = monotonic_ns();
	return c->nr_vmas + VMAS_PER_OP <= c->vma_limit;
}

/* Stops the writers of [hva, hva + len). Sets *wp or *quiesced; returns SUCCEED or why not. */
static enum thpvm_collapse_result stop_writers(struct thpvm_collapse *c, uint8_t *hva, uint64_t len, bool *wp,
					       bool *quiesced)
{
	int ret = uffd_register_wp(&c->uffd, hva, len);

	if (!ret) {
		ret = uffd_prepare_absent(&c->uffd, hva, len);
		if (!ret)
			ret = uffd_protect(&c->uffd, hva, len, true);
		if (!ret) {
			*wp = true;
			return THPVM_COLLAPSE_SUCCEED;
		}
		uffd_unregister(&c->uffd, hva, len);
		return THPVM_COLLAPSE_UFFD_FAILED;
	}
	if (ret == -ENOMEM) /* registering splits the VMA: no room for it */
		return THPVM_COLLAPSE_VMA_LIMIT;
	/* EINVAL: not anonymous, shmem or hugetlb (ext4 MAP_PRIVATE); EOPNOTSUPP: no userfaultfd */
	if (!c->cfg.quiesce)
		return THPVM_COLLAPSE_NO_WRITE_PROTECT;
	if (c->cfg.quiesce(c->cfg.quiesce_arg, true))
		return THPVM_COLLAPSE_QUIESCE_FAILED;
	*quiesced = true;
	return THPVM_COLLAPSE_SUCCEED;
}

static void add_phase(struct thpvm_collapse *c, uint64_t *field, uint64_t *t)
{
	uint64_t now = monotonic_ns();

	pthread_mutex_lock(&c->stats_lock);
	*field += now - *t;
	pthread_mutex_unlock(&c->stats_lock);
	*t = now;
}

/* Copy, revalidate, install: extents [from, from + k) of op are claimed. */
static enum thpvm_collapse_result copy_and_install(struct thpvm_collapse *c, struct collapse_op *op, uint32_t from,
						   uint32_t k, uint8_t *staging, const struct extent_snapshot *snap,
						   bool wp, uint64_t *t)
{
	uint8_t *hva = extent_hva(op->r, op->first + from);
	uint64_t len = (uint64_t)k * THPVM_EXTENT_SIZE;

	/* every write before the protection is in these pages; every later one is blocked */
	memcpy(staging, hva, len);
	add_phase(c, &c->stats.remap_copy_ns, t);
	if (collapse_injected(c, THPVM_COLLAPSE_INJECT_GENERATION))
		extent_bump_generation(op->r, op->first + from);
	for (uint32_t i = 0; i < k; i++)
		if (extent_generation(op->r, op->first + from + i) != snap[i].generation)
			return THPVM_COLLAPSE_GENERATION_CHANGED;
	/* the kernel's own view: a page that lost its uffd-wp bit was written (never expected); unknown is not clean */
	if (wp && uffd_range_written(c->pagemap_fd, hva, len))
		return THPVM_COLLAPSE_WRITTEN;
	if (collapse_injected(c, THPVM_COLLAPSE_INJECT_REMAP_FAIL))
		return THPVM_COLLAPSE_REMAP_FAILED;
	if (mremap(staging, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, hva) == MAP_FAILED)
		return errno == ENOMEM ? THPVM_COLLAPSE_VMA_LIMIT : THPVM_COLLAPSE_REMAP_FAILED;
	return THPVM_COLLAPSE_SUCCEED;
}

/* One operation on claimed extents [from, from + k). Returns whether the staging windows moved. */
static bool remap_claimed(struct thpvm_collapse *c, struct collapse_op *op, uint32_t from, uint32_t k,
			  uint8_t *staging, const struct extent_snapshot *snap)
{
	struct window_count counts[COLLAPSE_MAX_BATCH];
	uint8_t *hva = extent_hva(op->r, op->first + from);
	uint64_t len = (uint64_t)k * THPVM_EXTENT_SIZE, t0 = monotonic_ns(), t = t0;
	bool wp = false, quiesced = false, measured = false;
	enum thpvm_collapse_result res;
	int old_nice = collapse_boost(c);

	res = stop_writers(c, hva, len, &wp, &quiesced);
	add_phase(c, &c->stats.remap_protect_ns, &t);
	if (res == THPVM_COLLAPSE_SUCCEED) {
		res = copy_and_install(c, op, from, k, staging, snap, wp, &t);
		add_phase(c, &c->stats.remap_install_ns, &t);
	}
	if (wp) {
		/* writers that faulted are queued by now (they enqueue before mremap can take mmap_lock) */
		uffd_drain(&c->uffd);
		if (res == THPVM_COLLAPSE_SUCCEED) {
			/* the moved-in VMA is not registered: they retry there and their writes land in the new page */
			uffd_wake(&c->uffd, hva, len);
		} else {
			uffd_protect(&c->uffd, hva, len, false); /* wakes them onto the old pages */
			uffd_unregister(&c->uffd, hva, len);      /* MADV_COLLAPSE refuses armed ranges with holes */
		}
		uffd_account_stalls(c, (uintptr_t)hva, (uintptr_t)(hva + len), t0, monotonic_ns());
	}
	if (quiesced)
		c->cfg.quiesce(c->cfg.quiesce_arg, false);
	collapse_unboost(old_nice);

	if (res == THPVM_COLLAPSE_SUCCEED) {
		measured = !pagemap_count_windows_fd(c->pagemap_fd, (uintptr_t)hva, (uintptr_t)(hva + len),
						     (uintptr_t)hva, counts, k);
		c->nr_vmas += 2;
		op->bytes_copied += len;
	}
	for (uint32_t i = 0; i < k; i++) {
		uint32_t o = from + i;

		op->engine[o] = THPVM_COLLAPSE_ENGINE_REMAP;
		op->res[o] = res;
		if (res == THPVM_COLLAPSE_SUCCEED && (!measured || counts[i].nr_huge != THPVM_EXTENT_PAGES))
			op->res[o] = THPVM_COLLAPSE_NOT_HUGE;
		extent_release(op->r, op->first + o, measured ? &counts[i] : NULL, false);
	}
	if (res == THPVM_COLLAPSE_VMA_LIMIT)
		op->pass->vma_limit = true;
	add_phase(c, &c->stats.remap_wake_ns, &t);
	op->pass->nr_ops++;
	account_op(c, monotonic_ns() - t0);
	return res == THPVM_COLLAPSE_SUCCEED;
}

void engine_remap(struct thpvm_collapse *c, struct collapse_op *op, uint32_t from, uint32_t n)
{
	struct extent_snapshot snap[COLLAPSE_MAX_BATCH];
	bool moved[COLLAPSE_MAX_BATCH] = { false };
	uint64_t t;
	uint8_t *staging;

	if (!vma_room(c)) {
		for (uint32_t i = from; i < from + n; i++)
			op->res[i] = THPVM_COLLAPSE_VMA_LIMIT;
		op->pass->vma_limit = true;
		return;
	}
	t = monotonic_ns();
	staging = staging_alloc(c, n);
	add_phase(c, &c->stats.remap_alloc_ns, &t);
	if (!staging) {
		for (uint32_t i = from; i < from + n; i++)
			op->res[i] = THPVM_COLLAPSE_ALLOC_FAILED;
		region_count_collapse_failed(op->r, n);
		return;
	}
	/* claim the longest run that can be claimed, operate on it, skip the extent that could not */
	for (uint32_t i = 0, j; i < n; i = j + 1) {
		for (j = i; j < n; j++) {
			uint64_t idx = op->first + from + j;

			if (extent_claim(op->r, idx, &snap[j])) {
				op->res[from + j] = THPVM_COLLAPSE_BUSY;
				break;
			}
			if (snap[j].state != THPVM_EXTENT_SPLIT) {
				extent_release(op->r, idx, NULL, false);
				op->res[from + j] = THPVM_COLLAPSE_CHANGED;
				break;
			}
		}
		if (j > i && remap_claimed(c, op, from + i, j - i, staging + (uint64_t)i * THPVM_EXTENT_SIZE, &snap[i]))
			for (uint32_t m = i; m < j; m++)
				moved[m] = true;
	}
	staging_done(c, staging, n, moved);
}
