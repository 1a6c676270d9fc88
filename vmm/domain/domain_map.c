/* SPDX-License-Identifier: MIT */
/*
 * The normalised domain XML onto the run's options, section by section, in
 * the order of docs/libvirt.md's table. Each reader consumes what it maps
 * (dom_str, dom_use) and refuses what thpvm does not do with the reason;
 * whatever no reader consumed is domain_check.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "domain_internal.h"
#include "run/run_opts.h"
#include "collapse/collapse_vm.h"
#include "util/error.h"
#include "util/util.h"

static bool is(const char *s, const char *want)
{
	return s && !strcmp(s, want);
}

/* A number libvirt wrote (it validated it): digits only, no overflow. */
static int number(struct dom *x, xmlNodePtr n, const char *s, unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	if (!*s || *end || errno)
		return dom_bad(x, n, "'%s': expected a number", s);
	return 0;
}

/* <domain type>, name, uuid, title and description, on_poweroff, on_reboot, on_crash */
static int map_domain(struct dom *x)
{
	static const char *const ends[][2] = {
		{ "on_poweroff", "thpvm ends when the guest powers off" },
		{ "on_reboot", "thpvm ends when the guest reboots (libvirt's default is restart: write "
			       "<on_reboot>destroy</on_reboot>)" },
		{ "on_crash", "thpvm ends when the guest crashes" },
	};
	xmlNodePtr root = xmlDocGetRootElement(x->doc);
	const char *type = dom_str(x, root, "@type");
	char path[32];
	int ret;

	dom_use(root);
	if (!is(type, "kvm") && (ret = dom_refuse(x, dom_node(x, root, "@type"),
						   "'%s': thpvm runs guests on KVM (type='kvm')", type ? type : "")))
		return ret;
	x->d->name = (char *)dom_str(x, root, "name");
	x->d->uuid = (char *)dom_str(x, root, "uuid");
	/* words for people */
	dom_use_tree(dom_node(x, root, "title"));
	dom_use_tree(dom_node(x, root, "description"));
	for (unsigned i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s", ends[i][0]);
		const char *s = dom_str(x, root, path);

		if (s && !is(s, "destroy") &&
		    (ret = dom_refuse(x, dom_node(x, root, path), "'%s': only destroy: %s", s, ends[i][1])))
			return ret;
	}
	return 0;
}

/* <memory>, <currentMemory>, <vcpu> */
static int map_size(struct dom *x)
{
	xmlNodePtr mem = dom_node(x, NULL, "/domain/memory"), cur = dom_node(x, NULL, "/domain/currentMemory");
	xmlNodePtr vcpu = dom_node(x, NULL, "/domain/vcpu");
	const char *s, *unit;
	unsigned long long kib, cur_kib, n;
	int ret;

	/* libvirt writes both in KiB */
	if (!mem)
		return dom_bad(x, xmlDocGetRootElement(x->doc), "no <memory>: thpvm needs the guest's RAM size");
	unit = dom_str(x, mem, "@unit");
	if ((ret = number(x, mem, dom_str(x, mem, "."), &kib)))
		return ret;
	if (!is(unit, "KiB"))
		return dom_bad(x, mem, "unit '%s': libvirt normalises to KiB", unit ? unit : "");
	if (!kib || kib % 2048)
		return dom_bad(x, mem, "%llu KiB: thpvm's guest RAM is a non-zero multiple of 2 MiB (2048 KiB)", kib);
	x->o->guest.memory_bytes = kib * 1024;
	if (cur) {
		dom_str(x, cur, "@unit");
		if ((ret = number(x, cur, dom_str(x, cur, "."), &cur_kib)))
			return ret;
		if (cur_kib != kib && (ret = dom_refuse(x, cur, "%llu KiB is not <memory>'s %llu KiB: thpvm has no "
							  "balloon, the guest gets all of <memory>",
							  cur_kib, kib)))
			return ret;
	}
	if (!vcpu)
		return 0;
	if ((ret = number(x, vcpu, dom_str(x, vcpu, "."), &n)))
		return ret;
	if (!n || n > PAYLOAD_MAX_CPUS)
		return dom_bad(x, vcpu, "%llu: thpvm runs 1..%d vCPUs", n, PAYLOAD_MAX_CPUS);
	x->o->guest.nr_cpus = (unsigned)n;
	s = dom_str(x, vcpu, "@placement");
	if (s && !is(s, "static") &&
	    (ret = dom_refuse(x, dom_node(x, vcpu, "@placement"), "'%s': thpvm places vCPU threads statically "
								   "(no numad)", s)))
		return ret;
	if ((s = dom_str(x, vcpu, "@current")) && (ret = number(x, vcpu, s, &n)))
		return ret;
	if (s && n != x->o->guest.nr_cpus &&
	    (ret = dom_refuse(x, dom_node(x, vcpu, "@current"), "%llu: thpvm has no vCPU hotplug, every vCPU runs", n)))
		return ret;
	return 0;
}

