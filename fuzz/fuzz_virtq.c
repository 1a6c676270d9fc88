/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: a hostile guest driver against the real virtio-mmio
 * transport and split virtqueues (vmm/dev/virtio_mmio.c) with virtio-rng or
 * virtio-blk behind them (a real image, its requests parsed and done
 * through a private layer, on this thread: virtio_blk_serve_now(), so a run
 * is deterministic and starts no thread). The input:
 *
 *   a header (struct hdr, little-endian, zeros where the input is short):
 *     the device, the driver's features, QueueSel and QueueNum, the three
 *     ring addresses, the available ring's flags and index;
 *   nr_ops register operations (struct op): MMIO reads and writes of any
 *     size at any offset of the window, stores into guest RAM, notifies;
 *   guest RAM: the rest, up to RAM_BYTES (zeros after): descriptor
 *     tables, rings and buffers.
 *
 * The driver negotiates, sets the queue up (whatever the header says, also
 * out of range), runs the operations, then notifies queue 0 once more. RAM
 * is one allocation of exactly RAM_BYTES behind a bounds-checked
 * gpa_to_hva, so ASan sees any access past it; libFuzzer's timeout sees a
 * loop. Checked besides: a broken queue always has DEVICE_NEEDS_RESET; a
 * device that said so writes no more guest memory until a reset; rings
 * outside RAM or misaligned are refused; every error is one line.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <unistd.h>
#include "fuzz.h"
#include "dev/virtio_blk.h"
#include "dev/virtio_dev.h"
#include "dev/virtio_mmio.h"

#define RAM_BYTES  (64u << 10)
#define DISK_BYTES (64u << 10)
#define MAX_OPS    64

enum { DEV_BLK = 1, DEV_READONLY = 2, DEV_NO_VERSION_1 = 4 };
enum { OP_WRITE, OP_READ, OP_STORE, OP_NOTIFY };

struct hdr {
	uint8_t device;             /* DEV_*: rng unless DEV_BLK */
	uint8_t nr_ops;             /* at most MAX_OPS */
	uint16_t queue_num;
	uint32_t queue_sel;         /* QueueSel while the queue is set up */
	uint32_t features;          /* the driver's low 32 bits; VERSION_1 unless DEV_NO_VERSION_1 */
	uint16_t avail_flags, avail_idx; /* stored in the available ring when it lies in RAM */
	uint64_t desc, avail, used;
} __attribute__((packed));

struct op {
	uint8_t kind;               /* OP_*, modulo 4 */
	uint8_t size;               /* MMIO: 1 + size % 8 bytes; a store: 2 or 4 */
	uint16_t offset;            /* into the window (modulo its size) or into RAM */
	uint32_t value;
} __attribute__((packed));

static char dir[] = "/dev/shm/thpvm-fuzz-virtq-XXXXXX", disk[64];

static struct {
	uint8_t *ram, *frozen;      /* frozen: RAM as it was when the device said DEVICE_NEEDS_RESET */
	struct virtio_mmio t;
	struct virtio_blk *blk;
	struct virtio_device_ops ops;
	bool kicked;
} f;

