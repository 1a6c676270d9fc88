/* SPDX-License-Identifier: MIT */
/*
 * Nothing ignored silently: after the mapping, what libvirt's normalised
 * XML still holds is either on the harmless list below (docs/libvirt.md
 * says why each is) or refused with its XPath; with --domain-lenient a
 * warning each. An element refused is one line, its subtree with it.
 */
#include <string.h>
#include "domain_internal.h"

/* Left unread on purpose: libvirt's own defaults and what has no meaning for thpvm's machine (docs/libvirt.md). */
static const char *const harmless[] = {
	/* libvirt adds it; the guest's clock is KVM's (kvmclock, the TSC), UTC */
	"/domain/clock[@offset='utc']",
	/* thpvm is the emulator */
	"/domain/devices/emulator",
	/* no device on them: a USB controller that is not there, the root PCI bus */
	"/domain/devices/controller[@type='usb'][@model='none']",
	"/domain/devices/controller[@type='pci'][@model='pci-root' or @model='pcie-root']",
	"/domain/devices/memballoon[@model='none']",
	/* thpvm's machine has them anyway: ACPI tables, the local APIC, PAE paging */
	"/domain/features/acpi",
	"/domain/features/apic",
	"/domain/features/pae",
	/* thpvm's machine is its own: a PC with COM1, i8042 and virtio-mmio */
	"/domain/os/type/@machine",
	/* thpvm's virtio devices sit on virtio-mmio, not PCI: a PCI address means nothing there */
	"/domain/devices/*/address",
	"/domain/devices/*/alias",
	/* other applications' metadata, theirs to read */
	"/domain/metadata/*[namespace-uri() != 'https://thpvm.dev/xmlns/domain/1']",
	/* suspend that is off */
	"/domain/pm[not(*[@enabled != 'no'])]",
};

/* Why an element thpvm does not implement is refused, where more can be said than that. */
static const struct {
	const char *name, *why;
} reasons[] = {
	{ "graphics", "thpvm has no display: its console is COM1 (<serial>)" },
	{ "video", "thpvm has no display: its console is COM1 (<serial>)" },
	{ "input", "thpvm has no input devices but COM1 and the i8042's reset" },
	{ "sound", "thpvm has no sound device" },
	{ "hostdev", "thpvm has no device assignment" },
	{ "controller", "thpvm's devices are on virtio-mmio: no controllers" },
	{ "memballoon", "thpvm has no balloon (model='none' says so)" },
	{ "channel", "thpvm has no virtio-serial channels" },
	{ "filesystem", "thpvm has no shared file systems" },
	{ "watchdog", "thpvm has no watchdog" },
	{ "tpm", "thpvm has no TPM" },
	{ "cpu", "thpvm's vCPUs get KVM's supported CPUID, no CPU model or topology" },
	{ "cputune", "thpvm does not pin or tune vCPU threads" },
	{ "numatune", "thpvm's guest RAM has no NUMA placement" },
	{ "memtune", "thpvm sets no memory limits" },
	{ "seclabel", "thpvm applies no security labels" },
	{ "maxMemory", "thpvm has no memory hotplug" },
	{ "clock", "thpvm's guest clock is UTC (offset='utc')" },
};

static int check(struct dom *x, xmlNodePtr n)
{
	const char *why = "thpvm does not implement it (docs/libvirt.md: what thpvm maps, what it leaves harmlessly)";
	int ret;

	if (n->type != XML_ELEMENT_NODE)
		return 0;
	if (!dom_used(n)) {
		for (unsigned i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
			if (!strcmp((const char *)n->name, reasons[i].name))
				why = reasons[i].why;
		return dom_refuse(x, n, "%s", why);
	}
	for (xmlAttrPtr a = n->properties; a; a = a->next)
		if (!dom_used((xmlNodePtr)a) && (ret = dom_refuse(x, (xmlNodePtr)a, "%s", why)))
			return ret;
	for (xmlNodePtr c = n->children; c; c = c->next)
		if ((ret = check(x, c)))
			return ret;
	return 0;
}

int dom_unused(struct dom *x)
{
	xmlNodePtr n[64];

	/* the element only: what is in it is for the list to say */
	dom_use(dom_node(x, NULL, "/domain/features"));
	for (unsigned i = 0; i < sizeof(harmless) / sizeof(harmless[0]); i++)
		for (unsigned j = 0, nr = dom_nodes(x, NULL, harmless[i], n, 64); j < nr; j++)
			dom_use_tree(n[j]);
	return check(x, xmlDocGetRootElement(x->doc));
}
