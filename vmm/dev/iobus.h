/* SPDX-License-Identifier: MIT */
/*
 * The I/O bus: port I/O and MMIO ranges mapped to devices. vCPU threads
 * dispatch their KVM_EXIT_IO / KVM_EXIT_MMIO exits here. Devices are
 * registered before the vCPUs start; the bus is read-only while they run
 * (no lock on the dispatch path), and each device locks its own state if
 * several vCPUs can reach it at once. docs/vmm.md describes the interface.
 */
#ifndef THPVM_IOBUS_H
#define THPVM_IOBUS_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

struct vm;
struct vcpu;
struct device;

enum iobus_space {
	IOBUS_PIO,
	IOBUS_MMIO,
	IOBUS_NR_SPACES
};

/* One guest access, as the device sees it. */
struct iobus_access {
	enum iobus_space space;
	uint64_t addr;              /* port, or guest-physical address */
	uint64_t offset;            /* addr minus the base of the range it hit */
	bool is_write;
	unsigned size;              /* bytes: 1, 2, 4 (port I/O) or 1..8 (MMIO) */
	uint8_t *data;              /* the bytes written, or where a read's result goes */
	struct vcpu *vcpu;          /* the vCPU that made the access */
};

struct device_ops {
	/*
	 * A guest access to one of the device's ranges. Returns 0, or -errno
	 * after vmm_fail() to stop the VM with that message as a guest error.
	 * Called from vCPU threads, possibly several at once.
	 */
	int (*access)(struct device *dev, struct iobus_access *a);
	/* Optional: the device's state (registers, buffers) for snapshot and fork, as JSON (new reference). */
	json_t *(*save)(struct device *dev);
	/* Optional: puts back a state from save(). Returns 0 or -errno. */
	int (*restore)(struct device *dev, const json_t *state);
	/* Optional: back to power-on state. */
	void (*reset)(struct device *dev);
	/* Optional: quiesce the device's own threads (pause, fork) and start them again. */
	void (*stop)(struct device *dev);
	void (*start)(struct device *dev);
	/* Optional: frees the device; called once when the bus is destroyed. */
	void (*destroy)(struct device *dev);
};

struct device {
	const char *name;           /* unique on the bus: the key of its saved state */
	const struct device_ops *ops;
	void *opaque;               /* the device's own state */
	struct vm *vm;              /* set by vm_add_device(): raise IRQs (vm_irq_line), stop the VM */
};

struct iobus;

int iobus_create(struct iobus **out);
/* Calls each device's destroy() once, then frees the bus. */
void iobus_destroy(struct iobus *bus);

/*
 * Maps [base, base + len) of space to dev. A device may own several ranges.
 * Returns 0, -EINVAL (empty or wrapping range), -EEXIST (overlap), -EBUSY
 * (bus sealed: vCPUs have started), -ENOMEM.
 */
int iobus_register(struct iobus *bus, enum iobus_space space, uint64_t base, uint64_t len, struct device *dev);
/* No more registrations: dispatch may now run concurrently. */
void iobus_seal(struct iobus *bus);

/*
 * Routes an access to the device whose range holds all of it. Returns 0,
 * -ENODEV when no device claims it, or the device's error.
 */
int iobus_dispatch(struct iobus *bus, struct iobus_access *a);
/* The device at addr, or NULL. */
struct device *iobus_find(struct iobus *bus, enum iobus_space space, uint64_t addr);

unsigned iobus_nr_devices(const struct iobus *bus);
struct device *iobus_device(const struct iobus *bus, unsigned idx);

/* Every device's stop(), start(), reset(), in registration order (stop in reverse). */
void iobus_stop_all(struct iobus *bus);
void iobus_start_all(struct iobus *bus);
void iobus_reset_all(struct iobus *bus);
/* {"device name": state, ...} of the devices that have save() (new reference). */
json_t *iobus_save(struct iobus *bus);
/* Restores every device named in state. Returns 0 or -errno (-ENOENT: a device named there is missing). */
int iobus_restore(struct iobus *bus, const json_t *state);

const char *iobus_space_str(enum iobus_space space);

#endif
