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

struct run_opts;
struct thpvm_memmap;
struct vm;

/*
 * What differs per kind of guest. Every function but the optional ones
 * (load, start, started, stop) is set; each returns 0 or -errno with
 * vmm_last_error() set. The state is the machine's own, made by check().
 */
struct machine_ops {
	const char *kind;       /* for messages: "payload", "Linux" */
	/* Before any memory: read and check the guest's input (bad input: exit status 2). */
	int (*check)(const struct run_opts *o, void **state);
	void (*release)(void *state);
	/* Into guest RAM once it exists, before the VM (bad input: exit status 2); optional. */
	int (*load)(void *state, const struct run_opts *o, struct thpvm_memmap *mem);
	int (*create_vm)(void *state, const struct run_opts *o, struct thpvm_memmap *mem, struct vm **vm);
	/* Around the vCPUs' run: before they start (warnings, the terminal), once they run (input), after they stopped. */
	void (*start)(void *state, const struct run_opts *o);
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
