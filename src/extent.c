/* SPDX-License-Identifier: MIT */
/*
 * The extent table: one record per 2 MiB window of a region, holding the
 * state the kernel was last measured to have. Locking is per extent and
 * never nested (seed 004: one lock per huge page, not 512).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "internal.h"

static const char *const state_str[] = { THPVM_EXTENT_STATES(THPVM_RESULT_STR_ITEM) };

THPVM_EXPORT const char *thpvm_extent_state_str(enum thpvm_extent_state state)
{
	return (unsigned)state < THPVM_NR_EXTENT_STATES ? state_str[state] : "unknown";
}

uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t extent_gpa(const struct thpvm_region *r, uint64_t idx)
{
	uint64_t gpa = r->first_extent_gpa + idx * THPVM_EXTENT_SIZE;

	return gpa < r->gpa ? r->gpa : gpa;
}

uint32_t extent_nr_pages(const struct thpvm_region *r, uint64_t idx)
{
	uint64_t start = extent_gpa(r, idx);
	uint64_t end = r->first_extent_gpa + (idx + 1) * THPVM_EXTENT_SIZE;

	if (end > r->gpa + r->size_bytes)
		end = r->gpa + r->size_bytes;
	return (uint32_t)((end - start) / THPVM_PAGE_SIZE);
}

uint8_t *extent_hva(const struct thpvm_region *r, uint64_t idx)
{
	return r->hva + (extent_gpa(r, idx) - r->gpa);
}

enum thpvm_map_result extent_table_init(struct thpvm_region *r)
{
	uint64_t now = monotonic_ns();

	r->first_extent_gpa = ALIGN_DOWN(r->gpa, THPVM_EXTENT_SIZE);
	r->nr_extents = (ALIGN_UP(r->gpa + r->size_bytes, THPVM_EXTENT_SIZE) - r->first_extent_gpa) / THPVM_EXTENT_SIZE;
	r->extents = calloc(r->nr_extents, sizeof(*r->extents));
	if (!r->extents)
		return map_error(THPVM_MAP_NO_MEMORY, "extent table of region '%s' (%llu extents)", r->name,
				 (unsigned long long)r->nr_extents);
	for (uint64_t i = 0; i < r->nr_extents; i++) {
		struct extent *e = &r->extents[i];

		pthread_mutex_init(&e->lock, NULL);
		e->state = THPVM_EXTENT_ABSENT;
		e->nr_pages = (uint16_t)extent_nr_pages(r, i);
		e->state_since_ns = now;
	}
	return THPVM_MAP_OK;
}

void extent_table_free(struct thpvm_region *r)
{
	if (!r->extents)
		return;
	for (uint64_t i = 0; i < r->nr_extents; i++)
		pthread_mutex_destroy(&r->extents[i].lock);
	free(r->extents);
	r->extents = NULL;
}

THPVM_EXPORT uint64_t thpvm_region_nr_extents(const struct thpvm_region *r)
{
	return r->nr_extents;
}

THPVM_EXPORT int64_t thpvm_region_extent_index(const struct thpvm_region *r, uint64_t gpa)
{
	if (gpa < r->gpa || gpa - r->gpa >= r->size_bytes)
		return -ERANGE;
	return (int64_t)((gpa - r->first_extent_gpa) / THPVM_EXTENT_SIZE);
}

/* The counter an observed transition stands for, or NULL. */
static uint64_t *transition_counter(struct thpvm_region *r, uint8_t from, uint8_t to)
{
	if (from == THPVM_EXTENT_ABSENT && to == THPVM_EXTENT_HUGE)
		return &r->counters.thp_fault_alloc;
	if (from == THPVM_EXTENT_ABSENT && to == THPVM_EXTENT_SPLIT &&
	    (r->thp_reason == THPVM_THP_ELIGIBLE || r->thp_reason == THPVM_THP_ALLOC_FALLBACK))
		return &r->counters.thp_fault_fallback;
	if (from == THPVM_EXTENT_HUGE && to == THPVM_EXTENT_SPLIT)
		return &r->counters.thp_split_pmd;
	return NULL;
}

