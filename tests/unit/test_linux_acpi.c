/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables as Linux finds them (suite acpi): the RSDP by the legacy scan
 * of 0xe0000-0xfffff, the XSDT's tables, every checksum, the MADT's CPUs
 * and I/O APIC, and the DSDT's devices decoded from their AML bytes. If
 * THPVM_ACPI_DUMP names a directory, the tables are written there too, one
 * file each, for `iasl -d` (acpica-tools) to disassemble.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "x86/acpi.h"
#include "x86/layout.h"
#include "x86/linux.h"
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

TestSuite(acpi, .init = setup, .fini = teardown);

static uint8_t sum(const uint8_t *p, uint64_t len)
{
	uint8_t s = 0;

	for (uint64_t i = 0; i < len; i++)
		s += p[i];
	return s;
}

static uint32_t le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* Like ACPICA's acpi_find_root_pointer(): 16-byte steps over 0xe0000-0xfffff, both checksums. */
static const uint8_t *scan_rsdp(void)
{
	const uint8_t *base = thpvm_memmap_gpa_to_hva(map, 0xe0000, 0x20000);

	for (unsigned off = 0; off < 0x20000; off += 16)
		if (!memcmp(base + off, "RSD PTR ", 8) && !sum(base + off, 20) && !sum(base + off, 36))
			return base + off;
	return NULL;
}

/* A table at gpa with its signature, a sane length and a zero checksum. */
static const uint8_t *table(uint64_t gpa, const char *sig)
{
	const uint8_t *t = thpvm_memmap_gpa_to_hva(map, gpa, 36);

	cr_assert_not_null(t, "%s at 0x%llx is not RAM", sig, (unsigned long long)gpa);
	cr_assert_eq(memcmp(t, sig, 4), 0, "a %s at 0x%llx", sig, (unsigned long long)gpa);
	cr_assert(le32(t + 4) >= 36 && le32(t + 4) < ACPI_MAX_BYTES, "%s length %u", sig, le32(t + 4));
	cr_assert_eq(sum(t, le32(t + 4)), 0, "%s checksum", sig);
	return t;
}

static void dump(const char *name, const uint8_t *t, size_t len)
{
	const char *dir = getenv("THPVM_ACPI_DUMP");
	char path[512];
	FILE *f;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
	cr_assert_not_null(f = fopen(path, "w"), "%s", path);
	fwrite(t, 1, len, f);
	fclose(f);
}

/* AML PkgLength at p: the package's length (counting itself) and how many bytes it took. */
static uint32_t pkglen(const uint8_t *p, unsigned *bytes)
{
	unsigned follow = p[0] >> 6;
	uint32_t len = follow ? p[0] & 0xf : p[0] & 0x3f;

	for (unsigned i = 0; i < follow; i++)
		len |= (uint32_t)p[1 + i] << (4 + 8 * i);
	*bytes = 1 + follow;
	return len;
}

struct found_device {
	char name[5], hid[9];
	int uid;                        /* -1: none */
	uint32_t gpa, size_bytes, irq, irq_flags; /* Memory32Fixed, Extended Interrupt */
	uint16_t ports[2], irq_mask;    /* IO, IRQNoFlags */
	unsigned nr_ports;
};

/* The resource descriptors of a _CRS buffer. */
static void decode_crs(const uint8_t *p, uint32_t len, struct found_device *d)
{
	const uint8_t *end = p + len;

	while (p < end) {
		switch (p[0]) {
		case 0x86: /* Memory32Fixed */
			cr_assert_eq(p[3] & 1, 1, "read-write");
			d->gpa = le32(p + 4);
			d->size_bytes = le32(p + 8);
			p += 12;
			break;
		case 0x89: /* Extended Interrupt */
			d->irq_flags = p[3];
			cr_assert_eq(p[4], 1, "one interrupt");
			d->irq = le32(p + 5);
			p += 9;
			break;
		case 0x47: /* IO, decode16, min == max */
			cr_assert_eq(p[1], 1);
			cr_assert_eq(p[2] | p[3] << 8, p[4] | p[5] << 8);
			cr_assert(d->nr_ports < 2);
			d->ports[d->nr_ports++] = (uint16_t)(p[2] | p[3] << 8);
			p += 8;
			break;
		case 0x22: /* IRQNoFlags */
			d->irq_mask = (uint16_t)(p[1] | p[2] << 8);
			p += 3;
			break;
		case 0x79: /* End Tag: the last */
			cr_assert_eq(p + 2, end, "End Tag ends the buffer");
			return;
		default:
			cr_assert_fail("unknown resource descriptor 0x%02x", p[0]);
		}
	}
	cr_assert_fail("no End Tag");
}

