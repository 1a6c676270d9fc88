/* SPDX-License-Identifier: MIT */
/*
 * The payload port device: the calls a payload makes (print, result, exit,
 * cpu exit) on PAYLOAD_PORT_CALL and the exception reports of the VMM's
 * stubs on PAYLOAD_PORT_EXCEPTION. Arguments come in registers; strings
 * are read from guest RAM (payloads run identity-mapped: GVA == GPA).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "payload_internal.h"
#include "util/error.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"
#include "x86/gdt.h"

const char *payload_exception_name(unsigned vector)
{
	static const char *const names[32] = {
		[0] = "#DE divide error", [1] = "#DB debug", [2] = "NMI", [3] = "#BP breakpoint",
		[4] = "#OF overflow", [5] = "#BR bound range", [6] = "#UD invalid opcode",
		[7] = "#NM device not available", [8] = "#DF double fault", [10] = "#TS invalid TSS",
		[11] = "#NP segment not present", [12] = "#SS stack fault", [13] = "#GP general protection fault",
		[14] = "#PF page fault", [16] = "#MF x87 floating point", [17] = "#AC alignment check",
		[18] = "#MC machine check", [19] = "#XM SIMD floating point", [20] = "#VE virtualization",
		[21] = "#CP control protection",
	};

	return vector < 32 && names[vector] ? names[vector] : "reserved exception";
}

static int add_result(struct payload *p, const char *name, uint64_t value, unsigned cpu)
{
	pthread_mutex_lock(&p->lock);
	if (p->nr_results == p->cap_results) {
		unsigned cap = p->cap_results ? 2 * p->cap_results : 16;
		struct payload_result *r = realloc(p->results, cap * sizeof(*r));

		if (!r) {
			pthread_mutex_unlock(&p->lock);
			return vmm_fail(-ENOMEM, "out of memory for payload results");
		}
		p->results = r;
		p->cap_results = cap;
	}
	snprintf(p->results[p->nr_results].name, PAYLOAD_NAME_MAX, "%s", name);
	p->results[p->nr_results].value = value;
	p->results[p->nr_results].cpu = cpu;
	p->nr_results++;
	if (!p->quiet_results) {
		if (p->nr_cpus > 1)
			fprintf(p->out, "result cpu%u %s=%llu\n", cpu, name, (unsigned long long)value);
		else
			fprintf(p->out, "result %s=%llu\n", name, (unsigned long long)value);
		fflush(p->out);
	}
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static int call_print(struct payload *p, const struct kvm_regs *r)
{
	const char *s;

	if (r->rsi > PAYLOAD_PRINT_MAX)
		return vmm_fail(-EINVAL, "payload print of %llu bytes: at most %d per call", (unsigned long long)r->rsi,
				PAYLOAD_PRINT_MAX);
	if (!r->rsi)
		return 0;
	s = thpvm_memmap_gpa_to_hva(p->vm->mem, r->rdi, r->rsi);
	if (!s)
		return vmm_fail(-EFAULT, "payload print: buffer [0x%llx, +%llu) is not guest RAM",
				(unsigned long long)r->rdi, (unsigned long long)r->rsi);
	pthread_mutex_lock(&p->lock);
	fwrite(s, 1, r->rsi, p->out);
	fflush(p->out);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static int call_result(struct payload *p, const struct kvm_regs *r, unsigned cpu)
{
	char name[PAYLOAD_NAME_MAX];
	unsigned i;

	for (i = 0; i < PAYLOAD_NAME_MAX; i++) {
		const char *c = thpvm_memmap_gpa_to_hva(p->vm->mem, r->rdi + i, 1);

		if (!c)
			return vmm_fail(-EFAULT, "payload result: name at 0x%llx is not guest RAM", (unsigned long long)r->rdi);
		name[i] = *c;
		if (!*c)
			break;
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
			return vmm_fail(-EINVAL, "payload result: name at 0x%llx has a character other than a-z, 0-9, _",
					(unsigned long long)r->rdi);
	}
	if (i == PAYLOAD_NAME_MAX || i == 0)
		return vmm_fail(-EINVAL, "payload result: name at 0x%llx is empty or longer than %d characters",
				(unsigned long long)r->rdi, PAYLOAD_NAME_MAX - 1);
	return add_result(p, name, r->rsi, cpu);
}

static int payload_call(struct payload *p, struct iobus_access *a)
{
	struct vcpu *v = a->vcpu;
	struct kvm_regs r;
	uint32_t call;
	int ret;

	if (!a->is_write || a->size != 4)
		return vmm_fail(-EINVAL, "payload call port: %u-byte %s (calls are `out %%eax, $0x%x`)", a->size,
				a->is_write ? "write" : "read", PAYLOAD_PORT_CALL);
	memcpy(&call, a->data, 4);
	if ((ret = vcpu_get_regs(v, &r)))
		return ret;
	switch (call) {
	case PAYLOAD_CALL_PRINT:
		return call_print(p, &r);
	case PAYLOAD_CALL_RESULT:
		return call_result(p, &r, v->index);
	case PAYLOAD_CALL_EXIT:
		if (r.rdi > 255)
			return vmm_fail(-EINVAL, "payload exit status %llu: expected 0-255", (unsigned long long)r.rdi);
		vm_stop(p->vm, VM_STOP_GUEST_EXIT, (int)r.rdi, (int)v->index, "payload exited with status %d", (int)r.rdi);
		return 0;
	case PAYLOAD_CALL_CPU_EXIT:
		if (r.rdi > 255)
			return vmm_fail(-EINVAL, "payload cpu exit status %llu: expected 0-255", (unsigned long long)r.rdi);
		vm_vcpu_finish(v, (int)r.rdi);
		return 0;
	case PAYLOAD_CALL_SLEEP:
		return payload_call_sleep(v, r.rdi);
	default:
		return vmm_fail(-EINVAL, "unknown payload call %u (eax) at rip 0x%llx", call, (unsigned long long)r.rip);
	}
}

static void describe_page_fault(char *buf, size_t len, uint64_t error, uint64_t cr2)
{
	snprintf(buf, len, ": %s %s %s 0x%llx%s", error & 4 ? "user" : "supervisor",
		 error & 16 ? "instruction fetch" : error & 2 ? "write" : "read",
		 error & 1 ? (error & 16 ? "from protected page" : "of protected page") : "at unmapped address",
		 (unsigned long long)cr2, error & 8 ? " (reserved bit set in a page table)" : "");
}

/* The stub pushed [vector, error code] over the CPU's frame [rip, cs, rflags, rsp, ss]. */
static int payload_exception(struct payload *p, struct iobus_access *a)
{
	struct vcpu *v = a->vcpu;
	struct kvm_regs r;
	struct kvm_sregs s;
	const uint64_t *f;
	char detail[160] = "";
	int ret;

	if ((ret = vcpu_get_regs(v, &r)) || (ret = vcpu_get_sregs(v, &s)))
		return ret;
	f = thpvm_memmap_gpa_to_hva(p->vm->mem, r.rsp, 7 * 8);
	if (s.cs.dpl != 0 || !f || f[0] >= 32)
		return vmm_fail(-EINVAL, "payload wrote to the exception port 0x%x (only the VMM's stubs may)",
				PAYLOAD_PORT_EXCEPTION);
	if (f[0] == 14)
		describe_page_fault(detail, sizeof(detail), f[1], s.cr2);
	else if (f[1])
		snprintf(detail, sizeof(detail), ", error code 0x%llx", (unsigned long long)f[1]);
	/* dump the payload's registers as they were when the exception hit */
	r.rip = f[2];
	r.rflags = f[4];
	r.rsp = f[5];
	if ((f[3] & 3) == 3) {
		s.cs = seg_code64((uint16_t)f[3], 3);
		s.ss = seg_data((uint16_t)f[6], 3);
	}
	vcpu_guest_error(v, &r, &s, "payload exception %s at rip 0x%llx%s", payload_exception_name((unsigned)f[0]),
			 (unsigned long long)f[2], detail);
	return 0;
}

