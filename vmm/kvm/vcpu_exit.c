/* SPDX-License-Identifier: MIT */
/* Every KVM exit a vCPU can take: handled, or the VM stops with a reason and a register dump. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include "vcpu.h"
#include "vm.h"
#include "util/error.h"

const char *kvm_exit_reason_str(uint32_t reason)
{
	static const char *const names[] = {
		[KVM_EXIT_UNKNOWN] = "UNKNOWN", [KVM_EXIT_EXCEPTION] = "EXCEPTION", [KVM_EXIT_IO] = "IO",
		[KVM_EXIT_HYPERCALL] = "HYPERCALL", [KVM_EXIT_DEBUG] = "DEBUG", [KVM_EXIT_HLT] = "HLT",
		[KVM_EXIT_MMIO] = "MMIO", [KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
		[KVM_EXIT_SHUTDOWN] = "SHUTDOWN", [KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY", [KVM_EXIT_INTR] = "INTR",
		[KVM_EXIT_SET_TPR] = "SET_TPR", [KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
		[KVM_EXIT_NMI] = "NMI", [KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR", [KVM_EXIT_OSI] = "OSI",
		[KVM_EXIT_PAPR_HCALL] = "PAPR_HCALL", [KVM_EXIT_WATCHDOG] = "WATCHDOG", [KVM_EXIT_EPR] = "EPR",
		[KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT", [KVM_EXIT_IOAPIC_EOI] = "IOAPIC_EOI",
		[KVM_EXIT_HYPERV] = "HYPERV", [KVM_EXIT_X86_RDMSR] = "X86_RDMSR", [KVM_EXIT_X86_WRMSR] = "X86_WRMSR",
		[KVM_EXIT_DIRTY_RING_FULL] = "DIRTY_RING_FULL", [KVM_EXIT_X86_BUS_LOCK] = "X86_BUS_LOCK",
		[KVM_EXIT_NOTIFY] = "NOTIFY", [39] = "MEMORY_FAULT", /* KVM_EXIT_MEMORY_FAULT, newer than these headers */
	};

	return reason < sizeof(names) / sizeof(names[0]) && names[reason] ? names[reason] : "unknown";
}

void vcpu_guest_error(struct vcpu *v, const struct kvm_regs *regs, const struct kvm_sregs *sregs, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "vcpu %u: ", v->index);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	vm_stop_dump(v->vm, VM_STOP_GUEST_ERROR, VM_STATUS_FAILURE, (int)v->index, vcpu_dump(v, regs, sregs), msg);
}

bool vcpu_state_is_init(const struct kvm_regs *r, const struct kvm_sregs *s)
{
	/* the architectural state after RESET/INIT: real mode at f000:fff0 */
	return r->rip == 0xfff0 && s->cs.selector == 0xf000 && s->cs.base == 0xffff0000ULL && !(s->cr0 & 1) &&
	       !(s->efer & (1ULL << 10));
}

static bool stopping(struct vcpu *v)
{
	return v->finished || (__atomic_load_n(&v->requests, __ATOMIC_SEQ_CST) & VCPU_REQ_STOP);
}

static bool handle_pio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		struct iobus_access a = {
			.space = IOBUS_PIO, .addr = run->io.port, .is_write = is_write,
			.size = run->io.size, .data = data, .vcpu = v,
		};
		int ret = iobus_dispatch(v->vm->bus, &a);

		if (ret == -ENODEV && v->vm->cfg.ignore_unclaimed_pio) {
			if (!is_write)
				memset(data, 0xff, run->io.size);
		} else if (ret == -ENODEV) {
			vcpu_guest_error(v, NULL, NULL, "unexpected port I/O: %s of %u byte(s) %s port 0x%x (no device there)",
					 is_write ? "write" : "read", run->io.size, is_write ? "to" : "from", run->io.port);
			return true;
		} else if (ret) {
			vcpu_guest_error(v, NULL, NULL, "%s", vmm_last_error());
			return true;
		}
		if (stopping(v))
			return true;
	}
	return false;
}

