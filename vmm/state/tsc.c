/* SPDX-License-Identifier: MIT */
#include "config.h"
#include <errno.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include <x86intrin.h>
#include "tsc.h"

#define MSR_IA32_TSC 0x10

uint64_t host_rdtsc(void)
{
	_mm_lfence();
	return __rdtsc();
}

static bool has_offset_attr(int vcpu_fd)
{
	struct kvm_device_attr a = { .group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET };

	return ioctl(vcpu_fd, KVM_HAS_DEVICE_ATTR, &a) == 0;
}

int vcpu_tsc_offset_get(int vcpu_fd, int64_t *offset, bool *exact)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = { .h.nmsrs = 1, .e.index = MSR_IA32_TSC };
	uint64_t before, after;

	if (has_offset_attr(vcpu_fd)) {
		struct kvm_device_attr a = { .group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET,
					     .addr = (uint64_t)(uintptr_t)offset };

		*exact = true;
		return ioctl(vcpu_fd, KVM_GET_DEVICE_ATTR, &a) ? -errno : 0;
	}
	before = host_rdtsc();
	if (ioctl(vcpu_fd, KVM_GET_MSRS, &m) != 1)
		return -EIO;
	after = host_rdtsc();
	*offset = (int64_t)(m.e.data - (before + (after - before) / 2));
	*exact = false;
	return 0;
}

int vcpu_tsc_offset_set(int vcpu_fd, int64_t offset)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m = { .h.nmsrs = 1, .e.index = MSR_IA32_TSC };

	if (has_offset_attr(vcpu_fd)) {
		struct kvm_device_attr a = { .group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET,
					     .addr = (uint64_t)(uintptr_t)&offset };

		return ioctl(vcpu_fd, KVM_SET_DEVICE_ATTR, &a) ? -errno : 0;
	}
	m.e.data = host_rdtsc() + (uint64_t)offset;
	return ioctl(vcpu_fd, KVM_SET_MSRS, &m) == 1 ? 0 : -EIO;
}
