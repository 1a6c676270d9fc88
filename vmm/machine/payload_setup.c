/* SPDX-License-Identifier: MIT */
/*
 * Builds a payload guest: identity page tables over all RAM with 4 KiB or
 * 2 MiB leaves, a GDT with CPL3 segments and one TSS per vCPU, an IDT whose
 * stubs report exceptions by port I/O, the boot info, the image; then puts
 * every vCPU at the entry point in 64-bit mode at CPL3.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include "payload_internal.h"
#include "util/error.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"
#include "x86/cpu_bits.h"
#include "x86/gdt.h"
#include "x86/layout.h"
#include "x86/pagetable.h"

#define MIB (1ULL << 20)

#define SEL_KERNEL_CODE 0x08
#define SEL_KERNEL_DATA 0x10
#define SEL_USER_CODE   0x18
#define SEL_USER_DATA   0x20
#define SEL_TSS(cpu)    (0x30 + 16 * (cpu))
#define GDT_SLOTS       (SEL_TSS(PAYLOAD_MAX_CPUS) / 8)

/* 64-bit TSS: RSP0 at 4, IST1 at 36, I/O map base at 102; the bitmap covers ports 0-255, then 0xff. */
#define TSS_RSP0 4
#define TSS_IST1 36
#define TSS_IOMAP_BASE 102
#define TSS_IOMAP 104
#define TSS_IOMAP_BYTES 32
#define TSS_LIMIT (TSS_IOMAP + TSS_IOMAP_BYTES) /* inclusive: the terminating 0xff byte */

static void *hva(struct vm *vm, uint64_t gpa, uint64_t len)
{
	return thpvm_memmap_gpa_to_hva(vm->mem, gpa, len);
}

static bool has_error_code(unsigned vector)
{
	return vector == 8 || (vector >= 10 && vector <= 14) || vector == 17 || vector == 21 || vector == 29 ||
	       vector == 30;
}

/*
 * Each stub runs at CPL0 (emulated on kvm-pvm, so short): it makes every
 * frame look alike ([vector, error code, rip, cs, rflags, rsp, ss] at RSP)
 * and tells the VMM, which reads the frame and stops the VM.
 */
static void write_exception_stubs(uint8_t *stubs)
{
	for (unsigned v = 0; v < 32; v++) {
		uint8_t *s = stubs + 16 * v;
		unsigned k = 0;

		if (!has_error_code(v)) {
			s[k++] = 0x6a; /* push $0 */
			s[k++] = 0x00;
		}
		s[k++] = 0x6a; /* push $vector */
		s[k++] = (uint8_t)v;
		s[k++] = 0xe6; /* out %al, $PAYLOAD_PORT_EXCEPTION */
		s[k++] = PAYLOAD_PORT_EXCEPTION;
		s[k++] = 0xf4; /* 1: hlt */
		s[k++] = 0xeb; /* jmp 1b */
		s[k++] = 0xfd;
	}
}

static void write_idt(uint8_t *idt)
{
	memset(idt, 0, 256 * 16);
	for (unsigned v = 0; v < 32; v++) {
		uint64_t off = X86_PAYLOAD_EXC_STUBS_GPA + 16 * v;
		uint8_t *g = idt + 16 * v;

		g[0] = (uint8_t)off;
		g[1] = (uint8_t)(off >> 8);
		g[2] = SEL_KERNEL_CODE;
		/* double fault, NMI and machine check on IST1: a fresh stack even if RSP was bad */
		g[4] = (v == 2 || v == 8 || v == 18) ? 1 : 0;
		g[5] = 0x8e; /* present, DPL0, 64-bit interrupt gate */
		g[6] = (uint8_t)(off >> 16);
		g[7] = (uint8_t)(off >> 24);
		memcpy(g + 8, &(uint32_t){ (uint32_t)(off >> 32) }, 4);
	}
}

/*
 * kvm-pvm does not honour RFLAGS.IOPL at CPL3 (OUT raises #GP) but does
 * consult the TSS I/O bitmap; VMX/SVM honour IOPL 3. Both are set, so
 * payload calls work on either.
 */
