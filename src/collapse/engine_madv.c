/* SPDX-License-Identifier: MIT */
/*
 * MADV_COLLAPSE engine: the kernel allocates a THP, copies the extent
 * (shared pages included), and installs it under its own locks, so writers
 * need no help from us. One call covers a run of adjacent extents (one
 * syscall, the kernel batches what it can); what it did is measured
 * afterwards, because a multi-extent call reports only its last failure.
 */
#include <errno.h>
#include <sys/mman.h>
#include "collapse_internal.h"
#include "../kernel_compat.h"

static enum thpvm_collapse_result madv_result(int err)
{
	switch (err) {
	case ENOMEM:
		return THPVM_COLLAPSE_ALLOC_FAILED;
	case EAGAIN:
		return THPVM_COLLAPSE_MADV_EAGAIN;
	case EINVAL:
		return THPVM_COLLAPSE_MADV_EINVAL;
	default: /* EBUSY: too many none PTEs for a uffd-armed range, or a memcg charge failed */
		return THPVM_COLLAPSE_MADV_FAILED;
	}
}

/* Extents [from, from + k) of op are claimed and split. */
static void madv_claimed(struct thpvm_collapse *c, struct collapse_op *op, uint32_t from, uint32_t k)
{
	struct window_count counts[COLLAPSE_MAX_BATCH];
	uint8_t *hva = extent_hva(op->r, op->first + from);
	uint64_t len = (uint64_t)k * THPVM_EXTENT_SIZE, t0 = monotonic_ns();
	int ret, err = 0;
	bool measured;

	if (collapse_injected(c, THPVM_COLLAPSE_INJECT_ALLOC_FAIL)) {
		ret = -1;
		err = ENOMEM;
	} else {
		int old_nice = collapse_boost(c);

		ret = madvise(hva, len, MADV_COLLAPSE);
		err = ret ? errno : 0;
		collapse_unboost(old_nice);
	}
	measured = !pagemap_count_windows_fd(c->pagemap_fd, (uintptr_t)hva, (uintptr_t)(hva + len),
						     (uintptr_t)hva, counts, k);
	for (uint32_t i = 0; i < k; i++) {
		uint32_t o = from + i;
		bool huge = measured && counts[i].nr_huge == THPVM_EXTENT_PAGES;

		if (huge)
			op->res[o] = THPVM_COLLAPSE_SUCCEED;
		else if (!measured)
			op->res[o] = THPVM_COLLAPSE_MADV_FAILED;
		else
			op->res[o] = ret ? madv_result(err) : THPVM_COLLAPSE_NOT_HUGE;
		op->engine[o] = THPVM_COLLAPSE_ENGINE_MADV;
		op->bytes_copied += huge ? THPVM_EXTENT_SIZE : 0;
		extent_release(op->r, op->first + o, measured ? &counts[i] : NULL,
			       op->res[o] == THPVM_COLLAPSE_ALLOC_FAILED);
	}
	op->pass->nr_ops++;
	account_op(c, monotonic_ns() - t0);
}

void engine_madv(struct thpvm_collapse *c, struct collapse_op *op, uint32_t from, uint32_t n)
{
	bool claimed[COLLAPSE_MAX_BATCH];

	for (uint32_t i = from; i < from + n; i++) {
		struct extent_snapshot snap;

		claimed[i] = false;
		if (extent_claim(op->r, op->first + i, &snap)) {
			op->res[i] = THPVM_COLLAPSE_BUSY;
		} else if (snap.state != THPVM_EXTENT_SPLIT) {
			extent_release(op->r, op->first + i, NULL, false);
			op->res[i] = THPVM_COLLAPSE_CHANGED;
		} else {
			claimed[i] = true;
		}
	}
	for (uint32_t i = from, j; i < from + n; i = j) {
		if (!claimed[i]) {
			j = i + 1;
			continue;
		}
		for (j = i; j < from + n && claimed[j]; j++)
			;
		madv_claimed(c, op, i, j - i);
	}
}
