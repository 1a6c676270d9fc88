/* SPDX-License-Identifier: MIT */
/*
 * <devices> onto the run's options: virtio disks (in target order, vda
 * first), one ethernet interface on a tap, COM1 (<serial> and libvirt's
 * <console> twin of it), one virtio rng. A device thpvm cannot make is
 * refused whole; with --domain-lenient it is left out of the guest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "domain_internal.h"
#include "run/run_opts.h"

#define MAX_NODES 64

static bool is(const char *s, const char *want)
{
	return s && !strcmp(s, want);
}

/* thpvm's device options are comma-separated: a comma in a path or name would split it */
static int no_comma(struct dom *x, xmlNodePtr n, const char *s)
{
	if (strchr(s, ','))
		return dom_bad(x, n, "'%s': thpvm's device options are comma-separated, the name cannot hold a comma", s);
	return 0;
}

/* One <disk>: its index (vda = 0) in *index, its --disk spec in *spec; 1 when left out (lenient). */
static int map_disk(struct dom *x, xmlNodePtr disk, int *index, const char **spec)
{
	const char *type = dom_str(x, disk, "@type"), *device = dom_str(x, disk, "@device");
	const char *dev = dom_str(x, disk, "target/@dev"), *bus = dom_str(x, disk, "target/@bus"), *path, *fmt;
	bool ro = dom_node(x, disk, "readonly"), transient = dom_node(x, disk, "transient");
	char buf[4200];
	int ret;

	if (!is(device, "disk"))
		return dom_refuse(x, disk, "device '%s': thpvm's disks are virtio-blk disks (device='disk')",
				  device ? device : "") ?: 1;
	if (!is(type, "file") && !is(type, "block"))
		return dom_refuse(x, disk, "type '%s': thpvm's disks are raw images in a file or on a block device",
				  type ? type : "") ?: 1;
	if (!is(bus, "virtio") || !dev || strncmp(dev, "vd", 2) || strlen(dev) != 3 || dev[2] < 'a' || dev[2] > 'z')
		return dom_refuse(x, disk, "target '%s' bus '%s': thpvm's disks are virtio (vda, vdb, ...)",
				  dev ? dev : "", bus ? bus : "") ?: 1;
	dom_use(dom_node(x, disk, "target"));
	*index = dev[2] - 'a';
	path = dom_str(x, disk, is(type, "file") ? "source/@file" : "source/@dev");
	if (!path)
		return dom_bad(x, disk, "no source: thpvm needs the image's path");
	dom_use(dom_node(x, disk, "source"));
	if ((ret = no_comma(x, dom_node(x, disk, is(type, "file") ? "source/@file" : "source/@dev"), path)))
		return ret;
	/* the driver libvirt would start is QEMU; thpvm's reads raw images */
	if (dom_node(x, disk, "driver")) {
		dom_use(dom_node(x, disk, "driver"));
		dom_str(x, disk, "driver/@name");
		fmt = dom_str(x, disk, "driver/@type");
		if (fmt && !is(fmt, "raw"))
			return dom_bad(x, dom_node(x, disk, "driver/@type"), "'%s': thpvm's disks are raw images", fmt);
	}
	if (ro && transient)
		return dom_bad(x, disk, "<readonly/> and <transient/>: one or the other (--disk PATH,readonly or "
					"PATH,snapshot)");
	dom_use(dom_node(x, disk, "readonly"));
	/* libvirt's <transient/> is QEMU's -snapshot: the writes kept apart and dropped at the end */
	dom_use(dom_node(x, disk, "transient"));
	snprintf(buf, sizeof(buf), "%s%s", path, ro ? ",readonly" : transient ? ",snapshot" : "");
	return (*spec = dom_keep(x, buf)) ? 0 : -ENOMEM;
}

/* Every <disk>, as --disk in target order: vda first, no gap (the guest names them in the order it finds them) */
static int map_disks(struct dom *x)
{
	xmlNodePtr disks[MAX_NODES], at[26] = { 0 };
	const char *specs[26] = { 0 };
	unsigned n = dom_nodes(x, NULL, "/domain/devices/disk", disks, MAX_NODES), last = 0;
	int ret, index = 0;
	const char *spec = NULL;

	for (unsigned i = 0; i < n; i++) {
		if ((ret = map_disk(x, disks[i], &index, &spec)) < 0)
			return ret;
		if (ret)
			continue;
		dom_use(disks[i]);
		/* libvirt refuses two disks on one target */
		at[index] = disks[i];
		specs[index] = spec;
		if ((unsigned)index + 1 > last)
			last = (unsigned)index + 1;
	}
	for (unsigned i = 0; i < last; i++) {
		if (!specs[i]) {
			for (unsigned j = i + 1; j < last; j++)
				if (specs[j])
					return dom_bad(x, dom_node(x, at[j], "target/@dev"),
						       "vd%c without vd%c: thpvm's disks are vda, vdb, ... with no gap",
						       'a' + j, 'a' + i);
		}
		if (x->o->guest.nr_disks == MACHINE_MAX_DISKS)
			return dom_bad(x, at[i], "thpvm runs at most %d disks", MACHINE_MAX_DISKS);
		x->o->guest.disks[x->o->guest.nr_disks++] = specs[i];
	}
	return 0;
}

