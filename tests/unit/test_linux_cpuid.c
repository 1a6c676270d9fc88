/* SPDX-License-Identifier: MIT */
/* The vCPU CPUID table from a synthetic KVM_GET_SUPPORTED_CPUID answer (Intel and AMD hosts). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "x86/cpuid.h"


static struct kvm_cpuid2 *supported, *out;
static unsigned capacity;

static void put(uint32_t fn, uint32_t idx, uint32_t flags, uint32_t a, uint32_t b, uint32_t c, uint32_t d)
{
	supported->entries[supported->nent++] = (struct kvm_cpuid_entry2){
		.function = fn, .index = idx, .flags = flags, .eax = a, .ebx = b, .ecx = c, .edx = d,
	};
}

/* What KVM reports on a typical host, vendor-specific leaves included. */
static void make_supported(bool amd)
{
	const uint32_t sidx = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;

	supported = calloc(1, cpuid2_size_bytes(64));
	if (amd)
		put(0, 0, 0, 0x10, 0x68747541, 0x444d4163, 0x69746e65); /* AuthenticAMD */
	else
		put(0, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69); /* GenuineIntel */
	/* leaf 1: host APIC id 0x2a, 16 logical, clflush 8; ECX PDCM + x2APIC, EDX HTT */
	put(1, 0, 0, 0x000a0f11, 0x2a100800, (1u << 15) | (1u << 21) | 0x1, (1u << 28) | 0x1);
	/* leaf 4: L1d, L1i, L2, L3, end */
	put(4, 0, sidx, 0x7c004121, 0x01c0003f, 0x3f, 0);
	put(4, 1, sidx, 0x7c004122, 0x01c0003f, 0x3f, 0);
	put(4, 2, sidx, 0x7c004143, 0x01c0003f, 0x3ff, 0);
	put(4, 3, sidx, 0x7c0fc163, 0x03c0003f, 0x3fff, 4);
	put(4, 4, sidx, 0, 0, 0, 0);
	put(7, 0, sidx, 0, 0x029c6fbb, 0x40000000, 0xbc000400);
	put(0xa, 0, 0, 0x07300805, 0, 0, 0x603);
	put(0xb, 0, sidx, 1, 2, 0x100, 0x2a);
	put(0xb, 1, sidx, 5, 16, 0x201, 0x2a);
	put(0xd, 0, sidx, 0x7, 0x340, 0x340, 0);
	if (!amd) {
		put(0x1f, 0, sidx, 1, 2, 0x100, 0x2a);
		put(0x1f, 1, sidx, 5, 16, 0x201, 0x2a);
	}
	put(KVM_CPUID_SIGNATURE, 0, 0, KVM_CPUID_FEATURES, 0x4b4d564b, 0x564b4d56, 0x4d);
	put(KVM_CPUID_FEATURES, 0, 0, 0x01007afb, 0, 0, 0); /* incl. MSI_EXT_DEST_ID (15), no 16/17 */
	put(0x40000010, 0, 0, 0x12345, 0, 0, 0); /* a leaf thpvm does not announce */
	put(0x80000000, 0, 0, amd ? 0x80000022 : 0x80000008, 0, 0, 0);
	put(0x80000001, 0, 0, 0, 0, (1u << 23) | (1u << 22) | 0x1, 0x2c100800);
	put(0x80000008, 0, 0, 0x3030, 0, amd ? 0x700f : 0, 0);
	if (amd) {
		put(0x8000001d, 0, sidx, 0x00004121, 0x01c0003f, 0x3f, 0);
		put(0x8000001d, 3, sidx, 0x0003c163, 0x03c0003f, 0x7fff, 1);
		put(0x8000001e, 0, 0, 0x2a, 0x0115, 0x0300, 0);
		put(0x80000022, 0, 0, 0x7, 0x106, 0, 0);
	}
}

static void build(bool amd, uint32_t apic_id, uint32_t nr_cpus)
{
	struct cpuid_vcpu_config cfg = { .apic_id = apic_id, .nr_cpus = nr_cpus };
	struct kvm_cpuid2 *copy;

	make_supported(amd);
	capacity = supported->nent + CPUID_EXTRA_ENTRIES;
	out = calloc(1, cpuid2_size_bytes(capacity));
	copy = malloc(cpuid2_size_bytes(supported->nent));
	memcpy(copy, supported, cpuid2_size_bytes(supported->nent));
	cr_assert_eq(cpuid_build(supported, &cfg, out, capacity), 0);
	cr_assert_eq(memcmp(copy, supported, cpuid2_size_bytes(supported->nent)), 0, "input table modified");
	free(copy);
}

static const struct kvm_cpuid_entry2 *leaf(uint32_t fn, uint32_t idx)
{
	const struct kvm_cpuid_entry2 *e = cpuid_find(out, fn, idx);

	cr_assert_not_null(e, "leaf 0x%x.%u missing", fn, idx);
	return e;
}

static void teardown(void)
{
	free(supported);
	free(out);
	supported = out = NULL;
}

