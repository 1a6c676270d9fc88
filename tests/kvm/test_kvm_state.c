/* SPDX-License-Identifier: MIT */
/*
 * vCPU and VM state capture: a guest paused at an instruction boundary and
 * restored into a brand-new KVM VM (in this process, and in a forked child
 * over the inherited copy-on-write memory) continues exactly where it stopped.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <thpvm.h>
#include "state/kvm_state.h"
#include "x86/gdt.h"
#include "x86/pagetable.h"
#include "helpers.h"

#define CODE_GPA 0x200000ULL
#define PORT_TICK 0x10
#define MSR_KERNEL_GS_BASE 0xc0000102

/*
 * The guest, at CPL3: rbx counts, rcx sums, xmm0 mirrors rbx, then an OUT
 * hands control to us once per iteration.
 *   loop: inc rbx; add rcx, rbx; movq xmm0, rbx; out 0x10, al; jmp loop
 */
static const uint8_t guest_code[] = {
	0x48, 0xff, 0xc3,             /* inc rbx */
	0x48, 0x01, 0xd9,             /* add rcx, rbx */
	0x66, 0x48, 0x0f, 0x6e, 0xc3, /* movq xmm0, rbx */
	0xe6, PORT_TICK,              /* out 0x10, al */
	0xeb, 0xf1,                   /* jmp loop (-15) */
};

struct mini_vm {
	int kvm, vm, vcpu;
	struct kvm_run *run;
};

static struct thpvm_memmap *map;

static int kvm_open(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		cr_skip_test("/dev/kvm is not available: %s", strerror(errno));
	return fd;
}

/* A VM over the memory map, created the same way in parent and child. */
static int mini_vm_create(struct mini_vm *m, int kvm)
{
	struct thpvm_region_info info;
	struct kvm_userspace_memory_region slot = { 0 };

	m->kvm = kvm;
	m->vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (m->vm < 0 || ioctl(m->vm, KVM_SET_TSS_ADDR, 0xfffbd000) < 0 || ioctl(m->vm, KVM_CREATE_IRQCHIP, 0) < 0)
		return -errno;
	thpvm_region_get_info(thpvm_memmap_region(map, 0), &info);
	slot.guest_phys_addr = info.gpa;
	slot.memory_size = info.size_bytes;
	slot.userspace_addr = (uintptr_t)info.hva;
	if (ioctl(m->vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
		return -errno;
	m->vcpu = ioctl(m->vm, KVM_CREATE_VCPU, 0);
	if (m->vcpu < 0)
		return -errno;
	m->run = mmap(NULL, (size_t)ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE, MAP_SHARED, m->vcpu, 0);
	return m->run == MAP_FAILED ? -errno : 0;
}

static void mini_vm_boot(struct mini_vm *m)
{
	struct pt_builder pt;
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = CODE_GPA, .rflags = 0x3002 /* IOPL 3 */, .rsp = CODE_GPA + 0x1000 };
	struct kvm_segment cs = seg_code64(0x18, 3), ds = seg_data(0x20, 3), kcs = seg_code64(0x08, 0);
	struct kvm_segment segs[] = { kcs, cs, ds };
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} msr = { .h.nmsrs = 1, .e = { .index = MSR_KERNEL_GS_BASE, .data = 0x5eed0000cafeULL } };

	cr_assert_eq(pt_init(&pt, map, 0x100000, 0x10000), 0);
	cr_assert_eq(pt_map(&pt, 0, 0, 8 * MIB, 2 * MIB, PTE_W | PTE_U), 0);
	cr_assert_eq(gdt_write(map, 0x500, 8, segs, 3), 0);
	memcpy(thpvm_memmap_gpa_to_hva(map, CODE_GPA, sizeof(guest_code)), guest_code, sizeof(guest_code));
	cr_assert_eq(ioctl(m->vcpu, KVM_GET_SREGS, &sregs), 0);
	sregs.cr3 = pt.pml4_gpa;
	sregs.cr4 = 0x20 | 0x200 | 0x400;       /* PAE, OSFXSR, OSXMMEXCPT */
	sregs.cr0 = 0x80000001 | 0x2 | 0x10000; /* PG, PE, MP, WP */
	sregs.efer = 0x500;                     /* LME, LMA */
	sregs.cs = cs;
	sregs.ds = sregs.es = sregs.ss = sregs.fs = sregs.gs = ds;
	sregs.gdt.base = 0x500;
	sregs.gdt.limit = 8 * 8 - 1;
	cr_assert_eq(ioctl(m->vcpu, KVM_SET_SREGS, &sregs), 0, "KVM_SET_SREGS: %s", strerror(errno));
	cr_assert_eq(ioctl(m->vcpu, KVM_SET_REGS, &regs), 0);
	cr_assert_eq(ioctl(m->vcpu, KVM_SET_MSRS, &msr), 1);
}

