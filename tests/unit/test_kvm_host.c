/* SPDX-License-Identifier: MIT */
/*
 * Which KVM the host has (vmm/kvm/kvm_host.c), from fake /sys/module
 * directories and /proc/cpuinfo files: kvm_intel with vmx and kvm_amd with
 * svm boot Linux, kvm_pvm or a CPU without vmx/svm do not. Then the real
 * host, checked against what its own files say.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "kvm/kvm_host.h"

static char dir[64], modules[128], cpuinfo[128], dev[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/thpvm-kvmhost-XXXXXX");
	cr_assert(mkdtemp(dir));
	snprintf(modules, sizeof(modules), "%s/module", dir);
	snprintf(cpuinfo, sizeof(cpuinfo), "%s/cpuinfo", dir);
	snprintf(dev, sizeof(dev), "%s/kvm", dir);
	cr_assert_eq(mkdir(modules, 0755), 0);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(kvm_host, .init = setup, .fini = teardown);

static void module(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", modules, name);
	cr_assert_eq(mkdir(path, 0755), 0);
}

/* /sys/module/NAME/parameters/PARAM holding value */
static void module_param(const char *name, const char *param, const char *value)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/parameters", modules, name);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/%s/parameters/%s", modules, name, param);
	f = fopen(path, "w");
	cr_assert(f);
	fprintf(f, "%s\n", value);
	fclose(f);
}

static void cpu_flags(const char *flags)
{
	FILE *f = fopen(cpuinfo, "w");

	cr_assert(f);
	fprintf(f, "processor\t: 0\nvendor_id\t: Test\nflags\t\t: %s\nbugs\t\t: svm_bug\n\nprocessor\t: 1\nflags\t\t: %s\n",
		flags, flags);
	fclose(f);
}

static void dev_kvm(void)
{
	FILE *f = fopen(dev, "w");

	cr_assert(f);
	fclose(f);
}

/*
 * What kvm_host_detect_at() finds on a fake host: /dev/kvm when with_dev,
 * the modules loaded (names separated by spaces), a CPU with flags.
 */
static struct kvm_host fake_host(bool with_dev, const char *loaded, const char *flags)
{
	char names[128], *save, *name;
	struct kvm_host h;

	if (with_dev)
		dev_kvm();
	snprintf(names, sizeof(names), "%s", loaded);
	for (name = strtok_r(names, " ", &save); name; name = strtok_r(NULL, " ", &save))
		module(name);
	cpu_flags(flags);
	kvm_host_detect_at(dev, modules, cpuinfo, &h);
	cr_assert(h.what[0], "always says what it found");
	return h;
}

/*
 * FAKE_HOST(name, with_dev, loaded, flags, want, want_name, boots, in_what):
 * the test kvm_host::name expects of fake_host(with_dev, loaded, flags) the
 * kind want (kvm_host_kind_str(): want_name), whether it boots Linux and, in
 * what it says, in_what.
 */
#define FAKE_HOST(name, with_dev, loaded, flags, want, want_name, boots, in_what)                          \
	Test(kvm_host, name)                                                                               \
	{                                                                                                  \
		struct kvm_host h = fake_host(with_dev, loaded, flags);                                    \
                                                                                                           \
		cr_assert_eq(h.kind, want, "%s", h.what);                                                  \
		cr_assert_str_eq(kvm_host_kind_str(h.kind), want_name);                                    \
		cr_assert_eq(kvm_host_boots_linux(&h), boots, "%s", h.what);                               \
		cr_assert(strstr(h.what, in_what), "'%s' lacks '%s'", h.what, in_what);                    \
	}

FAKE_HOST(no_dev_kvm_is_none, false, "kvm_intel", "fpu vmx sse", KVM_HOST_NONE, "none", false, "")
FAKE_HOST(kvm_intel_with_vmx_boots_linux, true, "kvm kvm_intel", "fpu vme vmx sse2 hypervisor", KVM_HOST_VMX, "vmx",
	  true, "")
FAKE_HOST(kvm_amd_with_svm_boots_linux, true, "kvm_amd", "fpu svm npt", KVM_HOST_SVM, "svm", true, "")
FAKE_HOST(kvm_pvm_does_not_boot_linux, true, "kvm kvm_pvm", "fpu sse2 hypervisor", KVM_HOST_PVM, "pvm", false,
	  "kvm_pvm")
/* "svm_bug" in the bugs line and "vmxx" are not the flags */
FAKE_HOST(no_vmx_or_svm_flag_means_emulated_ring_0, true, "kvm", "fpu vmxx svmlike hypervisor", KVM_HOST_PVM, "pvm",
	  false, "")
