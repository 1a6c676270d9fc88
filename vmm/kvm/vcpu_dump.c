/* SPDX-License-Identifier: MIT */
/* Register dumps for guest errors: enough to debug a payload or a kernel from one message. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <thpvm.h>
#include "vcpu.h"
#include "vm.h"

static void seg(FILE *f, const char *name, const struct kvm_segment *s)
{
	fprintf(f, "  %-4s sel 0x%04x base 0x%016llx limit 0x%08x type 0x%x dpl %u p %u s %u l %u db %u g %u%s\n", name,
		s->selector, (unsigned long long)s->base, s->limit, s->type, s->dpl, s->present, s->s, s->l, s->db, s->g,
		s->unusable ? " unusable" : "");
}

/* Bytes at RIP, through the guest's own page tables (KVM_TRANSLATE). */
static void code_bytes(FILE *f, struct vcpu *v, uint64_t rip)
{
	struct kvm_translation tr = { .linear_address = rip };
	const uint8_t *p;
	uint64_t n = 16;

	if (ioctl(v->fd, KVM_TRANSLATE, &tr) || !tr.valid)
		return;
	if (4096 - (tr.physical_address & 4095) < n)
		n = 4096 - (tr.physical_address & 4095);
	p = thpvm_memmap_gpa_to_hva(v->vm->mem, tr.physical_address, n);
	if (!p)
		return;
	fprintf(f, "  code at rip (gpa 0x%llx):", (unsigned long long)tr.physical_address);
	for (uint64_t i = 0; i < n; i++)
		fprintf(f, " %02x", p[i]);
	fputc('\n', f);
}

char *vcpu_dump(struct vcpu *v, const struct kvm_regs *override, const struct kvm_sregs *soverride)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool have_regs, have_sregs;

	if (!f)
		return NULL;
	have_regs = override || !ioctl(v->fd, KVM_GET_REGS, &r);
	if (override)
		r = *override;
	have_sregs = soverride || !ioctl(v->fd, KVM_GET_SREGS, &s);
	if (soverride)
		s = *soverride;
	fprintf(f, "vcpu %u registers:\n", v->index);
	if (have_regs) {
		fprintf(f, "  rip 0x%016llx  rflags 0x%016llx (IOPL %llu%s)",
			(unsigned long long)r.rip, (unsigned long long)r.rflags, (unsigned long long)(r.rflags >> 12) & 3,
			r.rflags & (1u << 9) ? ", IF" : "");
		if (have_sregs)
			fprintf(f, "  cpl %u", s.ss.dpl);
		fprintf(f, "\n  rax 0x%016llx  rbx 0x%016llx  rcx 0x%016llx  rdx 0x%016llx\n"
			"  rsi 0x%016llx  rdi 0x%016llx  rbp 0x%016llx  rsp 0x%016llx\n"
			"  r8  0x%016llx  r9  0x%016llx  r10 0x%016llx  r11 0x%016llx\n"
			"  r12 0x%016llx  r13 0x%016llx  r14 0x%016llx  r15 0x%016llx\n",
			(unsigned long long)r.rax, (unsigned long long)r.rbx, (unsigned long long)r.rcx,
			(unsigned long long)r.rdx, (unsigned long long)r.rsi, (unsigned long long)r.rdi,
			(unsigned long long)r.rbp, (unsigned long long)r.rsp, (unsigned long long)r.r8,
			(unsigned long long)r.r9, (unsigned long long)r.r10, (unsigned long long)r.r11,
			(unsigned long long)r.r12, (unsigned long long)r.r13, (unsigned long long)r.r14,
			(unsigned long long)r.r15);
	} else {
		fprintf(f, "  (general registers unavailable)\n");
	}
	if (have_sregs) {
		fprintf(f, "  cr0 0x%016llx  cr2 0x%016llx  cr3 0x%016llx  cr4 0x%016llx\n"
			"  cr8 0x%016llx  efer 0x%016llx  apic_base 0x%016llx\n",
			(unsigned long long)s.cr0, (unsigned long long)s.cr2, (unsigned long long)s.cr3,
			(unsigned long long)s.cr4, (unsigned long long)s.cr8, (unsigned long long)s.efer,
			(unsigned long long)s.apic_base);
		seg(f, "cs", &s.cs);
		seg(f, "ss", &s.ss);
		seg(f, "ds", &s.ds);
		seg(f, "es", &s.es);
		seg(f, "fs", &s.fs);
		seg(f, "gs", &s.gs);
		seg(f, "tr", &s.tr);
		seg(f, "ldt", &s.ldt);
		fprintf(f, "  gdt base 0x%016llx limit 0x%04x  idt base 0x%016llx limit 0x%04x\n",
			(unsigned long long)s.gdt.base, s.gdt.limit, (unsigned long long)s.idt.base, s.idt.limit);
	} else {
		fprintf(f, "  (system registers unavailable)\n");
	}
	if (have_regs)
		code_bytes(f, v, r.rip);
	fclose(f);
	/* no trailing newline: callers print it as lines */
	if (len && buf[len - 1] == '\n')
		buf[len - 1] = '\0';
	return buf;
}
