/* SPDX-License-Identifier: MIT */
/*
 * A snapshot's state file (snapshot_file.h; the layout, byte by byte, is
 * docs/snapshot-format.md). Written whole from one buffer built in memory;
 * read whole (it is small and bounded) and believed only after the header,
 * the table's checksum and every section's checksum have passed, and then
 * only field by field: every count read from the file is checked against
 * its bound and against the bytes really left in its section before it
 * sizes an allocation or a copy.
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "snapshot_file.h"
#include "util/crc32c.h"
#include "util/error.h"

#define HEADER_BYTES 32u
#define ENTRY_BYTES 32u
#define HEADER_CRC_AT 20u
/* 1.0 needs 4 + THPVM_MAX_REGIONS + SNAPSHOT_MAX_VCPUS (132); the rest is room for a later minor's sections */
#define MAX_SECTIONS 256u
#define MAX_CPUID_ENTRIES 256u          /* what vcpu_state_save() asks KVM for */
#define MAX_MSRS 1024u                  /* KVM lists a few hundred */
#define MAX_XSAVE_BYTES (64u << 10)     /* KVM_CAP_XSAVE2 is ~11 KiB with AMX */
#define NAME_BYTES 32u                  /* sizeof(struct snapshot_region.name) */
#define FILE_BYTES 64u                  /* sizeof(struct snapshot_region.file) */
#define CLOCK_BYTES 24u
#define GUEST_PAGE 4096ull

enum section_type {
	SEC_CONFIG = 1,
	SEC_VM = 2,
	SEC_CLOCK = 3,
	SEC_DEVICES = 4,
	SEC_REGION = 5,
	SEC_VCPU = 6,
	NR_SEC_TYPES
};

static const char *const section_names[NR_SEC_TYPES] = {
	[SEC_CONFIG] = "CONFIG", [SEC_VM] = "VM",         [SEC_CLOCK] = "CLOCK",
	[SEC_DEVICES] = "DEVICES", [SEC_REGION] = "REGION", [SEC_VCPU] = "VCPU",
};

/* Flags inside the sections; a bit this reader does not know is refused (a newer minor adds sections, not bits). */
#define VM_HAS_IRQCHIP (1u << 0)
#define VM_HAS_PIT (1u << 1)
#define VCPU_HAS_LAPIC (1u << 0)
#define VCPU_HAS_CPUID (1u << 1)
#define VCPU_HAS_MSRS (1u << 2)
#define CLOCK_TSC_EXACT (1u << 0)

_Static_assert(sizeof(((struct snapshot_region *)0)->name) == NAME_BYTES, "REGION name field");
_Static_assert(sizeof(((struct snapshot_region *)0)->file) == FILE_BYTES, "REGION file field");
_Static_assert(sizeof(SNAPSHOT_MAGIC) - 1 == 8, "the magic is 8 bytes");

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* src (at most n bytes, up to a NUL) with every byte that could break the one-line message shown as '?'. */
static const char *printable(char *dst, size_t dst_len, const char *src, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < dst_len && src[i]; i++)
		dst[i] = (unsigned char)src[i] < 0x20 || (unsigned char)src[i] >= 0x7f ? '?' : src[i];
	dst[i] = '\0';
	return dst;
}

/* The 2 MiB extents a region spans (thpvm_region_nr_extents() of the region it was saved from). */
static uint64_t region_extents(uint64_t gpa, uint64_t size)
{
	uint64_t first = gpa & ~(THPVM_EXTENT_SIZE - 1);
	uint64_t end = (gpa + size + THPVM_EXTENT_SIZE - 1) & ~(THPVM_EXTENT_SIZE - 1);

	return (end - first) / THPVM_EXTENT_SIZE;
}

/* A memory file name the directory can hold and a load cannot be steered out of with. */
static bool plain_name(const char *f, size_t n)
{
	return memchr(f, '\0', n) && f[0] && !strchr(f, '/') && strcmp(f, ".") && strcmp(f, "..");
}

/*
 * What a region must be, for the writer (where: "region N") and the reader
 * (where: "section N (REGION)") alike, so a write never makes a file a read
 * refuses. The map is checked separately: the reader has it only later.
 */
static int check_region(const char *name, const char *where, const struct snapshot_region *r)
{
	char shown[FILE_BYTES + 1];

	if (!memchr(r->name, '\0', NAME_BYTES) || !r->name[0])
		return vmm_fail(-EINVAL, "%s: %s: the region's name is not a string of 1..%u characters", name, where,
				NAME_BYTES - 1);
	if (!plain_name(r->file, FILE_BYTES))
		return vmm_fail(-EINVAL, "%s: %s: memory file '%s' is not a plain file name", name, where,
				printable(shown, sizeof(shown), r->file, FILE_BYTES));
	if (!r->size_bytes || r->gpa % GUEST_PAGE || r->size_bytes % GUEST_PAGE || r->gpa >= THPVM_GPA_LIMIT ||
	    r->size_bytes > THPVM_GPA_LIMIT - r->gpa)
		return vmm_fail(-EINVAL, "%s: %s: region at 0x%llx of 0x%llx bytes is empty, not page-aligned or past the guest address limit",
				name, where, (unsigned long long)r->gpa, (unsigned long long)r->size_bytes);
	if (r->nr_extents != region_extents(r->gpa, r->size_bytes))
		return vmm_fail(-EINVAL, "%s: %s: %llu extents, but a region at 0x%llx of 0x%llx bytes spans %llu", name,
				where, (unsigned long long)r->nr_extents, (unsigned long long)r->gpa,
				(unsigned long long)r->size_bytes,
				(unsigned long long)region_extents(r->gpa, r->size_bytes));
	return 0;
}

