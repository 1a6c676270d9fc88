/* SPDX-License-Identifier: MIT */
/*
 * What kind of KVM this host has, found at run time: hardware-assisted
 * (kvm_intel with VMX, kvm_amd with SVM), where Linux guests boot, or
 * kvm-pvm (software shadow paging, guest ring 0 emulated; host-facts.md),
 * where they cannot. Read from the loaded modules (/sys/module) and the CPU
 * flags (/proc/cpuinfo).
 */
#ifndef THPVM_KVM_HOST_H
#define THPVM_KVM_HOST_H

#include <stdbool.h>

enum kvm_host_kind {
	KVM_HOST_NONE,      /* no usable /dev/kvm */
	KVM_HOST_VMX,       /* kvm_intel, CPU has vmx */
	KVM_HOST_SVM,       /* kvm_amd, CPU has svm */
	KVM_HOST_PVM,       /* kvm_pvm, or no vmx/svm in the CPU flags: guest ring 0 is emulated */
	KVM_HOST_UNKNOWN,   /* /dev/kvm works, the backend is not recognized: assumed hardware-assisted */
};

struct kvm_host {
	enum kvm_host_kind kind;
	char what[160];     /* one line, e.g. "kvm_pvm (no VMX/SVM: guest ring 0 is emulated)" */
};

/* Detects from the real files: /dev/kvm, /sys/module, /proc/cpuinfo. */
void kvm_host_detect(struct kvm_host *out);
/* The same from other paths (tests). */
void kvm_host_detect_at(const char *dev_kvm, const char *sys_module_dir, const char *cpuinfo, struct kvm_host *out);
/* Whether a Linux guest can boot natively: VMX, SVM or unknown. */
bool kvm_host_boots_linux(const struct kvm_host *h);
const char *kvm_host_kind_str(enum kvm_host_kind kind);

#endif
