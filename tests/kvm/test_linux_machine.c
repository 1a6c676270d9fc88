/* SPDX-License-Identifier: MIT */
/*
 * The Linux machine (vmm/machine/linux_machine.c) as KVM holds it after
 * linux_vm_create(): every vCPU's CPUID (KVM signature, its APIC id) and
 * boot MSRs, the boot CPU at the PVH entry with EBX = start_info, the APs
 * waiting for INIT/SIPI, the three devices on the bus; and the VM core's
 * part: a failing cpuid_fixup fails vCPU creation with its message. Skips
 * without /dev/kvm.
 */
#include <criterion/criterion.h>
#include <elf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include "kvm_test.h"
#include "util/error.h"
#include "machine/linux_machine.h"
#include "kvm/vcpu.h"
#include "x86/cpuid.h"
#include "x86/layout.h"
#include "x86/msr.h"
#include "x86/pvh.h"
#include "linux_helpers.h"

#define NR_CPUS 3

static struct thpvm_memmap *mem;
static struct vm *vm;

static void teardown(void)
{
	vm_destroy(vm);
	if (mem)
		thpvm_memmap_destroy(mem);
	linux_test_cleanup();
}

TestSuite(linux_machine, .fini = teardown, .timeout = 30);

static void make_machine(struct linux_boot *b)
{
	static const uint8_t code[] = { 0xf4, 0xeb, 0xfd };
	struct linux_load_config lc = { .nr_cpus = NR_CPUS, .cmdline = "console=ttyS0" };

	REQUIRE_KVM();
	lc.kernel_path = synth_pvh_kernel("vmlinux", code, sizeof(code));
	mem = guest_mem(64ULL << 20, THPVM_BACKING_THP);
	cr_assert_eq(linux_machine_load(mem, &lc, b), 0, "%s", vmm_last_error());
	cr_assert_eq(linux_vm_create(mem, b, NULL, &vm), 0, "%s", vmm_last_error());
}

static uint64_t get_msr(struct vcpu *v, uint32_t index)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = { .hdr.nmsrs = 1, .e.index = index };

	cr_assert_eq(ioctl(v->fd, KVM_GET_MSRS, &m), 1, "KVM_GET_MSRS 0x%x", index);
	return m.e.data;
}

Test(linux_machine, vcpus_boot_state_and_devices)
{
	struct linux_boot b;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_mp_state mp;

	make_machine(&b);
	cr_assert_eq(vm->nr_vcpus, NR_CPUS);
	cr_assert(vm->cfg.features & VM_F_IRQCHIP && vm->cfg.features & VM_F_PIT);
	cr_assert(vm->cfg.ignore_unclaimed_pio && vm->cfg.ignore_unclaimed_mmio, "Linux probes: an open bus");
	for (unsigned i = 0; i < NR_CPUS; i++) {
		struct vcpu *v = vm->vcpus[i];

		cr_assert_eq(get_msr(v, MSR_IA32_CR_PAT), MSR_IA32_CR_PAT_DEFAULT, "vCPU %u PAT", i);
		cr_assert_eq(get_msr(v, MSR_IA32_MISC_ENABLE) & MSR_IA32_MISC_ENABLE_FAST_STRING,
			     MSR_IA32_MISC_ENABLE_FAST_STRING, "vCPU %u fast strings", i);
		cr_assert_eq(ioctl(v->fd, KVM_GET_MP_STATE, &mp), 0);
		cr_assert_eq(mp.mp_state, i ? KVM_MP_STATE_UNINITIALIZED : KVM_MP_STATE_RUNNABLE,
			     "vCPU %u: the BSP runs, APs wait for SIPI", i);
	}
	cr_assert_eq(vcpu_get_regs(vm->vcpus[0], &regs), 0);
	cr_assert_eq(vcpu_get_sregs(vm->vcpus[0], &sregs), 0);
	cr_assert_eq(regs.rip, 0x1000100, "the PVH entry");
	cr_assert_eq(regs.rbx, X86_PVH_START_INFO_GPA, "EBX = start_info");
	cr_assert_eq(sregs.cr0 & 0x80000001, 1, "protected mode, paging off");
	cr_assert_eq(sregs.cs.db, 1, "32-bit code");
	cr_assert_not_null(iobus_find(vm->bus, IOBUS_PIO, X86_PORT_COM1 + 5), "COM1");
	cr_assert_not_null(iobus_find(vm->bus, IOBUS_PIO, X86_PORT_I8042_DATA), "i8042 data");
	cr_assert_not_null(iobus_find(vm->bus, IOBUS_PIO, X86_PORT_I8042_CMD), "i8042 command");
	cr_assert_not_null(iobus_find(vm->bus, IOBUS_PIO, X86_PORT_DEBUG_EXIT), "debug-exit");
	cr_assert_null(iobus_find(vm->bus, IOBUS_PIO, X86_PORT_CMOS), "no CMOS: the guest sees an open bus");
	cr_assert_eq(iobus_nr_devices(vm->bus), 3);
}

Test(linux_machine, each_vcpu_gets_its_own_cpuid_table)
{
	struct linux_boot b;
	struct kvm_cpuid2 *c = calloc(1, cpuid2_size_bytes(512));

	make_machine(&b);
	for (unsigned i = 0; i < NR_CPUS; i++) {
		const struct kvm_cpuid_entry2 *sig, *leaf1;

		c->nent = 512;
		cr_assert_eq(ioctl(vm->vcpus[i]->fd, KVM_GET_CPUID2, c), 0, "KVM_GET_CPUID2: %s", strerror(errno));
		sig = cpuid_find(c, 0x40000000, 0);
		leaf1 = cpuid_find(c, CPUID_LEAF_FEATURES, 0);
		cr_assert_not_null(sig, "vCPU %u has the KVM signature leaf", i);
		cr_assert_eq(memcmp(&sig->ebx, "KVMK", 4), 0);
		cr_assert_not_null(leaf1);
		cr_assert_eq(leaf1->ebx >> 24, i, "vCPU %u: its APIC id in leaf 1", i);
		cr_assert_eq((leaf1->ebx >> 16) & 0xff, NR_CPUS, "logical processors per package");
		cr_assert(leaf1->ecx & CPUID_1_ECX_HYPERVISOR);
	}
	free(c);
}

static int failing_fixup(struct vm *v, unsigned cpu, struct kvm_cpuid2 *cpuid)
{
	(void)v;
	(void)cpuid;
	return cpu == 1 ? vmm_fail(-E2BIG, "vCPU %u: no room for its CPUID", cpu) : 0;
}

Test(linux_machine, a_failing_cpuid_fixup_fails_vcpu_creation)
{
	struct vm_config cfg = { .nr_cpus = 2, .cpuid_fixup = failing_fixup, .tss_gpa = X86_KVM_TSS_GPA,
				 .identity_map_gpa = X86_KVM_IDENTITY_MAP_GPA };

	REQUIRE_KVM();
	mem = guest_mem(16ULL << 20, THPVM_BACKING_THP);
	cr_assert_eq(vm_create(&cfg, mem, &vm), -E2BIG);
	cr_assert_null(vm);
	cr_assert_str_eq(vmm_last_error(), "create vCPUs: vCPU 1: no room for its CPUID");
}