static int check_map(const char *name, const char *where, const struct snapshot_region *r)
{
	if (!r->map)
		return vmm_fail(-EINVAL, "%s: %s: no extent map", name, where);
	for (uint64_t i = 0; i < r->nr_extents; i++)
		if (r->map[i] >= THPVM_NR_IMAGE_EXTENTS)
			return vmm_fail(-EINVAL, "%s: %s: extent %llu's map byte is %u, not one of absent, zero, data (0..%u)",
					name, where, (unsigned long long)i, r->map[i], THPVM_NR_IMAGE_EXTENTS - 1);
	return 0;
}

/* Two regions may share neither a name, nor a memory file (one would overwrite the other), nor guest addresses. */
static int check_region_pair(const char *name, const char *where, const struct snapshot_region *a,
			     const struct snapshot_region *b)
{
	char shown[FILE_BYTES + 1], other[NAME_BYTES + 1];

	if (!strcmp(a->name, b->name))
		return vmm_fail(-EINVAL, "%s: %s: a second region named '%s'", name, where,
				printable(shown, sizeof(shown), b->name, NAME_BYTES));
	if (!strcmp(a->file, b->file))
		return vmm_fail(-EINVAL, "%s: %s: memory file '%s' belongs to another region too", name, where,
				printable(shown, sizeof(shown), b->file, FILE_BYTES));
	if (a->gpa < b->gpa + b->size_bytes && b->gpa < a->gpa + a->size_bytes)
		return vmm_fail(-EINVAL, "%s: %s: region '%s' overlaps region '%s'", name, where,
				printable(shown, sizeof(shown), b->name, NAME_BYTES),
				printable(other, sizeof(other), a->name, NAME_BYTES));
	return 0;
}

static int check_vcpu(const char *name, const char *where, const struct vcpu_state *v)
{
	if (!v->xsave || v->xsave_size < sizeof(struct kvm_xsave) || v->xsave_size > MAX_XSAVE_BYTES)
		return vmm_fail(-EINVAL, "%s: %s: XSAVE area of %u bytes, not %zu..%u", name, where, v->xsave_size,
				sizeof(struct kvm_xsave), MAX_XSAVE_BYTES);
	if (v->cpuid && v->cpuid->nent > MAX_CPUID_ENTRIES)
		return vmm_fail(-EINVAL, "%s: %s: %u CPUID entries, at most %u", name, where, v->cpuid->nent,
				MAX_CPUID_ENTRIES);
	if (v->msrs && v->msrs->nmsrs > MAX_MSRS)
		return vmm_fail(-EINVAL, "%s: %s: %u MSRs, at most %u", name, where, v->msrs->nmsrs, MAX_MSRS);
	return 0;
}

/* The largest VCPU and the only VM section this reader takes: each field's size and bytes, as written below. */
#define VCPU_STRUCT_BYTES                                                                              \
	(sizeof(struct kvm_regs) + sizeof(struct kvm_sregs) + sizeof(struct kvm_xcrs) +                  \
	 sizeof(struct kvm_lapic_state) + sizeof(struct kvm_vcpu_events) + sizeof(struct kvm_mp_state) + \
	 sizeof(struct kvm_debugregs))
#define VCPU_MAX_BYTES                                                                                  \
	(4 * 4 + 8 + 7 * 4 + VCPU_STRUCT_BYTES + MAX_XSAVE_BYTES + 8 +                                  \
	 MAX_CPUID_ENTRIES * sizeof(struct kvm_cpuid_entry2) + 8 + MAX_MSRS * sizeof(struct kvm_msr_entry))
#define VM_BYTES                                                                                         \
	(2 * 4 + 5 * 4 + 3 * sizeof(struct kvm_irqchip) + sizeof(struct kvm_pit_state2) +                 \
	 sizeof(struct kvm_clock_data))

/* ---- writing ---- */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	int err;        /* the first failure: -ENOMEM, or -EFBIG past SNAPSHOT_MAX_FILE_BYTES */
};

/* n more zeroed bytes at the end, or NULL (b->err says why; every later call is then a no-op). */
static uint8_t *wb_grow(struct wbuf *b, size_t n)
{
	uint8_t *at;

	if (b->err)
		return NULL;
	if (n > SNAPSHOT_MAX_FILE_BYTES - b->len) {
		b->err = -EFBIG;
		return NULL;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 64 << 10;
		uint8_t *p;

		while (cap < b->len + n)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return NULL;
		}
		b->p = p;
		b->cap = cap;
	}
	at = b->p + b->len;
	memset(at, 0, n);
	b->len += n;
	return at;
}

static void wb_u32(struct wbuf *b, uint32_t v)
{
	uint8_t *p = wb_grow(b, 4);

	if (p)
		put32(p, v);
}

static void wb_u64(struct wbuf *b, uint64_t v)
{
	uint8_t *p = wb_grow(b, 8);

	if (p)
		put64(p, v);
}

static void wb_bytes(struct wbuf *b, const void *src, size_t n)
{
	uint8_t *p = wb_grow(b, n);

	if (p && n)
		memcpy(p, src, n);
}

