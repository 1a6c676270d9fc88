/* SPDX-License-Identifier: MIT */
/* The payload machine (docs/payloads.md): a flat guest image, its arguments checked before any memory exists. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "machine.h"
#include "util/error.h"
#include "payload.h"
#include "kvm/vm.h"
#include "x86/layout.h"

struct payload_machine {
	struct payload_image image;
	struct payload *payload;        /* the VM's: vm_destroy() frees it */
};

static void payload_ops_release(void *state)
{
	struct payload_machine *m = state;

	if (!m)
		return;
	payload_image_free(&m->image);
	free(m);
}

/* The image, its arguments and the memory layout: all bad input, found before any memory exists. */
static int payload_ops_check(const struct machine_config *mc, void **state)
{
	uint64_t mem = mc->memory_bytes, low = mem < X86_MMIO_HOLE_GPA ? mem : X86_MMIO_HOLE_GPA;
	struct payload_layout layout;
	struct payload_machine *m = calloc(1, sizeof(*m));
	int ret;

	if (!m)
		return vmm_fail(-ENOMEM, "out of memory");
	if ((ret = payload_image_load(mc->payload, &m->image))) {
		free(m);
		return ret;
	}
	if ((ret = payload_args_check(&mc->args, &m->image)) ||
	    (ret = payload_layout_compute(low, mem - low, &layout))) {
		payload_ops_release(m);
		return ret;
	}
	*state = m;
	return 0;
}

/* The image goes into guest RAM as the VM is made. */
static int payload_ops_create_vm(void *state, const struct machine_config *mc, struct thpvm_memmap *mem, struct vm **vm)
{
	struct payload_machine *m = state;
	struct payload_config pc = { .image = &m->image, .args = &mc->args, .guest_page_size = mc->guest_page_size };

	return payload_vm_create(mem, mc->nr_cpus, &pc, vm, &m->payload);
}

static void payload_ops_flush(void *state)
{
	(void)state;
	fflush(stdout);
}

/* The payload's own exit (its status) and a requested stop say nothing. */
static bool payload_ops_report_exit(void *state, struct vm *vm)
{
	(void)state;
	return vm->exit.reason == VM_STOP_GUEST_EXIT || vm->exit.reason == VM_STOP_REQUESTED;
}

const struct machine_ops machine_payload = {
	.kind = "payload",
	.check = payload_ops_check,
	.release = payload_ops_release,
	.create_vm = payload_ops_create_vm,
	.flush = payload_ops_flush,
	.report_exit = payload_ops_report_exit,
};