TestSuite(cpuid, .fini = teardown);

Test(cpuid, kvm_signature_and_clock_features)
{
	build(false, 0, 1);
	const struct kvm_cpuid_entry2 *sig = leaf(KVM_CPUID_SIGNATURE, 0), *f = leaf(KVM_CPUID_FEATURES, 0);
	char name[13] = { 0 };

	memcpy(name, &sig->ebx, 4);
	memcpy(name + 4, &sig->ecx, 4);
	memcpy(name + 8, &sig->edx, 4);
	cr_assert_eq(memcmp(name, "KVMKVMKVM\0\0\0", 12), 0);
	cr_assert_eq(sig->eax, KVM_CPUID_FEATURES, "max hypervisor leaf");
	cr_assert(f->eax & (1u << KVM_FEATURE_CLOCKSOURCE2));
	cr_assert(f->eax & (1u << KVM_FEATURE_CLOCKSOURCE));
	cr_assert(f->eax & (1u << KVM_FEATURE_CLOCKSOURCE_STABLE_BIT));
	cr_assert(f->eax & (1u << KVM_FEATURE_PV_UNHALT));
	cr_assert(!(f->eax & (1u << KVM_FEATURE_MSI_EXT_DEST_ID)), "needs VMM support thpvm lacks");
	cr_assert_eq(f->eax & ~0x01007afbu, 0, "nothing KVM did not offer");
	cr_assert_null(cpuid_find(out, 0x40000010, 0), "unannounced hypervisor leaves dropped");
	cr_assert(leaf(1, 0)->ecx & CPUID_1_ECX_HYPERVISOR, "or Linux never reads 0x40000000");
}

Test(cpuid, kvm_features_default_when_kvm_reports_none)
{
	struct cpuid_vcpu_config cfg = { .apic_id = 0, .nr_cpus = 1 };

	make_supported(false);
	/* drop 0x40000000/1 from the supported table */
	unsigned n = 0;
	for (unsigned i = 0; i < supported->nent; i++)
		if ((supported->entries[i].function & 0xffffff00) != 0x40000000)
			supported->entries[n++] = supported->entries[i];
	supported->nent = n;
	out = calloc(1, cpuid2_size_bytes(n + CPUID_EXTRA_ENTRIES));
	cr_assert_eq(cpuid_build(supported, &cfg, out, n + CPUID_EXTRA_ENTRIES), 0);
	cr_assert_eq(leaf(KVM_CPUID_FEATURES, 0)->eax, CPUID_KVM_FEATURES_BASELINE);
	cr_assert_eq(leaf(KVM_CPUID_SIGNATURE, 0)->eax, KVM_CPUID_FEATURES);
}

