/* SPDX-License-Identifier: MIT */
/*
 * A snapshot's state file (vmm/state/snapshot_file.h, docs/snapshot-format.md):
 * a synthetic VM's state written and read back equal, and every way a file
 * can be refused, each made by editing a valid file's bytes (the CRCs fixed
 * again where the test must reach a later check). This file reads the
 * format from the document, not from the code, so it checks both.
 *
 * THPVM_SNAPSHOT_SEEDS=DIR: the seeds test also writes the fuzz target's
 * seed corpus (fuzz/corpus/snapshot_state) into DIR.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "state/snapshot_file.h"
#include "util/crc32c.h"
#include "util/error.h"

#define NAME "snap/state"
#define HDR 32u
#define ENT 32u
#define XSAVE_BYTES 4096u
#define MIB (1ull << 20)

enum { T_CONFIG = 1, T_VM, T_CLOCK, T_DEVICES, T_REGION, T_VCPU };
/* The writer's order: CONFIG, VM, CLOCK, DEVICES, the regions, the vCPUs. */
enum { S_CONFIG, S_VM, S_CLOCK, S_DEVICES, S_REGION0, S_REGION1, S_VCPU0, S_VCPU1, NR_SECTIONS };
/* Offsets inside a REGION section: name[32], file[64], gpa, size, nr_extents, map. */
#define R_FILE 32
#define R_NR_EXTENTS 112
#define R_MAP 120

static char dir[] = "/tmp/test_snapshot_file.XXXXXX";
static char path[sizeof(dir) + 16];

static void setup(void)
{
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state", dir);
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

TestSuite(snapshot_file, .init = setup, .fini = teardown);

static void fill(void *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		((uint8_t *)p)[i] = (uint8_t)(seed + i * 7);
}

static void make_vcpu(struct vcpu_state *v, unsigned i, unsigned nent, unsigned nmsrs)
{
	v->regs.rip = 0x100000 + i;
	v->regs.rsp = 0x7000 - 16 * i;
	v->regs.rax = 0xdead0000 + i;
	v->regs.rflags = 0x202;
	v->sregs.cr0 = 0x80050033;
	v->sregs.cr3 = 0x9000 + i * 0x1000;
	v->sregs.cs.selector = 0x10;
	v->sregs.efer = 0xd01;
	v->xsave_size = XSAVE_BYTES;
	v->xsave = malloc(XSAVE_BYTES);
	cr_assert_not_null(v->xsave);
	fill(v->xsave, XSAVE_BYTES, (uint8_t)(3 + i));
	v->xcrs.nr_xcrs = 1;
	v->xcrs.xcrs[0].value = 7;
	fill(v->lapic.regs, sizeof(v->lapic.regs), (uint8_t)(11 + i));
	v->events.exception.nr = 14;
	v->mp_state.mp_state = i ? KVM_MP_STATE_INIT_RECEIVED : KVM_MP_STATE_RUNNABLE;
	v->debugregs.dr7 = 0x400;
	v->cpuid = calloc(1, sizeof(*v->cpuid) + nent * sizeof(struct kvm_cpuid_entry2));
	cr_assert_not_null(v->cpuid);
	v->cpuid->nent = nent;
	for (unsigned e = 0; e < nent; e++)
		v->cpuid->entries[e] = (struct kvm_cpuid_entry2){ .function = e, .eax = 0x1000 * e + i, .ebx = 0x756e6547 };
	v->msrs = calloc(1, sizeof(*v->msrs) + nmsrs * sizeof(struct kvm_msr_entry));
	cr_assert_not_null(v->msrs);
	v->msrs->nmsrs = nmsrs;
	for (unsigned m = 0; m < nmsrs; m++)
		v->msrs->entries[m] = (struct kvm_msr_entry){ .index = 0xc0000080 + m, .data = 0x500 + m * 0x10 + i };
	v->nr_msrs_listed = nmsrs + 2;
	v->has_lapic = true;
}

static void make_region(struct snapshot_region *r, const char *name, const char *file, uint64_t gpa, uint64_t size,
			const uint8_t *map)
{
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->file, sizeof(r->file), "%s", file);
	r->gpa = gpa;
	r->size_bytes = size;
	r->nr_extents = (((gpa + size + 2 * MIB - 1) & ~(2 * MIB - 1)) - (gpa & ~(2 * MIB - 1))) / (2 * MIB);
	r->map = malloc(r->nr_extents);
	cr_assert_not_null(r->map);
	memcpy(r->map, map, r->nr_extents);
}

