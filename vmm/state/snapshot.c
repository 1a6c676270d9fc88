/* SPDX-License-Identifier: MIT */
#include "config.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include "snapshot.h"
#include "util/error.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"
#include "state/tsc.h"
#include "util/clock.h"

/*
 * A vCPU parked right after a port or MMIO exit has not finished that
 * instruction: KVM does it on the next KVM_RUN. With immediate_exit set,
 * KVM_RUN completes it and returns EINTR without running guest code.
 */
static int complete_io(struct vcpu *v)
{
	uint8_t old = v->run->immediate_exit;
	int ret = 0;

	v->run->immediate_exit = 1;
	if (ioctl(v->fd, KVM_RUN, NULL) == 0 || (errno != EINTR && errno != EAGAIN))
		ret = vmm_fail(-EIO, "vCPU %u: KVM_RUN to complete pending I/O: %s", v->index,
			       errno ? strerror(errno) : "entered the guest");
	v->run->immediate_exit = old;
	return ret;
}

int vm_snapshot_capture(struct vm *vm, struct vm_snapshot *s)
{
	bool irqchip = vm->cfg.features & VM_F_IRQCHIP;
	const char *what = "";
	enum kvm_state_result r;
	uint64_t t;
	int ret;

	memset(s, 0, sizeof(*s));
	s->nr_vcpus = vm->nr_vcpus;
	s->vcpus = calloc(vm->nr_vcpus, sizeof(*s->vcpus));
	s->tsc_offsets = calloc(vm->nr_vcpus, sizeof(*s->tsc_offsets));
	if (!s->vcpus || !s->tsc_offsets) {
		vm_snapshot_free(s);
		return vmm_fail(-ENOMEM, "out of memory for the VM's state");
	}
	t = util_mono_ns();
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		if ((ret = complete_io(vm->vcpus[i])))
			goto fail;
	s->complete_io_ns = util_mono_ns() - t;
	t = util_mono_ns();
	s->tsc_exact = true;
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = vm->vcpus[i];
		bool exact;

		r = vcpu_state_save(vm->kvm_fd, v->fd, irqchip, &s->vcpus[i], &what);
		if (r != KVM_STATE_OK) {
			ret = vmm_fail(-kvm_state_result_errno(r), "vCPU %u: %s: %s (%s)", i, what,
				       kvm_state_result_str(r), strerror(errno));
			goto fail;
		}
		if ((ret = vcpu_tsc_offset_get(v->fd, &s->tsc_offsets[i], &exact))) {
			vmm_fail(ret, "vCPU %u: reading its TSC offset: %s", i, strerror(-ret));
			goto fail;
		}
		s->tsc_exact &= exact;
	}
	s->vcpus_ns = util_mono_ns() - t;
	t = util_mono_ns();
	r = vm_state_save(vm->vm_fd, irqchip, vm->cfg.features & VM_F_PIT, &s->vm, &what);
	if (r != KVM_STATE_OK) {
		ret = vmm_fail(-kvm_state_result_errno(r), "VM: %s: %s (%s)", what, kvm_state_result_str(r),
			       strerror(errno));
		goto fail;
	}
	s->vm_ns = util_mono_ns() - t;
	t = util_mono_ns();
	s->devices = iobus_save(vm->bus);
	if (!s->devices) {
		ret = -EIO;
		goto fail;
	}
	s->devices_ns = util_mono_ns() - t;
	s->host_tsc = host_rdtsc();
	s->mono_ns = util_mono_ns();
	return 0;
fail:
	vm_snapshot_free(s);
	return ret;
}

int vm_snapshot_restore(struct vm *vm, struct vm_snapshot *s)
{
	struct vm_state st = s->vm;
	const char *what = "";
	enum kvm_state_result r;
	int ret;

	if (s->nr_vcpus != vm->nr_vcpus)
		return vmm_fail(-EINVAL, "state of %u vCPUs does not fit a VM of %u", s->nr_vcpus, vm->nr_vcpus);
	/* kvmclock runs on from the capture, as the TSC does: no jump back */
	st.clock.clock += util_mono_ns() - s->mono_ns;
	r = vm_state_restore(vm->vm_fd, &st, &what);
	if (r != KVM_STATE_OK)
		return vmm_fail(-kvm_state_result_errno(r), "VM: %s: %s (%s)", what, kvm_state_result_str(r),
				strerror(errno));
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		r = vcpu_state_restore(vm->vcpus[i]->fd, &s->vcpus[i], &what);
		if (r != KVM_STATE_OK)
			return vmm_fail(-kvm_state_result_errno(r), "vCPU %u: %s: %s (%s)", i, what,
					kvm_state_result_str(r), strerror(errno));
		/*
		 * The MSRs put IA32_TSC back as captured, which would set the
		 * guest's clock back by the time the fork took; the original's
		 * offset keeps it on the original's timeline instead.
		 */
		if ((ret = vcpu_tsc_offset_set(vm->vcpus[i]->fd, s->tsc_offsets[i])))
			return vmm_fail(ret, "vCPU %u: setting its TSC offset: %s", i, strerror(-ret));
	}
	return iobus_restore(vm->bus, s->devices);
}

void vm_snapshot_free(struct vm_snapshot *s)
{
	for (unsigned i = 0; s->vcpus && i < s->nr_vcpus; i++)
		vcpu_state_free(&s->vcpus[i]);
	free(s->vcpus);
	free(s->tsc_offsets);
	json_decref(s->devices);
	memset(s, 0, sizeof(*s));
}
