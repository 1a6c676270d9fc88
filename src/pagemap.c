/* SPDX-License-Identifier: MIT */
/*
 * What the kernel really mapped. PAGEMAP_SCAN (Linux 6.7) walks a whole
 * region in one ioctl and reports PMD-mapped ranges as PAGE_IS_HUGE, which is
 * exactly "this extent is one huge page". /proc/self/pagemap gives per-page
 * detail (present, exclusively mapped, file) for the few extents that need it
 * and stands in for the scan on older kernels.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"
#include "kernel_compat.h"

#define SCAN_VEC_LEN 512

static bool force_fallback;

THPVM_EXPORT void thpvm_pagemap_scan_enable(bool enable)
{
	force_fallback = !enable;
}

static int pagemap_open(void)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		thpvm_set_error("cannot open /proc/self/pagemap: %s", strerror(errno));
	return fd < 0 ? -errno : fd;
}

bool pagemap_scan_supported(void)
{
	struct pm_scan_arg arg = { .size = sizeof(arg) };
	static int supported = -1;
	int fd;

	if (force_fallback)
		return false;
	if (supported >= 0)
		return supported;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	/* an empty range is valid on kernels that know the ioctl */
	supported = ioctl(fd, PAGEMAP_SCAN, &arg) >= 0;
	close(fd);
	return supported;
}

/* Adds the pages of [s, e) with the given categories to the windows they fall in. */
static void count_range(uintptr_t s, uintptr_t e, uint64_t cat, uintptr_t first, struct window_count *out,
			uint64_t nr_windows)
{
	if (cat & PAGE_IS_PFNZERO) /* the shared zero page owns no memory */
		return;
	while (s < e) {
		uint64_t w = (s - first) / THPVM_EXTENT_SIZE;
		uintptr_t wend = first + (w + 1) * THPVM_EXTENT_SIZE;
		uintptr_t stop = e < wend ? e : wend;
		uint32_t pages = (uint32_t)((stop - s) / THPVM_PAGE_SIZE);

		if (w < nr_windows) {
			out[w].nr_present += pages;
			if (cat & PAGE_IS_HUGE)
				out[w].nr_huge += pages;
			if ((cat & PAGE_IS_HUGE) && (cat & PAGE_IS_FILE))
				out[w].nr_file_huge += pages;
		}
		s = stop;
	}
}

static int count_by_scan(int fd, uintptr_t start, uintptr_t end, uintptr_t first, struct window_count *out,
			 uint64_t nr_windows)
{
	struct page_region vec[SCAN_VEC_LEN];
	uintptr_t pos = start;

	while (pos < end) {
		struct pm_scan_arg arg = {
			.size = sizeof(arg),
			.start = pos,
			.end = end,
			.vec = (uintptr_t)vec,
			.vec_len = SCAN_VEC_LEN,
			.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
			.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_HUGE | PAGE_IS_PFNZERO | PAGE_IS_FILE,
		};
		long n = ioctl(fd, PAGEMAP_SCAN, &arg);

		if (n < 0) {
			thpvm_set_error("PAGEMAP_SCAN [0x%lx, 0x%lx): %s", (unsigned long)pos, (unsigned long)end,
					strerror(errno));
			return -errno;
		}
		for (long i = 0; i < n; i++)
			count_range(vec[i].start, vec[i].end, vec[i].categories, first, out, nr_windows);
		if (arg.walk_end <= pos)
			break;
		pos = arg.walk_end;
	}
	return 0;
}

/*
 * Without PAGEMAP_SCAN a PMD mapping is invisible in pagemap; the closest
 * measure is a fully present window whose frames are physically contiguous
 * and 2 MiB aligned. Frame numbers need CAP_SYS_ADMIN; without them such
 * windows are reported as split, never guessed huge.
 */