/* A made-up VM: 2 vCPUs, 2 regions (2 and 3 extents), an in-kernel irqchip and PIT, config and devices. */
static void make_state(struct snapshot_state *s, unsigned nr_vcpus)
{
	static const uint8_t map_low[] = { THPVM_IMAGE_DATA, THPVM_IMAGE_ZERO };
	static const uint8_t map_high[] = { THPVM_IMAGE_ABSENT, THPVM_IMAGE_DATA, THPVM_IMAGE_ZERO };

	memset(s, 0, sizeof(*s));
	s->config = json_pack("{s:s, s:I, s:i, s:s, s:s, s:[s,s], s:I}", "kind", "payload", "memory_bytes",
			      (json_int_t)(4 * MIB + 3 * MIB), "nr_cpus", nr_vcpus, "backing", "thp", "payload",
			      "forktest", "args", "then=wait", "mode=cow", "guest_page", (json_int_t)4096);
	cr_assert_not_null(s->config);
	s->nr_regions = 2;
	make_region(&s->regions[0], "ram-low", "ram-low.mem", 0, 3 * MIB, map_low);
	/* not 2 MiB-aligned at either end: three extents */
	make_region(&s->regions[1], "ram-high", "ram-high.mem", 0x100000000ull + MIB, 4 * MIB + 4096, map_high);
	s->vm.nr_vcpus = nr_vcpus;
	s->vm.vcpus = calloc(nr_vcpus, sizeof(*s->vm.vcpus));
	s->vm.tsc_offsets = calloc(nr_vcpus, sizeof(*s->vm.tsc_offsets));
	cr_assert(s->vm.vcpus && s->vm.tsc_offsets);
	for (unsigned i = 0; i < nr_vcpus; i++) {
		make_vcpu(&s->vm.vcpus[i], i, 3 + i, 4 + i);
		s->vm.tsc_offsets[i] = i ? 67890 : -12345;
	}
	s->vm.tsc_exact = true;
	s->vm.vm.has_irqchip = true;
	s->vm.vm.has_pit = true;
	s->vm.vm.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->vm.vm.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->vm.vm.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	fill(&s->vm.vm.ioapic.chip, sizeof(s->vm.vm.ioapic.chip), 42);
	s->vm.vm.pit.channels[0].count = 0x10000;
	s->vm.vm.clock.clock = 123456789012ull;
	s->vm.devices = json_pack("{s:{s:i, s:i}, s:{s:i}}", "com1", "lcr", 3, "ier", 1, "i8042", "status", 0x1c);
	cr_assert_not_null(s->vm.devices);
	s->vm.host_tsc = 0x123456789abcull;
	s->vm.mono_ns = 987654321ull;
}

