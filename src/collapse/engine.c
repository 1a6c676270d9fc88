/* SPDX-License-Identifier: MIT */
/*
 * Collapse: pick the engine for an operation. auto tries MADV_COLLAPSE
 * first (the kernel copies and installs under its own locks, ~200 us per
 * 2 MiB warm); the extents it refuses (EINVAL: a MAP_PRIVATE file range
 * holding copied pages; EBUSY) go to copy-and-remap. Transient refusals
 * (EAGAIN) and allocation failures are retried by a later pass instead.
 */
#include "collapse_internal.h"

static bool remap_can_help(enum thpvm_collapse_result res)
{
	return res == THPVM_COLLAPSE_MADV_EINVAL || res == THPVM_COLLAPSE_MADV_FAILED;
}

/*
 * Writers wait for a whole copy-and-remap operation, so it takes at most
 * remap_batch extents: the write-protect window stays one copy long. The
 * staging pool still merges the results of consecutive operations into one
 * VMA, so small operations cost flushes, not VMAs.
 */
static void remap_chunks(struct thpvm_collapse *c, struct collapse_op *op, uint32_t from, uint32_t n)
{
	for (uint32_t done = 0; done < n && !op->pass->vma_limit; done += c->cfg.remap_batch_extents) {
		uint32_t k = n - done < c->cfg.remap_batch_extents ? n - done : c->cfg.remap_batch_extents;

		engine_remap(c, op, from + done, k);
	}
}

void collapse_op_run(struct thpvm_collapse *c, struct collapse_op *op)
{
	for (uint32_t i = 0; i < op->n; i++) {
		op->res[i] = THPVM_COLLAPSE_NOT_SPLIT;
		op->engine[i] = THPVM_COLLAPSE_ENGINE_AUTO;
	}
	switch (c->cfg.engine) {
	case THPVM_COLLAPSE_ENGINE_MADV:
		engine_madv(c, op, 0, op->n);
		break;
	case THPVM_COLLAPSE_ENGINE_REMAP:
		remap_chunks(c, op, 0, op->n);
		break;
	default:
		engine_madv(c, op, 0, op->n);
		for (uint32_t i = 0, j; i < op->n; i = j) {
			if (!remap_can_help(op->res[i])) {
				j = i + 1;
				continue;
			}
			for (j = i; j < op->n && remap_can_help(op->res[j]); j++)
				op->pass->results[op->res[j]]++; /* every stage's verdict is counted */
			remap_chunks(c, op, i, j - i);
		}
		break;
	}
	/* into the pass, not the stats: account_pass() adds them with nr_collapsed, so no reader sees one without the other */
	for (uint32_t i = 0; i < op->n; i++)
		if (op->res[i] == THPVM_COLLAPSE_SUCCEED)
			op->pass->nr_collapsed_by_engine[op->engine[i]]++;
}
