/* SPDX-License-Identifier: MIT */
/*
 * What kind of KVM this host has, found at run time: hardware-assisted
 * (kvm_intel with VMX, kvm_amd with SVM), where Linux guests boot, or
 * kvm-pvm (software shadow paging, guest ring 0 emulated; host-facts.md),
 * where they cannot. Read from the loaded modules (/sys/module) and the CPU
 * flags (/proc/cpuinfo).
 *
 * And how it maps guest memory, which decides what a host THP buys: with
 * two-dimensional paging (EPT, NPT) a host THP is mapped 2 MiB in stage 2
 * whatever page size the guest uses; with shadow paging (kvm-pvm, or
 * kvm_amd npt=N / kvm_intel ept=N) KVM's shadow entry can only be 2 MiB when
 * the guest's own page is 2 MiB too (host-facts.md, docs/design.md).
 */
#ifndef THPVM_KVM_HOST_H
#define THPVM_KVM_HOST_H

#include <stdbool.h>
#include <stdint.h>

enum kvm_host_kind {
	KVM_HOST_NONE,      /* no usable /dev/kvm */
	KVM_HOST_VMX,       /* kvm_intel, CPU has vmx */
	KVM_HOST_SVM,       /* kvm_amd, CPU has svm */
	KVM_HOST_PVM,       /* kvm_pvm, or no vmx/svm in the CPU flags: guest ring 0 is emulated */
	KVM_HOST_UNKNOWN,   /* /dev/kvm works, the backend is not recognized: assumed hardware-assisted */
};

enum kvm_paging {
	KVM_PAGING_UNKNOWN, /* no KVM, or a backend whose paging is not known */
	KVM_PAGING_TDP,     /* EPT or NPT: guest and host page sizes are independent levels */
	KVM_PAGING_SHADOW,  /* shadow page tables: 2 MiB only for host THP under a guest 2 MiB page */
};

struct kvm_host {
	enum kvm_host_kind kind;
	enum kvm_paging paging;
	bool emulated;      /* the CPU itself is emulated (QEMU TCG, as in the nested lab's L1): timings are not hardware's */
	char what[160];     /* one line, e.g. "kvm_amd (SVM, NPT)", "kvm_pvm (no VMX/SVM: ...)" */
};

/* Detects from the real files: /dev/kvm, /sys/module, /proc/cpuinfo. */
void kvm_host_detect(struct kvm_host *out);
/* The same from other paths (tests). */
void kvm_host_detect_at(const char *dev_kvm, const char *sys_module_dir, const char *cpuinfo, struct kvm_host *out);
/* Whether a Linux guest can boot natively: VMX, SVM or unknown. */
bool kvm_host_boots_linux(const struct kvm_host *h);
const char *kvm_host_kind_str(enum kvm_host_kind kind);
/* What timings on this host are worth: "" on real CPUs, a warning where the CPU is emulated. */
const char *kvm_host_timing_note(const struct kvm_host *h);
/* "tdp", "shadow" or "unknown" */
const char *kvm_paging_str(enum kvm_paging paging);
/*
 * Whether KVM can map a host THP with one 2 MiB stage-2 entry under guest
 * pages of guest_page_size bytes: always with TDP; with shadow paging only
 * under 2 MiB guest pages. Unknown paging is assumed to be TDP (what real
 * hosts have).
 */
bool kvm_paging_maps_2m(enum kvm_paging paging, uint64_t guest_page_size);

#endif
