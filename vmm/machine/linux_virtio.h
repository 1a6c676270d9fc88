/* SPDX-License-Identifier: MIT */
/* The Linux machine's virtio devices: their ACPI description and their attachment (linux_virtio.c). */
#ifndef THPVM_MACHINE_LINUX_VIRTIO_H
#define THPVM_MACHINE_LINUX_VIRTIO_H

#include "machine.h"
#include "x86/acpi.h"

struct vm;

/* How many virtio devices mc asks for. */
unsigned linux_virtio_count(const struct machine_config *mc);
/* Their windows and IRQs for the ACPI tables (out holds X86_VIRTIO_MAX_DEVICES). Returns 0 or -E2BIG. */
int linux_virtio_acpi(const struct machine_config *mc, struct acpi_mmio_device *out);
/* Bad input before any memory exists: too many devices, a disk that cannot be opened (or is in use). */
int linux_virtio_check(const struct machine_config *mc);
/* Opens the disks and puts every device on vm, in the same order; a fork gives each VM a disk of its own. */
int linux_virtio_attach(struct vm *vm, const struct machine_config *mc);

#endif