/* A valid state file's bytes, written through snapshot_state_write(). */
static uint8_t *good_file(size_t *len, unsigned nr_vcpus)
{
	struct snapshot_state s;
	struct stat st;
	uint8_t *buf;
	int fd;

	make_state(&s, nr_vcpus);
	cr_assert_eq(snapshot_state_write(path, &s), 0, "%s", vmm_last_error());
	snapshot_state_free(&s);
	fd = open(path, O_RDONLY);
	cr_assert(fd >= 0 && !fstat(fd, &st));
	*len = (size_t)st.st_size;
	buf = malloc(*len);
	cr_assert_not_null(buf);
	cr_assert_eq(read(fd, buf, *len), (ssize_t)*len);
	close(fd);
	return buf;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint32_t nr_sections(const uint8_t *buf)
{
	return get32(buf + 16);
}

static uint8_t *entry(uint8_t *buf, unsigned i)
{
	return buf + HDR + i * ENT;
}

static uint8_t *section(uint8_t *buf, unsigned i)
{
	return buf + get64(entry(buf, i) + 8);
}

/*
 * Every section's CRC (of those inside the len bytes of buf), then the one
 * over the header (its CRC field zero) and the table, as the document says.
 */
static void fix_crcs(uint8_t *buf, size_t len)
{
	uint32_t n = nr_sections(buf);

	for (unsigned i = 0; i < n; i++) {
		uint64_t off = get64(entry(buf, i) + 8), size = get64(entry(buf, i) + 16);

		if (off <= len && size <= len - off)
			put32(entry(buf, i) + 24, crc32c(0, buf + off, size));
	}
	put32(buf + 20, 0);
	put32(buf + 20, crc32c(0, buf, HDR + n * ENT));
}

/* buf with one more section (type, data) at the end of the table and of the file; CRCs fixed. */
static uint8_t *add_section(const uint8_t *buf, size_t *len, uint32_t type, const void *data, size_t n)
{
	uint32_t nr = nr_sections(buf);
	size_t tab = HDR + nr * ENT, nlen = *len + ENT + n;
	uint8_t *out = calloc(1, nlen);

	cr_assert_not_null(out);
	memcpy(out, buf, tab);
	memcpy(out + tab + ENT, buf + tab, *len - tab);
	memcpy(out + nlen - n, data, n);
	put32(out + 16, nr + 1);
	put64(out + 24, nlen);
	for (unsigned i = 0; i < nr; i++)
		put64(entry(out, i) + 8, get64(entry(out, i) + 8) + ENT);
	memset(entry(out, nr), 0, ENT);
	put32(entry(out, nr), type);
	put64(entry(out, nr) + 8, *len + ENT);
	put64(entry(out, nr) + 16, n);
	fix_crcs(out, nlen);
	*len = nlen;
	return out;
}

/* Parses buf and expects a refusal with err whose one-line message contains want. */
static void refused(const uint8_t *buf, size_t len, int err, const char *want)
{
	struct snapshot_state s;
	int ret;

	vmm_clear_error();
	ret = snapshot_state_parse(buf, len, NAME, &s);
	cr_assert_eq(ret, err, "want %d for '%s', got %d: %s", err, want, ret, vmm_last_error());
	cr_assert_not_null(strstr(vmm_last_error(), want), "want '%s' in: %s", want, vmm_last_error());
	cr_assert_eq(strncmp(vmm_last_error(), NAME ": ", strlen(NAME) + 2), 0, "not naming the file: %s",
		     vmm_last_error());
	cr_assert_null(strchr(vmm_last_error(), '\n'), "more than one line: %s", vmm_last_error());
	cr_assert_null(s.config);
	cr_assert_null(s.vm.vcpus);
	cr_assert_eq(s.nr_regions, 0);
	snapshot_state_free(&s);
}

static void accepted(const uint8_t *buf, size_t len)
{
	struct snapshot_state s;

	cr_assert_eq(snapshot_state_parse(buf, len, NAME, &s), 0, "%s", vmm_last_error());
	snapshot_state_free(&s);
}

Test(snapshot_file, crc32c_known_answer)
{
	cr_assert_eq(crc32c(0, "123456789", 9), 0xE3069283u);
	cr_assert_eq(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xE3069283u, "chained");
	cr_assert_eq(crc32c(0, "", 0), 0);
	/* RFC 3720 B.4: 32 bytes of zeros */
	cr_assert_eq(crc32c(0, (uint8_t[32]){ 0 }, 32), 0x8A9136AAu);
}

static void same_vcpu(const struct vcpu_state *a, const struct vcpu_state *b, unsigned i)
{
	cr_assert_eq(memcmp(&a->regs, &b->regs, sizeof(a->regs)), 0, "vCPU %u regs", i);
	cr_assert_eq(b->regs.rip, 0x100000 + i);
	cr_assert_eq(memcmp(&a->sregs, &b->sregs, sizeof(a->sregs)), 0, "vCPU %u sregs", i);
	cr_assert_eq(b->xsave_size, XSAVE_BYTES);
	cr_assert_eq(memcmp(a->xsave, b->xsave, XSAVE_BYTES), 0, "vCPU %u xsave", i);
	cr_assert_eq(memcmp(&a->xcrs, &b->xcrs, sizeof(a->xcrs)), 0);
	cr_assert_eq(memcmp(&a->lapic, &b->lapic, sizeof(a->lapic)), 0);
	cr_assert_eq(memcmp(&a->events, &b->events, sizeof(a->events)), 0);
	cr_assert_eq(b->mp_state.mp_state, a->mp_state.mp_state);
	cr_assert_eq(memcmp(&a->debugregs, &b->debugregs, sizeof(a->debugregs)), 0);
	cr_assert_eq(b->cpuid->nent, a->cpuid->nent);
	cr_assert_eq(memcmp(a->cpuid->entries, b->cpuid->entries, a->cpuid->nent * sizeof(a->cpuid->entries[0])), 0);
	cr_assert_eq(b->msrs->nmsrs, a->msrs->nmsrs);
	cr_assert_eq(memcmp(a->msrs->entries, b->msrs->entries, a->msrs->nmsrs * sizeof(a->msrs->entries[0])), 0);
	cr_assert_eq(b->nr_msrs_listed, a->nr_msrs_listed);
	cr_assert_eq(b->has_lapic, a->has_lapic);
}

Test(snapshot_file, round_trip)
{
	struct snapshot_state a, b;
	struct stat st;

	make_state(&a, 2);
	cr_assert_eq(snapshot_state_write(path, &a), 0, "%s", vmm_last_error());
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	cr_assert_eq(snapshot_state_read(path, &b), 0, "%s", vmm_last_error());

	cr_assert(json_equal(a.config, b.config));
	cr_assert_eq(b.nr_regions, 2);
	for (unsigned i = 0; i < 2; i++) {
		cr_assert_str_eq(b.regions[i].name, a.regions[i].name);
		cr_assert_str_eq(b.regions[i].file, a.regions[i].file);
		cr_assert_eq(b.regions[i].gpa, a.regions[i].gpa);
		cr_assert_eq(b.regions[i].size_bytes, a.regions[i].size_bytes);
		cr_assert_eq(b.regions[i].nr_extents, a.regions[i].nr_extents);
		cr_assert_eq(memcmp(b.regions[i].map, a.regions[i].map, a.regions[i].nr_extents), 0);
	}
	cr_assert_eq(b.regions[1].nr_extents, 3);
	cr_assert_eq(b.vm.nr_vcpus, 2);
	for (unsigned i = 0; i < 2; i++) {
		same_vcpu(&a.vm.vcpus[i], &b.vm.vcpus[i], i);
		cr_assert_eq(b.vm.tsc_offsets[i], a.vm.tsc_offsets[i]);
	}
	cr_assert_eq(b.vm.tsc_offsets[0], -12345);
	cr_assert_eq(b.vm.tsc_exact, true);
	cr_assert_eq(b.vm.host_tsc, a.vm.host_tsc);
	cr_assert_eq(b.vm.mono_ns, a.vm.mono_ns);
	cr_assert_eq(b.vm.vm.has_irqchip, true);
	cr_assert_eq(b.vm.vm.has_pit, true);
	cr_assert_eq(memcmp(&a.vm.vm.pic_master, &b.vm.vm.pic_master, sizeof(a.vm.vm.pic_master)), 0);
	cr_assert_eq(memcmp(&a.vm.vm.pic_slave, &b.vm.vm.pic_slave, sizeof(a.vm.vm.pic_slave)), 0);
	cr_assert_eq(memcmp(&a.vm.vm.ioapic, &b.vm.vm.ioapic, sizeof(a.vm.vm.ioapic)), 0);
	cr_assert_eq(memcmp(&a.vm.vm.pit, &b.vm.vm.pit, sizeof(a.vm.vm.pit)), 0);
	cr_assert_eq(b.vm.vm.clock.clock, 123456789012ull);
	cr_assert(json_equal(a.vm.devices, b.vm.devices));
	snapshot_state_free(&a);
	snapshot_state_free(&b);
	cr_assert_null(b.config);
	snapshot_state_free(NULL);
}

/* The layout the document describes, byte for byte where it is fixed. */
Test(snapshot_file, layout_as_documented)
{
	size_t len;
	uint8_t *buf = good_file(&len, 2);
	static const uint32_t types[NR_SECTIONS] = { T_CONFIG, T_VM, T_CLOCK, T_DEVICES, T_REGION, T_REGION, T_VCPU, T_VCPU };
	uint64_t next = HDR + NR_SECTIONS * ENT;

	cr_assert_eq(memcmp(buf, "THPVMSNP", 8), 0);
	cr_assert_eq(buf[8] | buf[9] << 8, 1);
	cr_assert_eq(buf[10] | buf[11] << 8, 0);
	cr_assert_eq(get32(buf + 12), 1);
	cr_assert_eq(nr_sections(buf), NR_SECTIONS);
	cr_assert_eq(get64(buf + 24), len);
	for (unsigned i = 0; i < NR_SECTIONS; i++) {
		cr_assert_eq(get32(entry(buf, i)), types[i], "section %u", i);
		cr_assert_eq(get64(entry(buf, i) + 8), next, "section %u back to back", i);
		next += get64(entry(buf, i) + 16);
	}
	cr_assert_eq(next, len);
	cr_assert_eq(memcmp(section(buf, S_CONFIG), "{\"", 2), 0, "CONFIG is JSON text");
	cr_assert_str_eq((char *)section(buf, S_REGION1), "ram-high");
	cr_assert_str_eq((char *)section(buf, S_REGION1) + R_FILE, "ram-high.mem");
	cr_assert_eq(get64(section(buf, S_REGION1) + R_NR_EXTENTS), 3);
	cr_assert_eq(section(buf, S_REGION1)[R_MAP + 1], THPVM_IMAGE_DATA);
	cr_assert_eq(get32(section(buf, S_VCPU1)), 1, "VCPU index");
	cr_assert_eq(get64(section(buf, S_CLOCK) + 8), 0x123456789abcull, "CLOCK host TSC");
	/* the CRCs the document describes are the ones written */
	{
		uint8_t *copy = malloc(len);

		memcpy(copy, buf, len);
		fix_crcs(copy, len);
		cr_assert_eq(memcmp(copy, buf, len), 0);
		free(copy);
	}
	free(buf);
}

Test(snapshot_file, truncated_anywhere)
{
	size_t len;
	uint8_t *buf = good_file(&len, 2);
	size_t cuts[] = { 0, 1, 8, 31, 32, 33, HDR + ENT, HDR + NR_SECTIONS * ENT, get64(entry(buf, S_VM) + 8) + 5,
			  get64(entry(buf, S_VCPU1) + 8), len - 1 };

	for (unsigned i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
		refused(buf, cuts[i], -EINVAL, "truncated");
	refused(buf, 10, -EINVAL, "snap/state: truncated: 10 bytes, shorter than the 32-byte header");
	/* and through a file */
	{
		struct snapshot_state s;
		int fd = open(path, O_WRONLY | O_TRUNC);

		cr_assert(fd >= 0);
		cr_assert_eq(write(fd, buf, len / 2), (ssize_t)(len / 2));
		close(fd);
		cr_assert_eq(snapshot_state_read(path, &s), -EINVAL);
		cr_assert_not_null(strstr(vmm_last_error(), "truncated"), "%s", vmm_last_error());
		cr_assert_eq(strncmp(vmm_last_error(), path, strlen(path)), 0, "%s", vmm_last_error());
		snapshot_state_free(&s);
	}
	free(buf);
}

Test(snapshot_file, bytes_after_the_end)
{
	size_t len;
	uint8_t *buf = good_file(&len, 2);
	uint8_t *longer = calloc(1, len + 1);

	memcpy(longer, buf, len);
	refused(longer, len + 1, -EINVAL, "bytes, but its header says");
	free(longer);
	free(buf);
}

/* One bit flipped in a section: that section's checksum, named. */
Test(snapshot_file, bit_flip_in_each_section)
{
	static const char *const names[NR_SECTIONS] = { "CONFIG", "VM", "CLOCK", "DEVICES", "REGION", "REGION", "VCPU", "VCPU" };
	size_t len;
	uint8_t *buf = good_file(&len, 2);

	for (unsigned i = 0; i < NR_SECTIONS; i++) {
		uint8_t *p = section(buf, i) + get64(entry(buf, i) + 16) / 2;
		char want[64];

		snprintf(want, sizeof(want), "snap/state: section %u (%s): checksum mismatch", i, names[i]);
		*p ^= 0x10;
		refused(buf, len, -EINVAL, want);
		*p ^= 0x10;
	}
	accepted(buf, len);
	free(buf);
}

Test(snapshot_file, bit_flip_in_table_and_header)
{
	size_t len;
	uint8_t *buf = good_file(&len, 2);
	/* the table: a section's size, its CRC, its type; the header: minor version, section count, its CRC */
	size_t at[] = { HDR + 2 * ENT + 16, HDR + 5 * ENT + 24, HDR + 7 * ENT, 10, 16, 20 };

	for (unsigned i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		buf[at[i]] ^= 1;
		refused(buf, len, -EINVAL, "snap/state: header and section table checksum mismatch");
		buf[at[i]] ^= 1;
	}
	accepted(buf, len);
	free(buf);
}

/* Every byte of the file, one bit each: nothing flipped anywhere is ever accepted. */
Test(snapshot_file, bit_flip_anywhere_refused)
{
	size_t len;
	uint8_t *buf = good_file(&len, 1);
	struct snapshot_state s;

	for (size_t i = 0; i < len; i++) {
		buf[i] ^= (uint8_t)(1u << (i % 8));
		cr_assert_eq(snapshot_state_parse(buf, len, NAME, &s), -EINVAL, "bit %zu of byte %zu accepted", i % 8, i);
		buf[i] ^= (uint8_t)(1u << (i % 8));
	}
	accepted(buf, len);
	free(buf);
}

Test(snapshot_file, wrong_magic)
{
	size_t len;
	uint8_t *buf = good_file(&len, 2);

	buf[7] = 'Q';
	refused(buf, len, -EINVAL, "snap/state: not a thpvm snapshot state file (no THPVMSNP magic)");
	free(buf);
}

Test(snapshot_file, other_major_version)
{
	size_t len;
	uint8_t *buf = good_file(&len, 2);

	buf[8] = 2;
	refused(buf, len, -EINVAL, "snap/state: format version 2.0, this thpvm reads 1.x");
	buf[8] = 0;
	refused(buf, len, -EINVAL, "snap/state: format version 0.0, this thpvm reads 1.x");
	free(buf);
}

/* The compatibility rule: a newer minor version with a section this reader does not know is read. */
Test(snapshot_file, newer_minor_and_unknown_section_read)
{
	size_t len;
	uint8_t *buf = good_file(&len, 2), *more;
	static const char extra[] = "a section of version 1.7";

	buf[10] = 7;
	fix_crcs(buf, len);
	accepted(buf, len);
	more = add_section(buf, &len, 77, extra, sizeof(extra));
	accepted(more, len);
	/* still checked: a flipped bit in it is refused */
	more[len - 3] ^= 4;
	refused(more, len, -EINVAL, "section 8 (type 77): checksum mismatch");
	free(more);
	free(buf);
}

Test(snapshot_file, other_architecture)
{
	size_t len;
	uint8_t *buf = good_file(&len, 2);

	put32(buf + 12, 2);
	refused(buf, len, -EINVAL, "snap/state: architecture 2, this thpvm reads 1 (x86_64)");
	free(buf);
}

Test(snapshot_file, section_over_its_bound)
{
	size_t len, n = SNAPSHOT_MAX_CONFIG_BYTES + 1;
	uint8_t *buf = good_file(&len, 2), *more;
	char *big = malloc(n);

	memset(big, ' ', n);
	more = add_section(buf, &len, T_CONFIG, big, n);
	refused(more, len, -EINVAL, "snap/state: section 8 (CONFIG): 1048577 bytes, more than its 1048576");
	free(more);
	free(big);
	free(buf);
}

Test(snapshot_file, section_outside_the_file)
{
	size_t len;
	uint8_t *buf = good_file(&len, 2);

	put64(entry(buf, S_VCPU1) + 16, len);
	fix_crcs(buf, len);
	refused(buf, len, -EINVAL, "section 7 (VCPU): ");
	refused(buf, len, -EINVAL, "run past the end of the file");
	free(buf);
}

Test(snapshot_file, nr_extents_not_matching)
{
	size_t len;
	uint8_t *buf = good_file(&len, 2);

	put64(section(buf, S_REGION1) + R_NR_EXTENTS, 2);
	fix_crcs(buf, len);
	refused(buf, len, -EINVAL,
		"snap/state: section 5 (REGION): 2 extents, but a region at 0x100100000 of 0x401000 bytes spans 3");
	free(buf);
}

Test(snapshot_file, bad_map_byte)
{
	size_t len;
	uint8_t *buf = good_file(&len, 2);

	section(buf, S_REGION1)[R_MAP + 2] = THPVM_NR_IMAGE_EXTENTS;
	fix_crcs(buf, len);
	refused(buf, len, -EINVAL, "snap/state: section 5 (REGION): extent 2's map byte is 3, not one of absent, zero, data");
	free(buf);
}

Test(snapshot_file, file_name_not_plain)
{
	static const char *const bad[] = { "../ram-low.mem", "/etc/passwd", ".", "..", "" };
	size_t len;
	uint8_t *buf = good_file(&len, 2);
	char *file = (char *)section(buf, S_REGION0) + R_FILE;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(file, 0, 64);
		strcpy(file, bad[i]);
		fix_crcs(buf, len);
		refused(buf, len, -EINVAL, "snap/state: section 4 (REGION): memory file '");
		refused(buf, len, -EINVAL, "' is not a plain file name");
	}
	/* no NUL inside the field, and a byte that would break the line */
	memset(file, 'a', 64);
	file[3] = '\n';
	fix_crcs(buf, len);
	refused(buf, len, -EINVAL, "memory file 'aaa?aaa");
	free(buf);
}

Test(snapshot_file, missing_required_section)
{
	static const struct { unsigned at; const char *want; } cases[] = {
		{ S_CONFIG, "snap/state: no CONFIG section" },   { S_VM, "snap/state: no VM section" },
		{ S_CLOCK, "snap/state: no CLOCK section" },     { S_DEVICES, "snap/state: no DEVICES section" },
	};
	size_t len;
	uint8_t *buf = good_file(&len, 1);

	/* its type turned into one this reader does not know: skipped, so missing */
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t type = get32(entry(buf, cases[i].at));

		put32(entry(buf, cases[i].at), 99);
		fix_crcs(buf, len);
		refused(buf, len, -EINVAL, cases[i].want);
		put32(entry(buf, cases[i].at), type);
	}
	/* with one vCPU: sections 4, 5 the regions, 6 the vCPU */
	put32(entry(buf, 6), 99);
	fix_crcs(buf, len);
	refused(buf, len, -EINVAL, "snap/state: no VCPU section");
	put32(entry(buf, 6), T_VCPU);
	put32(entry(buf, 4), 99);
	put32(entry(buf, 5), 99);
	fix_crcs(buf, len);
	refused(buf, len, -EINVAL, "snap/state: no REGION section");
	free(buf);
}

