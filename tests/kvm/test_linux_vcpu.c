/* SPDX-License-Identifier: MIT */
/*
 * The Linux boot state on real KVM: the CPUID table, the boot MSRs and the
 * boot CPU's registers are accepted, the APs wait for INIT/SIPI, and a
 * synthetic kernel entered in each boot mode runs its first instructions in
 * the state the boot protocol promises (it reads its boot structure through
 * RSI or EBX and reports it on the debug-exit port). Skips without /dev/kvm.
 */
#include <criterion/criterion.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "x86/cpuid.h"
#include "x86/layout.h"
#include "x86/linux.h"
#include "x86/msr.h"
#include "x86/pvh.h"
#include "helpers.h"
#include "linux_helpers.h"

#define NR_VCPUS 2

static struct thpvm_memmap *map;
static int kvm = -1, vm = -1, vcpu[NR_VCPUS] = { -1, -1 };
static struct kvm_run *run0;
static size_t run_size;

static void teardown(void)
{
	if (run0)
		munmap(run0, run_size);
	for (unsigned i = 0; i < NR_VCPUS; i++)
		if (vcpu[i] >= 0)
			close(vcpu[i]);
	if (vm >= 0)
		close(vm);
	if (kvm >= 0)
		close(kvm);
	if (map)
		thpvm_memmap_destroy(map);
	linux_test_cleanup();
}

TestSuite(linux_vcpu, .fini = teardown, .timeout = 60);

static struct kvm_cpuid2 *supported_cpuid(void)
{
	for (unsigned n = 64;; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, cpuid2_size_bytes(n));

		c->nent = n;
		if (!ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c))
			return c;
		cr_assert_eq(errno, E2BIG, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		free(c);
	}
}

/* A VM as the VMM will make one for Linux, with the loader's output in its RAM. */
static void make_vm(const struct linux_load_config *cfg, struct linux_boot *b)
{
	struct kvm_pit_config pit = { 0 };
	struct kvm_cpuid2 *sup, *cpuid;
	struct kvm_msr_entry entries[MSR_NR_BOOT_ENTRIES];
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[MSR_NR_BOOT_ENTRIES];
	} msrs;
	uint64_t idmap = X86_KVM_IDENTITY_MAP_GPA;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		cr_skip_test("no /dev/kvm (%s): the boot state is only checked on real KVM", strerror(errno));
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	cr_assert_geq(vm, 0, "KVM_CREATE_VM: %s", strerror(errno));
	map = linux_test_map(64 * MIB);
	cr_assert_eq(linux_load(map, cfg, b), 0, "%s", linux_last_error());

	/* VM-wide, before any vCPU exists */
	cr_assert_eq(ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &idmap), 0, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
	cr_assert_eq(ioctl(vm, KVM_SET_TSS_ADDR, (unsigned long)X86_KVM_TSS_GPA), 0, "KVM_SET_TSS_ADDR: %s",
		     strerror(errno));
	cr_assert_eq(ioctl(vm, KVM_CREATE_IRQCHIP, 0), 0, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
	cr_assert_eq(ioctl(vm, KVM_CREATE_PIT2, &pit), 0, "KVM_CREATE_PIT2: %s", strerror(errno));
	for (unsigned i = 0; i < thpvm_memmap_nr_regions(map); i++) {
		struct thpvm_region_info info;

		thpvm_region_get_info(thpvm_memmap_region(map, i), &info);
		struct kvm_userspace_memory_region mr = {
			.slot = i, .guest_phys_addr = info.gpa, .memory_size = info.size_bytes,
			.userspace_addr = (uint64_t)(uintptr_t)info.hva,
		};
		cr_assert_eq(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &mr), 0, "memslot: %s", strerror(errno));
	}

	sup = supported_cpuid();
	cpuid = calloc(1, cpuid2_size_bytes(sup->nent + CPUID_EXTRA_ENTRIES));
	cr_assert_eq(msr_boot_entries(entries, MSR_NR_BOOT_ENTRIES), MSR_NR_BOOT_ENTRIES);
	bool tsc_deadline = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	for (unsigned i = 0; i < NR_VCPUS; i++) {
		struct cpuid_vcpu_config cc = { .apic_id = i, .nr_cpus = NR_VCPUS, .tsc_deadline = tsc_deadline };

		vcpu[i] = ioctl(vm, KVM_CREATE_VCPU, i);
		cr_assert_geq(vcpu[i], 0, "KVM_CREATE_VCPU %u: %s", i, strerror(errno));
		/* CPUID before the MSRs: KVM checks some MSR writes against the guest's CPUID */
		cr_assert_eq(cpuid_build(sup, &cc, cpuid, sup->nent + CPUID_EXTRA_ENTRIES), 0);
		cr_assert_eq(ioctl(vcpu[i], KVM_SET_CPUID2, cpuid), 0, "KVM_SET_CPUID2: %s", strerror(errno));
		memset(&msrs, 0, sizeof(msrs));
		msrs.hdr.nmsrs = MSR_NR_BOOT_ENTRIES;
		memcpy(msrs.e, entries, sizeof(entries));
		int set = ioctl(vcpu[i], KVM_SET_MSRS, &msrs);
		cr_assert_eq(set, MSR_NR_BOOT_ENTRIES, "KVM_SET_MSRS stopped at MSR 0x%x",
			     set >= 0 && set < MSR_NR_BOOT_ENTRIES ? entries[set].index : 0);
	}
	free(cpuid);
	free(sup);

	/* APs wait for INIT/SIPI from the BSP's local APIC: nothing to set up for them */
	struct kvm_mp_state mp;
	cr_assert_eq(ioctl(vcpu[1], KVM_GET_MP_STATE, &mp), 0);
	cr_assert_eq(mp.mp_state, KVM_MP_STATE_UNINITIALIZED, "AP should wait for SIPI");
	cr_assert_eq(ioctl(vcpu[0], KVM_GET_MP_STATE, &mp), 0);
	cr_assert_eq(mp.mp_state, KVM_MP_STATE_RUNNABLE);

	struct kvm_sregs sregs;
	struct kvm_regs regs;
	cr_assert_eq(ioctl(vcpu[0], KVM_GET_SREGS, &sregs), 0);
	linux_boot_regs(b, &regs, &sregs);
	cr_assert_eq(ioctl(vcpu[0], KVM_SET_SREGS, &sregs), 0, "KVM_SET_SREGS: %s", strerror(errno));
	cr_assert_eq(ioctl(vcpu[0], KVM_SET_REGS, &regs), 0, "KVM_SET_REGS: %s", strerror(errno));
	struct kvm_sregs back;
	cr_assert_eq(ioctl(vcpu[0], KVM_GET_SREGS, &back), 0);
	cr_assert_eq(back.efer & 0x500, sregs.efer & 0x500);
	cr_assert_eq(back.cs.l, sregs.cs.l);

	run_size = (size_t)ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	run0 = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu[0], 0);
	cr_assert_neq(run0, MAP_FAILED);
}