/* <os>: a kernel booted directly; firmware of any kind refused */
static int map_os(struct dom *x)
{
	xmlNodePtr os = dom_node(x, NULL, "/domain/os"), n, boot[8];
	const char *s;
	unsigned nr_boot;
	int ret;

	if (!os)
		return dom_bad(x, xmlDocGetRootElement(x->doc), "no <os>: thpvm boots the kernel <os><kernel> names");
	dom_use(os);
	s = dom_str(x, os, "type");
	if (!is(s, "hvm"))
		return dom_bad(x, dom_node(x, os, "type"), "'%s': thpvm runs full virtualisation guests (hvm)", s ? s : "");
	/* x86_64, or i686: the test driver's default when <type> names no arch; the kernel image says what it is */
	s = dom_str(x, os, "type/@arch");
	if (s && !is(s, "x86_64") && !is(s, "i686"))
		return dom_bad(x, dom_node(x, os, "type/@arch"), "'%s': thpvm runs x86 guests (x86_64)", s);
	if ((n = dom_node(x, os, "@firmware")) &&
	    (ret = dom_refuse(x, n, "thpvm boots a kernel directly (<kernel>), without firmware")))
		return ret;
	if ((n = dom_node(x, os, "loader")) &&
	    (ret = dom_refuse(x, n, "thpvm boots a kernel directly (<kernel>), without firmware")))
		return ret;
	if ((n = dom_node(x, os, "nvram")) &&
	    (ret = dom_refuse(x, n, "thpvm boots a kernel directly (<kernel>), without firmware (no NVRAM)")))
		return ret;
	/* libvirt adds <boot dev='hd'/> by itself when none is given; a kernel booted directly has no boot device */
	nr_boot = dom_nodes(x, os, "boot", boot, 8);
	if (nr_boot == 1 && is(dom_str(x, boot[0], "@dev"), "hd"))
		dom_use(boot[0]);
	else
		for (unsigned i = 0; i < nr_boot; i++)
			if ((ret = dom_refuse(x, boot[i], "thpvm boots the kernel <os><kernel> names directly, from no "
							  "boot device")))
				return ret;
	if (!(x->o->guest.kernel = dom_str(x, os, "kernel")))
		return dom_bad(x, os, "no <kernel>: thpvm boots a kernel directly (bzImage or PVH vmlinux), without "
				      "firmware");
	x->o->guest.initrd = dom_str(x, os, "initrd");
	x->o->guest.cmdline = dom_str(x, os, "cmdline");
	return 0;
}

