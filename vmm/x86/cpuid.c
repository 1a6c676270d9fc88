/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include "cpuid.h"

#define HYPERVISOR_LEAF_FIRST 0x40000000u
#define HYPERVISOR_LEAF_LAST  0x400000ffu
#define MAX_XAPIC_CPUS 256

size_t cpuid2_size_bytes(unsigned nent)
{
	return sizeof(struct kvm_cpuid2) + (size_t)nent * sizeof(struct kvm_cpuid_entry2);
}

const struct kvm_cpuid_entry2 *cpuid_find(const struct kvm_cpuid2 *t, uint32_t function, uint32_t index)
{
	for (uint32_t i = 0; i < t->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &t->entries[i];

		if (e->function == function &&
		    (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index))
			return e;
	}
	return NULL;
}

static int append(struct kvm_cpuid2 *out, unsigned capacity, const struct kvm_cpuid_entry2 *e)
{
	if (out->nent >= capacity)
		return -E2BIG;
	out->entries[out->nent++] = *e;
	return 0;
}

/* Bits needed to number n things: the x2APIC id shift of a topology level. */
static uint32_t order(uint32_t n)
{
	uint32_t bits = 0;

	while ((1u << bits) < n)
		bits++;
	return bits;
}

static bool vendor_is_amd(const struct kvm_cpuid2 *t)
{
	const struct kvm_cpuid_entry2 *e = cpuid_find(t, 0, 0);

	/* "AuthenticAMD" and Hygon's "HygonGenuine": EBX "Auth" / "Hygo" */
	return e && (e->ebx == 0x68747541 || e->ebx == 0x6f677948);
}

static bool rebuilt(uint32_t function)
{
	return function == CPUID_LEAF_TOPOLOGY || function == CPUID_LEAF_TOPOLOGY_V2 ||
	       (function >= HYPERVISOR_LEAF_FIRST && function <= HYPERVISOR_LEAF_LAST);
}

static int add_topology(struct kvm_cpuid2 *out, unsigned capacity, uint32_t function,
			const struct cpuid_vcpu_config *cfg)
{
	/* one socket of nr_cpus cores with one thread each; subleaf 2 ends the list */
	const struct kvm_cpuid_entry2 levels[] = {
		{ .eax = 0, .ebx = 1, .ecx = CPUID_TOPO_LEVEL_SMT << 8 | 0 },
		{ .eax = order(cfg->nr_cpus), .ebx = cfg->nr_cpus, .ecx = CPUID_TOPO_LEVEL_CORE << 8 | 1 },
		{ .ecx = 2 },
	};

	for (uint32_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		struct kvm_cpuid_entry2 e = levels[i];
		int ret;

		e.function = function;
		e.index = i;
		e.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
		e.edx = cfg->apic_id;
		if ((ret = append(out, capacity, &e)))
			return ret;
	}
	return 0;
}

static int add_kvm_leaves(const struct kvm_cpuid2 *supported, struct kvm_cpuid2 *out, unsigned capacity)
{
	const struct kvm_cpuid_entry2 *feat = cpuid_find(supported, KVM_CPUID_FEATURES, 0);
	struct kvm_cpuid_entry2 sig = { .function = KVM_CPUID_SIGNATURE, .eax = KVM_CPUID_FEATURES };
	struct kvm_cpuid_entry2 f = { .function = KVM_CPUID_FEATURES };
	int ret;

	memcpy(&sig.ebx, "KVMK", 4);
	memcpy(&sig.ecx, "VMKV", 4);
	memcpy(&sig.edx, "M\0\0\0", 4);
	f.eax = feat ? feat->eax & CPUID_KVM_FEATURES_ALLOWED : CPUID_KVM_FEATURES_BASELINE;
	if ((ret = append(out, capacity, &sig)))
		return ret;
	return append(out, capacity, &f);
}

