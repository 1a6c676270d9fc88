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
 * Puts device ops (name: the bus's key for its state) on vm at
 * [base, base + VIRTIO_MMIO_SIZE) with ISA IRQ irq. Returns 0 or -errno
 * with vmm_last_error().
 */
int virtio_dev_add(struct vm *vm, const char *name, const struct virtio_device_ops *ops, uint64_t base,
		   unsigned irq);

#endif
