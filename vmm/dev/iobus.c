/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "iobus.h"
#include "util/error.h"

struct iobus_range {
	uint64_t base;
	uint64_t len;
	struct device *dev;
};

struct iobus {
	struct iobus_range *ranges[IOBUS_NR_SPACES];   /* sorted by base, never overlapping */
	unsigned nr_ranges[IOBUS_NR_SPACES];
	struct device **devices;                        /* unique, in registration order */
	unsigned nr_devices;
	bool sealed;
};

const char *iobus_space_str(enum iobus_space space)
{
	return space == IOBUS_PIO ? "port I/O" : "MMIO";
}

int iobus_create(struct iobus **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : vmm_fail(-ENOMEM, "out of memory for the I/O bus");
}

void iobus_destroy(struct iobus *bus)
{
	if (!bus)
		return;
	for (unsigned i = bus->nr_devices; i-- > 0;)
		if (bus->devices[i]->ops->destroy)
			bus->devices[i]->ops->destroy(bus->devices[i]);
	for (int s = 0; s < IOBUS_NR_SPACES; s++)
		free(bus->ranges[s]);
	free(bus->devices);
	free(bus);
}

static int add_device(struct iobus *bus, struct device *dev)
{
	struct device **d;

	for (unsigned i = 0; i < bus->nr_devices; i++) {
		if (bus->devices[i] == dev)
			return 0;
		if (!strcmp(bus->devices[i]->name, dev->name))
			return vmm_fail(-EEXIST, "two devices named '%s' on the I/O bus", dev->name);
	}
	d = realloc(bus->devices, (bus->nr_devices + 1) * sizeof(*d));
	if (!d)
		return vmm_fail(-ENOMEM, "out of memory for the I/O bus");
	d[bus->nr_devices++] = dev;
	bus->devices = d;
	return 0;
}

int iobus_register(struct iobus *bus, enum iobus_space space, uint64_t base, uint64_t len, struct device *dev)
{
	struct iobus_range *r;
	unsigned n, pos;
	int ret;

	if (space >= IOBUS_NR_SPACES || !dev || !dev->ops || !dev->ops->access || !dev->name)
		return vmm_fail(-EINVAL, "I/O bus: incomplete device");
	if (bus->sealed)
		return vmm_fail(-EBUSY, "I/O bus: device '%s' registered after the vCPUs started", dev->name);
	if (!len || base + len < base || (space == IOBUS_PIO && base + len > 0x10000))
		return vmm_fail(-EINVAL, "I/O bus: device '%s': bad %s range 0x%llx+0x%llx", dev->name,
				iobus_space_str(space), (unsigned long long)base, (unsigned long long)len);
	n = bus->nr_ranges[space];
	r = bus->ranges[space];
	for (pos = 0; pos < n && r[pos].base < base; pos++)
		;
	if ((pos > 0 && r[pos - 1].base + r[pos - 1].len > base) || (pos < n && base + len > r[pos].base)) {
		const struct iobus_range *o = pos > 0 && r[pos - 1].base + r[pos - 1].len > base ? &r[pos - 1] : &r[pos];

		return vmm_fail(-EEXIST, "I/O bus: device '%s' %s range [0x%llx, 0x%llx) overlaps device '%s'",
				dev->name, iobus_space_str(space), (unsigned long long)base,
				(unsigned long long)(base + len), o->dev->name);
	}
	if ((ret = add_device(bus, dev)))
		return ret;
	r = realloc(r, (n + 1) * sizeof(*r));
	if (!r)
		return vmm_fail(-ENOMEM, "out of memory for the I/O bus");
	memmove(&r[pos + 1], &r[pos], (n - pos) * sizeof(*r));
	r[pos] = (struct iobus_range){ .base = base, .len = len, .dev = dev };
	bus->ranges[space] = r;
	bus->nr_ranges[space] = n + 1;
	return 0;
}

void iobus_seal(struct iobus *bus)
{
	bus->sealed = true;
}

static const struct iobus_range *lookup(const struct iobus *bus, enum iobus_space space, uint64_t addr)
{
	const struct iobus_range *r = bus->ranges[space];
	unsigned lo = 0, hi = bus->nr_ranges[space];

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;

		if (addr < r[mid].base)
			hi = mid;
		else if (addr - r[mid].base >= r[mid].len)
			lo = mid + 1;
		else
			return &r[mid];
	}
	return NULL;
}

struct device *iobus_find(struct iobus *bus, enum iobus_space space, uint64_t addr)
{
	const struct iobus_range *r = space < IOBUS_NR_SPACES ? lookup(bus, space, addr) : NULL;

	return r ? r->dev : NULL;
}

int iobus_dispatch(struct iobus *bus, struct iobus_access *a)
{
	const struct iobus_range *r = a->space < IOBUS_NR_SPACES ? lookup(bus, a->space, a->addr) : NULL;

	if (!r || a->addr - r->base + a->size > r->len)
		return -ENODEV;
	a->offset = a->addr - r->base;
	return r->dev->ops->access(r->dev, a);
}

unsigned iobus_nr_devices(const struct iobus *bus)
{
	return bus->nr_devices;
}

struct device *iobus_device(const struct iobus *bus, unsigned idx)
{
	return idx < bus->nr_devices ? bus->devices[idx] : NULL;
}

void iobus_stop_all(struct iobus *bus)
{
	for (unsigned i = bus->nr_devices; i-- > 0;)
		if (bus->devices[i]->ops->stop)
			bus->devices[i]->ops->stop(bus->devices[i]);
}

void iobus_start_all(struct iobus *bus)
{
	for (unsigned i = 0; i < bus->nr_devices; i++)
		if (bus->devices[i]->ops->start)
			bus->devices[i]->ops->start(bus->devices[i]);
}

void iobus_reset_all(struct iobus *bus)
{
	for (unsigned i = 0; i < bus->nr_devices; i++)
		if (bus->devices[i]->ops->reset)
			bus->devices[i]->ops->reset(bus->devices[i]);
}

json_t *iobus_save(struct iobus *bus)
{
	json_t *o = json_object();

	for (unsigned i = 0; o && i < bus->nr_devices; i++) {
		struct device *d = bus->devices[i];
		json_t *st;

		if (!d->ops->save)
			continue;
		st = d->ops->save(d);
		if (!st) {
			json_decref(o);
			vmm_fail(-EIO, "device '%s' could not save its state", d->name);
			return NULL;
		}
		json_object_set_new(o, d->name, st);
	}
	return o;
}

int iobus_restore(struct iobus *bus, const json_t *state)
{
	const char *name;
	json_t *st;

	json_object_foreach((json_t *)state, name, st) {
		struct device *d = NULL;
		int ret;

		for (unsigned i = 0; i < bus->nr_devices && !d; i++)
			if (!strcmp(bus->devices[i]->name, name))
				d = bus->devices[i];
		if (!d || !d->ops->restore)
			return vmm_fail(-ENOENT, "saved state names device '%s', which cannot restore here", name);
		if ((ret = d->ops->restore(d, st)))
			return ret;
	}
	return 0;
}