/* Runs until the guest has ticked n more times; returns 0 or a KVM exit reason. */
static int mini_vm_ticks(struct mini_vm *m, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (ioctl(m->vcpu, KVM_RUN, 0) < 0)
			return -errno;
		if (m->run->exit_reason != KVM_EXIT_IO || m->run->io.port != PORT_TICK)
			return (int)m->run->exit_reason + 1000;
	}
	/* complete the last OUT so the vCPU stops at an instruction boundary */
	m->run->immediate_exit = 1;
	int ret = ioctl(m->vcpu, KVM_RUN, 0);
	m->run->immediate_exit = 0;
	return ret < 0 && errno == EINTR ? 0 : -EPROTO;
}

static void setup(void)
{
	struct thpvm_region_config cfg = { .size_bytes = 8 * MIB, .populate = THPVM_POPULATE_PREFAULT };

	cr_assert_eq(thpvm_memmap_create(&map), 0);
	cr_assert_eq(thpvm_memmap_add(map, &cfg, NULL), 0, "%s", thpvm_last_error());
}

static void teardown(void)
{
	thpvm_memmap_destroy(map);
}

TestSuite(kvm_state, .init = setup, .fini = teardown, .timeout = 60);

static void capture(struct mini_vm *m, struct vcpu_state *vs, struct vm_state *ms)
{
	const char *what = "";

	cr_assert_eq(vcpu_state_save(m->kvm, m->vcpu, true, vs, &what), KVM_STATE_OK, "vcpu save: %s: %s", what,
		     strerror(errno));
	cr_assert_eq(vm_state_save(m->vm, true, false, ms, &what), KVM_STATE_OK, "vm save: %s", what);
}

Test(kvm_state, restored_vcpu_continues_in_a_new_vm)
{
	struct mini_vm a, b;
	struct vcpu_state vs;
	struct vm_state ms;
	struct kvm_regs r;
	struct kvm_fpu fpu;
	const char *what = "";
	uint64_t gs;
	int kvm = kvm_open();

	cr_assert_eq(mini_vm_create(&a, kvm), 0);
	mini_vm_boot(&a);
	cr_assert_eq(mini_vm_ticks(&a, 1000), 0);
	capture(&a, &vs, &ms);
	cr_assert_eq(vs.regs.rbx, 1000);
	cr_assert_eq(vs.regs.rcx, 1000ULL * 1001 / 2);
	cr_assert_gt(vs.msrs->nmsrs, 0);
	cr_assert(vcpu_state_msr(&vs, MSR_KERNEL_GS_BASE, &gs) && gs == 0x5eed0000cafeULL);

	cr_assert_eq(mini_vm_create(&b, kvm), 0);
	cr_assert_eq(vm_state_restore(b.vm, &ms, &what), KVM_STATE_OK, "vm restore: %s: %s", what, strerror(errno));
	cr_assert_eq(vcpu_state_restore(b.vcpu, &vs, &what), KVM_STATE_OK, "vcpu restore: %s: %s", what,
		     strerror(errno));
	cr_assert_eq(mini_vm_ticks(&b, 1), 0);
	cr_assert_eq(ioctl(b.vcpu, KVM_GET_REGS, &r), 0);
	cr_assert_eq(r.rbx, 1001, "new VM did not continue: rbx %llu", (unsigned long long)r.rbx);
	cr_assert_eq(r.rcx, 1001ULL * 1002 / 2);
	cr_assert_eq(r.rip, vs.regs.rip, "one loop iteration returns to the same OUT boundary");
	cr_assert_eq(ioctl(b.vcpu, KVM_GET_FPU, &fpu), 0);
	cr_assert_eq(*(uint64_t *)fpu.xmm[0], 1001, "xmm0 lost across restore");
	vcpu_state_free(&vs);
}

Test(kvm_state, forked_child_continues_with_the_same_registers)
{
	struct mini_vm a;
	struct vcpu_state vs;
	struct vm_state ms;
	int kvm = kvm_open(), status;
	pid_t pid;

	cr_assert_eq(mini_vm_create(&a, kvm), 0);
	mini_vm_boot(&a);
	cr_assert_eq(mini_vm_ticks(&a, 500), 0);
	capture(&a, &vs, &ms);

	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* the parent's VM fds are unusable here (EIO): a new VM over the inherited memory */
		struct mini_vm c;
		struct kvm_regs r;
		const char *what;

		if (ioctl(a.vcpu, KVM_RUN, 0) == 0 || (errno != EIO && errno != EBADF))
			_exit(10);
		if (mini_vm_create(&c, kvm) || vm_state_restore(c.vm, &ms, &what) != KVM_STATE_OK ||
		    vcpu_state_restore(c.vcpu, &vs, &what) != KVM_STATE_OK)
			_exit(11);
		if (mini_vm_ticks(&c, 100) || ioctl(c.vcpu, KVM_GET_REGS, &r) < 0)
			_exit(12);
		_exit(r.rbx == 600 && r.rcx == 600ULL * 601 / 2 ? 0 : 13);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "child died: signal %d", WTERMSIG(status));
	cr_assert_eq(WEXITSTATUS(status), 0, "child failed at step %d", WEXITSTATUS(status));
	/* the parent's own VM carries on too */
	cr_assert_eq(mini_vm_ticks(&a, 10), 0);
	struct kvm_regs r;
	cr_assert_eq(ioctl(a.vcpu, KVM_GET_REGS, &r), 0);
	cr_assert_eq(r.rbx, 510);
	vcpu_state_free(&vs);
}
