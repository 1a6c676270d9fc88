/* SPDX-License-Identifier: MIT */
/*
 * The virtio-mmio transport (virtio 1.x, "modern" only: register layout
 * version 2) and split virtqueues, as a register model with no VM in it:
 * guest memory and the interrupt line come in through virtio_env, so the
 * model runs the same under a VM (virtio_dev.c) and under a unit test that
 * plays the guest's driver. A device (virtio_rng.c) supplies its ID, its
 * feature bits, its queues and what a notification does.
 *
 * A guest that breaks the rules of the ring (a descriptor outside its RAM,
 * a ring not aligned as 2.7 asks, a loop, a chain longer than the queue)
 * gets what the specification says: the device sets DEVICE_NEEDS_RESET and
 * stops using the queue; the VM goes on, and thpvm says once what the guest
 * did.
 */
#ifndef THPVM_DEV_VIRTIO_MMIO_H
#define THPVM_DEV_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#define VIRTIO_MMIO_SIZE      0x200u    /* registers 0x000-0x0ff, device configuration from 0x100 */
#define VIRTIO_MMIO_CONFIG    0x100u
#define VIRTIO_MMIO_MAGIC     0x74726976u /* "virt" */
#define VIRTIO_MMIO_VERSION   2u
#define VIRTIO_MMIO_VENDOR_ID 0x4d565054u /* "TPVM" */
#define VIRTIO_MAX_QUEUES     2u
#define VIRTIO_QUEUE_MAX      256u      /* entries per queue we offer (a power of two) */

/* Register offsets (virtio 1.2, 4.2.2) */
enum {
	VIRTIO_MMIO_MAGIC_VALUE = 0x000,
	VIRTIO_MMIO_VERSION_REG = 0x004,
	VIRTIO_MMIO_DEVICE_ID = 0x008,
	VIRTIO_MMIO_VENDOR_ID_REG = 0x00c,
	VIRTIO_MMIO_DEVICE_FEATURES = 0x010,
	VIRTIO_MMIO_DEVICE_FEATURES_SEL = 0x014,
	VIRTIO_MMIO_DRIVER_FEATURES = 0x020,
	VIRTIO_MMIO_DRIVER_FEATURES_SEL = 0x024,
	VIRTIO_MMIO_QUEUE_SEL = 0x030,
	VIRTIO_MMIO_QUEUE_NUM_MAX = 0x034,
	VIRTIO_MMIO_QUEUE_NUM = 0x038,
	VIRTIO_MMIO_QUEUE_READY = 0x044,
	VIRTIO_MMIO_QUEUE_NOTIFY = 0x050,
	VIRTIO_MMIO_INTERRUPT_STATUS = 0x060,
	VIRTIO_MMIO_INTERRUPT_ACK = 0x064,
	VIRTIO_MMIO_STATUS = 0x070,
	VIRTIO_MMIO_QUEUE_DESC_LOW = 0x080,
	VIRTIO_MMIO_QUEUE_DESC_HIGH = 0x084,
	VIRTIO_MMIO_QUEUE_DRIVER_LOW = 0x090,
	VIRTIO_MMIO_QUEUE_DRIVER_HIGH = 0x094,
	VIRTIO_MMIO_QUEUE_DEVICE_LOW = 0x0a0,
	VIRTIO_MMIO_QUEUE_DEVICE_HIGH = 0x0a4,
	VIRTIO_MMIO_CONFIG_GENERATION = 0x0fc,
};

/* Device status bits (2.1) */
#define VIRTIO_STATUS_ACKNOWLEDGE        1u
#define VIRTIO_STATUS_DRIVER             2u
#define VIRTIO_STATUS_DRIVER_OK          4u
#define VIRTIO_STATUS_FEATURES_OK        8u
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED             128u

#define VIRTIO_F_VERSION_1     32       /* offered by every device: modern only */
#define VIRTIO_INT_USED_RING   1u       /* InterruptStatus bits */
#define VIRTIO_INT_CONFIG      2u

/* Split virtqueue layout (2.7) */
#define VIRTQ_DESC_F_NEXT      1u
#define VIRTQ_DESC_F_WRITE     2u
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1u

/* What the model needs from its host: guest memory and one interrupt line. */
struct virtio_env {
	/* Host address of [gpa, gpa + len) when all of it is guest RAM, else NULL. */
	void *(*gpa_to_hva)(void *ctx, uint64_t gpa, uint64_t len);
	/* An edge on the device's interrupt line. */
	void (*interrupt)(void *ctx);
	/* One line about what the guest did wrong, said once per device. */
	void (*guest_error)(void *ctx, const char *msg);
	/*
	 * Optional: queue q's notifications straight to eventfd fd (on: KVM's
	 * ioeventfd, no exit to thpvm; off: undone). Returns 0 or -errno; a
	 * device whose attach fails keeps getting notify() through the exit.
	 */
	int (*attach_kick)(void *ctx, unsigned q, int fd, bool on);
	void *ctx;
};