/* Runs the BSP to its first port write; returns the 32-bit value written to the debug-exit port. */
static uint32_t run_to_debug_exit(void)
{
	for (int i = 0; i < 100; i++) {
		cr_assert_eq(ioctl(vcpu[0], KVM_RUN, 0), 0, "KVM_RUN: %s", strerror(errno));
		if (run0->exit_reason == KVM_EXIT_IO && run0->io.port == X86_PORT_DEBUG_EXIT) {
			uint32_t v = 0;

			cr_assert_eq(run0->io.direction, KVM_EXIT_IO_OUT);
			cr_assert_eq(run0->io.size, 4);
			memcpy(&v, (uint8_t *)run0 + run0->io.data_offset, 4);
			return v;
		}
		cr_assert(run0->exit_reason == KVM_EXIT_IO || run0->exit_reason == KVM_EXIT_INTR,
			  "unexpected exit %u (8 = shutdown: triple fault)", run0->exit_reason);
	}
	cr_assert_fail("the guest never wrote the debug-exit port");
	return 0;
}

Test(linux_vcpu, bzimage_startup_64_reads_the_zero_page_through_rsi)
{
	/* startup_64: mov eax,[rsi+0x202]; mov dx,0x501; out dx,eax; hlt */
	static const uint8_t code[] = { 0x8b, 0x86, 0x02, 0x02, 0x00, 0x00, 0x66, 0xba, 0x01, 0x05, 0xef, 0xf4 };
	struct synth_bz s = synth_bz_default();
	size_t len;
	uint8_t *img = synth_bz_build(&s, &len);
	struct linux_load_config cfg = { .nr_cpus = NR_VCPUS, .cmdline = "console=ttyS0" };
	struct linux_boot b;

	memcpy(img + (s.setup_sects + 1) * 512 + 0x200, code, sizeof(code));
	cfg.kernel_path = linux_test_file("bzImage", img, len);
	free(img);
	make_vm(&cfg, &b);
	cr_assert_eq(run_to_debug_exit(), 0x53726448, "the kernel should read \"HdrS\" from the zero page");
}

Test(linux_vcpu, pvh_entry_reads_start_info_through_ebx)
{
	/* PVH entry, 32-bit: mov eax,[ebx]; mov dx,0x501; out dx,eax; hlt */
	static const uint8_t code[] = { 0x8b, 0x03, 0x66, 0xba, 0x01, 0x05, 0xef, 0xf4 };
	struct linux_load_config cfg = { .nr_cpus = NR_VCPUS };
	struct linux_boot b;

	cfg.kernel_path = synth_pvh_kernel("vmlinux", code, sizeof(code));
	make_vm(&cfg, &b);
	cr_assert_eq(run_to_debug_exit(), XEN_HVM_START_MAGIC_VALUE, "the kernel should read the start_info magic");
}
