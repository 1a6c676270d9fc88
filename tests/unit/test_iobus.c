/* SPDX-License-Identifier: MIT */
/* The I/O bus: ranges, dispatch, the device interface's optional hooks. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include "dev/iobus.h"
#include "util/error.h"

struct counter {
	unsigned accesses, stops, starts, resets, destroys;
	uint64_t last_offset;
	uint32_t reg;
	char log[64];
};

static int counter_access(struct device *dev, struct iobus_access *a)
{
	struct counter *c = dev->opaque;

	c->accesses++;
	c->last_offset = a->offset;
	if (a->is_write) {
		c->reg = 0;
		memcpy(&c->reg, a->data, a->size < 4 ? a->size : 4);
	} else {
		memcpy(a->data, &c->reg, a->size < 4 ? a->size : 4);
	}
	if (c->reg == 0xdead)
		return vmm_fail(-EIO, "device '%s' refused 0xdead", dev->name);
	return 0;
}

static json_t *counter_save(struct device *dev)
{
	return json_pack("{s:i}", "reg", ((struct counter *)dev->opaque)->reg);
}

static int counter_restore(struct device *dev, const json_t *st)
{
	((struct counter *)dev->opaque)->reg = (uint32_t)json_integer_value(json_object_get(st, "reg"));
	return 0;
}

#define LOG(dev, ch) strncat(((struct counter *)(dev)->opaque)->log, ch, 1)
static void counter_stop(struct device *dev) { ((struct counter *)dev->opaque)->stops++; LOG(dev, dev->name); }
static void counter_start(struct device *dev) { ((struct counter *)dev->opaque)->starts++; }
static void counter_reset(struct device *dev) { ((struct counter *)dev->opaque)->resets++; }
static void counter_destroy(struct device *dev) { ((struct counter *)dev->opaque)->destroys++; }

static const struct device_ops full_ops = {
	.access = counter_access, .save = counter_save, .restore = counter_restore, .reset = counter_reset,
	.stop = counter_stop, .start = counter_start, .destroy = counter_destroy,
};
static const struct device_ops bare_ops = { .access = counter_access };

static int access(struct iobus *bus, enum iobus_space sp, uint64_t addr, bool write, unsigned size, uint32_t *val)
{
	struct iobus_access a = { .space = sp, .addr = addr, .is_write = write, .size = size, .data = (uint8_t *)val };

	return iobus_dispatch(bus, &a);
}

Test(iobus, accesses_reach_the_device_that_owns_the_range)
{
	struct counter c1 = { 0 }, c2 = { 0 };
	struct device d1 = { .name = "a", .ops = &full_ops, .opaque = &c1 };
	struct device d2 = { .name = "b", .ops = &bare_ops, .opaque = &c2 };
	struct iobus *bus;
	uint32_t v = 0x1234;

	cr_assert_eq(iobus_create(&bus), 0);
	cr_assert_eq(iobus_register(bus, IOBUS_PIO, 0x3f8, 8, &d1), 0);
	cr_assert_eq(iobus_register(bus, IOBUS_PIO, 0x60, 1, &d2), 0);
	cr_assert_eq(iobus_register(bus, IOBUS_PIO, 0x64, 1, &d2), 0, "one device, two ranges");
	cr_assert_eq(iobus_register(bus, IOBUS_MMIO, 0xd0000000, 0x1000, &d1), 0, "ranges in both spaces");
	cr_assert_eq(iobus_nr_devices(bus), 2);
	cr_assert_eq(access(bus, IOBUS_PIO, 0x3fb, true, 1, &v), 0);
	cr_assert_eq(c1.last_offset, 3);
	cr_assert_eq(c1.reg, 0x34);
	cr_assert_eq(access(bus, IOBUS_PIO, 0x64, true, 1, &v), 0);
	cr_assert_eq(c2.accesses, 1);
	cr_assert_eq(access(bus, IOBUS_MMIO, 0xd0000ffc, true, 4, &v), 0);
	cr_assert_eq(c1.last_offset, 0xffc);
	v = 0;
	cr_assert_eq(access(bus, IOBUS_MMIO, 0xd0000000, false, 4, &v), 0);
	cr_assert_eq(v, 0x1234);
	cr_assert_eq(access(bus, IOBUS_PIO, 0x61, true, 1, &v), -ENODEV);
	cr_assert_eq(access(bus, IOBUS_MMIO, 0x3f8, true, 1, &v), -ENODEV, "spaces are separate");
	cr_assert_eq(access(bus, IOBUS_PIO, 0x3fe, true, 4, &v), -ENODEV, "an access past the range's end");
	cr_assert_eq(iobus_find(bus, IOBUS_PIO, 0x3ff), &d1);
	cr_assert_null(iobus_find(bus, IOBUS_PIO, 0x400));
	v = 0xdead;
	cr_assert_eq(access(bus, IOBUS_PIO, 0x3f8, true, 4, &v), -EIO);
	cr_assert_str_eq(vmm_last_error(), "device 'a' refused 0xdead");
	iobus_destroy(bus);
	cr_assert_eq(c1.destroys, 1, "destroy once per device, not per range");
}

Test(iobus, overlaps_and_bad_ranges_are_refused)
{
	struct counter c = { 0 };
	struct device d = { .name = "a", .ops = &bare_ops, .opaque = &c };
	struct device other = { .name = "a", .ops = &bare_ops, .opaque = &c };
	struct device incomplete = { .name = "x" };
	struct iobus *bus;

	cr_assert_eq(iobus_create(&bus), 0);
	cr_assert_eq(iobus_register(bus, IOBUS_PIO, 0x40, 4, &d), 0);
	cr_assert_eq(iobus_register(bus, IOBUS_PIO, 0x43, 2, &d), -EEXIST);
	cr_assert(strstr(vmm_last_error(), "overlaps device 'a'"));
	cr_assert_eq(iobus_register(bus, IOBUS_PIO, 0x3e, 3, &d), -EEXIST);
	cr_assert_eq(iobus_register(bus, IOBUS_PIO, 0x44, 0, &d), -EINVAL);
	cr_assert_eq(iobus_register(bus, IOBUS_PIO, 0xfffe, 4, &d), -EINVAL, "ports end at 0xffff");
	cr_assert_eq(iobus_register(bus, IOBUS_MMIO, UINT64_MAX - 1, 4, &d), -EINVAL, "wraps");
	cr_assert_eq(iobus_register(bus, IOBUS_PIO, 0x50, 1, &other), -EEXIST, "two devices with one name");
	cr_assert_eq(iobus_register(bus, IOBUS_PIO, 0x50, 1, &incomplete), -EINVAL);
	iobus_seal(bus);
	cr_assert_eq(iobus_register(bus, IOBUS_PIO, 0x50, 1, &d), -EBUSY);
	iobus_destroy(bus);
}

Test(iobus, state_is_saved_and_restored_by_device_name)
{
	struct counter c1 = { .reg = 5 }, c2 = { 0 };
	struct device d1 = { .name = "uart", .ops = &full_ops, .opaque = &c1 };
	struct device d2 = { .name = "plain", .ops = &bare_ops, .opaque = &c2 };
	struct iobus *bus;
	json_t *st, *bogus;

	cr_assert_eq(iobus_create(&bus), 0);
	cr_assert_eq(iobus_register(bus, IOBUS_PIO, 0x3f8, 8, &d1), 0);
	cr_assert_eq(iobus_register(bus, IOBUS_PIO, 0x60, 1, &d2), 0);
	st = iobus_save(bus);
	cr_assert_eq(json_object_size(st), 1, "only devices with save()");
	c1.reg = 99;
	cr_assert_eq(iobus_restore(bus, st), 0);
	cr_assert_eq(c1.reg, 5);
	bogus = json_pack("{s:{}}", "plain");
	cr_assert_eq(iobus_restore(bus, bogus), -ENOENT);
	cr_assert(strstr(vmm_last_error(), "'plain'"));
	json_decref(bogus);
	json_decref(st);
	iobus_destroy(bus);
}

Test(iobus, stop_runs_in_reverse_start_and_reset_in_order)
{
	struct counter c = { 0 };
	struct device a = { .name = "1", .ops = &full_ops, .opaque = &c };
	struct device b = { .name = "2", .ops = &full_ops, .opaque = &c };
	struct iobus *bus;

	cr_assert_eq(iobus_create(&bus), 0);
	cr_assert_eq(iobus_register(bus, IOBUS_PIO, 1, 1, &a), 0);
	cr_assert_eq(iobus_register(bus, IOBUS_PIO, 2, 1, &b), 0);
	iobus_stop_all(bus);
	cr_assert_str_eq(c.log, "21");
	iobus_start_all(bus);
	iobus_reset_all(bus);
	cr_assert_eq(c.stops, 2);
	cr_assert_eq(c.starts, 2);
	cr_assert_eq(c.resets, 2);
	iobus_destroy(bus);
	cr_assert_eq(c.destroys, 2);
}
