/* SPDX-License-Identifier: MIT */
/* ACPI tables: RSDP, XSDT, FADT (hardware-reduced), MADT, DSDT with the MMIO devices (acpi.h). */
#include "config.h"
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "acpi.h"
#include "layout.h"
#include "mptable.h"

#define HEADER_BYTES 36
#define FADT_BYTES   276              /* revision 6 */
#define FADT_REVISION 6
#define FADT_HW_REDUCED_ACPI (1u << 20)
/* IAPC_BOOT_ARCH: legacy devices and an 8042, as Linux assumes with acpi=off */
#define FADT_BOOT_LEGACY_DEVICES 1u
#define FADT_BOOT_8042           2u
#define MADT_PCAT_COMPAT 1u
#define MADT_LAPIC_ENABLED 1u

/* Tables (or a part of one) under construction in host memory. */
struct tbl {
	uint8_t *buf;
	uint32_t len, cap;
	bool overflow;
};

#define TBL(array) ((struct tbl){ .buf = (array), .cap = sizeof(array) })

static void put(struct tbl *t, const void *p, uint32_t n)
{
	if (t->overflow || n > t->cap - t->len) {
		t->overflow = true;
		return;
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
}

static void put8(struct tbl *t, uint8_t v)
{
	put(t, &v, 1);
}

static void put16(struct tbl *t, uint16_t v)
{
	put(t, &v, 2);
}

static void put32(struct tbl *t, uint32_t v)
{
	put(t, &v, 4);
}

static void put64(struct tbl *t, uint64_t v)
{
	put(t, &v, 8);
}

static void set32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void set64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint8_t checksum(const uint8_t *p, uint32_t n)
{
	uint8_t sum = 0;

	for (uint32_t i = 0; i < n; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)-sum;
}

/* The standard header; its length and checksum are set by end_table(). */
static uint32_t begin_table(struct tbl *t, const char sig[4], uint8_t revision)
{
	uint32_t start = t->len;

	put(t, sig, 4);
	put32(t, 0);
	put8(t, revision);
	put8(t, 0);
	put(t, "THPVM ", 6);
	put(t, "THPVM   ", 8);
	put32(t, 1);
	put(t, "TPVM", 4);
	put32(t, 1);
	return start;
}

static void end_table(struct tbl *t, uint32_t start)
{
	if (t->overflow)
		return;
	set32(t->buf + start + 4, t->len - start);
	t->buf[start + 9] = checksum(t->buf + start, t->len - start);
}

static void align(struct tbl *t, uint32_t a)
{
	while (t->len % a && !t->overflow)
		put8(t, 0);
}

/* ---- AML, only what a DSDT of devices needs ---- */

#define AML_NAME      0x08
#define AML_BYTE      0x0a
#define AML_STRING    0x0d
#define AML_SCOPE     0x10
#define AML_BUFFER    0x11
#define AML_EXT       0x5b
#define AML_DEVICE    0x82
#define AML_ROOT      0x5c

/* PkgLength (ACPI 6.4, 20.2.4) of a package whose contents take n bytes: it counts its own bytes too. */
static void aml_pkglen(struct tbl *t, uint32_t n)
{
	if (n + 1 < 0x40) {
		put8(t, (uint8_t)(n + 1));
	} else if (n + 2 < 0x1000) {
		n += 2;
		put8(t, (uint8_t)(0x40 | (n & 0xf)));
		put8(t, (uint8_t)(n >> 4));
	} else {
		n += 3;
		put8(t, (uint8_t)(0x80 | (n & 0xf)));
		put8(t, (uint8_t)(n >> 4));
		put8(t, (uint8_t)(n >> 12));
	}
}

static void aml_name_string(struct tbl *t, const char seg[4], const char *s)
{
	put8(t, AML_NAME);
	put(t, seg, 4);
	put8(t, AML_STRING);
	put(t, s, (uint32_t)strlen(s) + 1);
}

static void aml_name_byte(struct tbl *t, const char seg[4], uint8_t v)
{
	put8(t, AML_NAME);
	put(t, seg, 4);
	put8(t, AML_BYTE);
	put8(t, v);
}

/* Small resource descriptors: IO(Decode16, port, port, 1, len) and IRQNoFlags() {irq} (edge, active high). */
static void res_io(struct tbl *r, uint16_t port, uint8_t len)
{
	put8(r, 0x47);
	put8(r, 1);
	put16(r, port);
	put16(r, port);
	put8(r, 1);
	put8(r, len);
}

static void res_irq(struct tbl *r, unsigned irq)
{
	put8(r, 0x22);
	put16(r, (uint16_t)(1u << irq));
}

static void res_end(struct tbl *r)
{
	put8(r, 0x79); /* End Tag, checksum 0: "treat as correct" */
	put8(r, 0);
}

/* Name(_CRS, Buffer) around resource descriptors r. */
static void aml_crs_of(struct tbl *t, const struct tbl *r)
{
	put8(t, AML_NAME);
	put(t, "_CRS", 4);
	put8(t, AML_BUFFER);
	aml_pkglen(t, 2 + r->len);
	put8(t, AML_BYTE);
	put8(t, (uint8_t)r->len);
	put(t, r->buf, r->len);
	t->overflow |= r->overflow;
}

/* Device(seg) { body }. */
static void aml_device_of(struct tbl *t, const char seg[4], const struct tbl *body)
{
	put8(t, AML_EXT);
	put8(t, AML_DEVICE);
	aml_pkglen(t, 4 + body->len);
	put(t, seg, 4);
	put(t, body->buf, body->len);
	t->overflow |= body->overflow;
}

/*
 * The PC's own devices, as QEMU's microvm describes them: with a
 * hardware-reduced FADT Linux has no legacy PIC and maps no ISA IRQ by
 * itself, so COM1 and the i8042 get their interrupts only from here (the
 * 8250_pnp and i8042 PnP drivers).
 */
static void aml_pc_device(struct tbl *t, const char seg[4], const char *hid, uint16_t port0, uint8_t len0,
			  uint16_t port1, unsigned irq)
{
	uint8_t rb[32], bb[96];
	struct tbl r = TBL(rb), b = TBL(bb);

	if (len0)
		res_io(&r, port0, len0);
	if (port1)
		res_io(&r, port1, 1);
	res_irq(&r, irq);
	res_end(&r);
	aml_name_string(&b, "_HID", hid);
	aml_crs_of(&b, &r);
	aml_device_of(t, seg, &b);
}

/* _CRS: Memory32Fixed(ReadWrite, gpa, size), Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive) {irq}. */
static void aml_crs(struct tbl *t, const struct acpi_mmio_device *d)
{
	uint8_t bytes[32];
	struct tbl r = TBL(bytes);

	put8(&r, 0x86); /* Memory32Fixed */
	put16(&r, 9);
	put8(&r, 1);    /* read-write */
	put32(&r, (uint32_t)d->gpa);
	put32(&r, d->size_bytes);
	put8(&r, 0x89); /* Extended Interrupt */
	put16(&r, 6);
	put8(&r, 0x01 | 0x02); /* consumer, edge; active high, exclusive */
	put8(&r, 1);
	put32(&r, d->irq);
	res_end(&r);
	aml_crs_of(t, &r);
}

static void aml_device(struct tbl *t, unsigned index, const struct acpi_mmio_device *d)
{
	uint8_t bytes[128];
	struct tbl body = TBL(bytes);
	char seg[5];

	snprintf(seg, sizeof(seg), "V%03u", index % 1000); /* index < ACPI_MAX_DEVICES */
	aml_name_string(&body, "_HID", d->hid);
	aml_name_byte(&body, "_UID", (uint8_t)index);
	aml_crs(&body, d);
	aml_device_of(t, seg, &body);
}

static void dsdt(struct tbl *t, const struct acpi_mmio_device *devs, unsigned nr_devs)
{
	uint8_t bytes[(ACPI_MAX_DEVICES + 3) * 128];
	struct tbl devices = TBL(bytes);
	uint32_t start = begin_table(t, "DSDT", 2);

	aml_pc_device(&devices, "COM1", "PNP0501", X86_PORT_COM1, 8, 0, X86_COM1_IRQ);
	aml_pc_device(&devices, "KBD_", "PNP0303", X86_PORT_I8042_DATA, 1, X86_PORT_I8042_CMD, X86_I8042_KBD_IRQ);
	aml_pc_device(&devices, "MOU_", "PNP0F13", 0, 0, 0, X86_I8042_AUX_IRQ);
	for (unsigned i = 0; i < nr_devs; i++)
		aml_device(&devices, i, &devs[i]);
	put8(t, AML_SCOPE);
	aml_pkglen(t, 5 + devices.len);
	put8(t, AML_ROOT);
	put(t, "_SB_", 4);
	put(t, devices.buf, devices.len);
	t->overflow |= devices.overflow;
	end_table(t, start);
}

/* The CPUs and the I/O APIC, as the MP table has them (mptable.c): ISA IRQ i is GSI i, no overrides. */
static void madt(struct tbl *t, unsigned nr_cpus)
{
	uint32_t start = begin_table(t, "APIC", 3);

	put32(t, (uint32_t)X86_LAPIC_GPA);
	put32(t, MADT_PCAT_COMPAT);
	for (unsigned i = 0; i < nr_cpus; i++) {
		put8(t, 0); /* Processor Local APIC */
		put8(t, 8);
		put8(t, (uint8_t)i);
		put8(t, (uint8_t)i);
		put32(t, MADT_LAPIC_ENABLED);
	}
	put8(t, 1); /* I/O APIC */
	put8(t, 12);
	put8(t, (uint8_t)nr_cpus);
	put8(t, 0);
	put32(t, (uint32_t)X86_IOAPIC_GPA);
	put32(t, 0);
	put8(t, 4); /* Local APIC NMI: every CPU, LINT1 */
	put8(t, 6);
	put8(t, 0xff);
	put16(t, 0);
	put8(t, 1);
	end_table(t, start);
}

static void fadt(struct tbl *t, uint64_t dsdt_gpa)
{
	uint32_t start = begin_table(t, "FACP", FADT_REVISION);
	uint8_t *p;

	for (uint32_t i = HEADER_BYTES; i < FADT_BYTES; i++)
		put8(t, 0);
	if (t->overflow)
		return;
	p = t->buf + start;
	set32(p + 40, (uint32_t)dsdt_gpa);
	p[109] = FADT_BOOT_LEGACY_DEVICES | FADT_BOOT_8042;
	set32(p + 112, FADT_HW_REDUCED_ACPI);
	set64(p + 140, dsdt_gpa);
	memcpy(p + 268, "THPVM\0\0\0", 8); /* hypervisor vendor identity */
	end_table(t, start);
}

int acpi_write(struct thpvm_memmap *map, uint64_t gpa, unsigned nr_cpus, const struct acpi_mmio_device *devs,
	       unsigned nr_devs)
{
	static uint8_t bytes[ACPI_MAX_BYTES]; /* not on a small thread's stack; one load at a time */
	struct tbl t = TBL(bytes);
	uint32_t xsdt, fadt_at, madt_at, dsdt_at;
	uint8_t *rsdp, *hva;

	if (!nr_cpus || nr_cpus > MPTABLE_MAX_CPUS || nr_devs > ACPI_MAX_DEVICES || gpa % 16 ||
	    gpa + ACPI_MAX_BYTES > X86_EBDA_END)
		return -EINVAL;
	for (unsigned i = 0; i < nr_devs; i++)
		if (devs[i].gpa + devs[i].size_bytes > 1ULL << 32 || strlen(devs[i].hid) != 8)
			return -EINVAL;
	memset(bytes, 0, sizeof(bytes));
	/* RSDP, revision 2: the XSDT's address; its two checksums once the rest is known */
	put(&t, "RSD PTR ", 8);
	put8(&t, 0);
	put(&t, "THPVM ", 6);
	put8(&t, 2);
	put32(&t, 0);
	put32(&t, 36);
	put64(&t, 0);
	put8(&t, 0);
	put(&t, "\0\0\0", 3);
	align(&t, 16);
	xsdt = begin_table(&t, "XSDT", 1);
	put64(&t, 0);
	put64(&t, 0);
	end_table(&t, xsdt);
	align(&t, 16);
	dsdt_at = t.len;
	dsdt(&t, devs, nr_devs);
	align(&t, 16);
	fadt_at = t.len;
	fadt(&t, gpa + dsdt_at);
	align(&t, 16);
	madt_at = t.len;
	madt(&t, nr_cpus);
	if (t.overflow)
		return -EINVAL;
	set64(t.buf + xsdt + HEADER_BYTES, gpa + fadt_at);
	set64(t.buf + xsdt + HEADER_BYTES + 8, gpa + madt_at);
	t.buf[xsdt + 9] = 0;
	t.buf[xsdt + 9] = checksum(t.buf + xsdt, HEADER_BYTES + 16);
	rsdp = t.buf;
	set64(rsdp + 24, gpa + xsdt);
	rsdp[8] = checksum(rsdp, 20);
	rsdp[32] = checksum(rsdp, 36);
	if (!(hva = thpvm_memmap_gpa_to_hva(map, gpa, t.len)))
		return -EFAULT;
	memcpy(hva, t.buf, t.len);
	return 0;
}