/* A kernel ABI struct: its size, then its bytes, so a reader built against another size refuses it. */
static void wb_blob(struct wbuf *b, const void *src, size_t n)
{
	wb_u32(b, (uint32_t)n);
	wb_bytes(b, src, n);
}

struct entry {
	uint32_t type;
	uint64_t offset, size;
	uint32_t crc;
};

static void section_begin(struct wbuf *b, struct entry *e, uint32_t type)
{
	e->type = type;
	e->offset = b->len;
}

static void section_end(struct wbuf *b, struct entry *e)
{
	e->size = b->len - e->offset;
	if (!b->err)
		e->crc = crc32c(0, b->p + e->offset, e->size);
}

static void write_vm(struct wbuf *b, const struct vm_state *vm)
{
	wb_u32(b, (vm->has_irqchip ? VM_HAS_IRQCHIP : 0) | (vm->has_pit ? VM_HAS_PIT : 0));
	wb_u32(b, 0);
	wb_blob(b, &vm->pic_master, sizeof(vm->pic_master));
	wb_blob(b, &vm->pic_slave, sizeof(vm->pic_slave));
	wb_blob(b, &vm->ioapic, sizeof(vm->ioapic));
	wb_blob(b, &vm->pit, sizeof(vm->pit));
	wb_blob(b, &vm->clock, sizeof(vm->clock));
}

static void write_clock(struct wbuf *b, const struct vm_snapshot *vm)
{
	wb_u32(b, vm->tsc_exact ? CLOCK_TSC_EXACT : 0);
	wb_u32(b, 0);
	wb_u64(b, vm->host_tsc);
	wb_u64(b, vm->mono_ns);
}

static void write_region(struct wbuf *b, const struct snapshot_region *r)
{
	wb_bytes(b, r->name, NAME_BYTES);
	wb_bytes(b, r->file, FILE_BYTES);
	wb_u64(b, r->gpa);
	wb_u64(b, r->size_bytes);
	wb_u64(b, r->nr_extents);
	wb_bytes(b, r->map, r->nr_extents);
}

static void write_vcpu(struct wbuf *b, unsigned index, const struct vcpu_state *v, int64_t tsc_offset)
{
	uint32_t nent = v->cpuid ? v->cpuid->nent : 0, nmsrs = v->msrs ? v->msrs->nmsrs : 0;

	wb_u32(b, index);
	wb_u32(b, (v->has_lapic ? VCPU_HAS_LAPIC : 0) | (v->cpuid ? VCPU_HAS_CPUID : 0) | (v->msrs ? VCPU_HAS_MSRS : 0));
	wb_u32(b, v->nr_msrs_listed);
	wb_u32(b, v->xsave_size);
	wb_u64(b, (uint64_t)tsc_offset);
	wb_blob(b, &v->regs, sizeof(v->regs));
	wb_blob(b, &v->sregs, sizeof(v->sregs));
	wb_blob(b, &v->xcrs, sizeof(v->xcrs));
	wb_blob(b, &v->lapic, sizeof(v->lapic));
	wb_blob(b, &v->events, sizeof(v->events));
	wb_blob(b, &v->mp_state, sizeof(v->mp_state));
	wb_blob(b, &v->debugregs, sizeof(v->debugregs));
	wb_bytes(b, v->xsave, v->xsave_size);
	wb_u32(b, sizeof(struct kvm_cpuid_entry2));
	wb_u32(b, nent);
	if (nent)
		wb_bytes(b, v->cpuid->entries, nent * sizeof(struct kvm_cpuid_entry2));
	wb_u32(b, sizeof(struct kvm_msr_entry));
	wb_u32(b, nmsrs);
	if (nmsrs)
		wb_bytes(b, v->msrs->entries, nmsrs * sizeof(struct kvm_msr_entry));
}

/* The JSON text of a section (an object, within max bytes), malloc'd; *len without a NUL. */
static int json_text(const char *path, const char *what, const json_t *j, size_t max, char **out, size_t *len)
{
	if (!json_is_object(j))
		return vmm_fail(-EINVAL, "%s: the %s is not a JSON object", path, what);
	*out = json_dumps(j, JSON_COMPACT);
	if (!*out)
		return vmm_fail(-ENOMEM, "%s: cannot write the %s as JSON", path, what);
	*len = strlen(*out);
	if (*len > max) {
		free(*out);
		*out = NULL;
		return vmm_fail(-EINVAL, "%s: the %s is %zu bytes of JSON, more than its %zu", path, what, *len, max);
	}
	return 0;
}

/* Everything a read would refuse, refused before a byte is written. */
static int check_state(const char *path, const struct snapshot_state *s)
{
	char where[32];
	int ret;

	if (!s->nr_regions || s->nr_regions > THPVM_MAX_REGIONS)
		return vmm_fail(-EINVAL, "%s: %u regions, not 1..%u", path, s->nr_regions, THPVM_MAX_REGIONS);
	for (unsigned i = 0; i < s->nr_regions; i++) {
		snprintf(where, sizeof(where), "region %u", i);
		if ((ret = check_region(path, where, &s->regions[i])) || (ret = check_map(path, where, &s->regions[i])))
			return ret;
		for (unsigned j = 0; j < i; j++)
			if ((ret = check_region_pair(path, where, &s->regions[j], &s->regions[i])))
				return ret;
	}
	if (!s->vm.nr_vcpus || s->vm.nr_vcpus > SNAPSHOT_MAX_VCPUS || !s->vm.vcpus || !s->vm.tsc_offsets)
		return vmm_fail(-EINVAL, "%s: %u vCPUs, not 1..%u", path, s->vm.nr_vcpus, SNAPSHOT_MAX_VCPUS);
	for (unsigned i = 0; i < s->vm.nr_vcpus; i++) {
		snprintf(where, sizeof(where), "vCPU %u", i);
		if ((ret = check_vcpu(path, where, &s->vm.vcpus[i])))
			return ret;
	}
	return 0;
}

