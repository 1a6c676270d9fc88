/* SPDX-License-Identifier: MIT */
/* Where a payload guest's page tables and free memory go, for a given amount of RAM. */
#include <errno.h>
#include <string.h>
#include "payload.h"
#include "util/error.h"
#include "x86/layout.h"
#include "x86/pagetable.h"

#define MIB (1ULL << 20)
#define ALIGN_UP_2M(x) (((x) + (2 * MIB - 1)) & ~(2 * MIB - 1))

/* Tables for everything the guest maps, sized for 4 KiB leaves so the layout never depends on the guest page size. */
static uint64_t pt_area_size(uint64_t low_bytes, uint64_t high_bytes)
{
	uint64_t bytes = pt_bytes_needed(low_bytes, 4096) + pt_bytes_needed(X86_PAYLOAD_MMIO_PROBE_SIZE, 4096);

	if (high_bytes)
		bytes += pt_bytes_needed(high_bytes, 4096);
	return ALIGN_UP_2M(bytes);
}

static void add_range(struct payload_layout *l, uint64_t gpa, uint64_t end)
{
	if (end > gpa && l->nr_ranges < PAYLOAD_MAX_RANGES)
		l->ranges[l->nr_ranges++] = (struct payload_range){ .gpa = gpa, .size_bytes = end - gpa };
}

int payload_layout_compute(uint64_t low_bytes, uint64_t high_bytes, struct payload_layout *out)
{
	uint64_t low_end = low_bytes, high_end = X86_RAM_HIGH_GPA + high_bytes;

	memset(out, 0, sizeof(*out));
	if (low_bytes % (2 * MIB) || high_bytes % (2 * MIB) || low_bytes > X86_MMIO_HOLE_GPA ||
	    (high_bytes && low_bytes != X86_MMIO_HOLE_GPA))
		return vmm_fail(-EINVAL, "payload guests need RAM from 0, in 2 MiB multiples, above 4 GiB only past the hole");
	if (low_bytes + high_bytes < X86_PAYLOAD_MIN_RAM)
		return vmm_fail(-EINVAL, "guest memory %llu MiB is too small: payload guests need at least %llu MiB",
				(unsigned long long)((low_bytes + high_bytes) / MIB),
				(unsigned long long)(X86_PAYLOAD_MIN_RAM / MIB));
	out->low_bytes = low_bytes;
	out->high_bytes = high_bytes;
	out->pt_size = pt_area_size(low_bytes, high_bytes);
	/* page tables at the very top, in the high region when it can hold them */
	if (high_bytes >= out->pt_size) {
		out->pt_gpa = high_end - out->pt_size;
		high_end = out->pt_gpa;
	} else {
		out->pt_gpa = low_end - out->pt_size;
		low_end = out->pt_gpa;
	}
	if (low_end <= X86_PAYLOAD_HEAP_GPA)
		return vmm_fail(-EINVAL, "guest memory too small for a payload guest (need at least %llu MiB)",
				(unsigned long long)(X86_PAYLOAD_MIN_RAM / MIB));
	add_range(out, X86_PAYLOAD_HEAP_GPA, low_end);
	if (high_bytes)
		add_range(out, X86_RAM_HIGH_GPA, high_end);
	return 0;
}

uint64_t payload_layout_max_range(const struct payload_layout *l)
{
	uint64_t max = 0;

	for (unsigned i = 0; i < l->nr_ranges; i++)
		if (l->ranges[i].size_bytes > max)
			max = l->ranges[i].size_bytes;
	return max;
}

uint64_t payload_ram_for_heap(uint64_t heap_bytes)
{
	uint64_t ram = ALIGN_UP_2M(heap_bytes) + X86_PAYLOAD_HEAP_GPA;
	struct payload_layout l;

	/* the page tables grow with RAM: step until the free range is big enough */
	for (;;) {
		uint64_t low = ram < X86_MMIO_HOLE_GPA ? ram : X86_MMIO_HOLE_GPA;

		if (ram < X86_PAYLOAD_MIN_RAM)
			ram = X86_PAYLOAD_MIN_RAM;
		else if (!payload_layout_compute(low, ram - low, &l) && payload_layout_max_range(&l) >= heap_bytes)
			return ram;
		else
			ram += 2 * MIB;
		if (ram > X86_MMIO_HOLE_GPA + heap_bytes + 64 * MIB)
			return 0; /* does not fit below the hole */
	}
}
