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

/* Whether the first "model name" line of cpuinfo contains word (QEMU's TCG CPUs say "QEMU TCG CPU"). */
static bool cpu_model_has(const char *cpuinfo, const char *word)
{
	char line[512];
	bool found = false;
	FILE *f = fopen(cpuinfo, "r");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "model name", 10)) {
			found = strstr(line, word) != NULL;
			break;
		}
	fclose(f);
	return found;
}

/* A module's boolean parameter ("Y"/"N", or 1/0): 1, 0, or -1 when it cannot be read. */
static int module_param(const char *dir, const char *module, const char *param)
{
	char path[512], v[8] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/parameters/%s", dir, module, param);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(v, sizeof(v), f))
		v[0] = 0;
	fclose(f);
	return v[0] == 'Y' || v[0] == 'y' || v[0] == '1' ? 1 : v[0] == 'N' || v[0] == 'n' || v[0] == '0' ? 0 : -1;
}

/* The hardware backends' paging from their parameter (kvm_amd npt, kvm_intel ept), named in what. */
static void hw_paging(struct kvm_host *out, const char *dir, const char *module, const char *param, const char *name)
{
	int tdp = module_param(dir, module, param);

	out->paging = tdp == 1 ? KVM_PAGING_TDP : tdp == 0 ? KVM_PAGING_SHADOW : KVM_PAGING_UNKNOWN;
	snprintf(out->what, sizeof(out->what), "%s (%s, %s)", module, out->kind == KVM_HOST_VMX ? "VMX" : "SVM",
		 tdp == 1 ? name : tdp == 0 ? "shadow paging" : "paging unknown");
}

void kvm_host_detect_at(const char *dev_kvm, const char *sys_module_dir, const char *cpuinfo, struct kvm_host *out)
{
	bool vmx = cpu_flag(cpuinfo, "vmx"), svm = cpu_flag(cpuinfo, "svm");

	memset(out, 0, sizeof(*out));
	out->emulated = cpu_model_has(cpuinfo, "TCG");
	if (access(dev_kvm, R_OK | W_OK)) {
		out->kind = KVM_HOST_NONE;
		snprintf(out->what, sizeof(out->what), "no usable %s", dev_kvm);
	} else if (vmx && module_loaded(sys_module_dir, "kvm_intel")) {
		out->kind = KVM_HOST_VMX;
		hw_paging(out, sys_module_dir, "kvm_intel", "ept", "EPT");
	} else if (svm && module_loaded(sys_module_dir, "kvm_amd")) {
		out->kind = KVM_HOST_SVM;
		hw_paging(out, sys_module_dir, "kvm_amd", "npt", "NPT");
	} else if (module_loaded(sys_module_dir, "kvm_pvm")) {
		out->kind = KVM_HOST_PVM;
		out->paging = KVM_PAGING_SHADOW;
		snprintf(out->what, sizeof(out->what), "kvm_pvm (no VMX/SVM: guest ring 0 is emulated, shadow paging)");
	} else if (!vmx && !svm) {
		out->kind = KVM_HOST_PVM;
		out->paging = KVM_PAGING_SHADOW;
		snprintf(out->what, sizeof(out->what),
			 "a KVM without hardware virtualization (the CPU flags have neither vmx nor svm; shadow paging)");
	} else {
		out->kind = KVM_HOST_UNKNOWN;
		snprintf(out->what, sizeof(out->what), "an unrecognized KVM backend on a CPU with %s", vmx ? "VMX" : "SVM");
	}
	if (out->emulated) {
		size_t n = strlen(out->what);

		snprintf(out->what + n, sizeof(out->what) - n, " on a CPU emulated by QEMU TCG");
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

const char *kvm_paging_str(enum kvm_paging paging)
{
	return paging == KVM_PAGING_TDP ? "tdp" : paging == KVM_PAGING_SHADOW ? "shadow" : "unknown";
}

bool kvm_paging_maps_2m(enum kvm_paging paging, uint64_t guest_page_size)
{
	return paging != KVM_PAGING_SHADOW || guest_page_size >= (2ULL << 20);
}

const char *kvm_host_timing_note(const struct kvm_host *h)
{
	return h->emulated ? "emulated by QEMU TCG: compare only within this run, never with hardware" : "";
}
