/* SPDX-License-Identifier: MIT */
/* virtio-mmio devices on the I/O bus (virtio_dev.h): guest RAM and the IRQ line come from the VM. */
#include "config.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <thpvm.h>
#include "virtio_dev.h"
#include "virtio_blk.h"
#include "virtio_net.h"
#include "iobus.h"
#include "util/error.h"
#include "../kvm/vm.h"

struct virtio_dev {
	struct device dev;
	struct virtio_mmio t;
	struct virtio_backend be;
	unsigned irq;
	uint64_t base;
	int irq_fd;                 /* KVM_IRQFD's eventfd, bound to this process's VM; -1: none (KVM_IRQ_LINE) */
	pid_t irq_pid;              /* the process it was bound in: a forked child binds its own */
};

static void *dev_gpa_to_hva(void *ctx, uint64_t gpa, uint64_t len)
{
	struct virtio_dev *d = ctx;

	return thpvm_memmap_gpa_to_hva(d->dev.vm->mem, gpa, len);
}

/*
 * An edge: the IOAPIC pin is edge-triggered (ISA), the driver reads
 * InterruptStatus. Through an irqfd where KVM has one (a write, no ioctl);
 * bound lazily per process: a forked child's VM is another KVM object, and
 * the eventfd it inherited raises its parent's interrupt, so it binds its
 * own. Called with the transport locked: one at a time per device.
 */
static void dev_interrupt(void *ctx)
{
	struct virtio_dev *d = ctx;
	uint64_t one = 1;

	if (d->irq_pid != getpid()) {
		if (d->irq_fd >= 0)
			close(d->irq_fd); /* the parent's: its registration stays with the parent's VM */
		d->irq_fd = eventfd(0, EFD_CLOEXEC);
		if (d->irq_fd >= 0 && vm_irqfd(d->dev.vm, d->irq, d->irq_fd, true)) {
			close(d->irq_fd);
			d->irq_fd = -1;
		}
		d->irq_pid = getpid();
	}
	if (d->irq_fd >= 0 && write(d->irq_fd, &one, sizeof(one)) == sizeof(one))
		return;
	vm_irq_line(d->dev.vm, d->irq, true);
	vm_irq_line(d->dev.vm, d->irq, false);
}

/* QueueNotify with q's index: straight to the device's kick eventfd, inside KVM. */
static int dev_attach_kick(void *ctx, unsigned q, int fd, bool on)
{
	struct virtio_dev *d = ctx;

	return vm_ioeventfd(d->dev.vm, d->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q, fd, on);
}

static void dev_guest_error(void *ctx, const char *msg)
{
	struct virtio_dev *d = ctx;

	fprintf(stderr, "thpvm: warning: %s: the guest broke a virtqueue: %s; the device waits for a reset\n",
		d->dev.name, msg);
}

static int dev_access(struct device *dev, struct iobus_access *a)
{
	struct virtio_dev *d = dev->opaque;

	return virtio_mmio_access(&d->t, (uint32_t)a->offset, a->is_write, a->data, a->size);
}

static json_t *dev_save(struct device *dev)
{
	struct virtio_dev *d = dev->opaque;

	return virtio_mmio_save(&d->t);
}

static int dev_restore(struct device *dev, const json_t *state)
{
	struct virtio_dev *d = dev->opaque;

	if (virtio_mmio_restore(&d->t, state))
		return vmm_fail(-EINVAL, "%s: saved state is not a virtio-mmio device's", dev->name);
	return 0;
}

static void dev_reset(struct device *dev)
{
	struct virtio_dev *d = dev->opaque;

	virtio_mmio_reset(&d->t);
}

static void dev_stop(struct device *dev)
{
	struct virtio_dev *d = dev->opaque;

	if (d->be.stop)
		d->be.stop(d->be.opaque);
}

/* No error path here (the bus's start is void): a device that cannot start says so and stays stopped. */
static void dev_start(struct device *dev)
{
	struct virtio_dev *d = dev->opaque;

	if (d->be.start && d->be.start(d->be.opaque, &d->t))
		fprintf(stderr, "thpvm: warning: %s: %s; the device does not answer\n", dev->name, vmm_last_error());
}

