/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "kvm_host.h"

static bool module_loaded(const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return !access(path, F_OK);
}

/* Whether the first "flags" line of cpuinfo lists flag as a whole word. */
static bool cpu_flag(const char *cpuinfo, const char *flag)
{
	char line[8192], *save = NULL;
	bool found = false;
	FILE *f = fopen(cpuinfo, "r");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		for (char *tok = strtok_r(strchr(line, ':') ? strchr(line, ':') + 1 : line, " \t\n", &save); tok;
		     tok = strtok_r(NULL, " \t\n", &save))
			if (!strcmp(tok, flag))
				found = true;
		break;
	}
	fclose(f);
	return found;
}

void kvm_host_detect_at(const char *dev_kvm, const char *sys_module_dir, const char *cpuinfo, struct kvm_host *out)
{
	bool vmx = cpu_flag(cpuinfo, "vmx"), svm = cpu_flag(cpuinfo, "svm");

	memset(out, 0, sizeof(*out));
	if (access(dev_kvm, R_OK | W_OK)) {
		out->kind = KVM_HOST_NONE;
		snprintf(out->what, sizeof(out->what), "no usable %s", dev_kvm);
	} else if (vmx && module_loaded(sys_module_dir, "kvm_intel")) {
		out->kind = KVM_HOST_VMX;
		snprintf(out->what, sizeof(out->what), "kvm_intel (VMX)");
	} else if (svm && module_loaded(sys_module_dir, "kvm_amd")) {
		out->kind = KVM_HOST_SVM;
		snprintf(out->what, sizeof(out->what), "kvm_amd (SVM)");
	} else if (module_loaded(sys_module_dir, "kvm_pvm")) {
		out->kind = KVM_HOST_PVM;
		snprintf(out->what, sizeof(out->what), "kvm_pvm (no VMX/SVM: guest ring 0 is emulated)");
	} else if (!vmx && !svm) {
		out->kind = KVM_HOST_PVM;
		snprintf(out->what, sizeof(out->what),
			 "a KVM without hardware virtualization (the CPU flags have neither vmx nor svm)");
	} else {
		out->kind = KVM_HOST_UNKNOWN;
		snprintf(out->what, sizeof(out->what), "an unrecognized KVM backend on a CPU with %s", vmx ? "VMX" : "SVM");
	}
}

void kvm_host_detect(struct kvm_host *out)
{
	kvm_host_detect_at("/dev/kvm", "/sys/module", "/proc/cpuinfo", out);
}

bool kvm_host_boots_linux(const struct kvm_host *h)
{
	return h->kind == KVM_HOST_VMX || h->kind == KVM_HOST_SVM || h->kind == KVM_HOST_UNKNOWN;
}

const char *kvm_host_kind_str(enum kvm_host_kind kind)
{
	static const char *const names[] = {
		[KVM_HOST_NONE] = "none", [KVM_HOST_VMX] = "vmx", [KVM_HOST_SVM] = "svm",
		[KVM_HOST_PVM] = "pvm", [KVM_HOST_UNKNOWN] = "unknown",
	};

	return kind <= KVM_HOST_UNKNOWN ? names[kind] : "?";
}
