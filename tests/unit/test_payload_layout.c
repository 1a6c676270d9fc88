/* SPDX-License-Identifier: MIT */
/* Where page tables and free memory go, for any amount of guest RAM. */
#include <criterion/criterion.h>
#include <errno.h>
#include "machine/payload.h"
#include "util/error.h"
#include "x86/layout.h"
#include "x86/pagetable.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static void consistent(const struct payload_layout *l)
{
	uint64_t low_end = l->low_bytes, high_end = X86_RAM_HIGH_GPA + l->high_bytes;

	cr_assert_eq(l->pt_gpa % (2 * MIB), 0);
	cr_assert_eq(l->pt_size % (2 * MIB), 0);
	cr_assert(l->pt_size >= pt_bytes_needed(l->low_bytes, 4096) + pt_bytes_needed(l->high_bytes, 4096),
		  "room for 4 KiB page tables over all RAM");
	cr_assert(l->pt_gpa + l->pt_size == (l->high_bytes > l->pt_size ? high_end : low_end), "tables at the top");
	for (unsigned i = 0; i < l->nr_ranges; i++) {
		const struct payload_range *r = &l->ranges[i];

		cr_assert_eq(r->gpa % (2 * MIB), 0);
		cr_assert_eq(r->size_bytes % (2 * MIB), 0);
		cr_assert(r->gpa >= X86_PAYLOAD_HEAP_GPA, "nothing below the heap is the payload's");
		cr_assert(r->gpa + r->size_bytes <= l->pt_gpa || r->gpa >= l->pt_gpa + l->pt_size, "free memory off the tables");
		cr_assert((r->gpa + r->size_bytes <= low_end) || (r->gpa >= X86_RAM_HIGH_GPA && r->gpa + r->size_bytes <= high_end),
			  "free memory is RAM");
	}
}

Test(payload_layout, small_guest)
{
	struct payload_layout l;

	cr_assert_eq(payload_layout_compute(64 * MIB, 0, &l), 0);
	consistent(&l);
	cr_assert_eq(l.nr_ranges, 1);
	cr_assert_eq(l.ranges[0].gpa, X86_PAYLOAD_HEAP_GPA);
	cr_assert_eq(l.pt_gpa, 62 * MIB);
	cr_assert_eq(l.ranges[0].size_bytes, 54 * MIB);
}

Test(payload_layout, smallest_and_too_small)
{
	struct payload_layout l;

	cr_assert_eq(payload_layout_compute(X86_PAYLOAD_MIN_RAM, 0, &l), 0);
	consistent(&l);
	cr_assert_eq(payload_layout_compute(8 * MIB, 0, &l), -EINVAL);
	cr_assert(strstr(vmm_last_error(), "too small"));
	cr_assert_eq(payload_layout_compute(33 * MIB, 0, &l), -EINVAL);
}

Test(payload_layout, eight_gib_guest_spans_the_hole)
{
	struct payload_layout l;
	uint64_t high = 8 * GIB - X86_MMIO_HOLE_GPA;

	cr_assert_eq(payload_layout_compute(X86_MMIO_HOLE_GPA, high, &l), 0);
	consistent(&l);
	cr_assert_eq(l.nr_ranges, 2);
	cr_assert(l.pt_gpa >= X86_RAM_HIGH_GPA);
	cr_assert(l.pt_size >= 16 * MIB, "8 GiB of 4 KiB PTEs is 16 MiB");
	cr_assert_eq(l.ranges[0].size_bytes + l.ranges[1].size_bytes + l.pt_size + X86_PAYLOAD_HEAP_GPA, 8 * GIB);
}

Test(payload_layout, tables_go_low_when_the_high_part_is_tiny)
{
	struct payload_layout l;

	cr_assert_eq(payload_layout_compute(X86_MMIO_HOLE_GPA, 2 * MIB, &l), 0);
	consistent(&l);
	cr_assert(l.pt_gpa < X86_MMIO_HOLE_GPA);
	cr_assert_eq(l.ranges[1].size_bytes, 2 * MIB);
}

Test(payload_layout, ram_for_a_heap_gives_one_range_that_big)
{
	static const uint64_t heaps[] = { 1 * MIB, 64 * MIB, 1 * GIB, 3 * GIB, 5 * GIB };

	for (unsigned i = 0; i < sizeof(heaps) / sizeof(heaps[0]); i++) {
		uint64_t ram = payload_ram_for_heap(heaps[i]), low = ram < X86_MMIO_HOLE_GPA ? ram : X86_MMIO_HOLE_GPA;
		struct payload_layout l;

		cr_assert(ram, "heap %llu fits", (unsigned long long)heaps[i]);
		cr_assert_eq(payload_layout_compute(low, ram - low, &l), 0);
		cr_assert(payload_layout_max_range(&l) >= heaps[i]);
		cr_assert(ram <= heaps[i] + (heaps[i] > 3 * GIB ? X86_MMIO_HOLE_GPA : 0) + 32 * MIB, "not much more RAM");
	}
}
