/* SPDX-License-Identifier: MIT */
/* The boot CPU's registers for each entry mode, checked against what the loader wrote. */
#include <criterion/criterion.h>
#include <string.h>
#include "x86/gdt.h"
#include "x86/layout.h"
#include "x86/linux.h"
#include "x86/pagetable.h"
#include "helpers.h"
#include "linux_helpers.h"

TestSuite(linux_regs, .init = linux_fixture_init, .fini = linux_fixture_fini);

/* sregs as KVM_GET_SREGS returns them for a fresh vCPU (real mode at the reset vector). */
static struct kvm_sregs reset_sregs(void)
{
	struct kvm_sregs s;
	struct kvm_segment rm = { .limit = 0xffff, .type = 3, .present = 1, .s = 1 };

	memset(&s, 0, sizeof(s));
	s.cs = rm;
	s.cs.selector = 0xf000;
	s.cs.base = 0xffff0000;
	s.cs.type = 0xb;
	s.ds = s.es = s.fs = s.gs = s.ss = rm;
	s.tr = (struct kvm_segment){ .limit = 0xffff, .type = 0xb, .present = 1 };
	s.ldt = (struct kvm_segment){ .limit = 0xffff, .type = 2, .present = 1 };
	s.gdt.limit = s.idt.limit = 0xffff;
	s.cr0 = 0x60000010;
	s.apic_base = 0xfee00900;
	return s;
}

/* The hidden segment state matches the GDT descriptor its selector names. */
static void check_against_gdt(const struct kvm_sregs *s, const struct kvm_segment *seg)
{
	const uint64_t *gdt = thpvm_memmap_gpa_to_hva(fix_map, s->gdt.base, s->gdt.limit + 1);

	cr_assert_not_null(gdt);
	cr_assert_lt(seg->selector >> 3, (s->gdt.limit + 1) / 8);
	cr_assert_eq(gdt[seg->selector >> 3], gdt_encode(seg), "selector 0x%x", seg->selector);
}

static void check_common(const struct kvm_sregs *s, const struct kvm_regs *r, const struct linux_boot *b)
{
	const struct kvm_segment *data[] = { &s->ds, &s->es, &s->fs, &s->gs, &s->ss };

	cr_assert_eq(r->rip, b->entry_gpa);
	cr_assert_eq(r->rflags, 0x2, "interrupts off");
	cr_assert_eq(s->gdt.base, X86_BOOT_GDT_GPA);
	cr_assert_eq(s->gdt.limit, X86_BOOT_GDT_SIZE - 1);
	cr_assert_eq(s->idt.base, X86_BOOT_IDT_GPA);
	cr_assert_eq(s->cr0 & 0x60000000, 0, "caches enabled");
	cr_assert(s->cr0 & 1, "protected mode");
	for (unsigned i = 0; i < 5; i++) {
		cr_assert_eq(data[i]->selector, 0x18, "__BOOT_DS");
		cr_assert_eq(data[i]->base, 0);
		cr_assert_eq(data[i]->limit, 0xffffffff);
		cr_assert(data[i]->present && data[i]->db && data[i]->s);
		check_against_gdt(s, data[i]);
	}
	cr_assert_eq(s->tr.type, 0xb, "busy TSS");
	cr_assert(s->tr.present && !s->tr.unusable && !s->tr.s);
	cr_assert_eq(s->tr.limit, 0x67);
	cr_assert_eq(s->apic_base, 0xfee00900, "untouched");
	cr_assert_eq(s->ldt.type, 2, "untouched");
	check_against_gdt(s, &s->cs);
}

/*
 * Loads the kernel file at kernel_path into the fixture's map and sets the
 * registers of a fresh vCPU (general ones poisoned) from what it loaded;
 * checks what every entry mode has in common.
 */
static void load_regs(const char *kernel_path, struct linux_boot *b, struct kvm_regs *r, struct kvm_sregs *s)
{
	struct linux_load_config cfg = { .kernel_path = kernel_path, .nr_cpus = 1 };

	cr_assert_eq(linux_load(fix_map, &cfg, b), 0, "%s", linux_last_error());
	memset(r, 0xa5, sizeof(*r));
	*s = reset_sregs();
	linux_boot_regs(b, r, s);
	check_common(s, r, b);
}

Test(linux_regs, bzimage_enters_startup_64_in_long_mode)
{
	struct synth_bz sb = synth_bz_default();
	struct linux_boot b;
	struct kvm_regs r;
	struct kvm_sregs s;
	uint64_t gpa, size, flags;

	load_regs(synth_bz_file("bzImage", &sb), &b, &r, &s);
	cr_assert_eq(r.rip, 0x1000200);
	cr_assert_eq(r.rsi, X86_ZERO_PAGE_GPA);
	cr_assert_eq(r.rsp, X86_BOOT_STACK_GPA);
	cr_assert_eq(r.rax | r.rbx | r.rcx | r.rdx | r.rdi | r.rbp | r.r8 | r.r15, 0);
	cr_assert_eq(s.cs.selector, 0x10, "__BOOT_CS");
	cr_assert(s.cs.l && !s.cs.db, "64-bit code segment");
	cr_assert_eq(s.cr0 & 0x80000001, 0x80000001, "PE and PG");
	cr_assert_eq(s.cr4, 0x20, "PAE");
	cr_assert_eq(s.efer, 0x500, "LME and LMA");
	cr_assert_eq(s.cr3, b.cr3);
	/* RIP, the zero page and the stack are identity mapped by CR3's tables */
	struct pt_builder pt = { .map = fix_map, .pml4_gpa = s.cr3 };
	uint64_t probes[] = { r.rip, r.rsi, r.rsp - 8, X86_CMDLINE_GPA, b.kernel_end_gpa - 1 };
	for (unsigned i = 0; i < 5; i++) {
		cr_assert_eq(pt_translate(&pt, probes[i], &gpa, &size, &flags), 0);
		cr_assert_eq(gpa, probes[i]);
	}
}

Test(linux_regs, pvh_enters_32bit_protected_mode_without_paging)
{
	struct synth_elf se = synth_elf_default();
	struct linux_boot b;
	struct kvm_regs r;
	struct kvm_sregs s;

	se.entry = 0x1000100;
	load_regs(synth_elf_file("vmlinux", &se), &b, &r, &s);
	cr_assert_eq(r.rip, 0x1000100);
	cr_assert_eq(r.rbx, X86_PVH_START_INFO_GPA, "EBX = start_info");
	cr_assert_eq(s.cs.selector, 0x08);
	cr_assert(!s.cs.l && s.cs.db, "32-bit code segment");
	cr_assert_eq(s.cs.base, 0);
	cr_assert_eq(s.cs.limit, 0xffffffff);
	cr_assert_eq(s.cr0, 0x11, "PE (and ET) only: paging off");
	cr_assert_eq(s.cr4, 0);
	cr_assert_eq(s.efer, 0);
	cr_assert_eq(s.cr3, 0);
	cr_assert_eq(s.tr.base, 0);
}
