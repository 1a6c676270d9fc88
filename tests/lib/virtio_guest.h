/* SPDX-License-Identifier: MIT */
/*
 * A virtio driver played by a test (tests/unit/test_virtio*.c): real memory
 * stands in for guest RAM, the real transport (vmm/dev/virtio_mmio.c) and a
 * real device sit behind it; the test sets the queue up the way Linux's
 * virtio_mmio does, lays out descriptor chains and rings the doorbell.
 */
#ifndef THPVM_TEST_VIRTIO_GUEST_H
#define THPVM_TEST_VIRTIO_GUEST_H

#include <stdbool.h>
#include <stdint.h>
#include "dev/virtio_mmio.h"

#define VG_RAM_BYTES (1u << 20)
#define VG_DESC_GPA  0x1000u
#define VG_AVAIL_GPA 0x2000u
#define VG_USED_GPA  0x3000u
#define VG_BUF_GPA   0x10000u
#define VG_QSIZE     128u
#define VG_QUEUE_GPA(q) ((q) * 0x4000u) /* queue q's rings: queue 0's moved up by this */

struct vguest {
	uint8_t *ram;
	unsigned interrupts, errors; /* atomics: a device's own thread may raise them */
	char error[256];
	struct virtio_mmio t;
	uint16_t avail_idx;         /* queue 0's */
	uint16_t avail_idx_more[VIRTIO_MAX_QUEUES - 1];
};

void vg_init(struct vguest *g, const struct virtio_device_ops *ops, void *opaque);
void vg_fini(struct vguest *g);
uint32_t vg_rd(struct vguest *g, uint32_t off);
void vg_wr(struct vguest *g, uint32_t off, uint32_t v);
/* Linux's virtio_mmio probe and virtio_dev_probe, for queue 0 of VG_QSIZE entries. */
void vg_driver_up(struct vguest *g, uint64_t features);
/* The same with queues 0..nr-1, each of VG_QSIZE entries at VG_QUEUE_GPA(q) above queue 0's place. */
void vg_driver_up_queues(struct vguest *g, uint64_t features, unsigned nr);
/* Queue q's versions of the calls below. */
void vgq_set_desc(struct vguest *g, unsigned q, unsigned i, uint64_t gpa, uint32_t len, uint16_t flags, uint16_t next);
void vgq_make_available(struct vguest *g, unsigned q, uint16_t head, bool kick);
uint16_t vgq_used_idx(struct vguest *g, unsigned q);
void vgq_used_elem(struct vguest *g, unsigned q, unsigned i, uint32_t *id, uint32_t *len);
bool vgq_wait_used(struct vguest *g, unsigned q, uint16_t idx);
void vg_set_desc(struct vguest *g, unsigned i, uint64_t gpa, uint32_t len, uint16_t flags, uint16_t next);
/* Makes the chain at head available; rings the doorbell when kick. */
void vg_make_available(struct vguest *g, uint16_t head, bool kick);
void vg_offer(struct vguest *g, uint16_t head);
uint16_t vg_used_idx(struct vguest *g);
void vg_used_elem(struct vguest *g, unsigned i, uint32_t *id, uint32_t *len);
/* Waits (5 s at most) until the used index reaches idx; returns whether it did. */
bool vg_wait_used(struct vguest *g, uint16_t idx);
bool vg_all_zero(const uint8_t *p, size_t n);

#endif
