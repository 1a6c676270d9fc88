/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include "layout.h"
#include "mptable.h"

/* Layouts from the MP specification 1.4, chapter 4 (Linux: asm/mpspec_def.h) */
struct mpf_intel {
	char signature[4];   /* "_MP_" */
	uint32_t physptr;    /* configuration table */
	uint8_t length;      /* in 16-byte paragraphs */
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature1;    /* 0: a configuration table is present */
	uint8_t feature2;    /* bit 7 IMCR: 0 = virtual wire mode */
	uint8_t feature3, feature4, feature5;
} __attribute__((packed));

struct mpc_table {
	char signature[4];   /* "PCMP" */
	uint16_t length;     /* base table, header included */
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char productid[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount;   /* entries */
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mpc_cpu {
	uint8_t type, apicid, apicver, cpuflag;
	uint32_t cpufeature, featureflag;
	uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus {
	uint8_t type, busid;
	char bustype[6];
} __attribute__((packed));

struct mpc_ioapic {
	uint8_t type, apicid, apicver, flags;
	uint32_t apicaddr;
} __attribute__((packed));

struct mpc_intsrc { /* also the local interrupt entry: same layout */
	uint8_t type, irqtype;
	uint16_t irqflag;
	uint8_t srcbus, srcbusirq, dstapic, dstirq;
} __attribute__((packed));

enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT, MP_NMI, MP_SMI, MP_EXTINT };
#define CPU_ENABLED 1
#define CPU_BOOTPROCESSOR 2
#define MPC_APIC_USABLE 1
#define MP_ALL_APICS 0xff
/* A family-6 CPU with an FPU and a local APIC: informational, Linux only prints it. */
#define MP_CPU_SIGNATURE 0x600
#define MP_CPU_FEATURES ((1u << 0) | (1u << 9))

_Static_assert(sizeof(struct mpf_intel) == 16, "MP floating pointer");
_Static_assert(sizeof(struct mpc_table) == 44, "MP config table header");
_Static_assert(sizeof(struct mpc_cpu) == 20, "MP processor entry");

#define NR_LINT 2

uint64_t mptable_size_bytes(unsigned nr_cpus)
{
	return sizeof(struct mpf_intel) + sizeof(struct mpc_table) + nr_cpus * sizeof(struct mpc_cpu) +
	       sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) +
	       (MPTABLE_NR_ISA_IRQS + NR_LINT) * sizeof(struct mpc_intsrc);
}

static uint8_t checksum(const void *p, uint64_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (uint64_t i = 0; i < len; i++)
		sum += b[i];
	return (uint8_t)-sum;
}

int mptable_write(struct thpvm_memmap *map, uint64_t gpa, unsigned nr_cpus)
{
	uint64_t size = mptable_size_bytes(nr_cpus);
	uint8_t *base, *p;
	struct mpf_intel *mpf;
	struct mpc_table *mpc;
	uint8_t ioapic_id = (uint8_t)nr_cpus;
	uint16_t count = 0;

	if (!nr_cpus || nr_cpus > MPTABLE_MAX_CPUS)
		return -EINVAL;
	if (gpa % 16 || gpa + size > 1ULL << 32)
		return -EINVAL; /* Linux scans 16-byte aligned; physptr is 32 bits */
	base = thpvm_memmap_gpa_to_hva(map, gpa, size);
	if (!base)
		return -EFAULT;
	memset(base, 0, size);
	mpf = (struct mpf_intel *)base;
	mpc = (struct mpc_table *)(base + sizeof(*mpf));
	p = (uint8_t *)(mpc + 1);

	for (unsigned i = 0; i < nr_cpus; i++, count++, p += sizeof(struct mpc_cpu)) {
		struct mpc_cpu cpu = {
			.type = MP_PROCESSOR,
			.apicid = (uint8_t)i,
			.apicver = MPTABLE_LAPIC_VERSION,
			.cpuflag = CPU_ENABLED | (i == 0 ? CPU_BOOTPROCESSOR : 0),
			.cpufeature = MP_CPU_SIGNATURE,
			.featureflag = MP_CPU_FEATURES,
		};

		memcpy(p, &cpu, sizeof(cpu));
	}
	struct mpc_bus bus = { .type = MP_BUS, .busid = 0, .bustype = "ISA   " };
	memcpy(p, &bus, sizeof(bus));
	p += sizeof(bus);
	count++;
	struct mpc_ioapic ioapic = {
		.type = MP_IOAPIC,
		.apicid = ioapic_id,
		.apicver = MPTABLE_IOAPIC_VERSION,
		.flags = MPC_APIC_USABLE,
		.apicaddr = (uint32_t)X86_IOAPIC_GPA,
	};
	memcpy(p, &ioapic, sizeof(ioapic));
	p += sizeof(ioapic);
	count++;
	/* ISA IRQs are edge/active-high (irqflag 0 = conforms to the bus) */
	for (unsigned irq = 0; irq < MPTABLE_NR_ISA_IRQS; irq++, count++, p += sizeof(struct mpc_intsrc)) {
		struct mpc_intsrc src = {
			.type = MP_INTSRC,
			.irqtype = MP_INT,
			.srcbus = 0,
			.srcbusirq = (uint8_t)irq,
			.dstapic = ioapic_id,
			.dstirq = (uint8_t)irq,
		};

		memcpy(p, &src, sizeof(src));
	}
	static const uint8_t lint_type[NR_LINT] = { MP_EXTINT, MP_NMI };
	for (unsigned lint = 0; lint < NR_LINT; lint++, count++, p += sizeof(struct mpc_intsrc)) {
		struct mpc_intsrc src = {
			.type = MP_LINTSRC,
			.irqtype = lint_type[lint],
			.dstapic = MP_ALL_APICS,
			.dstirq = (uint8_t)lint,
		};

		memcpy(p, &src, sizeof(src));
	}

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)(p - (uint8_t *)mpc);
	mpc->spec = 4;
	memcpy(mpc->oem, "THPVM   ", 8);
	memcpy(mpc->productid, "THPVM-LINUX ", 12);
	mpc->oemcount = count;
	mpc->lapic = (uint32_t)X86_LAPIC_GPA;
	mpc->checksum = checksum(mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = (uint32_t)(gpa + sizeof(*mpf));
	mpf->length = 1;
	mpf->specification = 4;
	mpf->checksum = checksum(mpf, sizeof(*mpf));
	return 0;
}
