/* SPDX-License-Identifier: MIT */
/*
 * virtio-mmio and virtio-rng (suite virtio): the test plays a guest's
 * driver, step by step as Linux's virtio_mmio.c does, against the real
 * transport and device over real memory standing in for guest RAM; then
 * breaks the ring's rules the ways a buggy or hostile guest can.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "dev/virtio_dev.h"
#include "virtio_guest.h"

Test(virtio, identifies_as_a_modern_entropy_device)
{
	struct vguest g;

	vg_init(&g, &virtio_rng_ops, NULL);
	cr_expect_eq(vg_rd(&g, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	cr_expect_eq(vg_rd(&g, VIRTIO_MMIO_VERSION_REG), 2);
	cr_expect_eq(vg_rd(&g, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	vg_wr(&g, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	cr_expect_eq(vg_rd(&g, VIRTIO_MMIO_DEVICE_FEATURES), 1u << (VIRTIO_F_VERSION_1 - 32));
	vg_wr(&g, VIRTIO_MMIO_QUEUE_SEL, 0);
	cr_expect_eq(vg_rd(&g, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_QUEUE_MAX);
	vg_wr(&g, VIRTIO_MMIO_QUEUE_SEL, 1); /* entropy has one queue */
	cr_expect_eq(vg_rd(&g, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	vg_fini(&g);
}

Test(virtio, features_ok_only_for_a_driver_that_takes_version_1_and_nothing_unoffered)
{
	struct vguest g;

	vg_init(&g, &virtio_rng_ops, NULL);
	vg_driver_up(&g, 0); /* a legacy driver */
	cr_expect_eq(vg_rd(&g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK, 0);
	vg_driver_up(&g, (1ull << VIRTIO_F_VERSION_1) | (1ull << 28)); /* indirect descriptors: not offered */
	cr_expect_eq(vg_rd(&g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK, 0);
	vg_driver_up(&g, 1ull << VIRTIO_F_VERSION_1);
	cr_expect_neq(vg_rd(&g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK, 0);
	cr_expect_eq(vg_rd(&g, VIRTIO_MMIO_QUEUE_READY), 1);
	vg_fini(&g);
}

Test(virtio, a_queue_size_that_is_not_a_power_of_two_never_becomes_ready)
{
	struct vguest g;

	vg_init(&g, &virtio_rng_ops, NULL);
	vg_wr(&g, VIRTIO_MMIO_QUEUE_SEL, 0);
	vg_wr(&g, VIRTIO_MMIO_QUEUE_NUM, 3);
	vg_wr(&g, VIRTIO_MMIO_QUEUE_READY, 1);
	cr_expect_eq(vg_rd(&g, VIRTIO_MMIO_QUEUE_READY), 0);
	vg_wr(&g, VIRTIO_MMIO_QUEUE_NUM, 2 * VIRTIO_QUEUE_MAX);
	vg_wr(&g, VIRTIO_MMIO_QUEUE_READY, 1);
	cr_expect_eq(vg_rd(&g, VIRTIO_MMIO_QUEUE_READY), 0);
	vg_fini(&g);
}

Test(virtio, entropy_fills_every_buffer_offered_and_interrupts)
{
	struct vguest g;
	uint32_t id, len;

	vg_init(&g, &virtio_rng_ops, NULL);
	vg_driver_up(&g, 1ull << VIRTIO_F_VERSION_1);
	vg_set_desc(&g, 0, VG_BUF_GPA, 4096, VIRTQ_DESC_F_WRITE, 0);
	vg_offer(&g, 0);
	cr_assert_eq(vg_used_idx(&g), 1);
	vg_used_elem(&g, 0, &id, &len);
	cr_expect_eq(id, 0);
	cr_expect_eq(len, 4096);
	cr_expect_not(vg_all_zero(g.ram + VG_BUF_GPA, 4096));
	cr_expect_eq(g.interrupts, 1);
	cr_expect_eq(vg_rd(&g, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_USED_RING);
	vg_wr(&g, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_USED_RING);
	cr_expect_eq(vg_rd(&g, VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	/* a chain of two buffers, 64 + 32 bytes: each filled, the length their sum; different bytes each time */
	vg_set_desc(&g, 1, VG_BUF_GPA + 8192, 64, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	vg_set_desc(&g, 2, VG_BUF_GPA + 12288, 32, VIRTQ_DESC_F_WRITE, 0);
	vg_offer(&g, 1);
	cr_assert_eq(vg_used_idx(&g), 2);
	vg_used_elem(&g, 1, &id, &len);
	cr_expect_eq(id, 1);
	cr_expect_eq(len, 96);
	cr_expect_not(vg_all_zero(g.ram + VG_BUF_GPA + 12288, 32));
	cr_expect_neq(memcmp(g.ram + VG_BUF_GPA, g.ram + VG_BUF_GPA + 8192, 64), 0);
	cr_expect(vg_all_zero(g.ram + VG_BUF_GPA + 8192 + 64, 64), "nothing written past a buffer");
	cr_expect_eq(g.errors, 0);
	vg_fini(&g);
}

Test(virtio, no_interrupt_when_the_driver_asks_for_none)
{
	struct vguest g;
	uint16_t flags = VIRTQ_AVAIL_F_NO_INTERRUPT;

	vg_init(&g, &virtio_rng_ops, NULL);
	vg_driver_up(&g, 1ull << VIRTIO_F_VERSION_1);
	memcpy(g.ram + VG_AVAIL_GPA, &flags, 2);
	vg_set_desc(&g, 0, VG_BUF_GPA, 16, VIRTQ_DESC_F_WRITE, 0);
	vg_offer(&g, 0);
	cr_expect_eq(vg_used_idx(&g), 1);
	cr_expect_eq(g.interrupts, 0);
	vg_fini(&g);
}

Test(virtio, nothing_happens_before_driver_ok)
{
	struct vguest g;

	vg_init(&g, &virtio_rng_ops, NULL);
	vg_wr(&g, VIRTIO_MMIO_QUEUE_SEL, 0);
	vg_wr(&g, VIRTIO_MMIO_QUEUE_NUM, VG_QSIZE);
	vg_wr(&g, VIRTIO_MMIO_QUEUE_DESC_LOW, VG_DESC_GPA);
	vg_wr(&g, VIRTIO_MMIO_QUEUE_DRIVER_LOW, VG_AVAIL_GPA);
	vg_wr(&g, VIRTIO_MMIO_QUEUE_DEVICE_LOW, VG_USED_GPA);
	vg_wr(&g, VIRTIO_MMIO_QUEUE_READY, 1);
	vg_set_desc(&g, 0, VG_BUF_GPA, 16, VIRTQ_DESC_F_WRITE, 0);
	vg_offer(&g, 0);
	cr_expect_eq(vg_used_idx(&g), 0);
	cr_expect(vg_all_zero(g.ram + VG_BUF_GPA, 16));
	vg_fini(&g);
}

/* What a guest can get wrong in its ring: each ends in DEVICE_NEEDS_RESET, said once, and nothing written. */
struct bad_ring {
	const char *what;
	void (*setup)(struct vguest *g);
	const char *says;
};

static void buffer_outside_ram(struct vguest *g)
{
	vg_set_desc(g, 0, VG_RAM_BYTES - 8, 4096, VIRTQ_DESC_F_WRITE, 0);
}

static void chain_loop(struct vguest *g)
{
	vg_set_desc(g, 0, VG_BUF_GPA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	vg_set_desc(g, 1, VG_BUF_GPA + 16, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
}

static void index_past_end(struct vguest *g)
{
	vg_set_desc(g, 0, VG_BUF_GPA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, VG_QSIZE + 3);
}

static void rings_outside_ram(struct vguest *g)
{
	vg_wr(g, VIRTIO_MMIO_STATUS, 0);
	vg_driver_up(g, 1ull << VIRTIO_F_VERSION_1);
	/* the queue's layout is fixed once ready: set it up again, rings past the end of RAM */
	vg_wr(g, VIRTIO_MMIO_STATUS, 0);
	vg_wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	vg_wr(g, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vg_wr(g, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	vg_wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	vg_wr(g, VIRTIO_MMIO_QUEUE_NUM, VG_QSIZE);
	vg_wr(g, VIRTIO_MMIO_QUEUE_DESC_LOW, VG_RAM_BYTES + 0x1000);
	vg_wr(g, VIRTIO_MMIO_QUEUE_DRIVER_LOW, VG_AVAIL_GPA);
	vg_wr(g, VIRTIO_MMIO_QUEUE_DEVICE_LOW, VG_USED_GPA);
	vg_wr(g, VIRTIO_MMIO_QUEUE_READY, 1);
	vg_wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
					  VIRTIO_STATUS_DRIVER_OK);
}

static const struct bad_ring bad_rings[] = {
	{ "a buffer past the end of RAM", buffer_outside_ram, "outside guest RAM" },
	{ "a descriptor chain that loops", chain_loop, "a loop?" },
	{ "a next index past the queue", index_past_end, "past the queue's end" },
	{ "rings outside RAM", rings_outside_ram, "rings lie outside guest RAM" },
};

Test(virtio, a_broken_ring_needs_a_reset_and_is_said_once)
{
	for (unsigned i = 0; i < sizeof(bad_rings) / sizeof(bad_rings[0]); i++) {
		const struct bad_ring *b = &bad_rings[i];
		struct vguest g;

		vg_init(&g, &virtio_rng_ops, NULL);
		vg_driver_up(&g, 1ull << VIRTIO_F_VERSION_1);
		b->setup(&g);
		vg_offer(&g, 0);
		cr_expect_eq(vg_used_idx(&g), 0, "%s: nothing used", b->what);
		cr_expect_neq(vg_rd(&g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0, "%s: NEEDS_RESET",
			      b->what);
		cr_expect_neq(vg_rd(&g, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG, 0, "%s: config interrupt",
			      b->what);
		cr_expect_eq(g.errors, 1, "%s: said once", b->what);
		cr_expect(strstr(g.error, b->says), "%s: '%s' names it", b->what, g.error);
		vg_offer(&g, 0);
		cr_expect_eq(g.errors, 1, "%s: not said again", b->what);
		/* a reset and a fresh start: the device works again */
		vg_driver_up(&g, 1ull << VIRTIO_F_VERSION_1);
		cr_expect_eq(vg_rd(&g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0, "%s: reset", b->what);
		memset(g.ram + VG_AVAIL_GPA, 0, 64);
		g.avail_idx = 0;
		vg_set_desc(&g, 0, VG_BUF_GPA, 16, VIRTQ_DESC_F_WRITE, 0);
		vg_offer(&g, 0);
		cr_expect_eq(vg_used_idx(&g), 1, "%s: works after the reset", b->what);
		vg_fini(&g);
	}
}

Test(virtio, state_saved_mid_stream_continues_in_another_device)
{
	struct vguest g, h;
	uint32_t id, len;
	json_t *st;

	vg_init(&g, &virtio_rng_ops, NULL);
	vg_driver_up(&g, 1ull << VIRTIO_F_VERSION_1);
	vg_set_desc(&g, 0, VG_BUF_GPA, 16, VIRTQ_DESC_F_WRITE, 0);
	vg_offer(&g, 0);
	cr_assert_not_null(st = virtio_mmio_save(&g.t));

	/* a fork or a restore: the same guest memory, a new device given the saved state */
	vg_init(&h, &virtio_rng_ops, NULL);
	memcpy(h.ram, g.ram, VG_RAM_BYTES);
	h.avail_idx = g.avail_idx;
	cr_assert_eq(virtio_mmio_restore(&h.t, st), 0);
	cr_expect_eq(vg_rd(&h, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_DRIVER_OK);
	vg_set_desc(&h, 1, VG_BUF_GPA + 4096, 32, VIRTQ_DESC_F_WRITE, 0);
	vg_offer(&h, 1);
	cr_assert_eq(vg_used_idx(&h), 2);
	vg_used_elem(&h, 1, &id, &len);
	cr_expect_eq(id, 1, "the next chain, not the first again");
	cr_expect_eq(len, 32);

	/* a state that is not a virtio device's is refused whole */
	json_object_set_new(st, "queues", json_array());
	cr_expect_eq(virtio_mmio_restore(&h.t, st), -EINVAL);
	json_decref(st);
	vg_fini(&g);
	vg_fini(&h);
}