/* <interface type='ethernet'> on a tap: --net tap=NAME[,mac=MAC] */
static int map_interfaces(struct dom *x)
{
	xmlNodePtr ifs[MAX_NODES], n;
	unsigned nr = dom_nodes(x, NULL, "/domain/devices/interface", ifs, MAX_NODES);
	const char *type, *tap, *mac, *model;
	char buf[256];
	int ret;

	for (unsigned i = 0; i < nr; i++) {
		n = ifs[i];
		type = dom_str(x, n, "@type");
		model = dom_str(x, n, "model/@type");
		if (!is(type, "ethernet")) {
			if ((ret = dom_refuse(x, n, "type '%s': thpvm attaches its network device to a tap it names "
						    "(type='ethernet' with <target dev='TAP'/>)",
					      type ? type : "")))
				return ret;
			continue;
		}
		if (model && !is(model, "virtio")) {
			if ((ret = dom_refuse(x, n, "model '%s': thpvm's network device is virtio-net", model)))
				return ret;
			continue;
		}
		if (x->o->guest.net) {
			if ((ret = dom_refuse(x, n, "thpvm runs one network device")))
				return ret;
			continue;
		}
		if (!(tap = dom_str(x, n, "target/@dev")))
			return dom_bad(x, n, "no <target dev='TAP'/>: thpvm needs the tap's name");
		if ((ret = no_comma(x, dom_node(x, n, "target/@dev"), tap)))
			return ret;
		mac = dom_str(x, n, "mac/@address");
		dom_use(n);
		dom_use(dom_node(x, n, "target"));
		dom_use(dom_node(x, n, "mac"));
		dom_use(dom_node(x, n, "model"));
		snprintf(buf, sizeof(buf), "tap=%s%s%s", tap, mac ? ",mac=" : "", mac ? mac : "");
		if (!(x->o->guest.net = dom_keep(x, buf)))
			return -ENOMEM;
	}
	return 0;
}

/* COM1: one <serial> on port 0 (stdio or a file) and the <console> libvirt makes its twin */
static int map_serial(struct dom *x)
{
	xmlNodePtr serials[MAX_NODES], consoles[MAX_NODES], s;
	unsigned nr = dom_nodes(x, NULL, "/domain/devices/serial", serials, MAX_NODES);
	unsigned nr_con = dom_nodes(x, NULL, "/domain/devices/console", consoles, MAX_NODES);
	const char *type, *port, *path, *v;
	char buf[4200];
	bool com1 = false;
	int ret;

	for (unsigned i = 0; i < nr; i++) {
		s = serials[i];
		type = dom_str(x, s, "@type");
		port = dom_str(x, s, "target/@port");
		if (i || (port && !is(port, "0"))) {
			if ((ret = dom_refuse(x, s, "thpvm has one serial port, COM1 (the first <serial>, port 0)")))
				return ret;
			continue;
		}
		if (!is(type, "stdio") && !is(type, "file")) {
			if ((ret = dom_refuse(x, s, "type '%s': thpvm's console is stdio or a file (type='stdio' or "
						    "type='file')",
					      type ? type : "")))
				return ret;
			com1 = true; /* the default console, stdio, stays: COM1 is always there */
			continue;
		}
		dom_use(s);
		dom_use(dom_node(x, s, "target"));
		if ((v = dom_str(x, s, "target/@type")) && !is(v, "isa-serial"))
			return dom_bad(x, s, "target type '%s': thpvm's serial port is COM1 (isa-serial)", v);
		if ((v = dom_str(x, s, "target/model/@name")) && !is(v, "isa-serial"))
			return dom_bad(x, s, "target model '%s': thpvm's serial port is a 16550A (isa-serial)", v);
		dom_use(dom_node(x, s, "target/model"));
		if (is(type, "stdio")) {
			x->o->guest.console = "stdio";
		} else {
			if (!(path = dom_str(x, s, "source/@path")))
				return dom_bad(x, s, "type 'file' without <source path='FILE'/>");
			dom_use(dom_node(x, s, "source"));
			snprintf(buf, sizeof(buf), "file:%s", path);
			if (!(x->o->guest.console = dom_keep(x, buf)))
				return -ENOMEM;
		}
		com1 = true;
	}
	for (unsigned i = 0; i < nr_con; i++) {
		/* libvirt's copy of the first <serial> as the domain's console: the same COM1 */
		if (com1 && is(dom_str(x, consoles[i], "target/@type"), "serial") &&
		    is(dom_str(x, consoles[i], "target/@port"), "0")) {
			dom_use_tree(consoles[i]);
			continue;
		}
		if ((ret = dom_refuse(x, consoles[i], "thpvm's console is COM1 (a <serial>), it has no other")))
			return ret;
	}
	return 0;
}

/* <rng model='virtio'>: --rng, filled from the host's getrandom(), /dev/urandom's pool */
static int map_rng(struct dom *x)
{
	xmlNodePtr rngs[MAX_NODES], r;
	unsigned nr = dom_nodes(x, NULL, "/domain/devices/rng", rngs, MAX_NODES);
	const char *model, *src;
	int ret;

	for (unsigned i = 0; i < nr; i++) {
		r = rngs[i];
		model = dom_str(x, r, "@model");
		if (i || !is(model, "virtio")) {
			if ((ret = dom_refuse(x, r, "thpvm has one entropy device, virtio (model='virtio')")))
				return ret;
			continue;
		}
		dom_use(r);
		if (dom_node(x, r, "backend")) {
			src = dom_str(x, r, "backend");
			if (!is(dom_str(x, r, "backend/@model"), "random") ||
			    (src && *src && !is(src, "/dev/urandom") && !is(src, "/dev/random")))
				return dom_bad(x, dom_node(x, r, "backend"), "thpvm's entropy comes from the host's "
									   "getrandom() (backend model='random', "
									   "/dev/urandom or /dev/random)");
		}
		x->o->guest.rng = true;
	}
	return 0;
}

int dom_map_devices(struct dom *x)
{
	int ret;

	dom_use(dom_node(x, NULL, "/domain/devices"));
	if ((ret = map_disks(x)) || (ret = map_interfaces(x)) || (ret = map_serial(x)) || (ret = map_rng(x)))
		return ret;
	return 0;
}