/* The whole file in b: header, table, then CONFIG, VM, CLOCK, DEVICES, the REGIONs, the VCPUs, back to back. */
static int build(const char *path, const struct snapshot_state *s, struct wbuf *b)
{
	unsigned nr = 4 + s->nr_regions + s->vm.nr_vcpus, n = 0;
	struct entry e[4 + THPVM_MAX_REGIONS + SNAPSHOT_MAX_VCPUS];
	char *config = NULL, *devices = NULL;
	size_t config_len, devices_len;
	uint8_t *hdr;
	uint32_t crc;
	int ret;

	if ((ret = json_text(path, "config", s->config, SNAPSHOT_MAX_CONFIG_BYTES, &config, &config_len)) ||
	    (ret = json_text(path, "devices' state", s->vm.devices, SNAPSHOT_MAX_DEVICES_BYTES, &devices, &devices_len))) {
		free(config);
		return ret;
	}
	wb_grow(b, HEADER_BYTES + nr * ENTRY_BYTES);
	section_begin(b, &e[n], SEC_CONFIG);
	wb_bytes(b, config, config_len);
	section_end(b, &e[n++]);
	section_begin(b, &e[n], SEC_VM);
	write_vm(b, &s->vm.vm);
	section_end(b, &e[n++]);
	section_begin(b, &e[n], SEC_CLOCK);
	write_clock(b, &s->vm);
	section_end(b, &e[n++]);
	section_begin(b, &e[n], SEC_DEVICES);
	wb_bytes(b, devices, devices_len);
	section_end(b, &e[n++]);
	for (unsigned i = 0; i < s->nr_regions; i++) {
		section_begin(b, &e[n], SEC_REGION);
		write_region(b, &s->regions[i]);
		section_end(b, &e[n++]);
	}
	for (unsigned i = 0; i < s->vm.nr_vcpus; i++) {
		section_begin(b, &e[n], SEC_VCPU);
		write_vcpu(b, i, &s->vm.vcpus[i], s->vm.tsc_offsets[i]);
		section_end(b, &e[n++]);
	}
	free(config);
	free(devices);
	if (b->err == -EFBIG)
		return vmm_fail(-EINVAL, "%s: the state would be more than %llu bytes", path, SNAPSHOT_MAX_FILE_BYTES);
	if (b->err)
		return vmm_fail(b->err, "%s: out of memory building the state", path);

	hdr = b->p;
	memcpy(hdr, SNAPSHOT_MAGIC, 8);
	put16(hdr + 8, SNAPSHOT_VERSION_MAJOR);
	put16(hdr + 10, SNAPSHOT_VERSION_MINOR);
	put32(hdr + 12, SNAPSHOT_ARCH_X86_64);
	put32(hdr + 16, nr);
	put64(hdr + 24, b->len);
	for (unsigned i = 0; i < nr; i++) {
		uint8_t *t = hdr + HEADER_BYTES + i * ENTRY_BYTES;

		put32(t, e[i].type);
		put64(t + 8, e[i].offset);
		put64(t + 16, e[i].size);
		put32(t + 24, e[i].crc);
	}
	/* the header (its CRC field zero) and the table under one CRC: no bit of either goes unchecked */
	crc = crc32c(0, hdr, HEADER_BYTES + nr * ENTRY_BYTES);
	put32(hdr + HEADER_CRC_AT, crc);
	return 0;
}

static int write_all(const char *path, const uint8_t *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), err;
	const char *what = "writing";

	if (fd < 0)
		return vmm_fail(-errno, "%s: cannot create: %s", path, strerror(errno));
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		p += n;
		len -= (size_t)n;
	}
	what = "fsync";
	if (fsync(fd))
		goto fail;
	what = "closing";
	if (close(fd)) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	err = errno ? errno : EIO;
	if (fd >= 0)
		close(fd);
	/* a partial state file is refused by any read; removing it leaves no doubt */
	unlink(path);
	return vmm_fail(-err, "%s: %s: %s", path, what, strerror(err));
}

int snapshot_state_write(const char *path, const struct snapshot_state *s)
{
	struct wbuf b = { 0 };
	int ret;

	if ((ret = check_state(path, s)) || (ret = build(path, s, &b))) {
		free(b.p);
		return ret;
	}
	errno = 0;
	ret = write_all(path, b.p, b.len);
	free(b.p);
	return ret;
}

/* ---- reading ---- */

/* One section being decoded: its bytes and where it is, for the messages. */
struct sec {
	const char *name;
	char where[48];         /* "section N (TYPE)" */
	const uint8_t *p;
	size_t len, off;
};

#define SEC_FAIL(c, fmt, ...) vmm_fail(-EINVAL, "%s: %s: " fmt, (c)->name, (c)->where, ##__VA_ARGS__)

