/* SPDX-License-Identifier: MIT */
/*
 * thpvm bench snapshot without KVM: the file system's own O_DIRECT
 * bandwidth (what an image can reach at best: thpvm_image_measure_disk(),
 * the images' own I/O loop), and libthpvm's region images of a THP region
 * against it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <thpvm.h>
#include "bench.h"
#include "bench_snapshot.h"
#include "util/clock.h"
#include "util/error.h"

/* What the memory-only region holds: non-zero everywhere, so every extent is DATA; the page's index in word 0. */
#define PATTERN_BYTE 0x5a
#define PATTERN_WORD(page) ((page) ^ 0x5a5a5a5a5a5a5a5aULL)

double snap_huge_pct(const struct thpvm_coverage *cov)
{
	uint64_t present = cov->huge_bytes + cov->split_bytes;

	return present ? 100.0 * (double)cov->huge_bytes / (double)present : 0.0;
}

static double gbps(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes / (double)ns : 0.0;
}

/* ---- the disk baseline ---- */

int snap_disk_once(const char *path, uint64_t size, bool *direct, double *v)
{
	struct thpvm_image_stats w, r;
	int ret = thpvm_image_measure_disk(path, size, &w, &r);

	if (ret)
		return vmm_fail(ret, "%s", thpvm_last_error());
	*direct = w.direct && r.direct;
	v[SM_DISK_WRITE] = gbps(w.bytes, w.ns);
	v[SM_DISK_READ] = gbps(r.bytes, r.ns);
	return 0;
}

/* ---- the memory-only image ---- */

/* A THP region of size bytes in a map of its own: prefaulted (the first source) or empty (a load's target). */
static int new_region(uint64_t size, enum thpvm_populate populate, struct thpvm_memmap **map,
		      struct thpvm_region **r)
{
	struct thpvm_region_config cfg = { .name = "ram", .size_bytes = size, .backing = THPVM_BACKING_THP,
					   .populate = populate };

	if (thpvm_memmap_create(map))
		return vmm_fail(-ENOMEM, "%s", thpvm_last_error());
	if (thpvm_memmap_add(*map, &cfg, r)) {
		thpvm_memmap_destroy(*map);
		*map = NULL;
		return vmm_fail(-ENOMEM, "%s", thpvm_last_error());
	}
	return 0;
}

static uint8_t *region_hva(struct thpvm_region *r)
{
	struct thpvm_region_info info;

	thpvm_region_get_info(r, &info);
	return info.hva;
}

int snap_mem_setup(struct snap_mem *m, uint64_t size)
{
	uint64_t *hva;
	int ret;

	*m = (struct snap_mem){ .size = size };
	m->extents = malloc(size / THPVM_EXTENT_SIZE);
	if (!m->extents)
		return vmm_fail(-ENOMEM, "out of memory");
	if ((ret = new_region(size, THPVM_POPULATE_PREFAULT, &m->map, &m->region)))
		return ret;
	hva = (uint64_t *)region_hva(m->region);
	memset(hva, PATTERN_BYTE, size);
	for (uint64_t page = 0; page < size / THPVM_PAGE_SIZE; page++)
		hva[page * (THPVM_PAGE_SIZE / sizeof(*hva))] = PATTERN_WORD(page);
	return 0;
}

/* A loaded region holds the pattern: word 0 of each extent's first and last page (a cheap look, not a proof). */
static int check_pattern(struct thpvm_region *r, uint64_t size)
{
	const uint64_t *hva = (const uint64_t *)region_hva(r), words = THPVM_PAGE_SIZE / sizeof(*hva);

	for (uint64_t e = 0; e < size / THPVM_EXTENT_SIZE; e++)
		for (uint64_t k = 0; k < 2; k++) {
			uint64_t page = e * THPVM_EXTENT_PAGES + k * (THPVM_EXTENT_PAGES - 1);

			if (hva[page * words] != PATTERN_WORD(page))
				return vmm_fail(-EIO, "the loaded region differs from the saved one at page %llu",
						(unsigned long long)page);
		}
	return 0;
}

int snap_mem_once(struct snap_mem *m, const char *path, bool warm, double *v)
{
	struct thpvm_image_stats save, load;
	struct thpvm_memmap *map = NULL;
	struct thpvm_region *r;
	struct thpvm_coverage cov;
	uint64_t t0;
	int ret;

	if (thpvm_region_image_save(m->region, path, m->extents, NULL, NULL, &save))
		return vmm_fail(-EIO, "%s", thpvm_last_error());
	if (save.nr[THPVM_IMAGE_DATA] != save.nr_extents)
		return vmm_fail(-EIO, "%s: %llu of %llu extents saved as data", path,
				(unsigned long long)save.nr[THPVM_IMAGE_DATA], (unsigned long long)save.nr_extents);
	if (warm)
		bench_warm_memory(m->size);
	t0 = util_mono_ns();
	if ((ret = new_region(m->size, THPVM_POPULATE_ON_DEMAND, &map, &r)))
		return ret;
	if (thpvm_region_image_load(r, path, m->extents, NULL, NULL, &load)) {
		thpvm_memmap_destroy(map);
		return vmm_fail(-EIO, "%s", thpvm_last_error());
	}
	v[SM_MEM_READY] = (double)(util_mono_ns() - t0) / 1e6;
	v[SM_MEM_SAVE] = gbps(save.bytes, save.ns);
	v[SM_MEM_LOAD] = gbps(load.bytes, load.ns);
	m->direct = save.direct && load.direct;
	m->fixed_buffers = save.fixed_buffers && load.fixed_buffers;
	if (thpvm_region_coverage(r, THPVM_COVERAGE_REFRESH, &cov) || (ret = check_pattern(r, m->size))) {
		thpvm_memmap_destroy(map);
		return ret ? ret : vmm_fail(-EIO, "%s", thpvm_last_error());
	}
	v[SM_MEM_HUGE] = snap_huge_pct(&cov);
	/* the loaded region is the next save's source: one region of the size between samples, two during one */
	unlink(path);
	thpvm_memmap_destroy(m->map);
	m->map = map;
	m->region = r;
	return 0;
}

void snap_mem_free(struct snap_mem *m)
{
	thpvm_memmap_destroy(m->map);
	free(m->extents);
	*m = (struct snap_mem){ 0 };
}
