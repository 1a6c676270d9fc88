/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include "kvm_state.h"

#define MSR_IA32_TSC 0x10
#define MSR_IA32_TSC_DEADLINE 0x6e0
#define MAX_CPUID_ENTRIES 256

THPVM_RESULT_LOOKUPS(, kvm_state_result, enum kvm_state_result, KVM_STATE_RESULTS, KVM_STATE_NR_RESULTS,
		     "KVM_STATE_UNKNOWN", EIO)

static enum kvm_state_result fail(enum kvm_state_result r, const char **msg, const char *what)
{
	if (msg)
		*msg = what;
	return r;
}

/*
 * The MSRs KVM lists do not change while the process lives: asked once,
 * published without a lock (a forked child must never wait for one).
 */
static struct kvm_msr_list *msr_list_cache;

static struct kvm_msr_list *msr_list(int kvm_fd)
{
	struct kvm_msr_list probe = { .nmsrs = 0 }, *list, *expected = NULL;

	list = __atomic_load_n(&msr_list_cache, __ATOMIC_ACQUIRE);
	if (list)
		return list;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return NULL;
	list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
	if (!list)
		return NULL;
	list->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		free(list);
		return NULL;
	}
	if (!__atomic_compare_exchange_n(&msr_list_cache, &expected, list, false, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE)) {
		free(list);
		list = expected;
	}
	return list;
}

/*
 * Every MSR KVM lists, in one KVM_GET_MSRS where it can: KVM stops at the
 * first MSR it cannot read, which is dropped (not fatal), and the rest is
 * asked for again.
 */
static enum kvm_state_result save_msrs(int kvm_fd, int vcpu_fd, struct vcpu_state *st, const char **msg)
{
	struct kvm_msr_list *list = msr_list(kvm_fd);
	struct kvm_msrs *m;
	uint32_t n, done = 0, got = 0;

	if (!list)
		return fail(errno == ENOMEM ? KVM_STATE_NO_MEMORY : KVM_STATE_GET_FAILED, msg, "KVM_GET_MSR_INDEX_LIST");
	n = list->nmsrs;
	st->nr_msrs_listed = n;
	st->msrs = calloc(1, sizeof(*st->msrs) + n * sizeof(struct kvm_msr_entry));
	m = calloc(1, sizeof(*m) + n * sizeof(struct kvm_msr_entry));
	if (!st->msrs || !m) {
		free(m);
		return fail(KVM_STATE_NO_MEMORY, msg, "MSRs");
	}
	while (done < n) {
		int ret;

		m->nmsrs = n - done;
		for (uint32_t i = 0; i < m->nmsrs; i++)
			m->entries[i] = (struct kvm_msr_entry){ .index = list->indices[done + i] };
		ret = ioctl(vcpu_fd, KVM_GET_MSRS, m);
		if (ret < 0) {
			free(m);
			return fail(KVM_STATE_GET_FAILED, msg, "KVM_GET_MSRS");
		}
		for (int i = 0; i < ret; i++)
			st->msrs->entries[got++] = m->entries[i];
		done += (uint32_t)ret + 1; /* past the one KVM could not read */
	}
	st->msrs->nmsrs = got;
	free(m);
	return KVM_STATE_OK;
}

static enum kvm_state_result save_cpuid(int vcpu_fd, struct vcpu_state *st, const char **msg)
{
	st->cpuid = calloc(1, sizeof(*st->cpuid) + MAX_CPUID_ENTRIES * sizeof(struct kvm_cpuid_entry2));
	if (!st->cpuid)
		return fail(KVM_STATE_NO_MEMORY, msg, "CPUID");
	st->cpuid->nent = MAX_CPUID_ENTRIES;
	if (ioctl(vcpu_fd, KVM_GET_CPUID2, st->cpuid) < 0)
		return fail(KVM_STATE_GET_FAILED, msg, "KVM_GET_CPUID2");
	return KVM_STATE_OK;
}

