/* SPDX-License-Identifier: MIT */
/*
 * virtio devices on a VM: each on its own virtio-mmio window and ISA IRQ,
 * described to a Linux guest by ACPI (x86/acpi.h: Debian's kernels take no
 * virtio_mmio.device= parameter).
 */
#ifndef THPVM_DEV_VIRTIO_DEV_H
#define THPVM_DEV_VIRTIO_DEV_H

#include <stddef.h>
#include <stdint.h>
#include "virtio_mmio.h"

struct vm;

#define VIRTIO_ID_RNG 4

/* The devices thpvm has. */
extern const struct virtio_device_ops virtio_rng_ops;

/*
 * A device behind the transport: its ops and state, and, for a device with
 * a thread of its own (virtio-blk's I/O), how to start it (at attach, on
 * resume, in a forked child), stop it (pause, fork, snapshot: its work in
 * flight completed first) and free it.
 */
struct virtio_backend {
	const struct virtio_device_ops *ops;
	void *opaque;
	int (*start)(void *opaque, struct virtio_mmio *t);
	void (*stop)(void *opaque);
	void (*destroy)(void *opaque);
};

/*
 * Puts backend (name: the bus's key for its state) on vm at
 * [base, base + VIRTIO_MMIO_SIZE) with ISA IRQ irq and starts it; from
 * then on the bus owns it (its destroy runs with the bus's), also when this
 * fails. Returns 0 or -errno with vmm_last_error().
 */
int virtio_dev_add(struct vm *vm, const char *name, const struct virtio_backend *backend, uint64_t base,
		   unsigned irq);

/* virtio-blk as a backend (virtio_blk.h), opened from PATH[,readonly|,snapshot]. */
int virtio_blk_backend(const char *spec, struct virtio_backend *out);
/* virtio-net as a backend (virtio_net.h), on the tap of tap=NAME[,mac=MAC]. */
int virtio_net_backend(const char *spec, struct virtio_backend *out);

#endif