static void cleanup(void)
{
	unlink(disk);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t sector[512];
	int fd;

	/* the image: each sector says which it is, so a read from the wrong place shows */
	if (!mkdtemp(dir))
		abort();
	snprintf(disk, sizeof(disk), "%s/disk", dir);
	atexit(cleanup);
	if ((fd = open(disk, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		abort();
	for (unsigned s = 0; s < DISK_BYTES / 512; s++) {
		memset(sector, (int)s, sizeof(sector));
		if (write(fd, sector, sizeof(sector)) != (ssize_t)sizeof(sector))
			abort();
	}
	close(fd);
	return 0;
}

static void *ram_at(void *ctx, uint64_t gpa, uint64_t len)
{
	return gpa < RAM_BYTES && len <= RAM_BYTES - gpa ? f.ram + gpa : NULL;
}

/* The device's interrupt: the moment it says DEVICE_NEEDS_RESET, RAM is frozen until a reset. */
static void interrupt(void *ctx)
{
	if ((f.t.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) && !f.frozen) {
		f.frozen = malloc(RAM_BYTES);
		if (!f.frozen)
			abort();
		memcpy(f.frozen, f.ram, RAM_BYTES);
	}
}

static void guest_error(void *ctx, const char *msg)
{
	FUZZ_CHECK(msg[0] && !strchr(msg, '\n'));
}

/* virtio-blk's notify wakes its thread; here it marks the kick, and the caller plays the thread after. */
static void blk_kick(struct virtio_mmio *t, unsigned q)
{
	f.kicked = true;
	virtio_blk_ops(f.blk)->notify(t, q);
}

/* One MMIO access of size bytes (each its own allocation: ASan sees an overrun of the caller's buffer). */
static uint32_t mmio(uint32_t offset, bool is_write, uint32_t value, unsigned size)
{
	uint8_t *data = malloc(size);
	uint32_t v = 0;

	if (!data)
		abort();
	for (unsigned i = 0; i < size; i++)
		data[i] = (uint8_t)(value >> (8 * (i % 4)));
	FUZZ_CHECK(virtio_mmio_access(&f.t, offset, is_write, data, size) == 0);
	memcpy(&v, data, size < 4 ? size : 4);
	free(data);
	if (f.kicked) {
		f.kicked = false;
		FUZZ_CHECK(virtio_blk_serve_now(f.blk, &f.t) == 0);
	}
	return v;
}

static uint32_t rd(uint32_t off)
{
	return mmio(off, false, 0, 4);
}

static void wr(uint32_t off, uint32_t v)
{
	mmio(off, true, v, 4);
}

/* What must hold between any two accesses of the driver. */
static void check_state(void)
{
	if (f.frozen && !(f.t.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)) {
		/* a reset: the device may use the rings again */
		free(f.frozen);
		f.frozen = NULL;
	}
	if (f.frozen)
		FUZZ_CHECK(!memcmp(f.frozen, f.ram, RAM_BYTES));
	for (unsigned i = 0; i < f.ops.nr_queues; i++) {
		const struct virtq *q = &f.t.q[i];

		FUZZ_CHECK(!q->broken || (f.t.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
		FUZZ_CHECK(!q->ready || (q->num && q->num <= VIRTIO_QUEUE_MAX && !(q->num & (q->num - 1))));
	}
}

/* The guest's own store into its RAM (also into the frozen copy: it is not the device's). */
static void store(uint16_t offset, uint32_t value, unsigned size)
{
	if (offset > RAM_BYTES - size)
		return;
	memcpy(f.ram + offset, &value, size);
	if (f.frozen)
		memcpy(f.frozen + offset, &value, size);
}

static void run_op(const struct op *o)
{
	switch (o->kind % 4) {
	case OP_WRITE:
	case OP_READ:
		mmio(o->offset % VIRTIO_MMIO_SIZE, o->kind % 4 == OP_WRITE, o->value, 1u + o->size % 8);
		break;
	case OP_STORE:
		store(o->offset, o->value, o->size & 1 ? 4 : 2);
		break;
	case OP_NOTIFY:
		wr(VIRTIO_MMIO_QUEUE_NOTIFY, o->value);
		break;
	}
}

/* Whether a ring part lies in RAM with the alignment the specification asks for (2.7). */
static bool ring_ok(uint64_t gpa, uint64_t len, unsigned align)
{
	return ram_at(NULL, gpa, len) && !(gpa % align);
}

/* The last notify of queue 0: a queue the device must refuse ends in DEVICE_NEEDS_RESET. */
static void last_notify(void)
{
	const struct virtq *q = &f.t.q[0];
	bool live = q->ready && !q->broken && (f.t.status & VIRTIO_STATUS_DRIVER_OK) &&
		    !(f.t.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	bool bad = !ring_ok(q->desc_gpa, 16ull * q->num, 16) || !ring_ok(q->avail_gpa, 4 + 2ull * q->num, 2);
	uint16_t idx;

	if (!bad) {
		memcpy(&idx, f.ram + q->avail_gpa + 2, 2);
		bad = (uint16_t)(idx - q->last_avail) > q->num;
	}
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	check_state();
	if (live && bad)
		FUZZ_CHECK(f.t.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

static void drive(const struct hdr *h, const struct op *ops, unsigned nr_ops)
{
	uint64_t features = h->features | (h->device & DEV_NO_VERSION_1 ? 0 : 1ull << VIRTIO_F_VERSION_1);
	uint32_t status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	/* Linux's order (virtio_mmio probe, virtio_dev_probe), with whatever the header says */
	FUZZ_CHECK(rd(VIRTIO_MMIO_MAGIC_VALUE) == VIRTIO_MMIO_MAGIC && rd(VIRTIO_MMIO_VERSION_REG) == 2);
	wr(VIRTIO_MMIO_STATUS, 0);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(VIRTIO_MMIO_STATUS, status);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)features);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
	wr(VIRTIO_MMIO_STATUS, status | VIRTIO_STATUS_FEATURES_OK);
	/* FEATURES_OK sticks exactly when the driver took VERSION_1 and nothing more than offered */
	FUZZ_CHECK(!!(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK) ==
		   !!((features & (1ull << VIRTIO_F_VERSION_1)) &&
		      !(features & ~(f.ops.features | 1ull << VIRTIO_F_VERSION_1))));
	status = rd(VIRTIO_MMIO_STATUS); /* a hostile driver goes on without FEATURES_OK */
	wr(VIRTIO_MMIO_QUEUE_SEL, h->queue_sel);
	FUZZ_CHECK(rd(VIRTIO_MMIO_QUEUE_NUM_MAX) == (h->queue_sel < f.ops.nr_queues ? VIRTIO_QUEUE_MAX : 0));
	wr(VIRTIO_MMIO_QUEUE_NUM, h->queue_num);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)h->desc);
	wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(h->desc >> 32));
	wr(VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)h->avail);
	wr(VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(h->avail >> 32));
	wr(VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)h->used);
	wr(VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(h->used >> 32));
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(VIRTIO_MMIO_STATUS, status | VIRTIO_STATUS_DRIVER_OK);
	check_state();
	for (unsigned i = 0; i < nr_ops; i++) {
		run_op(&ops[i]);
		check_state();
	}
	last_notify();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtio_env env = { .gpa_to_hva = ram_at, .interrupt = interrupt, .guest_error = guest_error };
	struct virtio_blk_config cfg = { .path = disk, .snapshot = true };
	struct op ops[MAX_OPS];
	struct hdr h = { 0 };
	unsigned nr_ops;
	size_t n;

	memcpy(&h, data, size < sizeof(h) ? size : sizeof(h));
	data += size < sizeof(h) ? size : sizeof(h), size -= size < sizeof(h) ? size : sizeof(h);
	nr_ops = h.nr_ops % (MAX_OPS + 1);
	if (nr_ops > size / sizeof(struct op))
		nr_ops = (unsigned)(size / sizeof(struct op));
	memcpy(ops, data, nr_ops * sizeof(struct op));
	data += nr_ops * sizeof(struct op), size -= nr_ops * sizeof(struct op);

	f.ram = calloc(1, RAM_BYTES);
	if (!f.ram)
		abort();
	n = size < RAM_BYTES ? size : RAM_BYTES;
	memcpy(f.ram, data, n);
	/* the available ring's flags and index from the header, wherever the ring lies */
	if (h.avail < RAM_BYTES - 4) {
		memcpy(f.ram + h.avail, &h.avail_flags, 2);
		memcpy(f.ram + h.avail + 2, &h.avail_idx, 2);
	}
	if (h.device & DEV_BLK) {
		cfg.readonly = h.device & DEV_READONLY;
		FUZZ_CHECK(virtio_blk_open(&cfg, &f.blk) == 0);
		f.ops = *virtio_blk_ops(f.blk);
		f.ops.notify = blk_kick;
		virtio_mmio_init(&f.t, &f.ops, f.blk, &env);
	} else {
		f.ops = virtio_rng_ops;
		virtio_mmio_init(&f.t, &f.ops, NULL, &env);
	}
	drive(&h, ops, nr_ops);
	virtio_mmio_destroy(&f.t);
	virtio_blk_close(f.blk);
	f.blk = NULL;
	free(f.frozen);
	free(f.ram);
	f.frozen = f.ram = NULL;
	return 0;
}