/* Decodes Scope(\_SB_) { Device(X) { _HID, [_UID], _CRS } ... }, the only shape acpi.c writes. */
static unsigned decode_dsdt(const uint8_t *aml, uint32_t len, struct found_device *out, unsigned max)
{
	const uint8_t *p = aml, *end;
	unsigned n = 0, b;
	uint32_t l;

	cr_assert_eq(p[0], 0x10, "ScopeOp");
	l = pkglen(p + 1, &b);
	cr_assert_eq(1 + l, len, "the scope is the whole DSDT body");
	cr_assert_eq(memcmp(p + 1 + b, "\\_SB_", 5), 0);
	end = p + 1 + l;
	p += 1 + b + 5;
	while (p < end) {
		struct found_device *d = &out[n++];
		const uint8_t *dev_end;

		cr_assert(n <= max, "at most %u devices", max);
		memset(d, 0, sizeof(*d));
		d->uid = -1;
		cr_assert(p[0] == 0x5b && p[1] == 0x82, "DeviceOp");
		l = pkglen(p + 2, &b);
		dev_end = p + 2 + l;
		memcpy(d->name, p + 2 + b, 4);
		p += 2 + b + 4;
		cr_assert_eq(memcmp(p, "\x08_HID\x0d", 6), 0, "%s: Name(_HID, string)", d->name);
		cr_assert_eq(p[6 + strnlen((const char *)p + 6, 9)], 0, "%s: _HID's NUL", d->name);
		snprintf(d->hid, sizeof(d->hid), "%s", (const char *)p + 6);
		p += 6 + strlen(d->hid) + 1;
		if (!memcmp(p, "\x08_UID\x0a", 6)) {
			d->uid = p[6];
			p += 7;
		}
		cr_assert_eq(memcmp(p, "\x08_CRS\x11", 6), 0, "%s: Name(_CRS, buffer)", d->name);
		l = pkglen(p + 6, &b);
		p += 6 + b;
		cr_assert_eq(p[0], 0x0a, "buffer size as a byte");
		decode_crs(p + 2, p[1], d);
		p += 2 + p[1];
		cr_assert(p == dev_end, "%s: nothing else in the device", d->name);
	}
	cr_assert(p == end, "nothing after the devices");
	return n;
}

static void check_tables(unsigned nr_cpus, const struct acpi_mmio_device *devs, unsigned nr_devs)
{
	const uint8_t *rsdp, *xsdt, *fadt, *madt, *dsdt, *p;
	struct found_device found[ACPI_MAX_DEVICES + 3];
	unsigned lapics = 0, ioapics = 0, nmis = 0;
	uint64_t apic_ids = 0;

	cr_assert_eq(acpi_write(map, X86_ACPI_GPA, nr_cpus, devs, nr_devs), 0);
	cr_assert_not_null(rsdp = scan_rsdp(), "Linux's scan finds the RSDP");
	cr_expect_eq(rsdp[15], 2, "RSDP revision 2: the XSDT is used");
	cr_expect_eq(le32(rsdp + 20), 36);
	xsdt = table(le64(rsdp + 24), "XSDT");
	cr_assert_eq(le32(xsdt + 4), 36 + 16, "two tables");
	fadt = table(le64(xsdt + 36), "FACP");
	madt = table(le64(xsdt + 44), "APIC");
	cr_expect_eq(fadt[8], 6, "FADT revision 6");
	cr_expect_eq(le32(fadt + 4), 276);
	cr_expect_neq(le32(fadt + 112) & (1u << 20), 0, "hardware-reduced ACPI");
	cr_expect_eq(fadt[109] & 3, 3, "legacy devices and an 8042");
	cr_expect_eq(le64(fadt + 140), le32(fadt + 40), "X_DSDT and DSDT agree");
	dsdt = table(le64(fadt + 140), "DSDT");

	cr_expect_eq(le32(madt + 36), 0xfee00000, "local APIC address");
	for (p = madt + 44; p < madt + le32(madt + 4); p += p[1]) {
		cr_assert(p[1] >= 2, "MADT entry length");
		if (p[0] == 0) {
			cr_expect_eq(p[2], p[3], "processor UID = APIC id");
			cr_expect_eq(le32(p + 4) & 1, 1, "enabled");
			apic_ids |= 1ull << p[3];
			lapics++;
		} else if (p[0] == 1) {
			cr_expect_eq(p[2], nr_cpus, "I/O APIC id after the CPUs, as in the MP table");
			cr_expect_eq(le32(p + 4), 0xfec00000);
			cr_expect_eq(le32(p + 8), 0, "GSI base");
			ioapics++;
		} else if (p[0] == 4) {
			cr_expect_eq(p[5], 1, "NMI on LINT1");
			nmis++;
		}
	}
	cr_expect_eq(lapics, nr_cpus);
	cr_expect_eq(apic_ids, nr_cpus == 64 ? ~0ull : (1ull << nr_cpus) - 1);
	cr_expect_eq(ioapics, 1);
	cr_expect_eq(nmis, 1);

	/* the PC's own devices first, with the interrupts Linux maps for them only from here */
	cr_assert_eq(decode_dsdt(dsdt + 36, le32(dsdt + 4) - 36, found, ACPI_MAX_DEVICES + 3), 3 + nr_devs);
	cr_expect_str_eq(found[0].hid, "PNP0501");
	cr_expect(found[0].nr_ports == 1 && found[0].ports[0] == 0x3f8 && found[0].irq_mask == 1u << 4, "COM1");
	cr_expect_str_eq(found[1].hid, "PNP0303");
	cr_expect(found[1].nr_ports == 2 && found[1].ports[0] == 0x60 && found[1].ports[1] == 0x64 &&
		  found[1].irq_mask == 1u << 1, "i8042 keyboard");
	cr_expect_str_eq(found[2].hid, "PNP0F13");
	cr_expect(found[2].nr_ports == 0 && found[2].irq_mask == 1u << 12, "i8042 mouse");
	for (unsigned i = 0; i < nr_devs; i++) {
		const struct found_device *f = &found[3 + i];

		cr_expect_str_eq(f->hid, devs[i].hid);
		cr_expect_eq(f->uid, (int)i);
		cr_expect_eq(f->gpa, devs[i].gpa);
		cr_expect_eq(f->size_bytes, devs[i].size_bytes);
		cr_expect_eq(f->irq, devs[i].irq);
		cr_expect_eq(f->irq_flags, 0x03, "consumer, edge, active high, exclusive");
	}
	dump("rsdp", rsdp, 36);
	dump("xsdt", xsdt, le32(xsdt + 4));
	dump("facp", fadt, le32(fadt + 4));
	dump("apic", madt, le32(madt + 4));
	dump("dsdt", dsdt, le32(dsdt + 4));
}