/* <memoryBacking>: THP unless <hugepages/>; thpvm's backing extras in its metadata (map_metadata) */
static int map_memory_backing(struct dom *x)
{
	xmlNodePtr mb = dom_node(x, NULL, "/domain/memoryBacking"), n;
	const char *s;
	unsigned long long v;
	int ret;

	if (!mb)
		return 0;
	dom_use(mb);
	if ((n = dom_node(x, mb, "hugepages"))) {
		dom_use(n);
		/* one page size: the host's default, 2 MiB on x86 */
		for (xmlNodePtr p = n->children; p; p = p->next) {
			if (p->type != XML_ELEMENT_NODE)
				continue;
			s = dom_str(x, p, "@size");
			if (s && (ret = number(x, p, s, &v)))
				return ret;
			if (!s || v != 2048 || !is(dom_str(x, p, "@unit"), "KiB") || dom_node(x, p, "@nodeset"))
				return dom_bad(x, p, "thpvm's hugetlb backing uses 2 MiB pages only (<page size='2048' "
						     "unit='KiB'/> or no <page>)");
			dom_use(p);
		}
		x->o->backing = THPVM_BACKING_HUGETLB;
	}
	if ((s = dom_str(x, mb, "source/@type"))) {
		dom_use(dom_node(x, mb, "source"));
		if (!is(s, "anonymous") &&
		    (ret = dom_refuse(x, dom_node(x, mb, "source/@type"), "'%s': thpvm's guest RAM is anonymous memory "
									  "(on THP, or hugetlb with <hugepages/>)", s)))
			return ret;
	}
	if ((s = dom_str(x, mb, "access/@mode"))) {
		dom_use(dom_node(x, mb, "access"));
		if (!is(s, "private") &&
		    (ret = dom_refuse(x, dom_node(x, mb, "access/@mode"), "'%s': thpvm's guest RAM is private to the "
									  "VM (forks share it copy-on-write)", s)))
			return ret;
	}
	if ((n = dom_node(x, mb, "allocation"))) {
		dom_use(n);
		x->o->prefault = is(dom_str(x, n, "@mode"), "immediate");
		if ((s = dom_str(x, n, "@threads")) && (ret = number(x, n, s, &v)))
			return ret;
		if (s && v > 1 && (ret = dom_refuse(x, dom_node(x, n, "@threads"), "%llu: thpvm prefaults on one "
										    "thread", v)))
			return ret;
	}
	/* anonymous guest RAM goes with the process when the guest ends: what <discard/> asks for */
	dom_use(dom_node(x, mb, "discard"));
	/* thpvm never marks guest RAM mergeable (MADV_MERGEABLE): KSM cannot share it */
	dom_use(dom_node(x, mb, "nosharepages"));
	if ((n = dom_node(x, mb, "locked")) &&
	    (ret = dom_refuse(x, n, "thpvm does not lock guest RAM (no mlock): the host may swap 4 KiB parts of "
				    "it")))
		return ret;
	return 0;
}

/* <metadata><thpvm:thpvm>: the collapse thread and the backings libvirt has no words for */
static int map_metadata(struct dom *x)
{
	xmlNodePtr t = dom_node(x, NULL, "/domain/metadata/thpvm:thpvm"), n;
	char spec[512];
	const char *s;
	size_t len;

	dom_use(dom_node(x, NULL, "/domain/metadata"));
	if (!t)
		return 0;
	dom_use(t);
	if ((n = dom_node(x, t, "thpvm:backing"))) {
		dom_use(n);
		s = dom_str(x, n, "@type");
		if (!is(s, "thp") && !is(s, "4k"))
			return dom_bad(x, n, "type '%s': expected thp or 4k (hugetlb is libvirt's <hugepages/>)",
				       s ? s : "");
		if (x->o->backing == THPVM_BACKING_HUGETLB)
			return dom_bad(x, n, "type '%s' and <memoryBacking><hugepages/>: one backing", s);
		x->o->backing = is(s, "4k") ? THPVM_BACKING_4K : THPVM_BACKING_THP;
	}
	/* `domxml`'s report of the VM it came from (coverage, KVM's mappings): not configuration */
	dom_use_tree(dom_node(x, t, "thpvm:measured"));
	if (!(n = dom_node(x, t, "thpvm:collapse")))
		return 0;
	dom_use(n);
	/* the --collapse form: MODE[,KEY=VALUE...], each attribute but mode a key */
	s = dom_str(x, n, "@mode");
	len = (size_t)snprintf(spec, sizeof(spec), "%s", s ? s : "balanced");
	for (xmlAttrPtr a = n->properties; a && len < sizeof(spec); a = a->next) {
		if (!strcmp((const char *)a->name, "mode"))
			continue;
		dom_use((xmlNodePtr)a);
		len += (size_t)snprintf(spec + len, sizeof(spec) - len, ",%s=%s", a->name,
					a->children ? (const char *)a->children->content : "");
	}
	if (len >= sizeof(spec))
		return dom_bad(x, n, "too many options");
	if (collapse_vm_parse(spec, &x->o->collapse))
		return dom_bad(x, n, "'%s': %s", spec, vmm_last_error());
	x->o->collapse_arg = dom_keep(x, spec);
	return 0;
}

int dom_map(struct dom *x)
{
	int ret;

	if ((ret = map_domain(x)) || (ret = map_size(x)) || (ret = map_os(x)) || (ret = map_memory_backing(x)) ||
	    (ret = map_metadata(x)) || (ret = dom_map_devices(x)))
		return ret;
	return 0;
}
