/* SPDX-License-Identifier: MIT */
/*
 * The CPUID table a Linux guest's vCPU gets: KVM_GET_SUPPORTED_CPUID's
 * answer, with the KVM paravirt leaves (kvm-clock), this vCPU's APIC id and
 * the VM's topology (one socket, nr_cpus cores, one thread each), and what
 * thpvm does not provide hidden (the PMU). Pure functions over KVM's structs.
 *
 * On kvm-pvm KVM_SET_CPUID2 is accepted but ignored (the guest sees host
 * CPUID); on VMX/SVM hosts and in the nested lab it is what the guest sees.
 */
#ifndef THPVM_X86_CPUID_H
#define THPVM_X86_CPUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>
#include <asm/kvm_para.h>

/* Entries cpuid_build() may add beyond those of the supported table. */
#define CPUID_EXTRA_ENTRIES 8

/* Leaves and bits cpuid_build() touches. */
#define CPUID_LEAF_FEATURES        0x1
#define CPUID_LEAF_CACHE           0x4
#define CPUID_LEAF_PMU             0xa
#define CPUID_LEAF_TOPOLOGY        0xb
#define CPUID_LEAF_TOPOLOGY_V2     0x1f
#define CPUID_LEAF_EXT_FEATURES    0x80000001
#define CPUID_LEAF_EXT_ADDR_SIZES  0x80000008
#define CPUID_LEAF_AMD_CACHE       0x8000001d
#define CPUID_LEAF_AMD_TOPOLOGY    0x8000001e
#define CPUID_LEAF_AMD_PMU         0x80000022
#define CPUID_1_ECX_PDCM           (1u << 15)
#define CPUID_1_ECX_TSC_DEADLINE   (1u << 24)
#define CPUID_1_ECX_HYPERVISOR     (1u << 31)
#define CPUID_1_EDX_HTT            (1u << 28)
#define CPUID_80000001_ECX_PERFCTR_CORE (1u << 23)
#define CPUID_TOPO_LEVEL_SMT       1
#define CPUID_TOPO_LEVEL_CORE      2

/*
 * KVM paravirt features a thpvm Linux guest may use, when KVM offers them.
 * Left out: MSI_EXT_DEST_ID and HC_MAP_GPA_RANGE and MIGRATION_CONTROL, which
 * need VMM support thpvm does not have.
 */
#define CPUID_KVM_FEATURES_ALLOWED                                                                        \
	((1u << KVM_FEATURE_CLOCKSOURCE) | (1u << KVM_FEATURE_NOP_IO_DELAY) | (1u << KVM_FEATURE_CLOCKSOURCE2) | \
	 (1u << KVM_FEATURE_ASYNC_PF) | (1u << KVM_FEATURE_STEAL_TIME) | (1u << KVM_FEATURE_PV_EOI) |          \
	 (1u << KVM_FEATURE_PV_UNHALT) | (1u << KVM_FEATURE_PV_TLB_FLUSH) | (1u << KVM_FEATURE_ASYNC_PF_VMEXIT) | \
	 (1u << KVM_FEATURE_PV_SEND_IPI) | (1u << KVM_FEATURE_POLL_CONTROL) |                                  \
	 (1u << KVM_FEATURE_PV_SCHED_YIELD) | (1u << KVM_FEATURE_ASYNC_PF_INT) |                              \
	 (1u << KVM_FEATURE_CLOCKSOURCE_STABLE_BIT))
/* What every KVM since 2.6.35 has: used when the supported table lacks leaf 0x40000001. */
#define CPUID_KVM_FEATURES_BASELINE                                                                       \
	((1u << KVM_FEATURE_CLOCKSOURCE) | (1u << KVM_FEATURE_NOP_IO_DELAY) | (1u << KVM_FEATURE_CLOCKSOURCE2))

struct cpuid_vcpu_config {
	uint32_t apic_id;  /* this vCPU: 0..nr_cpus-1, as in the MP table */
	uint32_t nr_cpus;
	/*
	 * The in-kernel local APIC emulates the TSC-deadline timer: true when the
	 * VMM has KVM_CREATE_IRQCHIP and KVM_CHECK_EXTENSION(KVM_CAP_TSC_DEADLINE_TIMER).
	 * KVM does not report it in KVM_GET_SUPPORTED_CPUID; without it Linux
	 * calibrates the LAPIC timer against the PIT, which fails in the nested lab.
	 */
	bool tsc_deadline;
};

/* Bytes of a struct kvm_cpuid2 holding nent entries. */
size_t cpuid2_size_bytes(unsigned nent);

/*
 * Builds this vCPU's table in out (room for capacity entries; out->nent is
 * set) from supported, which is not changed:
 * - 0x40000000: "KVMKVMKVM\0\0\0", max leaf 0x40000001; 0x40000001 EAX: the
 *   supported KVM features within CPUID_KVM_FEATURES_ALLOWED; other
 *   0x400000xx leaves dropped. Leaf 1 ECX gets HYPERVISOR, or Linux never
 *   looks at them.
 * - APIC id and topology: leaf 1 EBX[31:24] and [23:16] (+ EDX.HTT when
 *   nr_cpus > 1), 0xb and 0x1f rebuilt (SMT level 1 thread, core level
 *   nr_cpus) with EDX = x2APIC id, leaf 4 / 0x8000001d sharing counts, and on
 *   AMD 0x80000008 ECX NC and 0x8000001e.
 * - PMU hidden: leaf 0xa and 0x80000022 zeroed, PDCM and PERFCTR_CORE cleared.
 * - Leaf 1 ECX TSC_DEADLINE set or cleared as cfg->tsc_deadline says.
 * Returns 0, -EINVAL (nr_cpus 0 or above 256, apic_id >= nr_cpus) or -E2BIG
 * (capacity below supported->nent + CPUID_EXTRA_ENTRIES is always enough).
 */
int cpuid_build(const struct kvm_cpuid2 *supported, const struct cpuid_vcpu_config *cfg, struct kvm_cpuid2 *out,
		unsigned capacity);

/* The entry for function/index in table (index ignored for leaves without KVM_CPUID_FLAG_SIGNIFCANT_INDEX), or NULL. */
const struct kvm_cpuid_entry2 *cpuid_find(const struct kvm_cpuid2 *table, uint32_t function, uint32_t index);

#endif
