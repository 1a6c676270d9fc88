/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include "e820.h"
#include "layout.h"

/* Carve-outs from RAM: what lies in them is listed with this type (0: not listed). */
static const struct {
	uint64_t start, end;
	uint32_t type;
} holes[] = {
	{ X86_EBDA_GPA, X86_EBDA_END, E820_TYPE_RESERVED },
	{ X86_MMIO_HOLE_GPA, X86_MMIO_HOLE_END, 0 },
};

struct e820_list {
	struct boot_e820_entry *e;
	unsigned nr, max;
	bool full;
};

static void add(struct e820_list *l, uint64_t start, uint64_t end, uint32_t type)
{
	if (start >= end || !type)
		return;
	if (l->nr == l->max) {
		l->full = true;
		return;
	}
	l->e[l->nr++] = (struct boot_e820_entry){ .addr = start, .size = end - start, .type = type };
}

/* Adds [start, end) of the given type, with the holes cut out. */
static void add_cut(struct e820_list *l, uint64_t start, uint64_t end, uint32_t type, unsigned hole)
{
	if (start >= end)
		return;
	if (hole == sizeof(holes) / sizeof(holes[0])) {
		add(l, start, end, type);
		return;
	}
	if (end <= holes[hole].start || start >= holes[hole].end) {
		add_cut(l, start, end, type, hole + 1);
		return;
	}
	add_cut(l, start, holes[hole].start, type, hole + 1);
	add(l, start > holes[hole].start ? start : holes[hole].start, end < holes[hole].end ? end : holes[hole].end,
	    holes[hole].type);
	add_cut(l, holes[hole].end, end, type, hole + 1);
}

static int by_addr(const void *a, const void *b)
{
	const struct boot_e820_entry *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int e820_build(const struct thpvm_memmap *map, struct boot_e820_entry *out, unsigned max)
{
	/* room for the cut-outs before merging; the result is checked against max */
	unsigned cap = THPVM_MAX_REGIONS * 4;
	struct e820_list l = { .e = calloc(cap, sizeof(*l.e)), .max = cap };
	unsigned n = 0;

	if (!l.e)
		return -ENOMEM;
	for (unsigned i = 0; i < thpvm_memmap_nr_regions(map); i++) {
		struct thpvm_region_info info;

		thpvm_region_get_info(thpvm_memmap_region(map, i), &info);
		add_cut(&l, info.gpa, info.gpa + info.size_bytes,
			info.flags & THPVM_REGION_F_NOHUGE ? E820_TYPE_RESERVED : E820_TYPE_RAM, 0);
	}
	qsort(l.e, l.nr, sizeof(*l.e), by_addr);
	for (unsigned i = 0; i < l.nr && !l.full; i++) {
		if (n && out[n - 1].type == l.e[i].type && out[n - 1].addr + out[n - 1].size == l.e[i].addr) {
			out[n - 1].size += l.e[i].size;
			continue;
		}
		if (n == max) {
			l.full = true;
			break;
		}
		out[n++] = l.e[i];
	}
	free(l.e);
	return l.full ? -E2BIG : (int)n;
}
