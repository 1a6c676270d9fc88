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

#define RAM_BYTES (1u << 20)
#define DESC_GPA  0x1000u
#define AVAIL_GPA 0x2000u
#define USED_GPA  0x3000u
#define BUF_GPA   0x10000u
#define QSIZE     16u

struct guest {
	uint8_t *ram;
	unsigned interrupts, errors;
	char error[256];
	struct virtio_mmio t;
	uint16_t avail_idx;
};

static void *g_hva(void *ctx, uint64_t gpa, uint64_t len)
{
	struct guest *g = ctx;

	return gpa < RAM_BYTES && len <= RAM_BYTES - gpa ? g->ram + gpa : NULL;
}

static void g_interrupt(void *ctx)
{
	((struct guest *)ctx)->interrupts++;
}

static void g_error(void *ctx, const char *msg)
{
	struct guest *g = ctx;

	g->errors++;
	snprintf(g->error, sizeof(g->error), "%s", msg);
}

static uint32_t rd(struct guest *g, uint32_t off)
{
	uint32_t v;

	cr_assert_eq(virtio_mmio_access(&g->t, off, false, (uint8_t *)&v, 4), 0);
	return v;
}

static void wr(struct guest *g, uint32_t off, uint32_t v)
{
	cr_assert_eq(virtio_mmio_access(&g->t, off, true, (uint8_t *)&v, 4), 0);
}

static void guest_init(struct guest *g)
{
	struct virtio_env env = { .gpa_to_hva = g_hva, .interrupt = g_interrupt, .guest_error = g_error, .ctx = g };

	memset(g, 0, sizeof(*g));
	cr_assert_not_null(g->ram = calloc(1, RAM_BYTES));
	virtio_mmio_init(&g->t, &virtio_rng_ops, NULL, &env);
}

static void guest_fini(struct guest *g)
{
	virtio_mmio_destroy(&g->t);
	free(g->ram);
}

