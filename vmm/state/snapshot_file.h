/* SPDX-License-Identifier: MIT */
/*
 * A snapshot's state file (docs/snapshot-format.md), the file "state" in a
 * snapshot directory beside one memory file per RAM region (libthpvm's
 * region images, thpvm/image.h). Modelled on Firecracker's snapshot state
 * file: a header with a magic, a format version with a compatibility rule,
 * the architecture and a section table; every section with its own bounded
 * size and CRC-32C, and the table with its own, so any bit flipped, any
 * truncation, any section longer than its bound is refused by a read with
 * one line naming the file and the problem, before anything is allocated
 * beyond the bounds or any guest memory touched.
 *
 * Compatibility rule: a reader takes any file of its own major version,
 * whatever its minor version: a newer minor may only add section types,
 * which an older reader skips; a required section is never removed or
 * changed within a major version. Another major version is refused, naming
 * both.
 */
#ifndef THPVM_STATE_SNAPSHOT_FILE_H
#define THPVM_STATE_SNAPSHOT_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <thpvm.h>
#include "state/snapshot.h"

#define SNAPSHOT_STATE_NAME "state"            /* the state file's name inside the snapshot directory */
#define SNAPSHOT_MAGIC "THPVMSNP"              /* 8 bytes, no NUL in the file */
#define SNAPSHOT_VERSION_MAJOR 1
#define SNAPSHOT_VERSION_MINOR 0
#define SNAPSHOT_ARCH_X86_64 1
#define SNAPSHOT_MAX_FILE_BYTES (64ULL << 20)  /* a state file is small: KVM state, devices, extent maps */
#define SNAPSHOT_MAX_CONFIG_BYTES (1u << 20)   /* the config section's JSON text */
#define SNAPSHOT_MAX_DEVICES_BYTES (4u << 20)  /* the devices section's JSON text */
#define SNAPSHOT_MAX_VCPUS 64

/* One RAM region: where it sits, its memory file, and what each extent of the file holds. */
struct snapshot_region {
	char name[32];                  /* the region's name (guest_ram: "ram-low", "ram-high") */
	char file[64];                  /* its memory file, a plain name inside the directory ("ram-low.mem") */
	uint64_t gpa;
	uint64_t size_bytes;
	uint64_t nr_extents;            /* thpvm_region_nr_extents() */
	uint8_t *map;                   /* nr_extents bytes, enum thpvm_image_extent */
};

struct snapshot_state {
	/*
	 * How to build the machine again before its state goes back in: an
	 * object with at least "kind" ("payload" or "linux"), "memory_bytes",
	 * "nr_cpus", "backing", and the machine's own keys (the payload's
	 * path, arguments and guest page size). Owned (one reference).
	 */
	json_t *config;
	unsigned nr_regions;
	struct snapshot_region regions[THPVM_MAX_REGIONS];
	/* vCPUs, in-kernel devices, clock, bus devices, TSC offsets and the host TSC/time of the capture */
	struct vm_snapshot vm;
};

/*
 * Writes s to path (created 0600 or truncated) and fsyncs it. A state a read
 * would refuse is refused (-EINVAL) before the file is created; a failed
 * write removes the partial file. Returns 0 or -errno with vmm_last_error()
 * naming the file.
 */
int snapshot_state_write(const char *path, const struct snapshot_state *s);

/*
 * Reads and checks path into *s (the caller frees it with
 * snapshot_state_free(), also after a failure). Refused, each with one line
 * "<path>: <problem>" in vmm_last_error(): a file that is not regular or is
 * larger than SNAPSHOT_MAX_FILE_BYTES, a wrong magic, another major
 * version, another architecture, a section table or section outside the
 * file, a CRC mismatch (naming the section), a section over its bound, a
 * missing required section, values out of range (vCPUs, regions, extent
 * counts that do not match the region size, map bytes that are no
 * thpvm_image_extent, a memory file name that is not a plain name). Returns
 * 0 or -errno (-EINVAL for bad content, -EIO for I/O errors, open's errno
 * such as -ENOENT); after a failure *s is zeroed.
 */
int snapshot_state_read(const char *path, struct snapshot_state *s);

/* The same checks on a buffer already in memory; name is used in the messages (the fuzz target's entry). */
int snapshot_state_parse(const void *buf, size_t len, const char *name, struct snapshot_state *s);

/* Frees what a read or parse allocated (config, maps, the vm_snapshot's parts); s is zeroed. NULL-safe. */
void snapshot_state_free(struct snapshot_state *s);

#endif