/* Leaf 4 (Intel) and 0x8000001d (AMD) describe caches: cores per package and sharing. */
static void fix_cache_leaf(struct kvm_cpuid_entry2 *e, const struct cpuid_vcpu_config *cfg, bool intel_cores)
{
	uint32_t level = (e->eax >> 5) & 7, sharing = level >= 3 ? cfg->nr_cpus - 1 : 0;
	uint32_t cores = cfg->nr_cpus - 1 > 63 ? 63 : cfg->nr_cpus - 1;

	if (!(e->eax & 0x1f))
		return; /* no cache: the end of the list */
	e->eax = (e->eax & ~(0xfffu << 14)) | (sharing & 0xfff) << 14;
	if (intel_cores)
		e->eax = (e->eax & 0x03ffffff) | cores << 26;
}

int cpuid_build(const struct kvm_cpuid2 *supported, const struct cpuid_vcpu_config *cfg, struct kvm_cpuid2 *out,
		unsigned capacity)
{
	const struct kvm_cpuid_entry2 *leaf0 = cpuid_find(supported, 0, 0);
	uint32_t max_basic = leaf0 ? leaf0->eax : 0;
	bool amd = vendor_is_amd(supported);
	struct kvm_cpuid_entry2 *e;
	int ret;

	if (!cfg->nr_cpus || cfg->nr_cpus > MAX_XAPIC_CPUS || cfg->apic_id >= cfg->nr_cpus)
		return -EINVAL;
	out->nent = 0;
	out->padding = 0;
	for (uint32_t i = 0; i < supported->nent; i++)
		if (!rebuilt(supported->entries[i].function) && (ret = append(out, capacity, &supported->entries[i])))
			return ret;
	if ((ret = add_kvm_leaves(supported, out, capacity)))
		return ret;
	if (max_basic >= CPUID_LEAF_TOPOLOGY && (ret = add_topology(out, capacity, CPUID_LEAF_TOPOLOGY, cfg)))
		return ret;
	if (max_basic >= CPUID_LEAF_TOPOLOGY_V2 && (ret = add_topology(out, capacity, CPUID_LEAF_TOPOLOGY_V2, cfg)))
		return ret;

	for (uint32_t i = 0; i < out->nent; i++) {
		e = &out->entries[i];
		switch (e->function) {
		case CPUID_LEAF_FEATURES:
			e->ebx = (e->ebx & 0xffff) | (cfg->nr_cpus > 255 ? 255 : cfg->nr_cpus) << 16 | cfg->apic_id << 24;
			e->ecx = (e->ecx | CPUID_1_ECX_HYPERVISOR) & ~(CPUID_1_ECX_PDCM | CPUID_1_ECX_TSC_DEADLINE);
			if (cfg->tsc_deadline)
				e->ecx |= CPUID_1_ECX_TSC_DEADLINE;
			if (cfg->nr_cpus > 1)
				e->edx |= CPUID_1_EDX_HTT;
			else
				e->edx &= ~CPUID_1_EDX_HTT;
			break;
		case CPUID_LEAF_CACHE:
			fix_cache_leaf(e, cfg, true);
			break;
		case CPUID_LEAF_AMD_CACHE:
			fix_cache_leaf(e, cfg, false);
			break;
		case CPUID_LEAF_PMU:
		case CPUID_LEAF_AMD_PMU:
			e->eax = e->ebx = e->ecx = e->edx = 0;
			break;
		case CPUID_LEAF_EXT_FEATURES:
			e->ecx &= ~CPUID_80000001_ECX_PERFCTR_CORE;
			break;
		case CPUID_LEAF_EXT_ADDR_SIZES:
			/* AMD: NC = cores - 1, ApicIdCoreIdSize 0 = derive from NC; reserved on Intel */
			if (amd)
				e->ecx = (e->ecx & ~0xf0ffu) | ((cfg->nr_cpus - 1) & 0xff);
			break;
		case CPUID_LEAF_AMD_TOPOLOGY:
			/* extended APIC id, core id = APIC id with one thread per core, node 0 */
			e->eax = cfg->apic_id;
			e->ebx = cfg->apic_id & 0xff;
			e->ecx = 0;
			e->edx = 0;
			break;
		}
	}
	return 0;
}
