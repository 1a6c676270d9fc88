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

void vg_driver_up(struct vguest *g, uint64_t features)
{
	vg_wr(g, VIRTIO_MMIO_STATUS, 0);
	vg_wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	vg_wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vg_wr(g, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vg_wr(g, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	vg_wr(g, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vg_wr(g, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	vg_wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	vg_wr(g, VIRTIO_MMIO_QUEUE_SEL, 0);
	vg_wr(g, VIRTIO_MMIO_QUEUE_NUM, VG_QSIZE);
	vg_wr(g, VIRTIO_MMIO_QUEUE_DESC_LOW, VG_DESC_GPA);
	vg_wr(g, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	vg_wr(g, VIRTIO_MMIO_QUEUE_DRIVER_LOW, VG_AVAIL_GPA);
	vg_wr(g, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
	vg_wr(g, VIRTIO_MMIO_QUEUE_DEVICE_LOW, VG_USED_GPA);
	vg_wr(g, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
	vg_wr(g, VIRTIO_MMIO_QUEUE_READY, 1);
	vg_wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
					     VIRTIO_STATUS_DRIVER_OK);
}

void vg_set_desc(struct vguest *g, unsigned i, uint64_t gpa, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = g->ram + VG_DESC_GPA + 16 * i;

	memcpy(d, &gpa, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

void vg_make_available(struct vguest *g, uint16_t head, bool kick)
{
	memcpy(g->ram + VG_AVAIL_GPA + 4 + 2 * (g->avail_idx % VG_QSIZE), &head, 2);
	g->avail_idx++;
	/* the entry before the index that publishes it, as the driver's write barrier orders them */
	__atomic_store_n((uint16_t *)(g->ram + VG_AVAIL_GPA + 2), g->avail_idx, __ATOMIC_RELEASE);
	if (kick)
		vg_wr(g, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

void vg_offer(struct vguest *g, uint16_t head)
{
	vg_make_available(g, head, true);
}

uint16_t vg_used_idx(struct vguest *g)
{
	return __atomic_load_n((uint16_t *)(g->ram + VG_USED_GPA + 2), __ATOMIC_ACQUIRE);
}

void vg_used_elem(struct vguest *g, unsigned i, uint32_t *id, uint32_t *len)
{
	memcpy(id, g->ram + VG_USED_GPA + 4 + 8 * (i % VG_QSIZE), 4);
	memcpy(len, g->ram + VG_USED_GPA + 8 + 8 * (i % VG_QSIZE), 4);
}

bool vg_wait_used(struct vguest *g, uint16_t idx)
{
	struct timespec ms = { .tv_nsec = 1000000 };

	for (unsigned i = 0; i < 5000; i++) {
		if (vg_used_idx(g) == idx)
			return true;
		nanosleep(&ms, NULL);
	}
	return vg_used_idx(g) == idx;
}

bool vg_all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}