Test(snapshot_file, required_section_twice)
{
	size_t len;
	uint8_t *buf = good_file(&len, 2);

	put32(entry(buf, S_DEVICES), T_CONFIG);
	fix_crcs(buf, len);
	refused(buf, len, -EINVAL, "snap/state: section 3 (CONFIG): more than 1 CONFIG section");
	free(buf);
}

Test(snapshot_file, duplicate_vcpu_index)
{
	size_t len;
	uint8_t *buf = good_file(&len, 2);

	put32(section(buf, S_VCPU1), 0);
	fix_crcs(buf, len);
	refused(buf, len, -EINVAL, "snap/state: section 7 (VCPU): vCPU 0 a second time");
	put32(section(buf, S_VCPU1), 2);
	fix_crcs(buf, len);
	refused(buf, len, -EINVAL, "snap/state: section 7 (VCPU): vCPU 2, but the file has 2 vCPUs");
	free(buf);
}

/* Offsets inside a VCPU section: index, flags, nr_msrs_listed, xsave_size, tsc_offset, then the regs' size. */
#define V_FLAGS 4
#define V_XSAVE_SIZE 12
#define V_REGS_SIZE 24

Test(snapshot_file, vcpu_fields_out_of_range)
{
	size_t len;
	uint8_t *buf = good_file(&len, 2);
	uint8_t *v = section(buf, S_VCPU0);

	put32(v + V_XSAVE_SIZE, 1u << 20);
	fix_crcs(buf, len);
	refused(buf, len, -EINVAL, "snap/state: section 6 (VCPU): XSAVE area of 1048576 bytes, not 4096..65536");
	put32(v + V_XSAVE_SIZE, XSAVE_BYTES);
	put32(v + V_REGS_SIZE, sizeof(struct kvm_regs) + 8);
	fix_crcs(buf, len);
	refused(buf, len, -EINVAL, "snap/state: section 6 (VCPU): registers of 152 bytes, this thpvm's are 144 bytes");
	put32(v + V_REGS_SIZE, sizeof(struct kvm_regs));
	put32(v + V_FLAGS, 0x80 | 7);
	fix_crcs(buf, len);
	refused(buf, len, -EINVAL, "snap/state: section 6 (VCPU): unknown flags 0x80");
	put32(v + V_FLAGS, 7);
	fix_crcs(buf, len);
	accepted(buf, len);
	free(buf);
}

