/* SPDX-License-Identifier: MIT */
/* A virtio driver played by a test (virtio_guest.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "virtio_guest.h"

static void *g_hva(void *ctx, uint64_t gpa, uint64_t len)
{
	struct vguest *g = ctx;

	return gpa < VG_RAM_BYTES && len <= VG_RAM_BYTES - gpa ? g->ram + gpa : NULL;
}

static void g_interrupt(void *ctx)
{
	__atomic_add_fetch(&((struct vguest *)ctx)->interrupts, 1, __ATOMIC_SEQ_CST);
}

static void g_error(void *ctx, const char *msg)
{
	struct vguest *g = ctx;

	snprintf(g->error, sizeof(g->error), "%s", msg);
	__atomic_add_fetch(&g->errors, 1, __ATOMIC_SEQ_CST);
}

uint32_t vg_rd(struct vguest *g, uint32_t off)
{
	uint32_t v;

	cr_assert_eq(virtio_mmio_access(&g->t, off, false, (uint8_t *)&v, 4), 0);
	return v;
}

void vg_wr(struct vguest *g, uint32_t off, uint32_t v)
{
	cr_assert_eq(virtio_mmio_access(&g->t, off, true, (uint8_t *)&v, 4), 0);
}

void vg_init(struct vguest *g, const struct virtio_device_ops *ops, void *opaque)
{
	struct virtio_env env = { .gpa_to_hva = g_hva, .interrupt = g_interrupt, .guest_error = g_error, .ctx = g };

	memset(g, 0, sizeof(*g));
	cr_assert_not_null(g->ram = calloc(1, VG_RAM_BYTES));
	virtio_mmio_init(&g->t, ops, opaque, &env);
}

void vg_fini(struct vguest *g)
{
	virtio_mmio_destroy(&g->t);
	free(g->ram);
}

void vg_driver_up_queues(struct vguest *g, uint64_t features, unsigned nr)
{
	vg_wr(g, VIRTIO_MMIO_STATUS, 0);
	vg_wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	vg_wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vg_wr(g, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vg_wr(g, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	vg_wr(g, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vg_wr(g, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	vg_wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	for (unsigned q = 0; q < nr; q++) {
		vg_wr(g, VIRTIO_MMIO_QUEUE_SEL, q);
		vg_wr(g, VIRTIO_MMIO_QUEUE_NUM, VG_QSIZE);
		vg_wr(g, VIRTIO_MMIO_QUEUE_DESC_LOW, VG_DESC_GPA + VG_QUEUE_GPA(q));
		vg_wr(g, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
		vg_wr(g, VIRTIO_MMIO_QUEUE_DRIVER_LOW, VG_AVAIL_GPA + VG_QUEUE_GPA(q));
		vg_wr(g, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
		vg_wr(g, VIRTIO_MMIO_QUEUE_DEVICE_LOW, VG_USED_GPA + VG_QUEUE_GPA(q));
		vg_wr(g, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
		vg_wr(g, VIRTIO_MMIO_QUEUE_READY, 1);
	}
	vg_wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
					     VIRTIO_STATUS_DRIVER_OK);
}

void vg_driver_up(struct vguest *g, uint64_t features)
{
	vg_driver_up_queues(g, features, 1);
}

void vgq_set_desc(struct vguest *g, unsigned q, unsigned i, uint64_t gpa, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = g->ram + VG_DESC_GPA + VG_QUEUE_GPA(q) + 16 * i;

	memcpy(d, &gpa, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

void vg_set_desc(struct vguest *g, unsigned i, uint64_t gpa, uint32_t len, uint16_t flags, uint16_t next)
{
	vgq_set_desc(g, 0, i, gpa, len, flags, next);
}

void vgq_make_available(struct vguest *g, unsigned q, uint16_t head, bool kick)
{
	uint16_t *idx = q ? &g->avail_idx_more[q - 1] : &g->avail_idx;
	uint8_t *avail = g->ram + VG_AVAIL_GPA + VG_QUEUE_GPA(q);

	memcpy(avail + 4 + 2 * (*idx % VG_QSIZE), &head, 2);
	(*idx)++;
	/* the entry before the index that publishes it, as the driver's write barrier orders them */
	__atomic_store_n((uint16_t *)(avail + 2), *idx, __ATOMIC_RELEASE);
	if (kick)
		vg_wr(g, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

void vg_make_available(struct vguest *g, uint16_t head, bool kick)
{
	vgq_make_available(g, 0, head, kick);
}

void vg_offer(struct vguest *g, uint16_t head)
{
	vg_make_available(g, head, true);
}

uint16_t vgq_used_idx(struct vguest *g, unsigned q)
{
	return __atomic_load_n((uint16_t *)(g->ram + VG_USED_GPA + VG_QUEUE_GPA(q) + 2), __ATOMIC_ACQUIRE);
}

uint16_t vg_used_idx(struct vguest *g)
{
	return vgq_used_idx(g, 0);
}

void vgq_used_elem(struct vguest *g, unsigned q, unsigned i, uint32_t *id, uint32_t *len)
{
	memcpy(id, g->ram + VG_USED_GPA + VG_QUEUE_GPA(q) + 4 + 8 * (i % VG_QSIZE), 4);
	memcpy(len, g->ram + VG_USED_GPA + VG_QUEUE_GPA(q) + 8 + 8 * (i % VG_QSIZE), 4);
}

void vg_used_elem(struct vguest *g, unsigned i, uint32_t *id, uint32_t *len)
{
	vgq_used_elem(g, 0, i, id, len);
}

bool vgq_wait_used(struct vguest *g, unsigned q, uint16_t idx)
{
	struct timespec ms = { .tv_nsec = 1000000 };

	for (unsigned i = 0; i < 5000; i++) {
		if (vgq_used_idx(g, q) == idx)
			return true;
		nanosleep(&ms, NULL);
	}
	return vgq_used_idx(g, q) == idx;
}

bool vg_wait_used(struct vguest *g, uint16_t idx)
{
	return vgq_wait_used(g, 0, idx);
}

bool vg_all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}
