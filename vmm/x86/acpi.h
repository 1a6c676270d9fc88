/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables for a Linux guest with devices it cannot find by itself:
 * virtio-mmio windows are described to Linux only by firmware, and Debian's
 * kernels have no virtio_mmio.device= parameter
 * (CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES is off), so thpvm does what
 * Firecracker does: an RSDP where Linux scans for it, an XSDT, a
 * hardware-reduced FADT, a MADT (the CPUs and the I/O APIC, as the MP table
 * says them) and a DSDT naming each device (_HID, _UID, _CRS with its MMIO
 * window and its interrupt), after the PC's own COM1 and i8042 (a
 * hardware-reduced machine has no legacy PIC: Linux maps their ISA IRQs
 * only when ACPI names them, as QEMU's microvm does). Only written when there are devices: without
 * them a guest boots as before, on the MP table alone.
 */
#ifndef THPVM_X86_ACPI_H
#define THPVM_X86_ACPI_H

#include <stdint.h>
#include <thpvm.h>

/* A device on an MMIO window with one edge-triggered, active-high ISA interrupt. */
struct acpi_mmio_device {
	const char *hid;            /* "LNRO0005": virtio-mmio */
	uint64_t gpa;               /* below 4 GiB */
	uint32_t size_bytes;
	unsigned irq;               /* ISA IRQ = GSI (KVM's default routing) */
};

#define ACPI_MAX_DEVICES 16
#define ACPI_VIRTIO_MMIO_HID "LNRO0005"

/* Bytes the tables take at most (they live in [X86_ACPI_GPA, X86_ACPI_GPA + ACPI_MAX_BYTES)). */
#define ACPI_MAX_BYTES 0x10000u

/*
 * Writes the tables at gpa (16-byte aligned, below 1 MiB: the RSDP must be
 * where Linux scans, 0xe0000-0xfffff) for nr_cpus CPUs (APIC ids 0..n-1,
 * I/O APIC id n) and the devices. Returns 0, -EINVAL (bad arguments, too
 * many devices) or -EFAULT (the range is not RAM).
 */
int acpi_write(struct thpvm_memmap *map, uint64_t gpa, unsigned nr_cpus, const struct acpi_mmio_device *devs,
	       unsigned nr_devs);

#endif