Test(snapshot_file, vcpu_counts_over_their_bounds)
{
	size_t len;
	uint8_t *buf = good_file(&len, 1);
	uint8_t *v = section(buf, 6);
	size_t vlen = get64(entry(buf, 6) + 16);
	/* the vCPU's tail: cpuid entry size, nent, 3 entries, msr entry size, nmsrs, 4 entries */
	size_t msrs = vlen - 4 * sizeof(struct kvm_msr_entry) - 8;
	size_t cpuid = msrs - 3 * sizeof(struct kvm_cpuid_entry2) - 8;

	cr_assert_eq(get32(v + cpuid), sizeof(struct kvm_cpuid_entry2));
	put32(v + cpuid + 4, 257);
	fix_crcs(buf, len);
	refused(buf, len, -EINVAL, "snap/state: section 6 (VCPU): 257 CPUID entries, at most 256");
	put32(v + cpuid + 4, 4);
	fix_crcs(buf, len);
	refused(buf, len, -EINVAL, "snap/state: section 6 (VCPU): ");
	put32(v + cpuid + 4, 3);
	cr_assert_eq(get32(v + msrs), sizeof(struct kvm_msr_entry));
	put32(v + msrs + 4, 1025);
	fix_crcs(buf, len);
	refused(buf, len, -EINVAL, "snap/state: section 6 (VCPU): 1025 MSR entries, at most 1024");
	put32(v + msrs + 4, 3);
	fix_crcs(buf, len);
	refused(buf, len, -EINVAL, "snap/state: section 6 (VCPU): 16 bytes after its last field");
	put32(v + msrs + 4, 4);
	fix_crcs(buf, len);
	accepted(buf, len);
	free(buf);
}