FAKE_HOST(a_module_without_its_cpu_flag_does_not_count, true, "kvm_intel kvm_pvm", "fpu sse2", KVM_HOST_PVM, "pvm",
	  false, "")
FAKE_HOST(unrecognized_backend_on_a_vmx_cpu_is_assumed_hardware, true, "kvm", "fpu vmx", KVM_HOST_UNKNOWN, "unknown",
	  true, "")

/* The paging mode, from the vendor module's parameter; kvm-pvm is shadow paging. */
Test(kvm_host, paging_mode_comes_from_npt_or_ept)
{
	static const struct {
		const char *module, *flags, *param, *value;
		enum kvm_paging paging;
		const char *what;
	} cases[] = {
		{ "kvm_amd", "svm", "npt", "Y", KVM_PAGING_TDP, "kvm_amd (SVM, NPT)" },
		{ "kvm_amd", "svm", "npt", "N", KVM_PAGING_SHADOW, "kvm_amd (SVM, shadow paging)" },
		{ "kvm_intel", "vmx", "ept", "Y", KVM_PAGING_TDP, "kvm_intel (VMX, EPT)" },
		{ "kvm_intel", "vmx", "ept", "N", KVM_PAGING_SHADOW, "kvm_intel (VMX, shadow paging)" },
		{ "kvm_intel", "vmx", NULL, NULL, KVM_PAGING_UNKNOWN, "kvm_intel (VMX, paging unknown)" },
		{ "kvm_pvm", "sse2", NULL, NULL, KVM_PAGING_SHADOW, NULL },
	};
	char cmd[256];

	dev_kvm();
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kvm_host h;

		snprintf(cmd, sizeof(cmd), "rm -rf %s/*", modules);
		cr_assert_eq(system(cmd), 0);
		module(cases[i].module);
		if (cases[i].param)
			module_param(cases[i].module, cases[i].param, cases[i].value);
		cpu_flags(cases[i].flags);
		kvm_host_detect_at(dev, modules, cpuinfo, &h);
		cr_assert_eq(h.paging, cases[i].paging, "case %u: %s", i, h.what);
		if (cases[i].what)
			cr_assert_str_eq(h.what, cases[i].what);
	}
	cr_assert_str_eq(kvm_paging_str(KVM_PAGING_TDP), "tdp");
	cr_assert_str_eq(kvm_paging_str(KVM_PAGING_SHADOW), "shadow");
}

/* What a host THP under guest pages of each size gets: 2 MiB with TDP always, with shadow paging only under 2 MiB. */
Test(kvm_host, a_host_thp_maps_2m_under_4k_guest_pages_only_with_tdp)
{
	cr_assert(kvm_paging_maps_2m(KVM_PAGING_TDP, 4096));
	cr_assert(kvm_paging_maps_2m(KVM_PAGING_TDP, 2 << 20));
	cr_assert_not(kvm_paging_maps_2m(KVM_PAGING_SHADOW, 4096));
	cr_assert(kvm_paging_maps_2m(KVM_PAGING_SHADOW, 2 << 20));
	cr_assert(kvm_paging_maps_2m(KVM_PAGING_UNKNOWN, 4096), "unknown is taken for what real hosts have");
}

Test(kvm_host, this_host_matches_its_own_files)
{
	struct kvm_host h;

	kvm_host_detect(&h);
	if (access("/dev/kvm", R_OK | W_OK))
		cr_assert_eq(h.kind, KVM_HOST_NONE);
	else if (!access("/sys/module/kvm_pvm", F_OK) && access("/sys/module/kvm_intel", F_OK) &&
		 access("/sys/module/kvm_amd", F_OK))
		cr_assert_eq(h.kind, KVM_HOST_PVM, "kvm_pvm loaded, no vendor module: %s", h.what);
	else if (!access("/sys/module/kvm_amd", F_OK) || !access("/sys/module/kvm_intel", F_OK))
		cr_assert(h.kind == KVM_HOST_SVM || h.kind == KVM_HOST_VMX || h.kind == KVM_HOST_PVM, "%s", h.what);
	if (h.kind == KVM_HOST_PVM)
		cr_assert_eq(h.paging, KVM_PAGING_SHADOW);
	if (h.kind == KVM_HOST_SVM && !access("/sys/module/kvm_amd/parameters/npt", R_OK))
		cr_assert_neq(h.paging, KVM_PAGING_UNKNOWN, "%s", h.what);
	cr_log_info("this host: %s (%s), paging %s", kvm_host_kind_str(h.kind), h.what, kvm_paging_str(h.paging));
}
