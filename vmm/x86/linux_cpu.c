/* SPDX-License-Identifier: MIT */
/* The boot CPU's registers at the kernel's entry, for each boot protocol. */
#include <string.h>
#include "cpu_bits.h"
#include "gdt.h"
#include "layout.h"
#include "linux_internal.h"
#include "multiboot.h"

#define BOOT_TSS_LIMIT 0x67 /* the PVH ABI asks for a busy TSS, base 0, limit 0x67; fine in long mode too */

static void data_segments(struct kvm_sregs *sregs)
{
	struct kvm_segment ds = seg_data(LINUX_BOOT_DS, 0);

	sregs->ds = ds;
	sregs->es = ds;
	sregs->fs = ds;
	sregs->gs = ds;
	sregs->ss = ds;
}

void linux_boot_regs(const struct linux_boot *b, struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	memset(regs, 0, sizeof(*regs));
	regs->rflags = RFLAGS_FIXED;
	regs->rip = b->entry_gpa;

	sregs->gdt.base = X86_BOOT_GDT_GPA;
	sregs->gdt.limit = X86_BOOT_GDT_SIZE - 1;
	sregs->idt.base = X86_BOOT_IDT_GPA;
	sregs->idt.limit = 0;
	data_segments(sregs);
	/* VMX refuses to enter without a busy TSS; KVM's reset value has one, this does not rely on it */
	sregs->tr.base = 0;
	sregs->tr.limit = BOOT_TSS_LIMIT;
	sregs->tr.type = SEG_TYPE_TSS64_BUSY; /* 0xb: busy 64-bit TSS in long mode, busy 32-bit TSS otherwise */
	sregs->tr.present = 1;
	sregs->tr.s = 0;
	sregs->tr.unusable = 0;
	/* caching on (the reset value has CD and NW set) */
	sregs->cr0 = CR0_PE | CR0_ET;
	sregs->cr4 = 0;
	sregs->efer = 0;

	if (b->mode == LINUX_ENTRY_64BIT) {
		sregs->cs = seg_code64(LINUX_BOOT_CS, 0);
		sregs->cr0 |= CR0_PG;
		sregs->cr3 = b->cr3;
		sregs->cr4 = CR4_PAE;
		sregs->efer = EFER_LME | EFER_LMA;
		regs->rsi = b->boot_params_gpa;
		regs->rsp = X86_BOOT_STACK_GPA;
	} else {
		sregs->cs = seg_code32(LINUX_BOOT_CS32, 0);
		sregs->cr3 = 0;
		regs->rbx = b->boot_params_gpa;
		if (b->mode == LINUX_ENTRY_MULTIBOOT)
			regs->rax = MULTIBOOT_BOOT_MAGIC;
	}
}