/* Linux's virtio_mmio probe and virtio_dev_probe, for one queue of QSIZE entries. */
static void driver_up(struct guest *g, uint64_t features)
{
	wr(g, VIRTIO_MMIO_STATUS, 0);
	wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(g, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(g, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	wr(g, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(g, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	wr(g, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(g, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	wr(g, VIRTIO_MMIO_QUEUE_DESC_LOW, DESC_GPA);
	wr(g, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	wr(g, VIRTIO_MMIO_QUEUE_DRIVER_LOW, AVAIL_GPA);
	wr(g, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0);
	wr(g, VIRTIO_MMIO_QUEUE_DEVICE_LOW, USED_GPA);
	wr(g, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0);
	wr(g, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
					  VIRTIO_STATUS_DRIVER_OK);
}

static void set_desc(struct guest *g, unsigned i, uint64_t gpa, uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *d = g->ram + DESC_GPA + 16 * i;

	memcpy(d, &gpa, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
}

/* Offers the chain at head and rings the doorbell. */
static void offer(struct guest *g, uint16_t head)
{
	memcpy(g->ram + AVAIL_GPA + 4 + 2 * (g->avail_idx % QSIZE), &head, 2);
	g->avail_idx++;
	memcpy(g->ram + AVAIL_GPA + 2, &g->avail_idx, 2);
	wr(g, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

static uint16_t used_idx(struct guest *g)
{
	uint16_t v;

	memcpy(&v, g->ram + USED_GPA + 2, 2);
	return v;
}

static void used_elem(struct guest *g, unsigned i, uint32_t *id, uint32_t *len)
{
	memcpy(id, g->ram + USED_GPA + 4 + 8 * (i % QSIZE), 4);
	memcpy(len, g->ram + USED_GPA + 8 + 8 * (i % QSIZE), 4);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

Test(virtio, identifies_as_a_modern_entropy_device)
{
	struct guest g;

	guest_init(&g);
	cr_expect_eq(rd(&g, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	cr_expect_eq(rd(&g, VIRTIO_MMIO_VERSION_REG), 2);
	cr_expect_eq(rd(&g, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
	wr(&g, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	cr_expect_eq(rd(&g, VIRTIO_MMIO_DEVICE_FEATURES), 1u << (VIRTIO_F_VERSION_1 - 32));
	wr(&g, VIRTIO_MMIO_QUEUE_SEL, 0);
	cr_expect_eq(rd(&g, VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTIO_QUEUE_MAX);
	wr(&g, VIRTIO_MMIO_QUEUE_SEL, 1); /* entropy has one queue */
	cr_expect_eq(rd(&g, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	guest_fini(&g);
}

Test(virtio, features_ok_only_for_a_driver_that_takes_version_1_and_nothing_unoffered)
{
	struct guest g;

	guest_init(&g);
	driver_up(&g, 0); /* a legacy driver */
	cr_expect_eq(rd(&g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK, 0);
	driver_up(&g, (1ull << VIRTIO_F_VERSION_1) | (1ull << 28)); /* indirect descriptors: not offered */
	cr_expect_eq(rd(&g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK, 0);
	driver_up(&g, 1ull << VIRTIO_F_VERSION_1);
	cr_expect_neq(rd(&g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK, 0);
	cr_expect_eq(rd(&g, VIRTIO_MMIO_QUEUE_READY), 1);
	guest_fini(&g);
}

Test(virtio, a_queue_size_that_is_not_a_power_of_two_never_becomes_ready)
{
	struct guest g;

	guest_init(&g);
	wr(&g, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(&g, VIRTIO_MMIO_QUEUE_NUM, 3);
	wr(&g, VIRTIO_MMIO_QUEUE_READY, 1);
	cr_expect_eq(rd(&g, VIRTIO_MMIO_QUEUE_READY), 0);
	wr(&g, VIRTIO_MMIO_QUEUE_NUM, 2 * VIRTIO_QUEUE_MAX);
	wr(&g, VIRTIO_MMIO_QUEUE_READY, 1);
	cr_expect_eq(rd(&g, VIRTIO_MMIO_QUEUE_READY), 0);
	guest_fini(&g);
}

Test(virtio, entropy_fills_every_buffer_offered_and_interrupts)
{
	struct guest g;
	uint32_t id, len;

	guest_init(&g);
	driver_up(&g, 1ull << VIRTIO_F_VERSION_1);
	set_desc(&g, 0, BUF_GPA, 4096, VIRTQ_DESC_F_WRITE, 0);
	offer(&g, 0);
	cr_assert_eq(used_idx(&g), 1);
	used_elem(&g, 0, &id, &len);
	cr_expect_eq(id, 0);
	cr_expect_eq(len, 4096);
	cr_expect_not(all_zero(g.ram + BUF_GPA, 4096));
	cr_expect_eq(g.interrupts, 1);
	cr_expect_eq(rd(&g, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_USED_RING);
	wr(&g, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_USED_RING);
	cr_expect_eq(rd(&g, VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	/* a chain of two buffers, 64 + 32 bytes: each filled, the length their sum; different bytes each time */
	set_desc(&g, 1, BUF_GPA + 8192, 64, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
	set_desc(&g, 2, BUF_GPA + 12288, 32, VIRTQ_DESC_F_WRITE, 0);
	offer(&g, 1);
	cr_assert_eq(used_idx(&g), 2);
	used_elem(&g, 1, &id, &len);
	cr_expect_eq(id, 1);
	cr_expect_eq(len, 96);
	cr_expect_not(all_zero(g.ram + BUF_GPA + 12288, 32));
	cr_expect_neq(memcmp(g.ram + BUF_GPA, g.ram + BUF_GPA + 8192, 64), 0);
	cr_expect(all_zero(g.ram + BUF_GPA + 8192 + 64, 64), "nothing written past a buffer");
	cr_expect_eq(g.errors, 0);
	guest_fini(&g);
}

Test(virtio, no_interrupt_when_the_driver_asks_for_none)
{
	struct guest g;
	uint16_t flags = VIRTQ_AVAIL_F_NO_INTERRUPT;

	guest_init(&g);
	driver_up(&g, 1ull << VIRTIO_F_VERSION_1);
	memcpy(g.ram + AVAIL_GPA, &flags, 2);
	set_desc(&g, 0, BUF_GPA, 16, VIRTQ_DESC_F_WRITE, 0);
	offer(&g, 0);
	cr_expect_eq(used_idx(&g), 1);
	cr_expect_eq(g.interrupts, 0);
	guest_fini(&g);
}

Test(virtio, nothing_happens_before_driver_ok)
{
	struct guest g;

	guest_init(&g);
	wr(&g, VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(&g, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	wr(&g, VIRTIO_MMIO_QUEUE_DESC_LOW, DESC_GPA);
	wr(&g, VIRTIO_MMIO_QUEUE_DRIVER_LOW, AVAIL_GPA);
	wr(&g, VIRTIO_MMIO_QUEUE_DEVICE_LOW, USED_GPA);
	wr(&g, VIRTIO_MMIO_QUEUE_READY, 1);
	set_desc(&g, 0, BUF_GPA, 16, VIRTQ_DESC_F_WRITE, 0);
	offer(&g, 0);
	cr_expect_eq(used_idx(&g), 0);
	cr_expect(all_zero(g.ram + BUF_GPA, 16));
	guest_fini(&g);
}

/* What a guest can get wrong in its ring: each ends in DEVICE_NEEDS_RESET, said once, and nothing written. */
struct bad_ring {
	const char *what;
	void (*setup)(struct guest *g);
	const char *says;
};

static void buffer_outside_ram(struct guest *g)
{
	set_desc(g, 0, RAM_BYTES - 8, 4096, VIRTQ_DESC_F_WRITE, 0);
}

static void chain_loop(struct guest *g)
{
	set_desc(g, 0, BUF_GPA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	set_desc(g, 1, BUF_GPA + 16, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
}

static void index_past_end(struct guest *g)
{
	set_desc(g, 0, BUF_GPA, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, QSIZE + 3);
}

static void rings_outside_ram(struct guest *g)
{
	wr(g, VIRTIO_MMIO_STATUS, 0);
	driver_up(g, 1ull << VIRTIO_F_VERSION_1);
	/* the queue's layout is fixed once ready: set it up again, rings past the end of RAM */
	wr(g, VIRTIO_MMIO_STATUS, 0);
	wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(g, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(g, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	wr(g, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	wr(g, VIRTIO_MMIO_QUEUE_DESC_LOW, RAM_BYTES + 0x1000);
	wr(g, VIRTIO_MMIO_QUEUE_DRIVER_LOW, AVAIL_GPA);
	wr(g, VIRTIO_MMIO_QUEUE_DEVICE_LOW, USED_GPA);
	wr(g, VIRTIO_MMIO_QUEUE_READY, 1);
	wr(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
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
		struct guest g;

		guest_init(&g);
		driver_up(&g, 1ull << VIRTIO_F_VERSION_1);
		b->setup(&g);
		offer(&g, 0);
		cr_expect_eq(used_idx(&g), 0, "%s: nothing used", b->what);
		cr_expect_neq(rd(&g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0, "%s: NEEDS_RESET",
			      b->what);
		cr_expect_neq(rd(&g, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG, 0, "%s: config interrupt",
			      b->what);
		cr_expect_eq(g.errors, 1, "%s: said once", b->what);
		cr_expect(strstr(g.error, b->says), "%s: '%s' names it", b->what, g.error);
		offer(&g, 0);
		cr_expect_eq(g.errors, 1, "%s: not said again", b->what);
		/* a reset and a fresh start: the device works again */
		driver_up(&g, 1ull << VIRTIO_F_VERSION_1);
		cr_expect_eq(rd(&g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET, 0, "%s: reset", b->what);
		memset(g.ram + AVAIL_GPA, 0, 64);
		g.avail_idx = 0;
		set_desc(&g, 0, BUF_GPA, 16, VIRTQ_DESC_F_WRITE, 0);
		offer(&g, 0);
		cr_expect_eq(used_idx(&g), 1, "%s: works after the reset", b->what);
		guest_fini(&g);
	}
}

Test(virtio, state_saved_mid_stream_continues_in_another_device)
{
	struct guest g, h;
	uint32_t id, len;
	json_t *st;

	guest_init(&g);
	driver_up(&g, 1ull << VIRTIO_F_VERSION_1);
	set_desc(&g, 0, BUF_GPA, 16, VIRTQ_DESC_F_WRITE, 0);
	offer(&g, 0);
	cr_assert_not_null(st = virtio_mmio_save(&g.t));

	/* a fork or a restore: the same guest memory, a new device given the saved state */
	guest_init(&h);
	memcpy(h.ram, g.ram, RAM_BYTES);
	h.avail_idx = g.avail_idx;
	cr_assert_eq(virtio_mmio_restore(&h.t, st), 0);
	cr_expect_eq(rd(&h, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_DRIVER_OK);
	set_desc(&h, 1, BUF_GPA + 4096, 32, VIRTQ_DESC_F_WRITE, 0);
	offer(&h, 1);
	cr_assert_eq(used_idx(&h), 2);
	used_elem(&h, 1, &id, &len);
	cr_expect_eq(id, 1, "the next chain, not the first again");
	cr_expect_eq(len, 32);

	/* a state that is not a virtio device's is refused whole */
	json_object_set_new(st, "queues", json_array());
	cr_expect_eq(virtio_mmio_restore(&h.t, st), -EINVAL);
	json_decref(st);
	guest_fini(&g);
	guest_fini(&h);
}
