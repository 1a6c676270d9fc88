/* SPDX-License-Identifier: MIT */
/*
 * The Linux machine's virtio devices (docs/linux-boot.md): which windows and
 * IRQs they get (--rng first, then each --disk in order: /dev/vda, vdb...,
 * then --net),
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
#include "dev/virtio_blk.h"
#include "kvm/vm.h"
#include "util/error.h"
#include "x86/layout.h"

static const unsigned virtio_irqs[X86_VIRTIO_MAX_DEVICES] = X86_VIRTIO_IRQS;
static const char *const disk_names[MACHINE_MAX_DISKS] = {
	"virtio-blk0", "virtio-blk1", "virtio-blk2", "virtio-blk3", "virtio-blk4", "virtio-blk5", "virtio-blk6",
};

unsigned linux_virtio_count(const struct machine_config *mc)
{
	return (mc->rng ? 1 : 0) + mc->nr_disks + (mc->net ? 1 : 0);
}

int linux_virtio_acpi(const struct machine_config *mc, struct acpi_mmio_device *out)
{
	unsigned n = linux_virtio_count(mc);

	if (n > X86_VIRTIO_MAX_DEVICES)
		return vmm_fail(-E2BIG, "%u virtio devices: at most %u (--rng, --net and the --disk)", n,
				X86_VIRTIO_MAX_DEVICES);
	for (unsigned i = 0; i < n; i++)
		out[i] = (struct acpi_mmio_device){ ACPI_VIRTIO_MMIO_HID, X86_VIRTIO_MMIO_GPA + i * X86_VIRTIO_MMIO_STRIDE,
						    VIRTIO_MMIO_SIZE, virtio_irqs[i] };
	return 0;
}

int linux_virtio_check(const struct machine_config *mc)
{
	struct acpi_mmio_device at[X86_VIRTIO_MAX_DEVICES];
	struct virtio_backend be[MACHINE_MAX_DISKS + 1];
	unsigned i;
	int ret;

	if ((ret = linux_virtio_acpi(mc, at)))
		return ret;
	/*
	 * All open at once, as the VM will have them: one image given twice for
	 * writing is refused here, and so is a tap that cannot be opened (a tap
	 * thpvm creates goes again when closed, and comes back at attach).
	 */
	for (i = 0; i < mc->nr_disks; i++)
		if ((ret = virtio_blk_backend(mc->disks[i], &be[i])))
			break;
	if (!ret && mc->net && !(ret = virtio_net_backend(mc->net, &be[i])))
		i++;
	while (i-- > 0)
		be[i].destroy(be[i].opaque);
	return ret;
}

/*
 * A forked child must not write its parent's disk images: the disks' fork
 * hooks freeze each writable disk in a copy-on-write layer before the fork
 * (virtio_blk_fork_prepare), and each child's device then writes a layer
 * of its own (disk_chain.h).
 */
struct disk_hooks {
	struct virtio_blk *disks[MACHINE_MAX_DISKS];
	unsigned nr_disks;
};

static int disks_fork_prepare(void *arg)
{
	struct disk_hooks *h = arg;
	int ret;

	for (unsigned i = 0; i < h->nr_disks; i++)
		if ((ret = virtio_blk_fork_prepare(h->disks[i])))
			return ret;
	return 0;
}

static void disks_fork_parent(void *arg)
{
	struct disk_hooks *h = arg;

	for (unsigned i = 0; i < h->nr_disks; i++)
		virtio_blk_fork_parent(h->disks[i]);
}

static json_t *disks_stats(void *arg)
{
	struct disk_hooks *h = arg;
	json_t *a = json_array();

	for (unsigned i = 0; i < h->nr_disks; i++)
		json_array_append_new(a, json_pack("{s:I, s:i, s:b}", "capacity_sectors",
						   (json_int_t)virtio_blk_capacity_sectors(h->disks[i]), "layers",
						   (int)virtio_blk_layers(h->disks[i]), "ioeventfd",
						   virtio_blk_kick_attached(h->disks[i])));
	return a;
}

/*
 * A snapshot keeps each disk as the guest sees it: flattened into
 * tmpdir/diskN.img, named so in the machine's description, which a restore
 * opens with ,snapshot (a private layer over the copy, so every restore and
 * clone starts from the disk as saved) or ,readonly as it was.
 */
static int disks_snapshot_save(void *arg, const char *tmpdir, json_t *machine)
{
	struct disk_hooks *h = arg;
	json_t *disks = json_array();
	char path[4200], name[32];
	int ret;

	for (unsigned i = 0; i < h->nr_disks; i++) {
		snprintf(name, sizeof(name), "disk%u.img", i);
		snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
		if ((ret = virtio_blk_save_copy(h->disks[i], path))) {
			json_decref(disks);
			return ret;
		}
		json_array_append_new(disks, json_sprintf("%s%s", name, virtio_blk_readonly(h->disks[i]) ? ",readonly"
												     : ",snapshot"));
	}
	return json_object_set_new(machine, "disks", disks) ? vmm_fail(-ENOMEM, "out of memory") : 0;
}

static void disks_destroy(void *arg)
{
	free(arg);
}

static int hook_disks(struct vm *vm, struct disk_hooks *h)
{
	struct vm_hooks hooks = { .name = "disks", .arg = h, .fork_prepare = disks_fork_prepare,
				  .fork_parent = disks_fork_parent, .stats = disks_stats,
				  .snapshot_save = disks_snapshot_save, .destroy = disks_destroy };
	int ret;

	if ((ret = vm_add_hooks(vm, &hooks)))
		free(h);
	return ret;
}

int linux_virtio_attach(struct vm *vm, const struct machine_config *mc)
{
	struct acpi_mmio_device at[X86_VIRTIO_MAX_DEVICES];
	struct disk_hooks *h;
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
	if (mc->nr_disks) {
		if (!(h = calloc(1, sizeof(*h))))
			return vmm_fail(-ENOMEM, "out of memory");
		for (unsigned i = 0; i < mc->nr_disks; i++, k++) {
			struct virtio_backend blk;

			if ((ret = virtio_blk_backend(mc->disks[i], &blk)))
				goto fail;
			h->disks[h->nr_disks++] = blk.opaque;
			if ((ret = virtio_dev_add(vm, disk_names[i], &blk, at[k].gpa, at[k].irq)))
				goto fail;
		}
		/* the hooks own h from here, also when adding them fails */
		if ((ret = hook_disks(vm, h)))
			return ret;
	}
	if (mc->net) {
		struct virtio_backend net;

		/* a forked child's device lets go of the tap: its link goes down (virtio_net.c) */
		if ((ret = virtio_net_backend(mc->net, &net)) ||
		    (ret = virtio_dev_add(vm, "virtio-net", &net, at[k].gpa, at[k].irq)))
			return ret;
		k++;
	}
	return 0;
fail:
	free(h);
	return ret;
}