static void dev_destroy(struct device *dev)
{
	struct virtio_dev *d = dev->opaque;

	if (d->be.stop)
		d->be.stop(d->be.opaque);
	if (d->be.destroy)
		d->be.destroy(d->be.opaque);
	virtio_mmio_destroy(&d->t);
	if (d->irq_fd >= 0)
		close(d->irq_fd);
	free(d);
}

static const struct device_ops virtio_dev_ops = {
	.access = dev_access,
	.save = dev_save,
	.restore = dev_restore,
	.reset = dev_reset,
	.stop = dev_stop,
	.start = dev_start,
	.destroy = dev_destroy,
};

int virtio_dev_add(struct vm *vm, const char *name, const struct virtio_backend *backend, uint64_t base,
		   unsigned irq)
{
	struct virtio_dev *d = calloc(1, sizeof(*d));
	struct virtio_env env = { .gpa_to_hva = dev_gpa_to_hva, .interrupt = dev_interrupt,
				  .guest_error = dev_guest_error, .attach_kick = dev_attach_kick, .ctx = d };
	int ret;

	if (!d) {
		if (backend->destroy)
			backend->destroy(backend->opaque);
		return vmm_fail(-ENOMEM, "out of memory for %s", name);
	}
	d->dev = (struct device){ .name = name, .ops = &virtio_dev_ops, .opaque = d };
	d->be = *backend;
	d->irq = irq;
	d->base = base;
	d->irq_fd = -1;
	d->irq_pid = -1;
	virtio_mmio_init(&d->t, backend->ops, backend->opaque, &env);
	if ((ret = vm_add_device(vm, IOBUS_MMIO, base, VIRTIO_MMIO_SIZE, &d->dev))) {
		dev_destroy(&d->dev);
		return ret;
	}
	/* the bus owns it now: a failed start is undone by the bus's destroy */
	if (d->be.start && (ret = d->be.start(d->be.opaque, &d->t)))
		return ret;
	return 0;
}

static int blk_start(void *opaque, struct virtio_mmio *t)
{
	return virtio_blk_start(opaque, t);
}

static void blk_stop(void *opaque)
{
	virtio_blk_stop(opaque);
}

static void blk_destroy(void *opaque)
{
	virtio_blk_close(opaque);
}

int virtio_blk_backend(const char *spec, struct virtio_backend *out)
{
	struct virtio_blk_config cfg = { 0 };
	struct virtio_blk *b;
	char path[4096];
	const char *comma = strchr(spec, ',');
	int ret;

	if (comma && strcmp(comma, ",readonly") && strcmp(comma, ",snapshot"))
		return vmm_fail(-EINVAL, "--disk '%s': unknown option '%s' (PATH[,readonly|,snapshot])", spec, comma + 1);
	if (snprintf(path, sizeof(path), "%.*s", comma ? (int)(comma - spec) : (int)strlen(spec), spec) >=
		    (int)sizeof(path) || !path[0])
		return vmm_fail(-EINVAL, "--disk '%s': expected PATH[,readonly|,snapshot]", spec);
	cfg.path = path;
	cfg.readonly = comma && !strcmp(comma, ",readonly");
	cfg.snapshot = comma && !strcmp(comma, ",snapshot");
	if ((ret = virtio_blk_open(&cfg, &b)))
		return ret;
	*out = (struct virtio_backend){ .ops = virtio_blk_ops(b), .opaque = b, .start = blk_start, .stop = blk_stop,
					.destroy = blk_destroy };
	return 0;
}

static int net_start(void *opaque, struct virtio_mmio *t)
{
	return virtio_net_start(opaque, t);
}

static void net_stop(void *opaque)
{
	virtio_net_stop(opaque);
}

static void net_destroy(void *opaque)
{
	virtio_net_close(opaque);
}

int virtio_net_backend(const char *spec, struct virtio_backend *out)
{
	struct virtio_net_config cfg;
	struct virtio_net *n;
	char name[IFNAMSIZ];
	int ret;

	if ((ret = virtio_net_parse(spec, &cfg, name)) || (ret = virtio_net_open(&cfg, &n)))
		return ret;
	*out = (struct virtio_backend){ .ops = virtio_net_ops(n), .opaque = n, .start = net_start, .stop = net_stop,
					.destroy = net_destroy };
	return 0;
}