/* The next n bytes of the section, or NULL when fewer are left (nothing past the section is ever read). */
static const uint8_t *take(struct sec *c, size_t n)
{
	const uint8_t *at = c->p + c->off;

	if (n > c->len - c->off)
		return NULL;
	c->off += n;
	return at;
}

static int take_u32(struct sec *c, uint32_t *v, const char *what)
{
	const uint8_t *p = take(c, 4);

	if (!p)
		return SEC_FAIL(c, "ends inside its %s", what);
	*v = get32(p);
	return 0;
}

static int take_u64(struct sec *c, uint64_t *v, const char *what)
{
	const uint8_t *p = take(c, 8);

	if (!p)
		return SEC_FAIL(c, "ends inside its %s", what);
	*v = get64(p);
	return 0;
}

static int take_bytes(struct sec *c, void *dst, size_t n, const char *what)
{
	const uint8_t *p = take(c, n);

	if (!p)
		return SEC_FAIL(c, "ends inside its %s", what);
	if (n)
		memcpy(dst, p, n);
	return 0;
}

/* A kernel ABI struct: its recorded size must be this build's. */
static int take_blob(struct sec *c, void *dst, size_t size, const char *what)
{
	uint32_t n = 0;
	int ret;

	if ((ret = take_u32(c, &n, what)))
		return ret;
	if (n != size)
		return SEC_FAIL(c, "%s of %u bytes, this thpvm's are %zu bytes", what, n, size);
	return take_bytes(c, dst, size, what);
}

static int take_end(struct sec *c)
{
	if (c->off != c->len)
		return SEC_FAIL(c, "%zu bytes after its last field", c->len - c->off);
	return 0;
}

/* Flags of this major version only, and a reserved word that is zero. */
static int take_flags(struct sec *c, uint32_t known, uint32_t *flags)
{
	uint32_t reserved;
	int ret;

	if ((ret = take_u32(c, flags, "flags")))
		return ret;
	if (*flags & ~known)
		return SEC_FAIL(c, "unknown flags 0x%x", *flags & ~known);
	if ((ret = take_u32(c, &reserved, "reserved word")))
		return ret;
	if (reserved)
		return SEC_FAIL(c, "reserved word is 0x%x, not 0", reserved);
	return 0;
}

static int read_json(struct sec *c, json_t **out)
{
	char shown[160];
	json_error_t err;

	*out = json_loadb((const char *)c->p, c->len, JSON_REJECT_DUPLICATES, &err);
	if (!*out)
		return SEC_FAIL(c, "not valid JSON: %s (byte %d)",
				printable(shown, sizeof(shown), err.text, sizeof(err.text)), err.position);
	if (!json_is_object(*out))
		return SEC_FAIL(c, "not a JSON object");
	return 0;
}

static int read_vm(struct sec *c, struct vm_state *vm)
{
	uint32_t flags;
	int ret;

	if ((ret = take_flags(c, VM_HAS_IRQCHIP | VM_HAS_PIT, &flags)) ||
	    (ret = take_blob(c, &vm->pic_master, sizeof(vm->pic_master), "master PIC")) ||
	    (ret = take_blob(c, &vm->pic_slave, sizeof(vm->pic_slave), "slave PIC")) ||
	    (ret = take_blob(c, &vm->ioapic, sizeof(vm->ioapic), "IOAPIC")) ||
	    (ret = take_blob(c, &vm->pit, sizeof(vm->pit), "PIT")) ||
	    (ret = take_blob(c, &vm->clock, sizeof(vm->clock), "kvmclock")))
		return ret;
	vm->has_irqchip = flags & VM_HAS_IRQCHIP;
	vm->has_pit = flags & VM_HAS_PIT;
	return take_end(c);
}

static int read_clock(struct sec *c, struct vm_snapshot *vm)
{
	uint32_t flags;
	int ret;

	if ((ret = take_flags(c, CLOCK_TSC_EXACT, &flags)) || (ret = take_u64(c, &vm->host_tsc, "host TSC")) ||
	    (ret = take_u64(c, &vm->mono_ns, "monotonic time")))
		return ret;
	vm->tsc_exact = flags & CLOCK_TSC_EXACT;
	return take_end(c);
}

static int read_region(struct sec *c, struct snapshot_state *s)
{
	struct snapshot_region *r = &s->regions[s->nr_regions];
	int ret;

	if ((ret = take_bytes(c, r->name, NAME_BYTES, "name")) || (ret = take_bytes(c, r->file, FILE_BYTES, "file name")) ||
	    (ret = take_u64(c, &r->gpa, "guest address")) || (ret = take_u64(c, &r->size_bytes, "size")) ||
	    (ret = take_u64(c, &r->nr_extents, "extent count")) || (ret = check_region(c->name, c->where, r)))
		return ret;
	/* nr_extents now matches the region, and must match the bytes left before it sizes anything */
	if (r->nr_extents != c->len - c->off)
		return SEC_FAIL(c, "%zu map bytes for %llu extents", c->len - c->off, (unsigned long long)r->nr_extents);
	r->map = malloc(r->nr_extents);
	if (!r->map)
		return vmm_fail(-ENOMEM, "%s: %s: out of memory for the extent map", c->name, c->where);
	s->nr_regions++;
	memcpy(r->map, take(c, r->nr_extents), r->nr_extents);
	if ((ret = check_map(c->name, c->where, r)))
		return ret;
	for (unsigned j = 0; j + 1 < s->nr_regions; j++)
		if ((ret = check_region_pair(c->name, c->where, &s->regions[j], r)))
			return ret;
	return 0;
}