Test(cpuid, apic_id_and_topology_of_each_vcpu)
{
	for (uint32_t id = 0; id < 6; id++) {
		build(false, id, 6);
		const struct kvm_cpuid_entry2 *l1 = leaf(1, 0);

		cr_assert_eq(l1->ebx >> 24, id);
		cr_assert_eq((l1->ebx >> 16) & 0xff, 6);
		cr_assert_eq((l1->ebx >> 8) & 0xff, 8, "clflush size kept");
		cr_assert(l1->edx & CPUID_1_EDX_HTT);
		for (uint32_t fn = 0xb; fn <= 0x1f; fn += 0x1f - 0xb) {
			const struct kvm_cpuid_entry2 *smt = leaf(fn, 0), *core = leaf(fn, 1), *end = leaf(fn, 2);

			cr_assert_eq(smt->edx, id);
			cr_assert_eq(core->edx, id);
			cr_assert_eq(end->edx, id);
			cr_assert_eq(smt->ebx, 1, "one thread per core");
			cr_assert_eq(smt->eax, 0);
			cr_assert_eq((smt->ecx >> 8) & 0xff, CPUID_TOPO_LEVEL_SMT);
			cr_assert_eq(core->ebx, 6);
			cr_assert_eq(core->eax, 3, "6 cores need 3 APIC id bits");
			cr_assert_eq((core->ecx >> 8) & 0xff, CPUID_TOPO_LEVEL_CORE);
			cr_assert_eq(end->ecx, 2, "level type 0 ends the list");
			cr_assert(smt->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
		}
		/* leaf 4: 6 cores per package, L3 shared by all, L1/L2 private */
		cr_assert_eq(leaf(4, 0)->eax >> 26, 5);
		cr_assert_eq((leaf(4, 0)->eax >> 14) & 0xfff, 0);
		cr_assert_eq((leaf(4, 2)->eax >> 14) & 0xfff, 0);
		cr_assert_eq((leaf(4, 3)->eax >> 14) & 0xfff, 5);
		cr_assert_eq(leaf(4, 3)->eax & 0x3fff, 0x0163 & 0x3fff, "cache type and level kept");
		cr_assert_eq(leaf(4, 4)->eax, 0, "end of the cache list untouched");
		teardown();
	}
}

Test(cpuid, single_vcpu_has_no_htt)
{
	build(false, 0, 1);
	cr_assert(!(leaf(1, 0)->edx & CPUID_1_EDX_HTT));
	cr_assert_eq((leaf(1, 0)->ebx >> 16) & 0xff, 1);
	cr_assert_eq(leaf(0xb, 1)->eax, 0);
	cr_assert_eq(leaf(0xb, 1)->ebx, 1);
}

Test(cpuid, tsc_deadline_timer_follows_the_vmm)
{
	struct cpuid_vcpu_config cfg = { .apic_id = 0, .nr_cpus = 1, .tsc_deadline = true };

	build(false, 0, 1);
	cr_assert(!(leaf(1, 0)->ecx & CPUID_1_ECX_TSC_DEADLINE), "off unless the VMM has the in-kernel LAPIC");
	cr_assert_eq(cpuid_build(supported, &cfg, out, capacity), 0);
	cr_assert(leaf(1, 0)->ecx & CPUID_1_ECX_TSC_DEADLINE);
	cr_assert(leaf(1, 0)->ecx & CPUID_1_ECX_HYPERVISOR);
}

Test(cpuid, pmu_hidden)
{
	build(false, 0, 2);
	const struct kvm_cpuid_entry2 *pmu = leaf(0xa, 0);

	cr_assert_eq(pmu->eax | pmu->ebx | pmu->ecx | pmu->edx, 0);
	cr_assert(!(leaf(1, 0)->ecx & CPUID_1_ECX_PDCM));
	cr_assert(leaf(1, 0)->ecx & (1u << 21), "other feature bits (x2APIC) kept");
}

Test(cpuid, other_leaves_pass_through)
{
	build(false, 1, 2);
	for (unsigned i = 0; i < supported->nent; i++) {
		const struct kvm_cpuid_entry2 *s = &supported->entries[i];

		if (s->function == 7 || s->function == 0xd || s->function == 0 || s->function == 0x80000000) {
			const struct kvm_cpuid_entry2 *o = leaf(s->function, s->index);

			cr_assert_eq(memcmp(o, s, sizeof(*s)), 0, "leaf 0x%x changed", s->function);
		}
	}
	cr_assert_eq(leaf(0x80000008, 0)->ecx, 0, "Intel: 0x80000008 ECX stays reserved");
	/* all supported leaves but the rebuilt ones, plus 2 KVM leaves and 3+3 topology leaves */
	cr_assert_eq(out->nent, supported->nent - 7 + 2 + 6);
}

Test(cpuid, amd_core_count_and_extended_apic_id)
{
	build(true, 3, 4);
	cr_assert_eq(leaf(0x80000008, 0)->ecx & 0xff, 3, "NC = cores - 1");
	cr_assert_eq((leaf(0x80000008, 0)->ecx >> 12) & 0xf, 0, "ApicIdCoreIdSize derived from NC");
	cr_assert_eq(leaf(0x8000001e, 0)->eax, 3, "extended APIC id");
	cr_assert_eq(leaf(0x8000001e, 0)->ebx & 0xff, 3, "core id");
	cr_assert_eq((leaf(0x8000001e, 0)->ebx >> 8) & 0xff, 0, "one thread per core");
	cr_assert_eq((leaf(0x8000001d, 0)->eax >> 14) & 0xfff, 0);
	cr_assert_eq((leaf(0x8000001d, 3)->eax >> 14) & 0xfff, 3, "L3 shared by the 4 cores");
	cr_assert_eq(leaf(0x80000022, 0)->eax | leaf(0x80000022, 0)->ebx, 0, "PerfMonV2 hidden");
	cr_assert(!(leaf(0x80000001, 0)->ecx & CPUID_80000001_ECX_PERFCTR_CORE));
	cr_assert(leaf(0x80000001, 0)->ecx & (1u << 22), "TOPOEXT kept: 0x8000001e is filled");
	cr_assert_null(cpuid_find(out, 0x1f, 0), "max basic leaf 0x10: no 0x1f");
	cr_assert_eq(leaf(0xb, 1)->edx, 3, "max basic leaf 0x10: 0xb rebuilt");
}

Test(cpuid, refuses_bad_arguments)
{
	struct cpuid_vcpu_config cfg = { .apic_id = 0, .nr_cpus = 2 };

	make_supported(false);
	out = calloc(1, cpuid2_size_bytes(supported->nent + CPUID_EXTRA_ENTRIES));
	cr_assert_eq(cpuid_build(supported, &cfg, out, supported->nent), -E2BIG);
	cfg.nr_cpus = 0;
	cr_assert_eq(cpuid_build(supported, &cfg, out, supported->nent + CPUID_EXTRA_ENTRIES), -EINVAL);
	cfg.nr_cpus = 2;
	cfg.apic_id = 2;
	cr_assert_eq(cpuid_build(supported, &cfg, out, supported->nent + CPUID_EXTRA_ENTRIES), -EINVAL);
}