Test(acpi, one_virtio_device_and_one_cpu)
{
	const struct acpi_mmio_device dev = { ACPI_VIRTIO_MMIO_HID, X86_VIRTIO_MMIO_GPA, 0x200, 5 };

	check_tables(1, &dev, 1);
}

Test(acpi, the_most_devices_and_cpus)
{
	struct acpi_mmio_device devs[ACPI_MAX_DEVICES];

	for (unsigned i = 0; i < ACPI_MAX_DEVICES; i++)
		devs[i] = (struct acpi_mmio_device){ ACPI_VIRTIO_MMIO_HID, X86_VIRTIO_MMIO_GPA + i * 0x1000, 0x200, 5 + i % 3 };
	check_tables(64, devs, ACPI_MAX_DEVICES);
}

Test(acpi, refusals)
{
	const struct acpi_mmio_device dev = { ACPI_VIRTIO_MMIO_HID, X86_VIRTIO_MMIO_GPA, 0x200, 5 };
	const struct acpi_mmio_device high = { ACPI_VIRTIO_MMIO_HID, 0xfffff000, 0x2000, 5 };
	const struct acpi_mmio_device bad_hid = { "VIRTIO", X86_VIRTIO_MMIO_GPA, 0x200, 5 };
	struct acpi_mmio_device many[ACPI_MAX_DEVICES + 1];

	for (unsigned i = 0; i <= ACPI_MAX_DEVICES; i++)
		many[i] = dev;
	cr_expect_eq(acpi_write(map, X86_ACPI_GPA, 0, &dev, 1), -EINVAL, "no CPU");
	cr_expect_eq(acpi_write(map, X86_ACPI_GPA, 65, &dev, 1), -EINVAL, "more CPUs than the MP table");
	cr_expect_eq(acpi_write(map, X86_ACPI_GPA + 8, 1, &dev, 1), -EINVAL, "not 16-byte aligned");
	cr_expect_eq(acpi_write(map, 0xf8000, 1, &dev, 1), -EINVAL, "past 1 MiB");
	cr_expect_eq(acpi_write(map, X86_ACPI_GPA, 1, many, ACPI_MAX_DEVICES + 1), -EINVAL, "too many devices");
	cr_expect_eq(acpi_write(map, X86_ACPI_GPA, 1, &high, 1), -EINVAL, "a window past 4 GiB");
	cr_expect_eq(acpi_write(map, X86_ACPI_GPA, 1, &bad_hid, 1), -EINVAL, "a _HID that is not 8 characters");
}

/* The loader writes them only when there are devices, and tells the kernel where (PVH and bzImage alike). */
Test(acpi, written_by_the_loader_only_with_devices)
{
	const struct acpi_mmio_device dev = { ACPI_VIRTIO_MMIO_HID, X86_VIRTIO_MMIO_GPA, 0x200, 5 };
	struct linux_load_config lc = { .kernel_path = linux_test_kernel("vmlinux"), .nr_cpus = 2 };
	struct linux_boot boot;

	thpvm_memmap_destroy(map);
	map = linux_test_map(256 * MIB); /* a real kernel's footprint */
	cr_assert_eq(linux_load(map, &lc, &boot), 0, "%s", linux_last_error());
	cr_expect_eq(boot.rsdp_gpa, 0);
	cr_expect_null(scan_rsdp(), "no ACPI tables without devices");
	lc.devices = &dev;
	lc.nr_devices = 1;
	cr_assert_eq(linux_load(map, &lc, &boot), 0, "%s", linux_last_error());
	cr_expect_eq(boot.rsdp_gpa, X86_ACPI_GPA);
	cr_expect_eq(scan_rsdp(), thpvm_memmap_gpa_to_hva(map, X86_ACPI_GPA, 36));
}
