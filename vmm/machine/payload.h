/* SPDX-License-Identifier: MIT */
/*
 * Payload guests: small flat binaries entered directly in 64-bit long mode
 * at CPL3 (docs/payload-abi.md). This header is the VMM side of the ABI in
 * guests/include/payload_abi.h: the image and its header, --arg KEY=VALUE,
 * the guest layout, and the machine that runs them on a struct vm.
 */
#ifndef THPVM_PAYLOAD_H
#define THPVM_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <thpvm.h>
#include <payload_abi.h>

struct vm;
struct vcpu;

/* ---- the image (payload_image.c) ---- */

/* Why a file is (not) a payload: one list, its errno, its text. */
#define PAYLOAD_IMAGE_RESULTS(X)                                                                     \
	X(PAYLOAD_IMAGE_OK, 0, "ok")                                                                 \
	X(PAYLOAD_IMAGE_NOT_FOUND, ENOENT, "payload not found")                                      \
	X(PAYLOAD_IMAGE_UNREADABLE, EIO, "payload file cannot be read")                              \
	X(PAYLOAD_IMAGE_NO_MAGIC, ENOEXEC, "not a thpvm payload (no THPVMPL magic)")                  \
	X(PAYLOAD_IMAGE_SHORT, ENOEXEC, "not a thpvm payload (shorter than the header)")             \
	X(PAYLOAD_IMAGE_VERSION, ENOEXEC, "payload ABI version this thpvm does not speak")           \
	X(PAYLOAD_IMAGE_HEADER_SIZE, ENOEXEC, "payload header of the wrong size")                    \
	X(PAYLOAD_IMAGE_LOAD_GPA, ENOEXEC, "payload linked for another address")                     \
	X(PAYLOAD_IMAGE_TOO_LARGE, EFBIG, "payload larger than the image area")                      \
	X(PAYLOAD_IMAGE_SIZE_MISMATCH, ENOEXEC, "payload truncated or padded")                       \
	X(PAYLOAD_IMAGE_BAD_ADDRESS, ENOEXEC, "payload header address outside the image")            \
	X(PAYLOAD_IMAGE_BAD_FLAGS, ENOEXEC, "payload header with unknown flags")                     \
	X(PAYLOAD_IMAGE_UNTERMINATED, ENOEXEC, "payload name or argument list not terminated")

THPVM_RESULT_DECLARE(payload_image_result, enum payload_image_result, PAYLOAD_IMAGE_RESULTS, PAYLOAD_NR_IMAGE_RESULTS);

struct payload_image {
	enum payload_image_result result;   /* of the last parse or load, also on failure */
	char *path;                     /* where it was read from (NULL for a parsed buffer) */
	char name[PAYLOAD_NAME_MAX];
	const uint8_t *data;            /* the file */
	uint8_t *owned;                 /* data when we read it ourselves */
	size_t file_size;
	uint64_t load_gpa;
	uint64_t entry_gpa;
	uint64_t mem_size;              /* file plus bss */
	uint32_t flags;                 /* PAYLOAD_F_* */
	const char *arg_keys;           /* "k1\0k2\0\0" inside data, NULL = accepts any key */
};

/*
 * Validates a payload file held in buf (not copied: img->data points into
 * it). Returns 0, or -ENOEXEC (not a payload, wrong version, inconsistent
 * header), -EFBIG (image larger than X86_PAYLOAD_IMAGE_MAX), with a one-line
 * vmm_last_error() naming the problem.
 */
int payload_image_parse(const void *buf, size_t len, struct payload_image *img);
/*
 * Finds name_or_path (a name like "memtest", or a path when it contains a
 * '/'), reads and parses it. Names are looked up as NAME.bin in
 * $THPVM_PAYLOAD_DIR, then <directory of the thpvm binary>/../guests (the
 * build tree), then the install directory (THPVM_PAYLOAD_INSTALL_DIR).
 */
int payload_image_load(const char *name_or_path, struct payload_image *img);
void payload_image_free(struct payload_image *img);
/* The file name_or_path resolves to; -ENOENT with the places looked in. */
int payload_resolve(const char *name_or_path, char *path, size_t len);
/* Whether the payload takes argument key. */
bool payload_image_accepts(const struct payload_image *img, const char *key);

/* ---- arguments (payload_args.c) ---- */