/* An array of count entries of entry_size bytes each, this build's size, after its two words. */
static int take_array_head(struct sec *c, size_t entry_size, uint32_t max, uint32_t *count, const char *what)
{
	uint32_t size = 0;
	int ret;

	if ((ret = take_u32(c, &size, what)) || (ret = take_u32(c, count, what)))
		return ret;
	if (size != entry_size)
		return SEC_FAIL(c, "its %s entries are %u bytes, this thpvm's are %zu", what, size, entry_size);
	if (*count > max)
		return SEC_FAIL(c, "%u %s entries, at most %u", *count, what, max);
	if ((size_t)*count * entry_size > c->len - c->off)
		return SEC_FAIL(c, "ends inside its %s", what);
	return 0;
}

/*
 * A KVM array (struct kvm_cpuid2, struct kvm_msrs: a u32 count first, the
 * entries at entries_off) into a new allocation at *out; entries only when
 * the vCPU's flag says it has them, and with it even when there are none.
 */
static int take_kvm_array(struct sec *c, size_t entries_off, size_t entry_size, uint32_t max, bool flagged,
			  const char *what, void **out)
{
	uint32_t n;
	uint8_t *p;
	int ret;

	if ((ret = take_array_head(c, entry_size, max, &n, what)))
		return ret;
	if (n && !flagged)
		return SEC_FAIL(c, "%s entries without its %s flag", what, what);
	if (!flagged)
		return 0;
	if (!(p = calloc(1, entries_off + (size_t)n * entry_size)))
		return vmm_fail(-ENOMEM, "%s: %s: out of memory", c->name, c->where);
	memcpy(p, &n, sizeof(n)); /* nent, nmsrs */
	if (n)
		memcpy(p + entries_off, take(c, (size_t)n * entry_size), (size_t)n * entry_size);
	*out = p;
	return 0;
}

static int read_vcpu(struct sec *c, struct vm_snapshot *vm, bool *seen)
{
	uint32_t index, flags, listed, xsave_size;
	struct vcpu_state *v;
	uint64_t offset;
	int ret;

	if ((ret = take_u32(c, &index, "vCPU index")))
		return ret;
	if (index >= vm->nr_vcpus)
		return SEC_FAIL(c, "vCPU %u, but the file has %u vCPUs", index, vm->nr_vcpus);
	if (seen[index])
		return SEC_FAIL(c, "vCPU %u a second time", index);
	seen[index] = true;
	v = &vm->vcpus[index];
	if ((ret = take_u32(c, &flags, "flags")) || (ret = take_u32(c, &listed, "MSR count")) ||
	    (ret = take_u32(c, &xsave_size, "XSAVE size")) || (ret = take_u64(c, &offset, "TSC offset")))
		return ret;
	if (flags & ~(VCPU_HAS_LAPIC | VCPU_HAS_CPUID | VCPU_HAS_MSRS))
		return SEC_FAIL(c, "unknown flags 0x%x", flags & ~(VCPU_HAS_LAPIC | VCPU_HAS_CPUID | VCPU_HAS_MSRS));
	if (xsave_size < sizeof(struct kvm_xsave) || xsave_size > MAX_XSAVE_BYTES)
		return SEC_FAIL(c, "XSAVE area of %u bytes, not %zu..%u", xsave_size, sizeof(struct kvm_xsave),
				MAX_XSAVE_BYTES);
	v->has_lapic = flags & VCPU_HAS_LAPIC;
	v->nr_msrs_listed = listed;
	vm->tsc_offsets[index] = (int64_t)offset;
	if ((ret = take_blob(c, &v->regs, sizeof(v->regs), "registers")) ||
	    (ret = take_blob(c, &v->sregs, sizeof(v->sregs), "special registers")) ||
	    (ret = take_blob(c, &v->xcrs, sizeof(v->xcrs), "XCRs")) ||
	    (ret = take_blob(c, &v->lapic, sizeof(v->lapic), "LAPIC")) ||
	    (ret = take_blob(c, &v->events, sizeof(v->events), "events")) ||
	    (ret = take_blob(c, &v->mp_state, sizeof(v->mp_state), "MP state")) ||
	    (ret = take_blob(c, &v->debugregs, sizeof(v->debugregs), "debug registers")))
		return ret;
	if (xsave_size > c->len - c->off)
		return SEC_FAIL(c, "ends inside its XSAVE area");
	if (!(v->xsave = malloc(xsave_size)))
		return vmm_fail(-ENOMEM, "%s: %s: out of memory", c->name, c->where);
	v->xsave_size = xsave_size;
	memcpy(v->xsave, take(c, xsave_size), xsave_size);

	if ((ret = take_kvm_array(c, offsetof(struct kvm_cpuid2, entries), sizeof(struct kvm_cpuid_entry2),
				  MAX_CPUID_ENTRIES, flags & VCPU_HAS_CPUID, "CPUID", (void **)&v->cpuid)) ||
	    (ret = take_kvm_array(c, offsetof(struct kvm_msrs, entries), sizeof(struct kvm_msr_entry), MAX_MSRS,
				  flags & VCPU_HAS_MSRS, "MSR", (void **)&v->msrs)))
		return ret;
	return take_end(c);
}