static int payload_access(struct device *dev, struct iobus_access *a)
{
	struct payload *p = dev->opaque;

	if (a->addr == PAYLOAD_PORT_CALL)
		return payload_call(p, a);
	if (a->addr == PAYLOAD_PORT_EXCEPTION)
		return payload_exception(p, a);
	return vmm_fail(-EINVAL, "payload port 0x%llx: %u-byte %s inside the payload device's ports", (unsigned long long)a->addr,
			a->size, a->is_write ? "write" : "read");
}

static void payload_destroy(struct device *dev)
{
	struct payload *p = dev->opaque;

	pthread_mutex_destroy(&p->lock);
	free(p->results);
	free(p);
}

/*
 * The results the guest reported so far, so a snapshot restored in another
 * process reports them at its end as the original would have: [[name, cpu,
 * value], ...] in order.
 */
static json_t *payload_save(struct device *dev)
{
	struct payload *p = dev->opaque;
	json_t *results = json_array();

	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; results && i < p->nr_results; i++)
		json_array_append_new(results, json_pack("[s, i, I]", p->results[i].name, (int)p->results[i].cpu,
							 (json_int_t)p->results[i].value));
	pthread_mutex_unlock(&p->lock);
	return json_pack("{s:o*}", "results", results);
}

/* Replaces the results with the saved ones, printing none of them again. */
static int payload_restore(struct device *dev, const json_t *state)
{
	struct payload *p = dev->opaque;
	json_t *results = json_object_get(state, "results"), *r;
	bool quiet = p->quiet_results;
	size_t i;
	int ret = 0;

	if (!json_is_array(results))
		return vmm_fail(-EINVAL, "payload device state: no \"results\" array");
	pthread_mutex_lock(&p->lock);
	p->nr_results = 0;
	p->quiet_results = true;
	pthread_mutex_unlock(&p->lock);
	json_array_foreach(results, i, r) {
		const char *name;
		json_int_t value;
		int cpu;

		if (json_unpack(r, "[s, i, I]", &name, &cpu, &value) || cpu < 0 || (unsigned)cpu >= p->nr_cpus ||
		    strlen(name) >= PAYLOAD_NAME_MAX) {
			ret = vmm_fail(-EINVAL, "payload device state: result %zu is not [name, cpu, value]", i);
			break;
		}
		if ((ret = add_result(p, name, (uint64_t)value, (unsigned)cpu)))
			break;
	}
	p->quiet_results = quiet;
	return ret;
}

