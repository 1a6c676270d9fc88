/* SPDX-License-Identifier: MIT */
/* A Linux guest's VM, in the order docs/linux-boot.md gives. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include "linux_machine.h"
#include "util/error.h"
#include "dev/console.h"
#include "dev/console_ctl.h"
#include "dev/pc_dev.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"
#include "x86/cpuid.h"
#include "x86/layout.h"
#include "x86/msr.h"

_Static_assert(VM_CPUID_EXTRA_ENTRIES >= CPUID_EXTRA_ENTRIES, "cpuid_build() needs more room than vm.c gives");

int linux_machine_load(struct thpvm_memmap *mem, const struct linux_load_config *cfg, struct linux_boot *boot)
{
	int ret = linux_load(mem, cfg, boot);

	return ret ? vmm_fail(ret, "%s", linux_last_error()) : 0;
}

/* The KVM signature leaves, this vCPU's APIC id, the topology, no PMU (x86/cpuid.h). */
static int linux_cpuid(struct vm *vm, unsigned cpu, struct kvm_cpuid2 *cpuid)
{
	struct cpuid_vcpu_config cc = {
		.apic_id = cpu,
		.nr_cpus = vm->cfg.nr_cpus,
		/* the in-kernel LAPIC emulates it; without it Linux calibrates against the PIT (fails in the lab) */
		.tsc_deadline = (vm->cfg.features & VM_F_IRQCHIP) &&
				ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0,
	};
	int ret = cpuid_build(vm->supported_cpuid, &cc, cpuid, vm->supported_cpuid->nent + VM_CPUID_EXTRA_ENTRIES);

	return ret ? vmm_fail(ret, "vCPU %u: cannot build its CPUID table", cpu) : 0;
}

/* After KVM_SET_CPUID2 (vCPU creation): KVM checks some MSR writes against the guest's CPUID. */
static int set_boot_msrs(struct vcpu *v)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[MSR_NR_BOOT_ENTRIES];
	} msrs;
	int n, set;

	memset(&msrs, 0, sizeof(msrs));
	n = msr_boot_entries(msrs.e, MSR_NR_BOOT_ENTRIES);
	if (n < 0)
		return vmm_fail(n, "vCPU %u: boot MSR list does not fit", v->index);
	msrs.hdr.nmsrs = (uint32_t)n;
	set = ioctl(v->fd, KVM_SET_MSRS, &msrs);
	if (set < 0)
		return vmm_fail(-errno, "vCPU %u: KVM_SET_MSRS: %s", v->index, strerror(errno));
	if (set < n)
		return vmm_fail(-EIO, "vCPU %u: KVM refused MSR 0x%x (set %d of %d boot MSRs)", v->index,
				msrs.e[set].index, set, n);
	return 0;
}

/* The BSP at the kernel's entry; APs stay in KVM's UNINITIALIZED state until the BSP's INIT/SIPI. */
static int set_boot_cpu(struct vcpu *bsp, const struct linux_boot *boot)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int ret;

	if ((ret = vcpu_get_sregs(bsp, &sregs)))
		return ret;
	linux_boot_regs(boot, &regs, &sregs);
	if ((ret = vcpu_set_sregs(bsp, &sregs)) || (ret = vcpu_set_regs(bsp, &regs)))
		return ret;
	return 0;
}

static int add_devices(struct vm *vm, struct console *con, const struct linux_boot *boot)
{
	int ret;

	if ((ret = uart8250_dev_add(vm, "com1", X86_PORT_COM1, X86_COM1_IRQ, con, NULL)) || (ret = i8042_dev_add(vm)) ||
	    (ret = debug_exit_dev_add(vm, X86_PORT_DEBUG_EXIT)))
		return ret;
	/* multiboot test kernels (kvm-unit-tests, unikernels) exit through QEMU's isa-debug-exit at 0xf4 */
	if (boot->mode == LINUX_ENTRY_MULTIBOOT && (ret = debug_exit_dev_add(vm, X86_PORT_DEBUG_EXIT_MB)))
		return ret;
	return 0;
}

/* A forked child (docs/fork.md): its console is not its parent's (console.h). */
static int console_fork_child_hook(void *arg, struct vm *vm, unsigned child_index)
{
	(void)vm;
	(void)child_index;
	return console_fork_child(arg);
}

int linux_vm_create(struct thpvm_memmap *mem, const struct linux_boot *boot, struct console *con, struct vm **out)
{
	struct vm_config cfg = {
		.nr_cpus = boot->nr_cpus,
		.features = VM_F_IRQCHIP | VM_F_PIT,
		/* a PC's floating bus: Linux probes ports and addresses nobody decodes */
		.ignore_unclaimed_pio = true,
		.ignore_unclaimed_mmio = true,
		.cpuid_fixup = linux_cpuid,
		.identity_map_gpa = X86_KVM_IDENTITY_MAP_GPA,
		.tss_gpa = X86_KVM_TSS_GPA,
	};
	struct vm *vm;
	int ret;

	*out = NULL;
	if ((ret = vm_create(&cfg, mem, &vm)))
		return ret;
	for (unsigned i = 0; i < vm->nr_vcpus && !ret; i++)
		ret = set_boot_msrs(vm->vcpus[i]);
	/* the console: COM1's "console" command always; the terminal's state across a fork when there is one */
	if (!ret)
		ret = vm_add_hooks(vm, &(struct vm_hooks){ .name = "console", .arg = con,
							     .fork_child = con ? console_fork_child_hook : NULL,
							     .ctl_register = console_ctl_register });
	if (ret || (ret = set_boot_cpu(vm->vcpus[0], boot)) || (ret = add_devices(vm, con, boot))) {
		vm_destroy(vm);
		return ret;
	}
	*out = vm;
	return 0;
}