static bool handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct iobus_access a = {
		.space = IOBUS_MMIO, .addr = run->mmio.phys_addr, .is_write = run->mmio.is_write,
		.size = run->mmio.len, .data = run->mmio.data, .vcpu = v,
	};
	int ret = iobus_dispatch(v->vm->bus, &a);

	if (ret == -ENODEV && v->vm->cfg.ignore_unclaimed_mmio) {
		if (!a.is_write)
			memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
	} else if (ret == -ENODEV) {
		vcpu_guest_error(v, NULL, NULL, "unexpected MMIO %s of %u byte(s) at guest-physical 0x%llx (no RAM, no device)",
				 a.is_write ? "write" : "read", a.size, (unsigned long long)a.addr);
		return true;
	} else if (ret) {
		vcpu_guest_error(v, NULL, NULL, "%s", vmm_last_error());
		return true;
	}
	return stopping(v);
}

static const char *system_event_str(uint32_t type)
{
	switch (type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN: return "shutdown";
	case KVM_SYSTEM_EVENT_RESET: return "reset";
	case KVM_SYSTEM_EVENT_CRASH: return "crash";
	default: return "unknown";
	}
}

bool vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		return handle_pio(v);
	case KVM_EXIT_MMIO:
		return handle_mmio(v);
	case KVM_EXIT_INTR:
		return false;
	case KVM_EXIT_HLT:
		vcpu_guest_error(v, NULL, NULL, "guest halted (HLT) with nothing to wake it (no in-kernel irqchip)");
		return true;
	case KVM_EXIT_SHUTDOWN: {
		struct kvm_regs r;
		struct kvm_sregs s;

		/*
		 * On SVM the VMCB is undefined after a shutdown intercept and KVM
		 * INITs the vCPU before it exits to us: the registers of the fault
		 * are gone. Say so instead of showing the reset vector as the culprit.
		 */
		if (!ioctl(v->fd, KVM_GET_REGS, &r) && !ioctl(v->fd, KVM_GET_SREGS, &s) && vcpu_state_is_init(&r, &s)) {
			vcpu_guest_error(v, &r, &s,
					 "guest triple fault (KVM_EXIT_SHUTDOWN); the registers at the fault are lost: "
					 "KVM re-initialized the vCPU (INIT, as KVM on SVM does), the dump shows that state");
			return true;
		}
		vcpu_guest_error(v, NULL, NULL, "guest triple fault (KVM_EXIT_SHUTDOWN)");
		return true;
	}
	case KVM_EXIT_INTERNAL_ERROR: {
		char data[160] = "";
		int n = 0;

		for (uint32_t i = 0; i < run->internal.ndata && i < 4 && n < (int)sizeof(data) - 24; i++)
			n += snprintf(data + n, sizeof(data) - (size_t)n, " 0x%llx", (unsigned long long)run->internal.data[i]);
		vcpu_guest_error(v, NULL, NULL, "KVM internal error, suberror %u%s%s%s", run->internal.suberror,
				 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? " (instruction emulation failed)" : "",
				 n ? ", data" : "", data);
		return true;
	}
	case KVM_EXIT_FAIL_ENTRY:
		vcpu_guest_error(v, NULL, NULL, "VM entry failed, hardware reason 0x%llx on host cpu %u",
				 (unsigned long long)run->fail_entry.hardware_entry_failure_reason, run->fail_entry.cpu);
		return true;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN) {
			vm_stop(v->vm, VM_STOP_GUEST_EXIT, 0, (int)v->index, "vcpu %u: guest powered off", v->index);
			return true;
		}
		vcpu_guest_error(v, NULL, NULL, "guest system event: %s", system_event_str(run->system_event.type));
		return true;
	default:
		vcpu_guest_error(v, NULL, NULL, "unexpected KVM exit %u (%s)", run->exit_reason,
				 kvm_exit_reason_str(run->exit_reason));
		return true;
	}
}