static int count_by_pagemap(int fd, uintptr_t start, uintptr_t end, uintptr_t first, struct window_count *out,
			    uint64_t nr_windows)
{
	uint64_t *pm = malloc(THPVM_EXTENT_PAGES * sizeof(*pm));
	int ret = 0;

	if (!pm)
		return -ENOMEM;
	for (uint64_t w = 0; w < nr_windows; w++) {
		uintptr_t ws = first + w * THPVM_EXTENT_SIZE, we = ws + THPVM_EXTENT_SIZE;
		uint32_t n, present = 0;
		bool contiguous, file = true;

		if (ws < start)
			ws = start;
		if (we > end)
			we = end;
		n = (uint32_t)((we - ws) / THPVM_PAGE_SIZE);
		if (pread(fd, pm, n * sizeof(*pm), (off_t)(ws / THPVM_PAGE_SIZE * sizeof(*pm))) != (ssize_t)(n * sizeof(*pm))) {
			thpvm_set_error("reading /proc/self/pagemap: %s", strerror(errno));
			ret = -EIO;
			break;
		}
		contiguous = n == THPVM_EXTENT_PAGES && (pm[0] & PM_PFN_MASK) &&
			     (pm[0] & PM_PFN_MASK) % THPVM_EXTENT_PAGES == 0;
		for (uint32_t i = 0; i < n; i++) {
			if (pm[i] & (PM_PRESENT | PM_SWAP))
				present++;
			if (!(pm[i] & PM_PRESENT) || (pm[i] & PM_PFN_MASK) != (pm[0] & PM_PFN_MASK) + i)
				contiguous = false;
			if (!(pm[i] & PM_FILE_OR_SHARED_ANON))
				file = false;
		}
		out[w].nr_present = present;
		out[w].nr_huge = contiguous ? n : 0;
		out[w].nr_file_huge = contiguous && file ? n : 0;
	}
	free(pm);
	return ret;
}

int pagemap_count_windows_fd(int fd, uintptr_t start, uintptr_t end, uintptr_t first_window,
			     struct window_count *out, uint64_t nr_windows)
{
	memset(out, 0, nr_windows * sizeof(*out));
	if (pagemap_scan_supported())
		return count_by_scan(fd, start, end, first_window, out, nr_windows);
	return count_by_pagemap(fd, start, end, first_window, out, nr_windows);
}

int pagemap_count_windows(uintptr_t start, uintptr_t end, uintptr_t first_window, struct window_count *out,
			  uint64_t nr_windows)
{
	int fd = pagemap_open(), ret;

	if (fd < 0)
		return fd;
	ret = pagemap_count_windows_fd(fd, start, end, first_window, out, nr_windows);
	close(fd);
	return ret;
}

/* Marks the pages of [start, start + nr_pages * 4K) that map the zero page. */
static void mark_zero_pages(int fd, uintptr_t start, uint32_t nr_pages, uint8_t *zero)
{
	struct page_region vec[SCAN_VEC_LEN];
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.start = start,
		.end = start + nr_pages * THPVM_PAGE_SIZE,
		.vec = (uintptr_t)vec,
		.vec_len = SCAN_VEC_LEN,
		.category_mask = PAGE_IS_PFNZERO,
		.return_mask = PAGE_IS_PFNZERO,
	};
	long n;

	if (!pagemap_scan_supported())
		return;
	n = ioctl(fd, PAGEMAP_SCAN, &arg);
	for (long i = 0; i < n; i++)
		for (uintptr_t a = vec[i].start; a < vec[i].end; a += THPVM_PAGE_SIZE)
			zero[(a - start) / THPVM_PAGE_SIZE] = 1;
}

int pagemap_detail(uintptr_t start, uint32_t nr_pages, struct page_detail *out)
{
	uint64_t pm[THPVM_EXTENT_PAGES];
	uint8_t zero[THPVM_EXTENT_PAGES] = { 0 };
	int fd;

	if (nr_pages > THPVM_EXTENT_PAGES)
		return -EINVAL;
	fd = pagemap_open();
	if (fd < 0)
		return fd;
	if (pread(fd, pm, nr_pages * sizeof(*pm), (off_t)(start / THPVM_PAGE_SIZE * sizeof(*pm))) !=
	    (ssize_t)(nr_pages * sizeof(*pm))) {
		thpvm_set_error("reading /proc/self/pagemap: %s", strerror(errno));
		close(fd);
		return -EIO;
	}
	mark_zero_pages(fd, start, nr_pages, zero);
	close(fd);
	memset(out, 0, sizeof(*out));
	for (uint32_t i = 0; i < nr_pages; i++) {
		if (!(pm[i] & (PM_PRESENT | PM_SWAP)) || zero[i])
			continue;
		out->nr_present++;
		/* file pages stay shared with the file; anon pages are private when mapped only here */
		if ((pm[i] & PM_MMAP_EXCLUSIVE) && !(pm[i] & PM_FILE_OR_SHARED_ANON))
			out->nr_private++;
		else
			out->nr_shared++;
	}
	return 0;
}
