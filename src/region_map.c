/* SPDX-License-Identifier: MIT */
/*
 * Host mappings for guest regions. KVM can map a guest page with a 2 MiB
 * stage-2 entry only when the host page is a THP and gpa == hva (mod 2 MiB),
 * so every region is placed that way: reserve the size plus 2 MiB of slack,
 * pick the congruent address inside, trim the slack, map fixed over it.
 * One PROT_NONE guard page stays on each side so the region's VMAs never
 * merge with a neighbour and smaps describes exactly the region.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "internal.h"
#include "kernel_compat.h"

#define GUARD THPVM_PAGE_SIZE

static enum thpvm_map_result hugetlb_error(const struct thpvm_region *r)
{
	struct thpvm_host_thp host;
	uint64_t need = r->size_bytes / THPVM_EXTENT_SIZE;

	thpvm_host_thp_read(&host);
	return map_error(THPVM_MAP_HUGETLB_NO_POOL,
			 "region '%s' needs %llu x 2 MiB, pool has %llu free of %llu "
			 "(reserve with: echo %llu > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)",
			 r->name, (unsigned long long)need, (unsigned long long)host.hugetlb_2m_free,
			 (unsigned long long)host.hugetlb_2m_total,
			 (unsigned long long)(host.hugetlb_2m_total - host.hugetlb_2m_free + need));
}

static int backing_advice(const struct thpvm_region *r)
{
	if (r->backing == THPVM_BACKING_HUGETLB)
		return -1;
	if (r->thp_reason == THPVM_THP_ELIGIBLE || r->thp_reason == THPVM_THP_HOST_NEVER ||
	    r->thp_reason == THPVM_THP_HOST_2M_NEVER || r->thp_reason == THPVM_THP_PRCTL_DISABLED ||
	    r->thp_reason == THPVM_THP_UNALIGNED)
		return MADV_HUGEPAGE; /* asks for THP whenever the host allows it later */
	return MADV_NOHUGEPAGE;
}

enum thpvm_map_result region_map(struct thpvm_region *r)
{
	uint64_t len = r->size_bytes + THPVM_EXTENT_SIZE + 2 * GUARD;
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
	uint8_t *raw, *hva, *end;
	int advice;

	raw = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		return map_error(THPVM_MAP_RESERVE_FAILED, "region '%s' size 0x%llx: %s", r->name,
				 (unsigned long long)r->size_bytes, strerror(errno));

	/* first address after the head guard that is congruent with the gpa */
	uintptr_t lo = (uintptr_t)raw + GUARD;
	hva = (uint8_t *)(lo + ((r->gpa - lo) & (THPVM_EXTENT_SIZE - 1)));
	end = hva + r->size_bytes;
	r->map_base = hva - GUARD;
	r->map_len = r->size_bytes + 2 * GUARD;
	if (r->map_base > raw)
		munmap(raw, (size_t)(r->map_base - raw));
	if (raw + len > end + GUARD)
		munmap(end + GUARD, (size_t)(raw + len - (end + GUARD)));

	if (r->backing == THPVM_BACKING_HUGETLB)
		flags |= MAP_HUGETLB | MAP_HUGE_2MB;
	if (r->backing == THPVM_BACKING_FILE)
		flags &= ~MAP_ANONYMOUS;
	if (mmap(hva, r->size_bytes, PROT_READ | PROT_WRITE, flags, r->backing == THPVM_BACKING_FILE ? r->file_fd : -1,
		 (off_t)r->file_offset) == MAP_FAILED) {
		int err = errno;

		munmap(r->map_base, r->map_len);
		r->map_base = NULL;
		if (r->backing == THPVM_BACKING_HUGETLB && err == ENOMEM)
			return hugetlb_error(r);
		return map_error(THPVM_MAP_MMAP_FAILED, "region '%s' size 0x%llx: %s", r->name,
				 (unsigned long long)r->size_bytes, strerror(err));
	}
	r->hva = hva;
	r->file_fd = -1; /* the mapping holds its own reference to the file */

	advice = backing_advice(r);
	if (advice >= 0 && madvise(hva, r->size_bytes, advice)) {
		int err = errno;

		/* MADV_HUGEPAGE fails only where THP is compiled out: run on 4 KiB pages then */
		if (advice == MADV_HUGEPAGE && err == EINVAL) {
			r->thp_reason = THPVM_THP_HOST_UNSUPPORTED;
		} else {
			region_unmap(r);
			return map_error(THPVM_MAP_MADVISE_FAILED, "region '%s': %s", r->name, strerror(err));
		}
	}
	return THPVM_MAP_OK;
}

void region_unmap(struct thpvm_region *r)
{
	if (r->map_base)
		munmap(r->map_base, r->map_len);
	r->map_base = NULL;
	r->hva = NULL;
}

/* Populate this much at a time so progress is reported and can be cancelled. */
#define PREFAULT_CHUNK (64ULL << 20)

static int populate_by_touch(uint8_t *p, uint64_t len, bool write)
{
	for (uint64_t off = 0; off < len; off += THPVM_PAGE_SIZE) {
		if (write)
			__atomic_fetch_add((uint8_t *)(p + off), 0, __ATOMIC_RELAXED);
		else
			(void)*(volatile uint8_t *)(p + off);
	}
	return 0;
}

enum thpvm_map_result region_prefault(struct thpvm_region *r, thpvm_progress_fn progress, void *arg)
{
	/* writing a private file mapping would copy every page: a file region is populated by reading */
	bool write = r->backing != THPVM_BACKING_FILE;
	uint64_t done = 0;

	while (done < r->size_bytes) {
		uint64_t len = r->size_bytes - done < PREFAULT_CHUNK ? r->size_bytes - done : PREFAULT_CHUNK;
		bool injected = r->inject_populate_at && done / PREFAULT_CHUNK == r->inject_populate_at - 1;

		if (injected) {
			r->inject_populate_at = 0;
			errno = ENOMEM;
		}
		if (injected || madvise(r->hva + done, len, write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ)) {
			if (errno == EINVAL) /* kernel older than 5.14 */
				populate_by_touch(r->hva + done, len, write);
			else
				return map_error(THPVM_MAP_POPULATE_FAILED, "region '%s' at +0x%llx: %s", r->name,
						 (unsigned long long)done, strerror(errno));
		}
		done += len;
		if (progress && progress(done, r->size_bytes, arg))
			return map_error(THPVM_MAP_POPULATE_CANCELLED, "region '%s' at %llu of %llu bytes",
					 r->name, (unsigned long long)done, (unsigned long long)r->size_bytes);
	}
	thpvm_region_refresh(r);
	return THPVM_MAP_OK;
}

THPVM_EXPORT int thpvm_region_prefault(struct thpvm_region *r, thpvm_progress_fn progress, void *arg)
{
	return -thpvm_map_result_errno(region_prefault(r, progress, arg));
}

THPVM_EXPORT void thpvm_region_inject_populate_failure(struct thpvm_region *r, uint32_t at_chunk)
{
	r->inject_populate_at = at_chunk + 1;
}