static void write_tss(uint8_t *tss, unsigned cpu)
{
	uint64_t stack_top = X86_PAYLOAD_EXC_STACK_GPA + (cpu + 1) * X86_PAYLOAD_EXC_STACK_SIZE;
	uint16_t iomap = TSS_IOMAP;

	memset(tss, 0, X86_PAYLOAD_TSS_STRIDE);
	memcpy(tss + TSS_RSP0, &stack_top, 8);
	memcpy(tss + TSS_IST1, &stack_top, 8);
	memcpy(tss + TSS_IOMAP_BASE, &iomap, 2);
	memset(tss + TSS_IOMAP, 0xff, TSS_IOMAP_BYTES + 1);
	/* `out %eax` checks one bit per byte written: ports PAYLOAD_PORT_CALL .. +3 */
	for (unsigned port = PAYLOAD_PORT_CALL; port < PAYLOAD_PORT_CALL + 4; port++)
		tss[TSS_IOMAP + port / 8] &= (uint8_t)~(1u << (port % 8));
}

static int write_system_area(struct vm *vm, const struct payload_config *cfg, unsigned nr_cpus)
{
	struct kvm_segment segs[4 + PAYLOAD_MAX_CPUS];
	uint8_t *sys = hva(vm, 0, X86_PAYLOAD_SYS_SIZE);
	unsigned n = 0;

	if (!sys)
		return vmm_fail(-EFAULT, "no RAM for the payload system area");
	memset(sys, 0, X86_PAYLOAD_SYS_SIZE);
	segs[n++] = seg_code64(SEL_KERNEL_CODE, 0);
	segs[n++] = seg_data(SEL_KERNEL_DATA, 0);
	segs[n++] = seg_code64(SEL_USER_CODE, 3);
	segs[n++] = seg_data(SEL_USER_DATA, 3);
	for (unsigned i = 0; i < nr_cpus; i++) {
		segs[n++] = seg_tss64(SEL_TSS(i), X86_PAYLOAD_TSS_GPA + i * X86_PAYLOAD_TSS_STRIDE, TSS_LIMIT);
		write_tss(sys + X86_PAYLOAD_TSS_GPA + i * X86_PAYLOAD_TSS_STRIDE, i);
	}
	if (gdt_write(vm->mem, X86_PAYLOAD_GDT_GPA, GDT_SLOTS, segs, n))
		return vmm_fail(-EFAULT, "cannot write the payload GDT");
	if (!(cfg->image->flags & PAYLOAD_F_NO_IDT)) {
		write_exception_stubs(sys + X86_PAYLOAD_EXC_STUBS_GPA);
		write_idt(sys + X86_PAYLOAD_IDT_GPA);
	}
	return 0;
}

static int map(struct pt_builder *pt, uint64_t start, uint64_t end, uint64_t page_size, uint64_t flags)
{
	int ret = end > start ? pt_map(pt, start, start, end - start, page_size, flags) : 0;

	return ret ? vmm_fail(ret, "guest page tables: cannot map [0x%llx, 0x%llx): %s", (unsigned long long)start,
			      (unsigned long long)end, strerror(-ret))
		   : 0;
}