struct virtio_mmio;

struct virtio_device_ops {
	uint32_t device_id;         /* 4: entropy */
	uint64_t features;          /* the device's own bits; VERSION_1 is added */
	unsigned nr_queues;         /* at most VIRTIO_MAX_QUEUES */
	/* The driver notified queue q (ready): use its available buffers. Called with the transport locked. */
	void (*notify)(struct virtio_mmio *t, unsigned q);
	/* Optional: reads len bytes of the device's configuration at offset (zeros when absent). */
	void (*config_read)(struct virtio_mmio *t, uint32_t offset, uint8_t *data, unsigned len);
};

struct virtq {
	uint32_t num;               /* entries, a power of two <= VIRTIO_QUEUE_MAX */
	bool ready;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t last_avail;        /* next available entry the device has not taken */
	uint16_t used_idx;
	bool broken;                /* the guest broke the ring: not used until a reset */
};

struct virtio_mmio {
	const struct virtio_device_ops *ops;
	void *opaque;               /* the device's own state */
	struct virtio_env env;
	pthread_mutex_t lock;       /* vCPUs may touch the registers at once */
	uint32_t status, isr, config_generation;
	uint32_t device_features_sel, driver_features_sel, queue_sel;
	uint64_t driver_features;
	struct virtq q[VIRTIO_MAX_QUEUES];
	bool said_guest_error;
};

void virtio_mmio_init(struct virtio_mmio *t, const struct virtio_device_ops *ops, void *opaque,
		      const struct virtio_env *env);
void virtio_mmio_destroy(struct virtio_mmio *t);

/*
 * A guest access at offset into the device's window. Registers below
 * 0x100 take 4-byte accesses only (others read as zero and are ignored,
 * as the specification allows a device to). Returns 0.
 */
int virtio_mmio_access(struct virtio_mmio *t, uint32_t offset, bool is_write, uint8_t *data, unsigned size);

/* Back to power-on: status 0, every queue forgotten. */
void virtio_mmio_reset(struct virtio_mmio *t);

/* The transport's state (new reference), and back; for fork and snapshots. */
json_t *virtio_mmio_save(struct virtio_mmio *t);
int virtio_mmio_restore(struct virtio_mmio *t, const json_t *state);

/*
 * A device thread's kick eventfd as queue q's notification, where the host
 * can (KVM's ioeventfd): returns whether it is attached, to be detached
 * with virtio_mmio_detach_kick() before the eventfd is closed.
 */
bool virtio_mmio_attach_kick(struct virtio_mmio *t, unsigned q, int fd);
void virtio_mmio_detach_kick(struct virtio_mmio *t, unsigned q, int fd);

/* One buffer of a descriptor chain, in host memory. */
struct virtio_buf {
	uint8_t *hva;
	uint32_t len;
	bool device_writes;         /* VIRTQ_DESC_F_WRITE: the device fills it */
};

/*
 * For a device's notify(): takes queue q's next available chain into
 * bufs[0..max). Returns how many buffers it has (and its head in *head),
 * 0 when nothing is available (nor is anything, once the device needs a
 * reset), or -EINVAL when the guest broke the ring (the queue is then
 * marked broken and DEVICE_NEEDS_RESET set).
 */
int virtq_pop(struct virtio_mmio *t, unsigned q, struct virtio_buf *bufs, unsigned max, uint16_t *head);
/*
 * Puts back the chain virtq_pop just took on queue q, for a device that
 * cannot use it yet (virtio-net: no frame to receive). The transport must
 * have stayed locked since that pop.
 */
void virtq_unpop(struct virtio_mmio *t, unsigned q);
/*
 * Whether queue q may be used now (called locked): the driver runs it and
 * the guest has not broken it. A device whose notifications come through
 * an ioeventfd checks this itself: the transport's notify is not called.
 */
bool virtq_live(const struct virtio_mmio *t, unsigned q);
/* Returns chain head to the driver with written bytes filled in. */
void virtq_push(struct virtio_mmio *t, unsigned q, uint16_t head, uint32_t written);
/* Tells the driver about used buffers (unless it asked not to be told). */
void virtq_notify_driver(struct virtio_mmio *t, unsigned q);

#endif
