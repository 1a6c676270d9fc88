/* SPDX-License-Identifier: MIT */
/* Segment descriptors: the same segment as KVM wants it and as the GDT holds it. */
#ifndef THPVM_X86_GDT_H
#define THPVM_X86_GDT_H

#include <stdint.h>
#include <linux/kvm.h>
#include <thpvm.h>

#define SEG_TYPE_CODE_XR   0xb   /* execute/read, accessed */
#define SEG_TYPE_DATA_RW   0x3   /* read/write, accessed */
#define SEG_TYPE_TSS64_BUSY 0xb

/* Flat segments (base 0, limit 4 GiB); selector's RPL is set to dpl. */
struct kvm_segment seg_code64(uint16_t selector, uint8_t dpl);
struct kvm_segment seg_code32(uint16_t selector, uint8_t dpl);
struct kvm_segment seg_data(uint16_t selector, uint8_t dpl);
/* A 64-bit TSS (two GDT slots) of limit bytes at base. */
struct kvm_segment seg_tss64(uint16_t selector, uint64_t base, uint32_t limit);

/* The 8-byte GDT descriptor of a code/data segment. */
uint64_t gdt_encode(const struct kvm_segment *seg);
/* The 16-byte GDT descriptor of a 64-bit system segment (TSS). */
void gdt_encode_system(const struct kvm_segment *seg, uint64_t out[2]);

/*
 * Writes each segment at its selector's slot in the GDT at gdt_gpa
 * (nr_slots 8-byte slots, zeroed first). Returns 0 or -EFAULT / -EINVAL.
 */
int gdt_write(struct thpvm_memmap *map, uint64_t gdt_gpa, unsigned nr_slots, const struct kvm_segment *segs,
	      unsigned nr_segs);

#endif