/* Identity map: user RAM user-accessible, the system area and the tables supervisor-only. */
static int build_page_tables(struct vm *vm, const struct payload_layout *l, uint64_t page_size, uint64_t *cr3)
{
	uint64_t low_end = l->low_bytes, high_end = X86_RAM_HIGH_GPA + l->high_bytes;
	uint64_t pt_end = l->pt_gpa + l->pt_size;
	struct pt_builder pt;
	int ret;

	if ((ret = pt_init(&pt, vm->mem, l->pt_gpa, l->pt_size)))
		return vmm_fail(ret, "guest page tables: no RAM at 0x%llx", (unsigned long long)l->pt_gpa);
	if ((ret = map(&pt, 0, X86_PAYLOAD_SYS_SIZE, page_size, PTE_W)))
		return ret;
	if (l->pt_gpa < low_end) {
		if ((ret = map(&pt, X86_PAYLOAD_SYS_SIZE, l->pt_gpa, page_size, PTE_W | PTE_U)) ||
		    (ret = map(&pt, l->pt_gpa, pt_end, page_size, PTE_W)) ||
		    (ret = map(&pt, X86_RAM_HIGH_GPA, high_end, page_size, PTE_W | PTE_U)))
			return ret;
	} else {
		if ((ret = map(&pt, X86_PAYLOAD_SYS_SIZE, low_end, page_size, PTE_W | PTE_U)) ||
		    (ret = map(&pt, X86_RAM_HIGH_GPA, l->pt_gpa, page_size, PTE_W | PTE_U)) ||
		    (ret = map(&pt, l->pt_gpa, pt_end, page_size, PTE_W)))
			return ret;
	}
	if ((ret = map(&pt, X86_PAYLOAD_MMIO_PROBE_GPA, X86_PAYLOAD_MMIO_PROBE_GPA + X86_PAYLOAD_MMIO_PROBE_SIZE,
		       page_size, PTE_W | PTE_U)))
		return ret;
	*cr3 = pt.pml4_gpa;
	return 0;
}

static int write_boot_info(struct vm *vm, struct payload *p, const struct payload_config *cfg, uint64_t page_size)
{
	struct payload_boot_info *bi = hva(vm, X86_PAYLOAD_BOOTINFO_GPA, sizeof(*bi));
	int khz;

	if (!bi)
		return vmm_fail(-EFAULT, "no RAM for the payload boot info");
	memset(bi, 0, sizeof(*bi));
	bi->magic = PAYLOAD_BOOT_MAGIC;
	bi->version = PAYLOAD_ABI_VERSION;
	bi->size = sizeof(*bi);
	bi->nr_cpus = p->nr_cpus;
	bi->guest_page_size = (uint32_t)page_size;
	khz = ioctl(vm->vcpus[0]->fd, KVM_GET_TSC_KHZ, NULL);
	bi->tsc_khz = khz > 0 ? (uint64_t)khz : 0;
	bi->ram_bytes = thpvm_memmap_size_bytes(vm->mem);
	bi->nr_ranges = p->layout.nr_ranges;
	memcpy(bi->ranges, p->layout.ranges, sizeof(bi->ranges));
	if (cfg->args) {
		bi->nr_args = cfg->args->nr;
		memcpy(bi->args, cfg->args->args, cfg->args->nr * sizeof(bi->args[0]));
	}
	p->boot_info = bi;
	return 0;
}

static int load_image(struct vm *vm, const struct payload_image *img)
{
	uint8_t *dst = hva(vm, img->load_gpa, img->mem_size);

	if (!dst)
		return vmm_fail(-EFAULT, "no RAM for the payload image at 0x%llx", (unsigned long long)img->load_gpa);
	memcpy(dst, img->data, img->file_size);
	memset(dst + img->file_size, 0, img->mem_size - img->file_size);
	return 0;
}

static int setup_vcpu(struct vcpu *v, const struct payload_image *img, uint64_t cr3)
{
	struct kvm_sregs s;
	struct kvm_regs r = {
		.rip = img->entry_gpa,
		.rsp = X86_PAYLOAD_STACKS_GPA + (v->index + 1) * X86_PAYLOAD_STACK_SIZE,
		.rdi = X86_PAYLOAD_BOOTINFO_GPA,
		.rsi = v->index,
		.rflags = RFLAGS_FIXED | RFLAGS_IOPL3,
	};
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	int ret;

	if ((ret = vcpu_get_sregs(v, &s)))
		return ret;
	s.cs = seg_code64(SEL_USER_CODE, 3);
	s.ss = s.ds = s.es = s.fs = s.gs = seg_data(SEL_USER_DATA, 3);
	s.tr = seg_tss64(SEL_TSS(v->index), X86_PAYLOAD_TSS_GPA + v->index * X86_PAYLOAD_TSS_STRIDE, TSS_LIMIT);
	s.ldt = (struct kvm_segment){ .type = 2, .unusable = 1 };
	s.gdt.base = X86_PAYLOAD_GDT_GPA;
	s.gdt.limit = GDT_SLOTS * 8 - 1;
	s.idt.base = X86_PAYLOAD_IDT_GPA;
	s.idt.limit = (img->flags & PAYLOAD_F_NO_IDT) ? 0 : 256 * 16 - 1;
	s.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	s.cr3 = cr3;
	s.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
	s.efer = EFER_LME | EFER_LMA;
	if ((ret = vcpu_set_sregs(v, &s)) || (ret = vcpu_set_regs(v, &r)) || (ret = vcpu_set_fpu(v, &fpu)))
		return ret;
	return 0;
}

