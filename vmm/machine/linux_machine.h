/* SPDX-License-Identifier: MIT */
/*
 * The machine a Linux guest runs on: the loader's output (vmm/x86/linux.h)
 * in guest RAM, a KVM VM with the in-kernel irqchip and PIT, per-vCPU CPUID
 * (KVM signature leaves, topology) and boot MSRs, the boot CPU at the
 * kernel's entry, the other vCPUs waiting for INIT/SIPI, and the legacy PC
 * devices: COM1 (the console), the i8042 (reset ends the VM) and the
 * debug-exit port. docs/linux-boot.md, "What the VMM calls, in order".
 */
#ifndef THPVM_LINUX_MACHINE_H
#define THPVM_LINUX_MACHINE_H

#include <stdint.h>
#include <thpvm.h>
#include "x86/linux.h"

struct vm;
struct console;

/* linux_load() with its one-line message in vmm_last_error(). Returns 0 or -errno. */
int linux_machine_load(struct thpvm_memmap *mem, const struct linux_load_config *cfg, struct linux_boot *boot);

/*
 * Creates the VM over mem, which holds a kernel loaded as boot says
 * (boot->nr_cpus vCPUs), with con as COM1's outside end (may be NULL).
 * Unclaimed ports and MMIO read all ones (Linux probes). Destroy with
 * vm_destroy(). Returns 0 or -errno with vmm_last_error() set.
 */
int linux_vm_create(struct thpvm_memmap *mem, const struct linux_boot *boot, struct console *con, struct vm **out);

#endif
