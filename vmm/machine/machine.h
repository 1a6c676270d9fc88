/* SPDX-License-Identifier: MIT */
/*
 * vmm/machine/: the kinds of guest `thpvm run` starts, each as a
 * struct machine_ops for the one run driver (vmm/run/run.c): a payload
 * guest (machine_payload, payload_ops.c) and a Linux kernel (machine_linux,
 * linux_ops.c). A new way to start a VM (a restored snapshot, another boot
 * protocol) is a new machine here, never a new driver.
 * Calls down only: the payload and Linux machines' parts (payload*.c,
 * linux_machine.c, console.c, dev/), vmm/kvm, vmm/x86, libthpvm. Never the
 * driver, the CLI or the control socket.
 */
#ifndef THPVM_MACHINE_H
#define THPVM_MACHINE_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <thpvm.h>
#include "payload.h"

struct thpvm_memmap;
struct vm;

/*
 * The guest a run starts: the part of the run's options a machine reads
 * (vmm/run/run_opts.h holds it as .guest, the CLI fills it). A payload
 * guest has payload, guest_page_size and args; a Linux guest kernel,
 * initrd, cmdline and console; both the rest.
 */
#define MACHINE_MAX_DISKS 7           /* with --rng, the 8 virtio windows (x86/layout.h); one less with --net */
#define MACHINE_MAX_MODULES 12        /* a multiboot kernel's (x86/multiboot.h) */

struct machine_config {
	const char *cmd;                /* "run", "stats" or "demo", for messages */
	const char *payload;            /* --payload NAME_OR_PATH */
	uint64_t guest_page_size;       /* --guest-page 4k|2m, default 2m */
	struct payload_args args;       /* --arg KEY=VALUE ... */
	const char *kernel;             /* --kernel PATH: bzImage or PVH vmlinux (docs/linux-boot.md) */
	const char *initrd;             /* --initrd PATH */
	const char *cmdline;            /* --cmdline STR */
	const char *console;            /* --console stdio|file:PATH, default stdio */
	bool rng;                       /* --rng: a virtio entropy device (Linux guests) */
	const char *disks[MACHINE_MAX_DISKS]; /* --disk PATH[,readonly], in order: /dev/vda, vdb, ... */
	unsigned nr_disks;
	const char *net;                /* --net tap=NAME[,mac=MAC]: a virtio network device after the disks */
	const char *modules[MACHINE_MAX_MODULES]; /* --module PATH[,STRING]: a multiboot kernel's */
	unsigned nr_modules;
	uint64_t memory_bytes;          /* --memory, default 256 MiB */
	unsigned nr_cpus;               /* --cpus, default 1 */
};

/*
 * The machine's description in a snapshot (docs/snapshot-format.md): kind,
 * memory, vCPUs, backing and the payload's own (its file as an absolute
 * path, guest page size, arguments; a Linux guest's kernel, initrd and
 * command line). NULL with vmm_last_error() for a file that cannot be found.
 */
json_t *machine_config_to_json(const struct machine_config *mc, enum thpvm_backing backing);
/*
 * The reverse, for a restore: mc's strings point into j, which must outlive
 * it. Returns 0 or -EINVAL with vmm_last_error() naming the bad value.
 */
int machine_config_from_json(const json_t *j, struct machine_config *mc, enum thpvm_backing *backing);

/*
 * What differs per kind of guest. Every function but the optional ones
 * (load, start, started, stop) is set; each returns 0 or -errno with
 * vmm_last_error() set. The state is the machine's own, made by check().
 */
struct machine_ops {
	const char *kind;       /* for messages: "payload", "Linux" */
	/* Before any memory: read and check the guest's input (bad input: exit status 2). */
	int (*check)(const struct machine_config *mc, void **state);
	void (*release)(void *state);
	/* Into guest RAM once it exists, before the VM (bad input: exit status 2); optional. */
	int (*load)(void *state, const struct machine_config *mc, struct thpvm_memmap *mem);
	int (*create_vm)(void *state, const struct machine_config *mc, struct thpvm_memmap *mem, struct vm **vm);
	/*
	 * Around the vCPUs' run: before they start (warnings, the terminal;
	 * timeout_ns is the run's limit, 0 = none), once they run (input),
	 * after they stopped.
	 */
	void (*start)(void *state, const struct machine_config *mc, uint64_t timeout_ns);
	int (*started)(void *state);
	void (*stop)(void *state);
	/* The guest's output out, before anything is said about its end. */
	void (*flush)(void *state);
	/*
	 * How the guest ended, where the machine knows better than the driver:
	 * true when it has said it (or nothing is to be said, e.g. the guest's
	 * own exit status); false leaves the exit's message and register dump
	 * to the driver.
	 */
	bool (*report_exit)(void *state, struct vm *vm);
};

extern const struct machine_ops machine_payload;        /* --payload */
extern const struct machine_ops machine_linux;          /* --kernel */

#endif
