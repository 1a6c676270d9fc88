/* SPDX-License-Identifier: MIT */
/* Intel MP tables as Linux reads them (arch/x86/kernel/mpparse.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include "x86/layout.h"
#include "x86/mptable.h"
#include "helpers.h"
#include "linux_helpers.h"

static struct thpvm_memmap *map;

static void setup(void)
{
	map = linux_test_map(16 * MIB);
}

static void teardown(void)
{
	thpvm_memmap_destroy(map);
}

TestSuite(mptable, .init = setup, .fini = teardown);

static uint8_t sum(const uint8_t *p, uint64_t len)
{
	uint8_t s = 0;

	for (uint64_t i = 0; i < len; i++)
		s += p[i];
	return s;
}

/* Like Linux's smp_scan_config(): 16-byte steps over the last KiB of base memory. */
static const uint8_t *scan_floating_pointer(void)
{
	const uint8_t *base = thpvm_memmap_gpa_to_hva(map, 639 * 1024, 1024);

	for (unsigned off = 0; off < 1024; off += 16)
		if (!memcmp(base + off, "_MP_", 4) && base[off + 8] == 1 && !sum(base + off, 16) &&
		    (base[off + 9] == 1 || base[off + 9] == 4))
			return base + off;
	return NULL;
}

static uint32_t le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static void check_table(unsigned nr_cpus)
{
	const uint8_t *mpf, *mpc, *p;
	uint16_t length, count;
	unsigned cpus = 0, buses = 0, ioapics = 0, intsrc = 0, lint = 0, bsp = 0;
	uint8_t ioapic_id = 0;
	uint64_t seen_apic_ids = 0;

	cr_assert_eq(mptable_write(map, X86_MPTABLE_GPA, nr_cpus), 0);
	mpf = scan_floating_pointer();
	cr_assert_not_null(mpf, "Linux would not find the floating pointer");
	cr_assert_eq(mpf[11], 0, "feature1 0: a configuration table follows");
	cr_assert_eq(mpf[12] & 0x80, 0, "virtual wire mode, no IMCR");
	mpc = thpvm_memmap_gpa_to_hva(map, le32(mpf + 4), 44);
	cr_assert_not_null(mpc);
	cr_assert_eq(memcmp(mpc, "PCMP", 4), 0);
	memcpy(&length, mpc + 4, 2);
	memcpy(&count, mpc + 34, 2);
	cr_assert_eq(mpc[6], 4, "spec 1.4");
	cr_assert_eq(sum(mpc, length), 0, "config table checksum");
	cr_assert_eq(le32(mpc + 36), X86_LAPIC_GPA);
	cr_assert_eq(16 + length, mptable_size_bytes(nr_cpus));
	cr_assert_leq(X86_MPTABLE_GPA + 16 + length, X86_EBDA_END, "inside the e820-reserved range");

	p = mpc + 44;
	for (unsigned i = 0; i < count; i++) {
		switch (p[0]) {
		case 0: /* processor */
			cr_assert(p[3] & 1, "cpu %u enabled", p[1]);
			cr_assert_eq(p[2], MPTABLE_LAPIC_VERSION);
			cr_assert_lt(p[1], nr_cpus);
			cr_assert(!(seen_apic_ids & (1ULL << p[1])), "APIC id %u twice", p[1]);
			seen_apic_ids |= 1ULL << p[1];
			if (p[3] & 2) {
				bsp++;
				cr_assert_eq(p[1], 0, "the BSP is APIC id 0 (vCPU 0)");
			}
			cpus++;
			p += 20;
			break;
		case 1:
			cr_assert_eq(memcmp(p + 2, "ISA   ", 6), 0);
			buses++;
			p += 8;
			break;
		case 2:
			cr_assert(p[3] & 1);
			cr_assert_eq(le32(p + 4), X86_IOAPIC_GPA);
			ioapic_id = p[1];
			cr_assert_geq(ioapic_id, nr_cpus, "I/O APIC id clashes with a CPU");
			ioapics++;
			p += 8;
			break;
		case 3:
			cr_assert_eq(p[1], 0, "mp_INT");
			cr_assert_eq(p[5], intsrc, "ISA IRQ %u", intsrc);
			cr_assert_eq(p[6], ioapic_id);
			cr_assert_eq(p[7], p[5], "IRQ i on pin i, KVM's default routing");
			intsrc++;
			p += 8;
			break;
		case 4:
			cr_assert_eq(p[1], lint == 0 ? 3 : 1, "ExtINT on LINT0, NMI on LINT1");
			cr_assert_eq(p[6], 0xff);
			cr_assert_eq(p[7], lint);
			lint++;
			p += 8;
			break;
		default:
			cr_assert_fail("entry type %u", p[0]);
		}
	}
	cr_assert_eq(p, mpc + length, "entries fill the table");
	cr_assert_eq(cpus, nr_cpus);
	cr_assert_eq(bsp, 1);
	cr_assert_eq(buses, 1);
	cr_assert_eq(ioapics, 1);
	cr_assert_eq(intsrc, MPTABLE_NR_ISA_IRQS);
	cr_assert_eq(lint, 2);
}

Test(mptable, one_cpu)
{
	check_table(1);
}

Test(mptable, two_cpus)
{
	check_table(2);
}

Test(mptable, seven_cpus)
{
	check_table(7);
}

Test(mptable, max_cpus)
{
	check_table(MPTABLE_MAX_CPUS);
}

Test(mptable, bad_arguments)
{
	struct thpvm_memmap *high;
	struct thpvm_region_config rc = { .gpa = 16 * MIB, .size_bytes = 2 * MIB };

	cr_assert_eq(mptable_write(map, X86_MPTABLE_GPA, 0), -EINVAL);
	cr_assert_eq(mptable_write(map, X86_MPTABLE_GPA, MPTABLE_MAX_CPUS + 1), -EINVAL);
	cr_assert_eq(mptable_write(map, X86_MPTABLE_GPA + 4, 1), -EINVAL, "unaligned");
	cr_assert_eq(thpvm_memmap_create(&high), 0);
	cr_assert_eq(thpvm_memmap_add(high, &rc, NULL), 0);
	cr_assert_eq(mptable_write(high, X86_MPTABLE_GPA, 1), -EFAULT, "not RAM");
	thpvm_memmap_destroy(high);
}
