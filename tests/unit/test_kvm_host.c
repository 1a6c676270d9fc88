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

static enum kvm_host_kind detect(void)
{
	struct kvm_host h;

	kvm_host_detect_at(dev, modules, cpuinfo, &h);
	cr_assert(h.what[0], "always says what it found");
	return h.kind;
}

Test(kvm_host, no_dev_kvm_is_none)
{
	module("kvm_intel");
	cpu_flags("fpu vmx sse");
	cr_assert_eq(detect(), KVM_HOST_NONE);
}

Test(kvm_host, kvm_intel_with_vmx_boots_linux)
{
	struct kvm_host h;

	dev_kvm();
	module("kvm");
	module("kvm_intel");
	cpu_flags("fpu vme vmx sse2 hypervisor");
	kvm_host_detect_at(dev, modules, cpuinfo, &h);
	cr_assert_eq(h.kind, KVM_HOST_VMX);
	cr_assert(kvm_host_boots_linux(&h));
	cr_assert_str_eq(kvm_host_kind_str(h.kind), "vmx");
}

Test(kvm_host, kvm_amd_with_svm_boots_linux)
{
	dev_kvm();
	module("kvm_amd");
	cpu_flags("fpu svm npt");
	cr_assert_eq(detect(), KVM_HOST_SVM);
}

Test(kvm_host, kvm_pvm_does_not_boot_linux)
{
	struct kvm_host h;

	dev_kvm();
	module("kvm");
	module("kvm_pvm");
	cpu_flags("fpu sse2 hypervisor");
	kvm_host_detect_at(dev, modules, cpuinfo, &h);
	cr_assert_eq(h.kind, KVM_HOST_PVM);
	cr_assert_not(kvm_host_boots_linux(&h));
	cr_assert(strstr(h.what, "kvm_pvm"), "%s", h.what);
}

Test(kvm_host, no_vmx_or_svm_flag_means_emulated_ring_0)
{
	/* "svm_bug" in the bugs line and "vmxx" are not the flags */
	dev_kvm();
	module("kvm");
	cpu_flags("fpu vmxx svmlike hypervisor");
	cr_assert_eq(detect(), KVM_HOST_PVM);
}

Test(kvm_host, a_module_without_its_cpu_flag_does_not_count)
{
	dev_kvm();
	module("kvm_intel");
	module("kvm_pvm");
	cpu_flags("fpu sse2");
	cr_assert_eq(detect(), KVM_HOST_PVM);
}

Test(kvm_host, unrecognized_backend_on_a_vmx_cpu_is_assumed_hardware)
{
	struct kvm_host h;

	dev_kvm();
	module("kvm");
	cpu_flags("fpu vmx");
	kvm_host_detect_at(dev, modules, cpuinfo, &h);
	cr_assert_eq(h.kind, KVM_HOST_UNKNOWN);
	cr_assert(kvm_host_boots_linux(&h));
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
	cr_log_info("this host: %s (%s)", kvm_host_kind_str(h.kind), h.what);
}