static const struct device_ops payload_ops = {
	.access = payload_access,
	.save = payload_save,
	.restore = payload_restore,
	.destroy = payload_destroy,
};

int payload_dev_register(struct vm *vm, struct payload *p)
{
	p->dev.name = "payload";
	p->dev.ops = &payload_ops;
	p->dev.opaque = p;
	/* the call port takes 4-byte writes: the device owns CALL .. EXCEPTION */
	return vm_add_device(vm, IOBUS_PIO, PAYLOAD_PORT_CALL, PAYLOAD_PORT_EXCEPTION - PAYLOAD_PORT_CALL + 1, &p->dev);
}

const struct payload_layout *payload_get_layout(const struct payload *p)
{
	return &p->layout;
}

unsigned payload_nr_results(const struct payload *p)
{
	return p->nr_results;
}

const struct payload_result *payload_result_at(const struct payload *p, unsigned idx)
{
	return idx < p->nr_results ? &p->results[idx] : NULL;
}

int payload_result(const struct payload *p, const char *name, int cpu, uint64_t *value)
{
	for (unsigned i = p->nr_results; i-- > 0;) {
		if (strcmp(p->results[i].name, name) || (cpu >= 0 && p->results[i].cpu != (unsigned)cpu))
			continue;
		*value = p->results[i].value;
		return 0;
	}
	return -ENOENT;
}

void payload_request_stop(struct payload *p)
{
	__atomic_store_n(&p->boot_info->stop, 1, __ATOMIC_SEQ_CST);
}