static int region_size_at(struct vm *vm, uint64_t gpa, uint64_t *size)
{
	struct thpvm_region *r = thpvm_memmap_find(vm->mem, gpa);
	struct thpvm_region_info info;

	*size = 0;
	if (!r)
		return 0;
	thpvm_region_get_info(r, &info);
	if (info.gpa != gpa)
		return vmm_fail(-EINVAL, "payload guests need RAM regions starting at 0 and 4 GiB");
	*size = info.size_bytes;
	return 0;
}

int payload_setup(struct vm *vm, const struct payload_config *cfg, struct payload **out)
{
	uint64_t page_size = cfg->guest_page_size, low, high, cr3 = 0;
	struct payload *p;
	int ret;

	*out = NULL;
	if (page_size != 4096 && page_size != 2 * MIB)
		return vmm_fail(-EINVAL, "guest page size must be 4k or 2m");
	if (vm->nr_vcpus > PAYLOAD_MAX_CPUS)
		return vmm_fail(-EINVAL, "payload guests run on at most %d vCPUs", PAYLOAD_MAX_CPUS);
	if ((ret = payload_args_check(cfg->args, cfg->image)))
		return ret;
	if ((ret = region_size_at(vm, 0, &low)) || (ret = region_size_at(vm, X86_RAM_HIGH_GPA, &high)))
		return ret;
	if (thpvm_memmap_size_bytes(vm->mem) != low + high)
		return vmm_fail(-EINVAL, "payload guests need RAM only at 0 and 4 GiB");
	p = calloc(1, sizeof(*p));
	if (!p)
		return vmm_fail(-ENOMEM, "out of memory for the payload");
	p->vm = vm;
	p->nr_cpus = vm->nr_vcpus;
	p->out = cfg->out ? cfg->out : stdout;
	p->quiet_results = cfg->quiet_results;
	pthread_mutex_init(&p->lock, NULL);
	if ((ret = payload_layout_compute(low, high, &p->layout)) || (ret = write_system_area(vm, cfg, p->nr_cpus)) ||
	    (ret = build_page_tables(vm, &p->layout, page_size, &cr3)) ||
	    (ret = write_boot_info(vm, p, cfg, page_size)) || (ret = load_image(vm, cfg->image)))
		goto fail;
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if ((ret = setup_vcpu(vm->vcpus[i], cfg->image, cr3)))
			goto fail;
	/* from here the device owns p: it is freed with the VM's bus */
	if ((ret = payload_dev_register(vm, p)))
		goto fail;
	*out = p;
	return payload_fork_register(vm, p);
fail:
	pthread_mutex_destroy(&p->lock);
	free(p);
	return ret;
}

int payload_vm_create(struct thpvm_memmap *mem, unsigned nr_cpus, const struct payload_config *cfg, struct vm **vm,
		      struct payload **p)
{
	struct vm_config vc = { .nr_cpus = nr_cpus };
	int ret;

	*vm = NULL;
	*p = NULL;
	if (nr_cpus > PAYLOAD_MAX_CPUS)
		return vmm_fail(-EINVAL, "payload guests run on at most %d vCPUs", PAYLOAD_MAX_CPUS);
	if ((ret = vm_create(&vc, mem, vm)))
		return ret;
	if ((ret = payload_setup(*vm, cfg, p))) {
		vm_destroy(*vm);
		*vm = NULL;
	}
	return ret;
}