Test(snapshot_file, json_sections_checked)
{
	size_t len;
	uint8_t *buf = good_file(&len, 2);
	uint8_t *c = section(buf, S_CONFIG);

	c[0] = '[';
	fix_crcs(buf, len);
	refused(buf, len, -EINVAL, "snap/state: section 0 (CONFIG): not valid JSON: ");
	free(buf);
}

Test(snapshot_file, file_over_the_maximum)
{
	struct snapshot_state s;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	cr_assert(fd >= 0);
	cr_assert_eq(ftruncate(fd, SNAPSHOT_MAX_FILE_BYTES + 1), 0);
	close(fd);
	cr_assert_eq(snapshot_state_read(path, &s), -EINVAL);
	cr_assert_not_null(strstr(vmm_last_error(), ": 67108865 bytes, more than the 67108864 a state file may have"), "%s",
			   vmm_last_error());
	cr_assert_eq(strncmp(vmm_last_error(), path, strlen(path)), 0);
	cr_assert_null(s.config);
	snapshot_state_free(&s);
}

Test(snapshot_file, not_a_regular_file)
{
	struct snapshot_state s;
	char want[256];

	snprintf(want, sizeof(want), "%s: not a regular file", dir);
	cr_assert_eq(snapshot_state_read(dir, &s), -EINVAL);
	cr_assert_str_eq(vmm_last_error(), want);
	/* a FIFO is refused, not waited on */
	cr_assert_eq(mkfifo(path, 0600), 0);
	cr_assert_eq(snapshot_state_read(path, &s), -EINVAL);
	cr_assert_not_null(strstr(vmm_last_error(), ": not a regular file"));
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(snapshot_state_read(path, &s), -ENOENT);
	cr_assert_not_null(strstr(vmm_last_error(), ": cannot open: "), "%s", vmm_last_error());
	snapshot_state_free(&s);
}

