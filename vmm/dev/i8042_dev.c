/* SPDX-License-Identifier: MIT */
/* The i8042 model on the I/O bus: its reset line ends the VM. */
#include <errno.h>
#include <stdlib.h>
#include "pc_dev.h"
#include "i8042.h"
#include "util/error.h"
#include "../kvm/vm.h"

struct i8042_dev {
	struct device dev;
	struct i8042 kbd;
};

/* thpvm does not reboot a guest: the reset request is the guest's way out (Linux's reboot=k) */
static void kbd_reset(void *opaque)
{
	struct i8042_dev *k = opaque;

	vm_stop(k->dev.vm, VM_STOP_GUEST_EXIT, 0, -1,
		"the guest reset the machine (i8042 reset): thpvm does not reboot guests, the VM ended");
}

static void kbd_irq(void *opaque, unsigned irq, bool level)
{
	struct i8042_dev *k = opaque;

	vm_irq_line(k->dev.vm, irq, level); /* cannot fail with an irqchip; without one the last error says so */
}

static int kbd_access(struct device *dev, struct iobus_access *a)
{
	struct i8042_dev *k = dev->opaque;
	int ret = i8042_pio(&k->kbd, (uint16_t)a->addr, a->is_write, a->data, a->size);

	if (ret)
		return vmm_fail(ret, "i8042: %u-byte %s port 0x%llx (it takes 1-byte accesses)", a->size,
				a->is_write ? "write to" : "read from", (unsigned long long)a->addr);
	return 0;
}

static json_t *kbd_save(struct device *dev)
{
	return i8042_save(&((struct i8042_dev *)dev->opaque)->kbd);
}

static int kbd_restore(struct device *dev, const json_t *state)
{
	return i8042_restore(&((struct i8042_dev *)dev->opaque)->kbd, state);
}

static void kbd_destroy(struct device *dev)
{
	struct i8042_dev *k = dev->opaque;

	i8042_destroy(&k->kbd);
	free(k);
}

static const struct device_ops kbd_ops = {
	.access = kbd_access,
	.save = kbd_save,
	.restore = kbd_restore,
	.destroy = kbd_destroy,
};

int i8042_dev_add(struct vm *vm)
{
	struct i8042_dev *k = calloc(1, sizeof(*k));
	int ret;

	if (!k)
		return vmm_fail(-ENOMEM, "out of memory for the i8042");
	k->dev = (struct device){ .name = "i8042", .ops = &kbd_ops, .opaque = k };
	i8042_init(&k->kbd, kbd_reset, k);
	i8042_set_irq(&k->kbd, kbd_irq, k);
	if ((ret = vm_add_device(vm, IOBUS_PIO, I8042_DATA_PORT, 1, &k->dev))) {
		i8042_destroy(&k->kbd);
		free(k);
		return vmm_fail(ret, "i8042 at port 0x%x: cannot register on the I/O bus", I8042_DATA_PORT);
	}
	/* from here the bus owns k (destroy() frees it) */
	if ((ret = vm_add_device(vm, IOBUS_PIO, I8042_COMMAND_PORT, 1, &k->dev)))
		return vmm_fail(ret, "i8042 at port 0x%x: cannot register on the I/O bus", I8042_COMMAND_PORT);
	return 0;
}