enum kvm_state_result vcpu_state_save(int kvm_fd, int vcpu_fd, bool has_lapic, struct vcpu_state *st,
				      const char **msg)
{
	int size;
	enum kvm_state_result r;

	memset(st, 0, sizeof(*st));
	st->has_lapic = has_lapic;
	size = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	st->xsave_size = size > (int)sizeof(struct kvm_xsave) ? (uint32_t)size : sizeof(struct kvm_xsave);
	st->xsave = calloc(1, st->xsave_size);
	if (!st->xsave)
		return fail(KVM_STATE_NO_MEMORY, msg, "XSAVE area");
	if (ioctl(vcpu_fd, KVM_GET_REGS, &st->regs) < 0)
		return fail(KVM_STATE_GET_FAILED, msg, "KVM_GET_REGS");
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &st->sregs) < 0)
		return fail(KVM_STATE_GET_FAILED, msg, "KVM_GET_SREGS");
	if (ioctl(vcpu_fd, size > 0 ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, st->xsave) < 0)
		return fail(KVM_STATE_GET_FAILED, msg, "KVM_GET_XSAVE2");
	if (ioctl(vcpu_fd, KVM_GET_XCRS, &st->xcrs) < 0)
		return fail(KVM_STATE_GET_FAILED, msg, "KVM_GET_XCRS");
	if (has_lapic && ioctl(vcpu_fd, KVM_GET_LAPIC, &st->lapic) < 0)
		return fail(KVM_STATE_GET_FAILED, msg, "KVM_GET_LAPIC");
	if (ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &st->events) < 0)
		return fail(KVM_STATE_GET_FAILED, msg, "KVM_GET_VCPU_EVENTS");
	if (ioctl(vcpu_fd, KVM_GET_MP_STATE, &st->mp_state) < 0)
		return fail(KVM_STATE_GET_FAILED, msg, "KVM_GET_MP_STATE");
	if (ioctl(vcpu_fd, KVM_GET_DEBUGREGS, &st->debugregs) < 0)
		return fail(KVM_STATE_GET_FAILED, msg, "KVM_GET_DEBUGREGS");
	if ((r = save_cpuid(vcpu_fd, st, msg)) != KVM_STATE_OK)
		return r;
	return save_msrs(kvm_fd, vcpu_fd, st, msg);
}

/* Whether the vCPU already holds value in MSR index (a fresh vCPU's default). */
static bool msr_already(int vcpu_fd, uint32_t index, uint64_t value)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} one = { .h.nmsrs = 1, .e.index = index };

	return ioctl(vcpu_fd, KVM_GET_MSRS, &one) == 1 && one.e.data == value;
}

/*
 * Sets the captured MSRs (the TSC deadline alone, or all the others). KVM
 * stops at the first MSR it refuses; one it refuses but that already holds
 * the captured value (e.g. a paravirtual MSR the guest's CPUID does not
 * offer, read back as its default) needs no restoring and is skipped. Any
 * other refusal fails, naming the MSR.
 */
static enum kvm_state_result set_msrs(int vcpu_fd, const struct kvm_msrs *all, bool deadline_only, const char **msg)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + all->nmsrs * sizeof(struct kvm_msr_entry));
	uint32_t done = 0, n = 0;

	if (!m)
		return fail(KVM_STATE_NO_MEMORY, msg, "MSRs");
	for (uint32_t i = 0; i < all->nmsrs; i++)
		if ((all->entries[i].index == MSR_IA32_TSC_DEADLINE) == deadline_only)
			m->entries[n++] = all->entries[i];
	while (done < n) {
		struct kvm_msrs *rest = (struct kvm_msrs *)((char *)m + done * sizeof(struct kvm_msr_entry));
		const struct kvm_msr_entry *bad;
		int ret;

		/* the header sits just before the entries: shift it along with them */
		rest->nmsrs = n - done;
		rest->pad = 0;
		ret = ioctl(vcpu_fd, KVM_SET_MSRS, rest);
		if (ret < 0) {
			free(m);
			return fail(KVM_STATE_SET_FAILED, msg, "KVM_SET_MSRS");
		}
		if ((uint32_t)ret == n - done)
			break;
		bad = &rest->entries[ret];
		if (!msr_already(vcpu_fd, bad->index, bad->data)) {
			static __thread char what[64];

			snprintf(what, sizeof(what), "KVM_SET_MSRS of MSR 0x%x", bad->index);
			free(m);
			return fail(KVM_STATE_MSR_PARTIAL, msg, what);
		}
		done += (uint32_t)ret + 1;
	}
	free(m);
	return KVM_STATE_OK;
}

enum kvm_state_result vcpu_state_restore(int vcpu_fd, const struct vcpu_state *st, const char **msg)
{
	enum kvm_state_result r;