static const char *type_name(uint32_t type, char *buf, size_t len)
{
	if (type < NR_SEC_TYPES && section_names[type])
		return section_names[type];
	snprintf(buf, len, "type %u", type);
	return buf;
}

/* The most a section of this type may hold (0: no bound of its own, the file's). */
static uint64_t section_bound(uint32_t type)
{
	switch (type) {
	case SEC_CONFIG:
		return SNAPSHOT_MAX_CONFIG_BYTES;
	case SEC_DEVICES:
		return SNAPSHOT_MAX_DEVICES_BYTES;
	case SEC_VM:
		return VM_BYTES;
	case SEC_CLOCK:
		return CLOCK_BYTES;
	case SEC_VCPU:
		return VCPU_MAX_BYTES;
	default:
		return 0;
	}
}

/* Magic, version, architecture, size, the table's place and the CRC over header and table; *nr gets the count. */
static int check_header(const uint8_t *p, size_t len, const char *name, uint32_t *nr)
{
	uint8_t hdr[HEADER_BYTES];
	uint32_t stored, crc;
	uint64_t size;

	if (len > SNAPSHOT_MAX_FILE_BYTES)
		return vmm_fail(-EINVAL, "%s: %zu bytes, more than the %llu a state file may have", name, len,
				SNAPSHOT_MAX_FILE_BYTES);
	if (len < HEADER_BYTES)
		return vmm_fail(-EINVAL, "%s: truncated: %zu bytes, shorter than the %u-byte header", name, len,
				HEADER_BYTES);
	if (memcmp(p, SNAPSHOT_MAGIC, 8))
		return vmm_fail(-EINVAL, "%s: not a thpvm snapshot state file (no %s magic)", name, SNAPSHOT_MAGIC);
	if (get16(p + 8) != SNAPSHOT_VERSION_MAJOR)
		return vmm_fail(-EINVAL, "%s: format version %u.%u, this thpvm reads %u.x", name, get16(p + 8),
				get16(p + 10), SNAPSHOT_VERSION_MAJOR);
	if (get32(p + 12) != SNAPSHOT_ARCH_X86_64)
		return vmm_fail(-EINVAL, "%s: architecture %u, this thpvm reads %u (x86_64)", name, get32(p + 12),
				SNAPSHOT_ARCH_X86_64);
	size = get64(p + 24);
	if (size > len)
		return vmm_fail(-EINVAL, "%s: truncated: %zu bytes of the %llu its header says", name, len,
				(unsigned long long)size);
	if (size < len)
		return vmm_fail(-EINVAL, "%s: %zu bytes, but its header says %llu", name, len, (unsigned long long)size);
	*nr = get32(p + 16);
	if (!*nr || *nr > MAX_SECTIONS)
		return vmm_fail(-EINVAL, "%s: %u sections, not 1..%u", name, *nr, MAX_SECTIONS);
	if (HEADER_BYTES + (size_t)*nr * ENTRY_BYTES > len)
		return vmm_fail(-EINVAL, "%s: truncated: its table of %u sections ends past its %zu bytes", name, *nr, len);
	memcpy(hdr, p, HEADER_BYTES);
	put32(hdr + HEADER_CRC_AT, 0);
	crc = crc32c(crc32c(0, hdr, HEADER_BYTES), p + HEADER_BYTES, (size_t)*nr * ENTRY_BYTES);
	stored = get32(p + HEADER_CRC_AT);
	if (crc != stored)
		return vmm_fail(-EINVAL, "%s: header and section table checksum mismatch (stored 0x%08x, computed 0x%08x)",
				name, stored, crc);
	return 0;
}

/*
 * Every table entry: in the file, within its type's bound, its CRC right;
 * counts[] gets the sections per known type. Nothing is decoded yet. The
 * sections follow the table back to back, in its order, up to the end of
 * the file: no byte of the file lies outside the header's, the table's or
 * a section's CRC, so no flipped bit anywhere goes unnoticed.
 */
static int check_table(const uint8_t *p, size_t len, const char *name, uint32_t nr, unsigned *counts)
{
	size_t next = HEADER_BYTES + (size_t)nr * ENTRY_BYTES;
	static const unsigned most[NR_SEC_TYPES] = {
		[SEC_CONFIG] = 1, [SEC_VM] = 1, [SEC_CLOCK] = 1, [SEC_DEVICES] = 1,
		[SEC_REGION] = THPVM_MAX_REGIONS, [SEC_VCPU] = SNAPSHOT_MAX_VCPUS,
	};

	for (uint32_t i = 0; i < nr; i++) {
		const uint8_t *t = p + HEADER_BYTES + i * ENTRY_BYTES;
		uint32_t type = get32(t), flags = get32(t + 4), crc = get32(t + 24), pad = get32(t + 28), got;
		uint64_t offset = get64(t + 8), size = get64(t + 16), bound = section_bound(type);
		char buf[24];
		const char *tn = type_name(type, buf, sizeof(buf));

		if (flags || pad)
			return vmm_fail(-EINVAL, "%s: section %u (%s): flags 0x%x and pad 0x%x, not 0", name, i, tn, flags, pad);
		if (offset != next)
			return vmm_fail(-EINVAL, "%s: section %u (%s) starts at %llu, not at %zu where the one before it ends",
					name, i, tn, (unsigned long long)offset, next);
		if (size > len - offset)
			return vmm_fail(-EINVAL, "%s: section %u (%s): %llu bytes at %llu run past the end of the file (%zu bytes)",
					name, i, tn, (unsigned long long)size, (unsigned long long)offset, len);
		if (bound && size > bound)
			return vmm_fail(-EINVAL, "%s: section %u (%s): %llu bytes, more than its %llu", name, i, tn,
					(unsigned long long)size, (unsigned long long)bound);
		got = crc32c(0, p + offset, (size_t)size);
		if (got != crc)
			return vmm_fail(-EINVAL, "%s: section %u (%s): checksum mismatch (stored 0x%08x, computed 0x%08x)",
					name, i, tn, crc, got);
		next = offset + size;
		if (type >= NR_SEC_TYPES || !section_names[type])
			continue; /* a later minor's section: skipped, by the compatibility rule */
		if (++counts[type] > most[type])
			return vmm_fail(-EINVAL, "%s: section %u (%s): more than %u %s section%s", name, i, tn, most[type],
					tn, most[type] > 1 ? "s" : "");
	}
	if (next != len)
		return vmm_fail(-EINVAL, "%s: its sections end at %zu, the file at %zu", name, next, len);
	for (uint32_t type = 1; type < NR_SEC_TYPES; type++)
		if (!counts[type])
			return vmm_fail(-EINVAL, "%s: no %s section", name, section_names[type]);
	return 0;
}

