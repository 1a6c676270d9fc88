/* SPDX-License-Identifier: MIT */
/* The debug-exit port on the I/O bus: the guest's status ends the VM. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pc_dev.h"
#include "debug_exit.h"
#include "util/error.h"
#include "../kvm/vcpu.h"
#include "../kvm/vm.h"

#define DEBUG_EXIT_SPAN 4 /* a 4-byte write at the port must lie inside the device's range */

struct debug_exit_dev {
	struct device dev;
	struct debug_exit port;
	bool fired;                 /* under the VM's stop: the first value wins, like the first stop */
	char name[24];
	uint32_t value;
};

/* The vCPU whose access is being handled on this thread, for the message. */
static __thread int current_vcpu = -1;

static void exit_fn(void *opaque, uint32_t v)
{
	struct debug_exit_dev *d = opaque;
	int status = v > 255 ? 255 : (int)v;

	if (!__atomic_exchange_n(&d->fired, true, __ATOMIC_SEQ_CST))
		__atomic_store_n(&d->value, v, __ATOMIC_SEQ_CST);
	if (v > 255)
		vm_stop(d->dev.vm, VM_STOP_GUEST_EXIT, status, current_vcpu,
			"the guest wrote %u to the debug-exit port 0x%x: more than an exit status holds, exiting 255", v,
			d->port.port);
	else
		vm_stop(d->dev.vm, VM_STOP_GUEST_EXIT, status, current_vcpu,
			"the guest wrote %u to the debug-exit port 0x%x", v, d->port.port);
}

static int exit_access(struct device *dev, struct iobus_access *a)
{
	struct debug_exit_dev *d = dev->opaque;
	int ret;

	if (a->addr != d->port.port) {
		/* the ports after it, claimed only so a 4-byte write fits: a floating bus */
		if (!a->is_write)
			memset(a->data, 0xff, a->size);
		return 0;
	}
	current_vcpu = a->vcpu ? (int)a->vcpu->index : -1;
	ret = debug_exit_pio(&d->port, (uint16_t)a->addr, a->is_write, a->data, a->size);
	current_vcpu = -1;
	if (ret)
		return vmm_fail(ret, "debug-exit port 0x%llx: %u-byte access (1, 2 or 4 bytes)", (unsigned long long)a->addr,
				a->size);
	return 0;
}

static void exit_destroy(struct device *dev)
{
	free(dev->opaque);
}

static const struct device_ops exit_ops = {
	.access = exit_access,
	.destroy = exit_destroy,
};

int debug_exit_dev_add(struct vm *vm, uint16_t port)
{
	struct debug_exit_dev *d = calloc(1, sizeof(*d));
	int ret;

	if (!d)
		return vmm_fail(-ENOMEM, "out of memory for the debug-exit port");
	/* names are the keys of saved device states: the first port's stays "debug-exit" as snapshots have it */
	if (port == 0x501)
		snprintf(d->name, sizeof(d->name), "debug-exit");
	else
		snprintf(d->name, sizeof(d->name), "debug-exit-%x", port);
	d->dev = (struct device){ .name = d->name, .ops = &exit_ops, .opaque = d };
	debug_exit_init(&d->port, port, exit_fn, d);
	if ((ret = vm_add_device(vm, IOBUS_PIO, port, DEBUG_EXIT_SPAN, &d->dev))) {
		free(d);
		return vmm_fail(ret, "debug-exit at port 0x%x: cannot register on the I/O bus", port);
	}
	return 0;
}

bool debug_exit_dev_fired(struct vm *vm, uint16_t port, uint32_t *value)
{
	struct device *dev = iobus_find(vm->bus, IOBUS_PIO, port);
	struct debug_exit_dev *d;

	if (!dev || dev->ops != &exit_ops)
		return false;
	d = dev->opaque;
	if (!__atomic_load_n(&d->fired, __ATOMIC_SEQ_CST))
		return false;
	if (value)
		*value = __atomic_load_n(&d->value, __ATOMIC_SEQ_CST);
	return true;
}
