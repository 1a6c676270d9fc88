/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include "gdt.h"

static struct kvm_segment flat(uint16_t selector, uint8_t dpl, uint8_t type, uint8_t l, uint8_t db)
{
	struct kvm_segment s = {
		.base = 0,
		.limit = 0xffffffff,
		.selector = (uint16_t)((selector & ~3) | dpl),
		.type = type,
		.present = 1,
		.dpl = dpl,
		.db = db,
		.s = 1,
		.l = l,
		.g = 1,
	};

	return s;
}

struct kvm_segment seg_code64(uint16_t selector, uint8_t dpl)
{
	return flat(selector, dpl, SEG_TYPE_CODE_XR, 1, 0);
}

struct kvm_segment seg_code32(uint16_t selector, uint8_t dpl)
{
	return flat(selector, dpl, SEG_TYPE_CODE_XR, 0, 1);
}

struct kvm_segment seg_data(uint16_t selector, uint8_t dpl)
{
	return flat(selector, dpl, SEG_TYPE_DATA_RW, 0, 1);
}

struct kvm_segment seg_tss64(uint16_t selector, uint64_t base, uint32_t limit)
{
	struct kvm_segment s = {
		.base = base,
		.limit = limit,
		.selector = selector,
		.type = SEG_TYPE_TSS64_BUSY,
		.present = 1,
	};

	return s;
}

/* KVM keeps the limit in bytes; the descriptor holds 20 bits, in pages when g is set. */
static uint64_t encoded_limit(const struct kvm_segment *s)
{
	return s->g ? s->limit >> 12 : s->limit;
}

uint64_t gdt_encode(const struct kvm_segment *s)
{
	uint64_t limit = encoded_limit(s), d = 0;

	d |= limit & 0xffff;
	d |= (s->base & 0xffffffULL) << 16;
	d |= (uint64_t)(s->type & 0xf) << 40;
	d |= (uint64_t)(s->s & 1) << 44;
	d |= (uint64_t)(s->dpl & 3) << 45;
	d |= (uint64_t)(s->present & 1) << 47;
	d |= ((limit >> 16) & 0xf) << 48;
	d |= (uint64_t)(s->avl & 1) << 52;
	d |= (uint64_t)(s->l & 1) << 53;
	d |= (uint64_t)(s->db & 1) << 54;
	d |= (uint64_t)(s->g & 1) << 55;
	d |= ((s->base >> 24) & 0xff) << 56;
	return d;
}

void gdt_encode_system(const struct kvm_segment *s, uint64_t out[2])
{
	out[0] = gdt_encode(s);
	out[1] = s->base >> 32;
}

int gdt_write(struct thpvm_memmap *map, uint64_t gdt_gpa, unsigned nr_slots, const struct kvm_segment *segs,
	      unsigned nr_segs)
{
	uint64_t *gdt = thpvm_memmap_gpa_to_hva(map, gdt_gpa, nr_slots * 8ULL);

	if (!gdt)
		return -EFAULT;
	memset(gdt, 0, nr_slots * 8ULL);
	for (unsigned i = 0; i < nr_segs; i++) {
		unsigned slot = segs[i].selector >> 3;

		if (!segs[i].s) {
			if (slot + 1 >= nr_slots)
				return -EINVAL;
			gdt_encode_system(&segs[i], &gdt[slot]);
		} else {
			if (slot >= nr_slots)
				return -EINVAL;
			gdt[slot] = gdt_encode(&segs[i]);
		}
	}
	return 0;
}
