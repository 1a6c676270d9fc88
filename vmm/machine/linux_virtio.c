/* SPDX-License-Identifier: MIT */
/*
 * The Linux machine's virtio devices (docs/linux-boot.md): which windows and
 * IRQs they get (--rng first, then each --disk in order: /dev/vda, vdb...),
 * described to the kernel by ACPI before the VM exists and attached to the
 * VM once it does, in the same order, so a snapshot's device states find
 * their devices again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "linux_virtio.h"
#include "dev/virtio_dev.h"
#include "kvm/vm.h"
#include "util/error.h"
#include "x86/layout.h"

static const unsigned virtio_irqs[X86_VIRTIO_MAX_DEVICES] = X86_VIRTIO_IRQS;
static const char *const disk_names[MACHINE_MAX_DISKS] = {
	"virtio-blk0", "virtio-blk1", "virtio-blk2", "virtio-blk3", "virtio-blk4", "virtio-blk5", "virtio-blk6",
};

unsigned linux_virtio_count(const struct machine_config *mc)
{
	return (mc->rng ? 1 : 0) + mc->nr_disks;
}

int linux_virtio_acpi(const struct machine_config *mc, struct acpi_mmio_device *out)
{
	unsigned n = linux_virtio_count(mc);

	if (n > X86_VIRTIO_MAX_DEVICES)
		return vmm_fail(-E2BIG, "%u virtio devices: at most %u (--rng and %u --disk)", n, X86_VIRTIO_MAX_DEVICES,
				MACHINE_MAX_DISKS);
	for (unsigned i = 0; i < n; i++)
		out[i] = (struct acpi_mmio_device){ ACPI_VIRTIO_MMIO_HID, X86_VIRTIO_MMIO_GPA + i * X86_VIRTIO_MMIO_STRIDE,
						    VIRTIO_MMIO_SIZE, virtio_irqs[i] };
	return 0;
}

int linux_virtio_check(const struct machine_config *mc)
{
	struct acpi_mmio_device at[X86_VIRTIO_MAX_DEVICES];
	struct virtio_backend blk[MACHINE_MAX_DISKS];
	unsigned i;
	int ret;

	if ((ret = linux_virtio_acpi(mc, at)))
		return ret;
	/* all open at once, as the VM will have them: one image given twice for writing is refused here */
	for (i = 0; i < mc->nr_disks; i++)
		if ((ret = virtio_blk_backend(mc->disks[i], &blk[i])))
			break;
	while (i-- > 0)
		blk[i].destroy(blk[i].opaque);
	return ret;
}

/*
 * A forked child continues on its parent's disk images: two VMs writing one
 * image corrupt it, so a VM with a writable disk is not forked (until each
 * child gets its own copy-on-write layer over the image).
 */
struct disk_hooks {
	char first_writable[256];
};

static int disks_fork_prepare(void *arg)
{
	struct disk_hooks *h = arg;

	return vmm_fail(-EBUSY, "disk '%s' is writable and its children would share it (fork a VM whose disks are "
			"all ,readonly)", h->first_writable);
}

static void disks_destroy(void *arg)
{
	free(arg);
}

static int hook_writable_disks(struct vm *vm, const struct machine_config *mc)
{
	struct disk_hooks *h;
	struct vm_hooks hooks = { .name = "disks", .fork_prepare = disks_fork_prepare, .destroy = disks_destroy };
	unsigned i;
	int ret;

	for (i = 0; i < mc->nr_disks && strstr(mc->disks[i], ",readonly"); i++)
		;
	if (i == mc->nr_disks)
		return 0;
	if (!(h = calloc(1, sizeof(*h))))
		return vmm_fail(-ENOMEM, "out of memory");
	snprintf(h->first_writable, sizeof(h->first_writable), "%s", mc->disks[i]);
	hooks.arg = h;
	if ((ret = vm_add_hooks(vm, &hooks)))
		free(h);
	return ret;
}

int linux_virtio_attach(struct vm *vm, const struct machine_config *mc)
{
	struct acpi_mmio_device at[X86_VIRTIO_MAX_DEVICES];
	unsigned k = 0;
	int ret;

	if ((ret = linux_virtio_acpi(mc, at)))
		return ret;
	if (mc->rng) {
		struct virtio_backend rng = { .ops = &virtio_rng_ops };

		if ((ret = virtio_dev_add(vm, "virtio-rng", &rng, at[k].gpa, at[k].irq)))
			return ret;
		k++;
	}
	for (unsigned i = 0; i < mc->nr_disks; i++, k++) {
		struct virtio_backend blk;

		if ((ret = virtio_blk_backend(mc->disks[i], &blk)) ||
		    (ret = virtio_dev_add(vm, disk_names[i], &blk, at[k].gpa, at[k].irq)))
			return ret;
	}
	return hook_writable_disks(vm, mc);
}
