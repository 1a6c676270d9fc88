/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: a snapshot's state file (docs/snapshot-format.md) through
 * snapshot_state_parse(), the reader `thpvm restore` will trust with KVM
 * state and guest memory files; an accepted state is written again and read
 * back, so the writer and the reader agree on what a state file is. Each
 * input runs twice: as it is, and with its checksums made right.
 */
#include "config.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fuzz.h"
#include "state/snapshot_file.h"
#include "util/crc32c.h"

#define NAME "fuzz/state"

/* tmpfs where there is one: an accepted input is written and fsynced */
static char dir_shm[] = "/dev/shm/thpvm-fuzz-snap-XXXXXX", dir_tmp[] = "/tmp/thpvm-fuzz-snap-XXXXXX";
static const char *dir;
static char path[64];
static volatile uint8_t sink;

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	dir = mkdtemp(dir_shm);
	if (!dir)
		dir = mkdtemp(dir_tmp);
	if (!dir)
		abort();
	snprintf(path, sizeof(path), "%s/state", dir);
	atexit(cleanup);
	return 0;
}

/* What the reader promises of a state it accepts. */
static void check_accepted(const struct snapshot_state *s)
{
	FUZZ_CHECK(json_is_object(s->config) && json_is_object(s->vm.devices));
	FUZZ_CHECK(s->nr_regions >= 1 && s->nr_regions <= THPVM_MAX_REGIONS);
	for (unsigned i = 0; i < s->nr_regions; i++) {
		const struct snapshot_region *r = &s->regions[i];

		FUZZ_CHECK(memchr(r->name, 0, sizeof(r->name)) && memchr(r->file, 0, sizeof(r->file)));
		FUZZ_CHECK(r->file[0] && !strchr(r->file, '/') && strcmp(r->file, ".") && strcmp(r->file, ".."));
		FUZZ_CHECK(r->size_bytes && r->gpa < THPVM_GPA_LIMIT && r->size_bytes <= THPVM_GPA_LIMIT - r->gpa);
		FUZZ_CHECK(r->nr_extents == ((r->gpa + r->size_bytes + THPVM_EXTENT_SIZE - 1) / THPVM_EXTENT_SIZE -
					     r->gpa / THPVM_EXTENT_SIZE));
		for (uint64_t e = 0; e < r->nr_extents; e++)
			FUZZ_CHECK(r->map[e] < THPVM_NR_IMAGE_EXTENTS);
	}
	FUZZ_CHECK(s->vm.nr_vcpus >= 1 && s->vm.nr_vcpus <= SNAPSHOT_MAX_VCPUS && s->vm.tsc_offsets);
	for (unsigned i = 0; i < s->vm.nr_vcpus; i++) {
		const struct vcpu_state *v = &s->vm.vcpus[i];

		FUZZ_CHECK(v->xsave && v->xsave_size >= sizeof(struct kvm_xsave));
		FUZZ_CHECK(!v->cpuid || v->cpuid->nent <= 256);
		FUZZ_CHECK(!v->msrs || v->msrs->nmsrs <= 1024);
		/* the last byte of each array the state says it holds: ASan sees an allocation shorter than that */
		sink = ((const uint8_t *)v->xsave)[v->xsave_size - 1];
		if (v->cpuid && v->cpuid->nent)
			sink = (uint8_t)v->cpuid->entries[v->cpuid->nent - 1].padding[2];
		if (v->msrs && v->msrs->nmsrs)
			sink = (uint8_t)v->msrs->entries[v->msrs->nmsrs - 1].data;
	}
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * Makes every checksum of buf right again (those of sections inside it, then
 * header and table), as the document defines them: a mutation almost never
 * gets past a CRC, and the decoders behind them are what must hold.
 */
static void fix_crcs(uint8_t *buf, size_t size)
{
	uint32_t nr;

	if (size < 32)
		return;
	nr = get32(buf + 16);
	if (nr > (size - 32) / 32)
		return;
	for (uint32_t i = 0; i < nr; i++) {
		uint8_t *e = buf + 32 + i * 32;
		uint64_t off = get64(e + 8), len = get64(e + 16);

		if (off <= size && len <= size - off)
			put32(e + 24, crc32c(0, buf + off, (size_t)len));
	}
	put32(buf + 20, 0);
	put32(buf + 20, crc32c(0, buf, 32 + (size_t)nr * 32));
}

/* One input through the reader, and what it promises either way. */
static void one(uint8_t *buf, size_t size)
{
	struct snapshot_state s, again;

	if (!snapshot_state_parse(buf, size, NAME, &s)) {
		check_accepted(&s);
		/* what the reader accepts, the writer writes, and that reads back the same shape */
		FUZZ_CHECK(snapshot_state_write(path, &s) == 0);
		FUZZ_CHECK(snapshot_state_read(path, &again) == 0);
		FUZZ_CHECK(again.nr_regions == s.nr_regions && again.vm.nr_vcpus == s.vm.nr_vcpus);
		FUZZ_CHECK(json_equal(again.config, s.config) && json_equal(again.vm.devices, s.vm.devices));
		snapshot_state_free(&again);
	} else {
		/* one line naming the input, and nothing left behind */
		FUZZ_CHECK(!strncmp(vmm_last_error(), NAME ": ", strlen(NAME) + 2));
		FUZZ_CHECK(!strchr(vmm_last_error(), '\n'));
		FUZZ_CHECK(!s.config && !s.vm.vcpus && !s.vm.devices && !s.nr_regions);
	}
	snapshot_state_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes, so ASan sees any read past the file */
	uint8_t *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	one(buf, size);          /* as it is: the checksums' own paths */
	fix_crcs(buf, size);
	one(buf, size);          /* checksums made right: every decoder behind them */
	free(buf);
	return 0;
}