/* A write refuses what a read would refuse, before creating the file. */
Test(snapshot_file, write_refuses_a_bad_state)
{
	struct snapshot_state s;

	make_state(&s, 2);
	snprintf(s.regions[1].file, sizeof(s.regions[1].file), "../escape");
	cr_assert_eq(snapshot_state_write(path, &s), -EINVAL);
	cr_assert_not_null(strstr(vmm_last_error(), "region 1: memory file '../escape' is not a plain file name"), "%s",
			   vmm_last_error());
	snprintf(s.regions[1].file, sizeof(s.regions[1].file), "ram-low.mem");
	cr_assert_eq(snapshot_state_write(path, &s), -EINVAL);
	cr_assert_not_null(strstr(vmm_last_error(), "belongs to another region too"), "%s", vmm_last_error());
	snprintf(s.regions[1].file, sizeof(s.regions[1].file), "ram-high.mem");
	s.regions[0].map[1] = 9;
	cr_assert_eq(snapshot_state_write(path, &s), -EINVAL);
	cr_assert_not_null(strstr(vmm_last_error(), "region 0: extent 1's map byte is 9"), "%s", vmm_last_error());
	s.regions[0].map[1] = THPVM_IMAGE_ZERO;
	s.vm.vcpus[1].msrs->nmsrs = 1025;
	cr_assert_eq(snapshot_state_write(path, &s), -EINVAL);
	cr_assert_not_null(strstr(vmm_last_error(), "vCPU 1: 1025 MSRs, at most 1024"), "%s", vmm_last_error());
	s.vm.vcpus[1].msrs->nmsrs = 5;
	cr_assert_eq(access(path, F_OK), -1, "nothing written");
	cr_assert_eq(snapshot_state_write("/nonexistent-dir/state", &s), -ENOENT);
	cr_assert_str_eq(vmm_last_error(), "/nonexistent-dir/state: cannot create: No such file or directory");
	snapshot_state_free(&s);
}