	if (st->cpuid && ioctl(vcpu_fd, KVM_SET_CPUID2, st->cpuid) < 0)
		return fail(KVM_STATE_SET_FAILED, msg, "KVM_SET_CPUID2");
	/* the TSC deadline is meaningful only once the LAPIC (and its mode) is back */
	if (st->msrs && (r = set_msrs(vcpu_fd, st->msrs, false, msg)) != KVM_STATE_OK)
		return r;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &st->regs) < 0)
		return fail(KVM_STATE_SET_FAILED, msg, "KVM_SET_REGS");
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &st->sregs) < 0)
		return fail(KVM_STATE_SET_FAILED, msg, "KVM_SET_SREGS");
	if (ioctl(vcpu_fd, KVM_SET_XSAVE, st->xsave) < 0)
		return fail(KVM_STATE_SET_FAILED, msg, "KVM_SET_XSAVE");
	if (ioctl(vcpu_fd, KVM_SET_XCRS, &st->xcrs) < 0)
		return fail(KVM_STATE_SET_FAILED, msg, "KVM_SET_XCRS");
	if (ioctl(vcpu_fd, KVM_SET_DEBUGREGS, &st->debugregs) < 0)
		return fail(KVM_STATE_SET_FAILED, msg, "KVM_SET_DEBUGREGS");
	if (st->has_lapic && ioctl(vcpu_fd, KVM_SET_LAPIC, &st->lapic) < 0)
		return fail(KVM_STATE_SET_FAILED, msg, "KVM_SET_LAPIC");
	if (st->msrs && (r = set_msrs(vcpu_fd, st->msrs, true, msg)) != KVM_STATE_OK)
		return r;
	if (ioctl(vcpu_fd, KVM_SET_MP_STATE, &st->mp_state) < 0)
		return fail(KVM_STATE_SET_FAILED, msg, "KVM_SET_MP_STATE");
	if (ioctl(vcpu_fd, KVM_SET_VCPU_EVENTS, &st->events) < 0)
		return fail(KVM_STATE_SET_FAILED, msg, "KVM_SET_VCPU_EVENTS");
	return KVM_STATE_OK;
}

void vcpu_state_free(struct vcpu_state *st)
{
	free(st->xsave);
	free(st->cpuid);
	free(st->msrs);
	memset(st, 0, sizeof(*st));
}

bool vcpu_state_msr(const struct vcpu_state *st, uint32_t index, uint64_t *value)
{
	for (uint32_t i = 0; st->msrs && i < st->msrs->nmsrs; i++) {
		if (st->msrs->entries[i].index == index) {
			*value = st->msrs->entries[i].data;
			return true;
		}
	}
	return false;
}

bool vcpu_state_set_msr(struct vcpu_state *st, uint32_t index, uint64_t value)
{
	for (uint32_t i = 0; st->msrs && i < st->msrs->nmsrs; i++) {
		if (st->msrs->entries[i].index == index) {
			st->msrs->entries[i].data = value;
			return true;
		}
	}
	return false;
}

enum kvm_state_result vm_state_save(int vm_fd, bool has_irqchip, bool has_pit, struct vm_state *st,
				    const char **msg)
{
	memset(st, 0, sizeof(*st));
	st->has_irqchip = has_irqchip;
	st->has_pit = has_pit;
	if (has_irqchip) {
		st->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
		st->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
		st->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
		if (ioctl(vm_fd, KVM_GET_IRQCHIP, &st->pic_master) < 0 ||
		    ioctl(vm_fd, KVM_GET_IRQCHIP, &st->pic_slave) < 0 || ioctl(vm_fd, KVM_GET_IRQCHIP, &st->ioapic) < 0)
			return fail(KVM_STATE_GET_FAILED, msg, "KVM_GET_IRQCHIP");
	}
	if (has_pit && ioctl(vm_fd, KVM_GET_PIT2, &st->pit) < 0)
		return fail(KVM_STATE_GET_FAILED, msg, "KVM_GET_PIT2");
	if (ioctl(vm_fd, KVM_GET_CLOCK, &st->clock) < 0)
		return fail(KVM_STATE_GET_FAILED, msg, "KVM_GET_CLOCK");
	return KVM_STATE_OK;
}

enum kvm_state_result vm_state_restore(int vm_fd, const struct vm_state *st, const char **msg)
{
	struct kvm_clock_data clock = { .clock = st->clock.clock };

	if (st->has_irqchip &&
	    (ioctl(vm_fd, KVM_SET_IRQCHIP, &st->pic_master) < 0 || ioctl(vm_fd, KVM_SET_IRQCHIP, &st->pic_slave) < 0 ||
	     ioctl(vm_fd, KVM_SET_IRQCHIP, &st->ioapic) < 0))
		return fail(KVM_STATE_SET_FAILED, msg, "KVM_SET_IRQCHIP");
	if (st->has_pit && ioctl(vm_fd, KVM_SET_PIT2, &st->pit) < 0)
		return fail(KVM_STATE_SET_FAILED, msg, "KVM_SET_PIT2");
	/* kvmclock continues from the captured value; KVM rejects the other fields on set */
	if (ioctl(vm_fd, KVM_SET_CLOCK, &clock) < 0)
		return fail(KVM_STATE_SET_FAILED, msg, "KVM_SET_CLOCK");
	return KVM_STATE_OK;
}
