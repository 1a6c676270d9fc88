/* SPDX-License-Identifier: MIT */
/*
 * Intel MultiProcessor Specification 1.4 tables: how Linux booted without
 * ACPI (acpi=off, like QEMU microvm) finds its CPUs, the I/O APIC and the ISA
 * interrupt routing. Linux scans the last KiB of base memory (0x9fc00) for
 * the floating pointer; the configuration table follows it.
 */
#ifndef THPVM_X86_MPTABLE_H
#define THPVM_X86_MPTABLE_H

#include <stdint.h>
#include <thpvm.h>

/* xAPIC ids are 8 bits, the I/O APIC takes the id after the last CPU; 64 is our limit. */
#define MPTABLE_MAX_CPUS 64
#define MPTABLE_NR_ISA_IRQS 16
#define MPTABLE_LAPIC_VERSION 0x14  /* what KVM's in-kernel local APIC reports */
#define MPTABLE_IOAPIC_VERSION 0x11 /* and its I/O APIC */

/* Bytes the floating pointer and configuration table take for nr_cpus. */
uint64_t mptable_size_bytes(unsigned nr_cpus);

/*
 * Writes the floating pointer at gpa and the configuration table right after
 * it: nr_cpus processors (APIC ids 0..nr_cpus-1, CPU 0 the BSP), an ISA bus,
 * the I/O APIC (id nr_cpus) at X86_IOAPIC_GPA, ISA IRQ i -> I/O APIC pin i
 * for i < 16 (KVM's default GSI routing), ExtINT on LINT0 and NMI on LINT1.
 * Returns 0, -EINVAL (nr_cpus is 0 or above MPTABLE_MAX_CPUS) or -EFAULT
 * (the range is not RAM in one region).
 */
int mptable_write(struct thpvm_memmap *map, uint64_t gpa, unsigned nr_cpus);

#endif