struct payload_args {
	unsigned nr;
	struct payload_arg args[PAYLOAD_MAX_ARGS];
};

/*
 * Adds "KEY=VALUE" (KEY [a-z0-9_], 1-31 chars; VALUE up to 63 chars; a
 * number, hex or size like 64M also becomes num). Returns 0 or -EINVAL /
 * -E2BIG / -EEXIST with vmm_last_error() set.
 */
int payload_args_add(struct payload_args *args, const char *kv);
/* Every key must be one the payload accepts. Returns 0 or -EINVAL. */
int payload_args_check(const struct payload_args *args, const struct payload_image *img);
const struct payload_arg *payload_args_find(const struct payload_args *args, const char *key);

/* ---- the guest layout (payload_layout.c) ---- */

struct payload_layout {
	uint64_t low_bytes;             /* RAM at [0, low_bytes) */
	uint64_t high_bytes;            /* RAM at [4 GiB, 4 GiB + high_bytes) */
	uint64_t pt_gpa;                /* guest page tables: top of RAM, supervisor-only */
	uint64_t pt_size;
	unsigned nr_ranges;             /* RAM free for the payload (boot info ranges) */
	struct payload_range ranges[PAYLOAD_MAX_RANGES];
};

/* Computes the layout of a guest with this RAM. -EINVAL (too small) with vmm_last_error(). */
int payload_layout_compute(uint64_t low_bytes, uint64_t high_bytes, struct payload_layout *out);
/* Guest RAM that gives the payload one contiguous free range of at least heap_bytes (below the MMIO hole). */
uint64_t payload_ram_for_heap(uint64_t heap_bytes);
/* Largest contiguous free range of a layout. */
uint64_t payload_layout_max_range(const struct payload_layout *layout);

/* ---- the machine (payload_setup.c, payload_dev.c) ---- */

struct payload_config {
	const struct payload_image *image;
	const struct payload_args *args;    /* may be NULL */
	uint64_t guest_page_size;           /* 4096 or 2 MiB */
	FILE *out;                          /* prints and results; NULL = stdout */
	bool quiet_results;                 /* record results without printing them */
};

struct payload_result {
	char name[PAYLOAD_NAME_MAX];
	uint64_t value;
	unsigned cpu;
};

struct payload;

/*
 * Builds the guest in the VM's memory (page tables with guest_page_size
 * leaves, GDT, IDT and exception stubs, TSSs, boot info, the image), puts
 * every vCPU at the entry point in long mode at CPL3, and registers the
 * payload port device (which owns struct payload and is freed with the VM).
 * Returns 0 or -errno with vmm_last_error() set.
 */
int payload_setup(struct vm *vm, const struct payload_config *cfg, struct payload **out);

const struct payload_layout *payload_get_layout(const struct payload *p);
/* Results reported so far (the payload's RESULT calls), in order. */
unsigned payload_nr_results(const struct payload *p);
const struct payload_result *payload_result_at(const struct payload *p, unsigned idx);
/* The last value reported under name (by cpu, or by any when cpu < 0). Returns 0 or -ENOENT. */
int payload_result(const struct payload *p, const char *name, int cpu, uint64_t *value);
/* Asks a long-running payload to finish (boot info stop = 1). */
void payload_request_stop(struct payload *p);

/*
 * A VM of nr_cpus vCPUs over mem with the payload set up in it: vm_create()
 * plus payload_setup(). Destroy with vm_destroy() (which frees the payload).
 */
int payload_vm_create(struct thpvm_memmap *mem, unsigned nr_cpus, const struct payload_config *cfg, struct vm **vm,
		      struct payload **p);

/* vCPUs of the payload now polling for a fork (boot info fork.waiting, pl_fork_wait). */
unsigned payload_fork_waiting(const struct payload *p);

/* ---- used by payload_setup.c and payload_dev.c ---- */
int payload_dev_register(struct vm *vm, struct payload *p);
/* The payload's "payload" VM hooks: its fork mailbox in a forked child (payload_fork.c). */
int payload_fork_register(struct vm *vm, struct payload *p);
/* PAYLOAD_CALL_SLEEP on vcpu. */
int payload_call_sleep(struct vcpu *vcpu, uint64_t ns);
const char *payload_exception_name(unsigned vector);

#endif