static enum thpvm_extent_state classify(const struct window_count *c, uint32_t nr_pages)
{
	if (c->nr_present == 0)
		return THPVM_EXTENT_ABSENT;
	if (nr_pages == THPVM_EXTENT_PAGES && c->nr_huge == nr_pages)
		return THPVM_EXTENT_HUGE;
	return THPVM_EXTENT_SPLIT;
}

/* Takes e->lock. */
static void extent_update(struct thpvm_region *r, uint64_t idx, const struct window_count *c, uint64_t now)
{
	struct extent *e = &r->extents[idx];
	enum thpvm_extent_state state = classify(c, e->nr_pages);
	uint64_t *counter = NULL;
	uint8_t from;

	pthread_mutex_lock(&e->lock);
	if (e->claimed) { /* mid-collapse: the collapser records what it did when it releases */
		pthread_mutex_unlock(&e->lock);
		return;
	}
	from = e->state;
	if (state != from || c->nr_present != e->nr_present) {
		e->generation++;
		e->detail_valid = 0;
	}
	if (state != from) {
		counter = transition_counter(r, from, (uint8_t)state);
		e->state = (uint8_t)state;
		e->state_since_ns = now;
	}
	e->nr_present = (uint16_t)c->nr_present;
	e->file_huge = state == THPVM_EXTENT_HUGE && c->nr_file_huge == c->nr_huge;
	pthread_mutex_unlock(&e->lock);

	if (counter) {
		pthread_mutex_lock(&r->counters_lock);
		(*counter)++;
		/* measured: eligible, yet the kernel gave this extent 4 KiB pages */
		if (counter == &r->counters.thp_fault_fallback && r->thp_reason == THPVM_THP_ELIGIBLE)
			r->thp_reason = THPVM_THP_ALLOC_FALLBACK;
		pthread_mutex_unlock(&r->counters_lock);
	}
}

THPVM_EXPORT int thpvm_region_refresh(struct thpvm_region *r)
{
	struct window_count *counts = calloc(r->nr_extents, sizeof(*counts));
	uint64_t now = monotonic_ns();
	int ret;

	if (!counts)
		return -ENOMEM;
	ret = pagemap_count_windows((uintptr_t)r->hva, (uintptr_t)(r->hva + r->size_bytes),
				    (uintptr_t)(r->hva - (r->gpa - r->first_extent_gpa)), counts, r->nr_extents);
	if (!ret)
		for (uint64_t i = 0; i < r->nr_extents; i++)
			extent_update(r, i, &counts[i], now);
	free(counts);
	return ret;
}

THPVM_EXPORT int thpvm_memmap_refresh(struct thpvm_memmap *map)
{
	for (unsigned i = 0; i < map->nr_regions; i++) {
		int ret = thpvm_region_refresh(map->regions[i]);

		if (ret)
			return ret;
	}
	return 0;
}

THPVM_EXPORT int thpvm_region_refresh_detail(struct thpvm_region *r, uint64_t idx)
{
	struct extent *e;
	struct page_detail d;
	int ret;

	if (idx >= r->nr_extents)
		return -ERANGE;
	e = &r->extents[idx];
	ret = pagemap_detail((uintptr_t)extent_hva(r, idx), e->nr_pages, &d);
	if (ret)
		return ret;
	pthread_mutex_lock(&e->lock);
	if (!e->claimed) {
		e->nr_private = (uint16_t)d.nr_private;
		e->nr_shared = (uint16_t)d.nr_shared;
		e->detail_valid = 1;
	}
	pthread_mutex_unlock(&e->lock);
	return 0;
}

THPVM_EXPORT int thpvm_region_extent(const struct thpvm_region *r, uint64_t idx, struct thpvm_extent_info *out)
{
	struct extent *e;

	if (idx >= r->nr_extents)
		return -ERANGE;
	e = &r->extents[idx];
	pthread_mutex_lock(&e->lock);
	out->gpa = extent_gpa(r, idx);
	out->nr_pages = e->nr_pages;
	out->state = (enum thpvm_extent_state)e->state;
	out->file_huge = e->file_huge;
	out->nr_present = e->nr_present;
	out->detail_valid = e->detail_valid;
	out->nr_private = e->nr_private;
	out->nr_shared = e->nr_shared;
	out->nr_absent = e->detail_valid ? e->nr_pages - e->nr_private - e->nr_shared : e->nr_pages - e->nr_present;
	out->generation = e->generation;
	out->state_since_ns = e->state_since_ns;
	pthread_mutex_unlock(&e->lock);
	return 0;
}

