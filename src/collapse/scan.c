/* SPDX-License-Identifier: MIT */
/*
 * Scan: one pass refreshes the extent table of all guest RAM (one
 * PAGEMAP_SCAN walk per region, ~50 us per GiB), then examines at most
 * budget_extents extents from a cursor kept across passes, asks the policy
 * about each, and hands runs of adjacent candidates to the engines (up to
 * batch_extents per operation: one TLB and stage-2 invalidation per run
 * instead of one per extent, seed 001).
 */
#include <errno.h>
#include <sys/prctl.h>
#include "collapse_internal.h"
#include "../kernel_compat.h"

#define SECOND_NS 1000000000ULL

struct run {
	struct thpvm_region *r;
	unsigned region;
	uint64_t first;
	uint32_t n;
};

/* Spaces operations so copying stays under rate_mib_s; the sleep ends early on pause or stop. */
static void rate_limit(struct thpvm_collapse *c, uint64_t bytes)
{
	uint64_t now = monotonic_ns(), slept;

	if (!c->cfg.rate_mib_s || !bytes)
		return;
	if (c->rate_next_ns < now)
		c->rate_next_ns = now;
	c->rate_next_ns += bytes * 1000000000ULL / ((uint64_t)c->cfg.rate_mib_s << 20);
	if (c->rate_next_ns <= now)
		return;
	slept = collapse_sleep_until(c, c->rate_next_ns);
	pthread_mutex_lock(&c->stats_lock);
	c->stats.rate_sleep_ns += slept;
	pthread_mutex_unlock(&c->stats_lock);
}

static void start_backoff(struct thpvm_collapse *c)
{
	uint64_t step = c->backoff_step_ms ? c->backoff_step_ms * 2 : c->cfg.backoff_min_ms;

	if (step > c->cfg.backoff_max_ms)
		step = c->cfg.backoff_max_ms;
	c->backoff_step_ms = step;
	c->backoff_until_ns = monotonic_ns() + step * 1000000ULL;
	pthread_mutex_lock(&c->stats_lock);
	c->stats.nr_backoffs++;
	c->stats.backoff_ms_now = step;
	pthread_mutex_unlock(&c->stats_lock);
}

static void flush(struct thpvm_collapse *c, struct run *run, struct thpvm_collapse_pass *pass)
{
	struct collapse_op op = { .pass = pass, .r = run->r, .first = run->first, .n = run->n };
	bool alloc_failed = false, collapsed = false;

	if (!run->n)
		return;
	collapse_op_run(c, &op);
	run->n = 0;
	for (uint32_t i = 0; i < op.n; i++) {
		pass->results[op.res[i]]++;
		collapsed |= op.res[i] == THPVM_COLLAPSE_SUCCEED;
		alloc_failed |= op.res[i] == THPVM_COLLAPSE_ALLOC_FAILED;
		if (op.res[i] == THPVM_COLLAPSE_SUCCEED)
			pass->nr_collapsed++;
		else
			pass->nr_failed++;
	}
	pass->bytes_copied += op.bytes_copied;
	if (collapsed) {
		region_thp_reason_update(op.r, THPVM_THP_ELIGIBLE);
		if (!alloc_failed && c->backoff_step_ms) {
			c->backoff_step_ms = 0;
			pthread_mutex_lock(&c->stats_lock);
			c->stats.backoff_ms_now = 0;
			pthread_mutex_unlock(&c->stats_lock);
		}
	}
	/* never spin on a failing allocator: sleep, longer each time, then retry in a later pass */
	if (alloc_failed) {
		start_backoff(c);
		pass->backing_off = true;
	}
	rate_limit(c, op.bytes_copied);
}

int collapse_pass(struct thpvm_collapse *c, struct thpvm_collapse_pass *pass)
{
	enum thpvm_thp_reason elig[THPVM_MAX_REGIONS];
	struct thpvm_memmap *map = c->map;
	struct thpvm_host_thp host;
	uint64_t total = 0, budget, now;
	struct run run = { 0 };
	int ret;

	if (c->cfg.mode == THPVM_COLLAPSE_MODE_OFF || !map->nr_regions)
		return 0;
	if (monotonic_ns() < c->backoff_until_ns) {
		pass->backing_off = true;
		pass->results[THPVM_COLLAPSE_BACKOFF]++;
		return 0;
	}
	/* an idle pass stays cheap: sysfs and /proc/self/maps at most once a second */
	now = monotonic_ns();
	if (now - c->host_read_ns >= SECOND_NS || !c->host_read_ns) {
		thpvm_host_thp_read(&c->host);
		c->host_read_ns = now;
	} else {
		int prctl_now = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);

		c->host.prctl_thp_disable = prctl_now > 0 ? prctl_now : 0;
	}
	host = c->host;
	for (unsigned i = 0; i < map->nr_regions; i++) {
		struct thpvm_region *r = map->regions[i];

		/* the host's settings now: THP may have been allowed (or refused) since the region was made */
		elig[i] = thp_eligibility(&host, r->backing, r->flags, r->gpa, r->size_bytes);
		ret = thpvm_region_refresh(r);
		if (ret)
			return ret;
		total += r->nr_extents;
	}
	if (now - c->vmas_counted_ns >= SECOND_NS || !c->vmas_counted_ns) {
		c->nr_vmas = vma_count_now();
		c->vmas_counted_ns = now;
	}
	c->vma_limit = vma_limit_for(&c->cfg, c->max_map_count);
	if (c->cursor_region >= map->nr_regions) {
		c->cursor_region = 0;
		c->cursor_extent = 0;
	}
	budget = c->cfg.budget_extents < total ? c->cfg.budget_extents : total;
	now = monotonic_ns();
	for (uint64_t n = 0; n < budget && !pass->backing_off && !pass->vma_limit; n++) {
		unsigned ri = c->cursor_region;
		struct thpvm_region *r = map->regions[ri];
		uint64_t idx = c->cursor_extent;
		enum thpvm_collapse_result res;
		bool candidate;

		if (collapse_should_yield(c)) {
			/* give back the unflushed run: the next pass starts with it */
			if (run.n) {
				c->cursor_region = run.region;
				c->cursor_extent = run.first;
				run.n = 0;
			}
			break;
		}
		if (++c->cursor_extent >= r->nr_extents) {
			c->cursor_extent = 0;
			if (++c->cursor_region >= map->nr_regions) {
				c->cursor_region = 0;
				pass->wrapped = true;
			}
		}
		pass->nr_examined++;
		res = policy_choose(&c->cfg, r, idx, elig[ri], now, &candidate);
		if (!candidate) {
			pass->results[res]++;
			flush(c, &run, pass);
			continue;
		}
		pass->nr_candidates++;
		if (run.n && (run.r != r || run.first + run.n != idx || run.n == c->cfg.batch_extents))
			flush(c, &run, pass);
		if (pass->backing_off || pass->vma_limit) {
			/* this candidate was not tried: the cursor comes back to it */
			c->cursor_region = ri;
			c->cursor_extent = idx;
			break;
		}
		if (!run.n)
			run = (struct run){ .r = r, .region = ri, .first = idx };
		run.n++;
	}
	flush(c, &run, pass);
	return 0;
}