static void write_seed(const char *seeds, const char *name, const uint8_t *buf, size_t len)
{
	char p[512];
	FILE *f;

	cr_assert_lt(len, 64 << 10, "seed %s too large", name);
	snprintf(p, sizeof(p), "%s/%s", seeds, name);
	f = fopen(p, "wb");
	cr_assert_not_null(f, "%s", p);
	cr_assert_eq(fwrite(buf, 1, len, f), len);
	fclose(f);
}

/* Valid files for the fuzz target (fuzz/corpus/snapshot_state), written when THPVM_SNAPSHOT_SEEDS names a directory. */
Test(snapshot_file, seeds)
{
	const char *seeds = getenv("THPVM_SNAPSHOT_SEEDS");
	static const char extra[] = "a section of version 1.1";
	size_t len1, len2, len3;
	uint8_t *one = good_file(&len1, 1), *two = good_file(&len2, 2), *newer;

	accepted(one, len1);
	accepted(two, len2);
	len3 = len1;
	one[10] = 1;
	fix_crcs(one, len1);
	newer = add_section(one, &len3, 42, extra, sizeof(extra));
	accepted(newer, len3);
	if (seeds) {
		write_seed(seeds, "two-vcpus", two, len2);
		one[10] = 0;
		fix_crcs(one, len1);
		write_seed(seeds, "one-vcpu", one, len1);
		write_seed(seeds, "minor-1.1-unknown-section", newer, len3);
	}
	free(newer);
	free(one);
	free(two);
}