THPVM_EXPORT void thpvm_region_counters(const struct thpvm_region *r, struct thpvm_thp_counters *out)
{
	pthread_mutex_lock((pthread_mutex_t *)&r->counters_lock);
	*out = r->counters;
	pthread_mutex_unlock((pthread_mutex_t *)&r->counters_lock);
}

int extent_claim(struct thpvm_region *r, uint64_t idx, struct extent_snapshot *out)
{
	struct extent *e = &r->extents[idx];
	int ret = 0;

	pthread_mutex_lock(&e->lock);
	if (e->claimed) {
		ret = -EBUSY;
	} else {
		e->claimed = 1;
		out->state = e->state;
		out->nr_pages = e->nr_pages;
		out->nr_present = e->nr_present;
		out->generation = e->generation;
		out->state_since_ns = e->state_since_ns;
	}
	pthread_mutex_unlock(&e->lock);
	return ret;
}

uint64_t extent_generation(struct thpvm_region *r, uint64_t idx)
{
	struct extent *e = &r->extents[idx];
	uint64_t gen;

	pthread_mutex_lock(&e->lock);
	gen = e->generation;
	pthread_mutex_unlock(&e->lock);
	return gen;
}

void extent_bump_generation(struct thpvm_region *r, uint64_t idx)
{
	struct extent *e = &r->extents[idx];

	pthread_mutex_lock(&e->lock);
	e->generation++;
	pthread_mutex_unlock(&e->lock);
}

void extent_release(struct thpvm_region *r, uint64_t idx, const struct window_count *measured, bool alloc_failed)
{
	struct extent *e = &r->extents[idx];
	bool collapsed = false;

	pthread_mutex_lock(&e->lock);
	if (measured) {
		enum thpvm_extent_state state = classify(measured, e->nr_pages);

		collapsed = state == THPVM_EXTENT_HUGE && e->state != THPVM_EXTENT_HUGE;
		if (state != e->state || measured->nr_present != e->nr_present) {
			e->generation++;
			e->detail_valid = 0;
		}
		if (state != e->state) {
			e->state = (uint8_t)state;
			e->state_since_ns = monotonic_ns();
		}
		e->nr_present = (uint16_t)measured->nr_present;
		/* a collapse installs a private THP: what was the page cache's is no longer */
		e->file_huge = state == THPVM_EXTENT_HUGE && measured->nr_file_huge == measured->nr_huge;
	}
	e->claimed = 0;
	pthread_mutex_unlock(&e->lock);

	if (collapsed || alloc_failed) {
		pthread_mutex_lock(&r->counters_lock);
		r->counters.thp_collapse_alloc += collapsed;
		r->counters.thp_collapse_alloc_failed += alloc_failed;
		pthread_mutex_unlock(&r->counters_lock);
	}
}

void region_count_collapse_failed(struct thpvm_region *r, uint64_t nr)
{
	pthread_mutex_lock(&r->counters_lock);
	r->counters.thp_collapse_alloc_failed += nr;
	pthread_mutex_unlock(&r->counters_lock);
}

void region_thp_reason_update(struct thpvm_region *r, enum thpvm_thp_reason current)
{
	pthread_mutex_lock(&r->counters_lock);
	if (current == THPVM_THP_ELIGIBLE &&
	    (r->thp_reason == THPVM_THP_HOST_NEVER || r->thp_reason == THPVM_THP_HOST_2M_NEVER ||
	     r->thp_reason == THPVM_THP_PRCTL_DISABLED))
		r->thp_reason = THPVM_THP_ELIGIBLE;
	pthread_mutex_unlock(&r->counters_lock);
}