static int parse(const uint8_t *p, size_t len, const char *name, struct snapshot_state *s)
{
	unsigned counts[NR_SEC_TYPES] = { 0 };
	bool seen[SNAPSHOT_MAX_VCPUS] = { false };
	uint32_t nr = 0;
	int ret;

	if ((ret = check_header(p, len, name, &nr)) || (ret = check_table(p, len, name, nr, counts)))
		return ret;
	s->vm.vcpus = calloc(counts[SEC_VCPU], sizeof(*s->vm.vcpus));
	s->vm.tsc_offsets = calloc(counts[SEC_VCPU], sizeof(*s->vm.tsc_offsets));
	if (!s->vm.vcpus || !s->vm.tsc_offsets)
		return vmm_fail(-ENOMEM, "%s: out of memory for %u vCPUs", name, counts[SEC_VCPU]);
	s->vm.nr_vcpus = counts[SEC_VCPU];
	for (uint32_t i = 0; i < nr; i++) {
		const uint8_t *t = p + HEADER_BYTES + i * ENTRY_BYTES;
		uint32_t type = get32(t);
		struct sec c = { .name = name, .p = p + get64(t + 8), .len = (size_t)get64(t + 16) };
		char buf[24];

		snprintf(c.where, sizeof(c.where), "section %u (%s)", i, type_name(type, buf, sizeof(buf)));
		switch (type) {
		case SEC_CONFIG:
			ret = read_json(&c, &s->config);
			break;
		case SEC_DEVICES:
			ret = read_json(&c, &s->vm.devices);
			break;
		case SEC_VM:
			ret = read_vm(&c, &s->vm.vm);
			break;
		case SEC_CLOCK:
			ret = read_clock(&c, &s->vm);
			break;
		case SEC_REGION:
			ret = read_region(&c, s);
			break;
		case SEC_VCPU:
			ret = read_vcpu(&c, &s->vm, seen);
			break;
		default:
			ret = 0;
		}
		if (ret)
			return ret;
	}
	/* as many VCPU sections as vCPUs, each index below the count and none twice: 0..n-1 each once */
	return 0;
}

int snapshot_state_parse(const void *buf, size_t len, const char *name, struct snapshot_state *s)
{
	int ret;

	memset(s, 0, sizeof(*s));
	ret = parse(buf, len, name, s);
	if (ret)
		snapshot_state_free(s);
	return ret;
}

int snapshot_state_read(const char *path, struct snapshot_state *s)
{
	uint8_t *buf;
	struct stat st;
	size_t got = 0;
	int fd, ret;

	memset(s, 0, sizeof(*s));
	/* O_NONBLOCK: a FIFO in the state file's place must not hang the open before fstat refuses it */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return vmm_fail(-errno, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st)) {
		ret = vmm_fail(-EIO, "%s: fstat: %s", path, strerror(errno));
		close(fd);
		return ret;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return vmm_fail(-EINVAL, "%s: not a regular file", path);
	}
	if ((unsigned long long)st.st_size > SNAPSHOT_MAX_FILE_BYTES) {
		close(fd);
		return vmm_fail(-EINVAL, "%s: %lld bytes, more than the %llu a state file may have", path,
				(long long)st.st_size, SNAPSHOT_MAX_FILE_BYTES);
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return vmm_fail(-ENOMEM, "%s: out of memory for %lld bytes", path, (long long)st.st_size);
	}
	/* at most the size fstat gave: a file that shrinks meanwhile is short, and the header's size says so */
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = vmm_fail(-EIO, "%s: reading: %s", path, strerror(errno));
			free(buf);
			close(fd);
			return ret;
		}
		if (!n)
			break;
		got += (size_t)n;
	}
	close(fd);
	ret = snapshot_state_parse(buf, got, path, s);
	free(buf);
	return ret;
}

void snapshot_state_free(struct snapshot_state *s)
{
	if (!s)
		return;
	json_decref(s->config);
	for (unsigned i = 0; i < s->nr_regions && i < THPVM_MAX_REGIONS; i++)
		free(s->regions[i].map);
	vm_snapshot_free(&s->vm);
	memset(s, 0, sizeof(*s));
}
