/* SPDX-License-Identifier: MIT */
/*
 * The other direction (domain.h, docs/libvirt.md): a guest's options as
 * domain XML, element for element what domain_map.c and domain_devices.c
 * read, so that `thpvm run --domain` of the output runs the same guest.
 * Built as a libxml2 tree (names, paths and command lines escaped by the
 * library), then defined on libvirt's test driver with validation: what
 * libvirt would not accept is never printed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <libxml/tree.h>
#include "domain.h"
#include "machine/machine.h"
#include "dev/virtio_net.h"
#include "kvm/vm_stats.h"
#include "util/error.h"

struct writer {
	xmlNodePtr root;
	xmlNsPtr ns;            /* thpvm's, on <thpvm:thpvm> */
	int err;                /* the first failure; the tree is not used then */
};

/* libxml2 reports no reason for a NULL here but memory */
static xmlNodePtr child(struct writer *w, xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text)
{
	xmlNodePtr n = parent ? xmlNewTextChild(parent, ns, (const xmlChar *)name, (const xmlChar *)text) : NULL;

	if (!n && !w->err)
		w->err = -ENOMEM;
	return n;
}

static void attr(struct writer *w, xmlNodePtr n, const char *name, const char *value)
{
	if (n && !xmlNewProp(n, (const xmlChar *)name, (const xmlChar *)value) && !w->err)
		w->err = -ENOMEM;
}

static void attr_u64(struct writer *w, xmlNodePtr n, const char *name, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	attr(w, n, name, buf);
}

/*
 * path as libvirt wants it, absolute: relative to the working directory,
 * which the XML does not carry. Not resolved (a symlink stays one) and not
 * required to exist: a command line turned into XML need not run here.
 */
static const char *absolute(const char *path, char buf[PATH_MAX])
{
	char cwd[PATH_MAX];

	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return path;
	if (snprintf(buf, PATH_MAX, "%s/%s", cwd, path[0] == '.' && path[1] == '/' ? path + 2 : path) >= PATH_MAX)
		return path;
	return buf;
}

/*
 * <thpvm:collapse mode=... key=...>: the --collapse spec as one mode and its
 * keys, as domain_map.c reads it back ("MODE,KEY=VALUE..."). A spec whose
 * meaning that order would change (a key before a later mode, which resets
 * it) is refused: the two parse to the same configuration or nothing is
 * written.
 */
static int write_collapse(struct writer *w, const char *spec)
{
	struct thpvm_collapse_config want, got;
	char *copy = strdup(spec), *item, *save = NULL, *mode = NULL, rebuilt[512];
	xmlNodePtr n = child(w, w->root, w->ns, "collapse", NULL);
	size_t len = 0;
	int ret = 0;

	if (!copy || !n) {
		free(copy);
		return -ENOMEM;
	}
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save))
		if (!strchr(item, '='))
			mode = item;
	len = (size_t)snprintf(rebuilt, sizeof(rebuilt), "%s", mode ? mode : "balanced");
	attr(w, n, "mode", mode ? mode : "balanced");
	strcpy(copy, spec);
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');

		if (!eq)
			continue;
		*eq = '\0';
		/* a key the collapse parser knows is an XML attribute name as it is; another is refused below */
		if (xmlValidateNCName((const xmlChar *)item, 0)) {
			ret = -EINVAL;
			continue;
		}
		attr(w, n, item, eq + 1);
		if (len < sizeof(rebuilt))
			len += (size_t)snprintf(rebuilt + len, sizeof(rebuilt) - len, ",%s=%s", item, eq + 1);
	}
	free(copy);
	thpvm_collapse_config_default(&want);
	thpvm_collapse_config_default(&got);
	if (ret || len >= sizeof(rebuilt) || thpvm_collapse_config_parse(&want, spec) ||
	    thpvm_collapse_config_parse(&got, rebuilt) || memcmp(&want, &got, sizeof(want)))
		return vmm_fail(-EINVAL, "--collapse '%s': not one mode and its keys (write the mode first)", spec);
	return 0;
}

/* <metadata><thpvm:thpvm>: the backing libvirt has no word for, the collapse thread, what was measured */
static int write_metadata(struct writer *w, const struct domain_desc *d, const struct vm_stats_summary *m)
{
	xmlNodePtr meta = child(w, w->root, NULL, "metadata", NULL), t = child(w, meta, NULL, "thpvm", NULL), n;
	int ret;

	if (!t)
		return -ENOMEM;
	if (!(w->ns = xmlNewNs(t, (const xmlChar *)DOMAIN_THPVM_NS, (const xmlChar *)"thpvm")))
		return -ENOMEM;
	xmlSetNs(t, w->ns);
	if (d->backing != THPVM_BACKING_HUGETLB)
		attr(w, child(w, t, w->ns, "backing", NULL), "type", d->backing == THPVM_BACKING_4K ? "4k" : "thp");
	if (d->collapse_arg) {
		xmlNodePtr root = w->root;

		w->root = t;
		ret = write_collapse(w, d->collapse_arg);
		w->root = root;
		if (ret)
			return ret;
	}
	if (!m)
		return w->err;
	/* what the VM has now: a report, passed over when the XML is read back (docs/libvirt.md) */
	n = child(w, t, w->ns, "measured", NULL);
	attr_u64(w, n, "size_bytes", m->cov.size_bytes);
	attr_u64(w, n, "huge_bytes", m->cov.huge_bytes);
	attr_u64(w, n, "split_bytes", m->cov.split_bytes);
	attr_u64(w, n, "absent_bytes", m->cov.absent_bytes);
	if (m->cov.file_backed)
		attr_u64(w, n, "page_cache_pmd_bytes", m->cov.huge_file_bytes);
	if (m->kvm_valid) {
		attr_u64(w, n, "kvm_pages_4k", m->pages_4k);
		attr_u64(w, n, "kvm_pages_2m", m->pages_2m);
	}
	return w->err;
}

/* <disk>: a raw image in a file, or a block device; ,readonly and ,snapshot as <readonly/> and <transient/> */
static int write_disk(struct writer *w, xmlNodePtr devs, const char *spec, unsigned index)
{
	char path[PATH_MAX], abs[PATH_MAX], dev[4] = { 'v', 'd', (char)('a' + index), 0 };
	const char *comma = strchr(spec, ','), *p;
	struct stat st;
	bool block;
	xmlNodePtr n;

	if (comma && strcmp(comma, ",readonly") && strcmp(comma, ",snapshot"))
		return vmm_fail(-EINVAL, "--disk '%s': unknown option '%s' (PATH[,readonly|,snapshot])", spec, comma + 1);
	snprintf(path, sizeof(path), "%.*s", comma ? (int)(comma - spec) : (int)strlen(spec), spec);
	p = absolute(path, abs);
	block = !stat(p, &st) && S_ISBLK(st.st_mode);
	n = child(w, devs, NULL, "disk", NULL);
	attr(w, n, "type", block ? "block" : "file");
	attr(w, n, "device", "disk");
	attr(w, child(w, n, NULL, "driver", NULL), "type", "raw");
	attr(w, child(w, n, NULL, "source", NULL), block ? "dev" : "file", p);
	xmlNodePtr target = child(w, n, NULL, "target", NULL);
	attr(w, target, "dev", dev);
	attr(w, target, "bus", "virtio");
	if (comma)
		child(w, n, NULL, !strcmp(comma, ",readonly") ? "readonly" : "transient", NULL);
	return w->err;
}

static int write_devices(struct writer *w, const struct machine_config *g)
{
	xmlNodePtr devs = child(w, w->root, NULL, "devices", NULL), n;
	char abs[PATH_MAX];
	int ret;

	for (unsigned i = 0; i < g->nr_disks; i++)
		if ((ret = write_disk(w, devs, g->disks[i], i)))
			return ret;
	if (g->net) {
		struct virtio_net_config cfg;
		char name[IFNAMSIZ], mac[18];

		if ((ret = virtio_net_parse(g->net, &cfg, name)))
			return ret;
		/* the address the guest gets, also when --net named none (a hash of the tap's name) */
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", cfg.mac[0], cfg.mac[1], cfg.mac[2],
			 cfg.mac[3], cfg.mac[4], cfg.mac[5]);
		n = child(w, devs, NULL, "interface", NULL);
		attr(w, n, "type", "ethernet");
		attr(w, child(w, n, NULL, "mac", NULL), "address", mac);
		attr(w, child(w, n, NULL, "target", NULL), "dev", name);
		attr(w, child(w, n, NULL, "model", NULL), "type", "virtio");
	}
	/* none given: thpvm's default, stdio, which an XML without <serial> also gets */
	if (g->console) {
		bool file = !strncmp(g->console, "file:", 5);

		n = child(w, devs, NULL, "serial", NULL);
		attr(w, n, "type", file ? "file" : "stdio");
		if (file)
			attr(w, child(w, n, NULL, "source", NULL), "path", absolute(g->console + 5, abs));
		attr(w, child(w, n, NULL, "target", NULL), "port", "0");
	}
	if (g->rng) {
		n = child(w, devs, NULL, "rng", NULL);
		attr(w, n, "model", "virtio");
		attr(w, child(w, n, NULL, "backend", "/dev/urandom"), "model", "random");
	}
	return w->err;
}

/* What a domain XML cannot say: refused, naming the option. */
static int describable(const struct machine_config *g)
{
	if (!g->kernel)
		return vmm_fail(-ENOTSUP, "a payload guest (--payload %s) has no domain XML: libvirt's <os> boots a kernel "
			       "(--kernel)", g->payload ? g->payload : "?");
	if (g->nr_modules)
		return vmm_fail(-ENOTSUP, "--module %s: libvirt's domain XML has no multiboot modules", g->modules[0]);
	return 0;
}

static int write_tree(struct writer *w, const struct domain_desc *d, const struct vm_stats_summary *m)
{
	const struct machine_config *g = d->guest;
	char abs[PATH_MAX], buf[32];
	xmlNodePtr n, os;
	int ret;

	attr(w, w->root, "type", "kvm");
	child(w, w->root, NULL, "name", d->name ? d->name : "thpvm");
	if (d->uuid)
		child(w, w->root, NULL, "uuid", d->uuid);
	if ((ret = write_metadata(w, d, m)))
		return ret;
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)(g->memory_bytes >> 10));
	attr(w, child(w, w->root, NULL, "memory", buf), "unit", "KiB");
	if (d->backing == THPVM_BACKING_HUGETLB || d->prefault) {
		n = child(w, w->root, NULL, "memoryBacking", NULL);
		if (d->backing == THPVM_BACKING_HUGETLB)
			child(w, n, NULL, "hugepages", NULL);
		if (d->prefault)
			attr(w, child(w, n, NULL, "allocation", NULL), "mode", "immediate");
	}
	snprintf(buf, sizeof(buf), "%u", g->nr_cpus ? g->nr_cpus : 1);
	attr(w, child(w, w->root, NULL, "vcpu", buf), "placement", "static");
	os = child(w, w->root, NULL, "os", NULL);
	attr(w, child(w, os, NULL, "type", "hvm"), "arch", "x86_64");
	child(w, os, NULL, "kernel", absolute(g->kernel, abs));
	if (g->initrd)
		child(w, os, NULL, "initrd", absolute(g->initrd, abs));
	if (g->cmdline)
		child(w, os, NULL, "cmdline", g->cmdline);
	/* thpvm's VM ends with its guest, whatever the way: said, since libvirt's default for a reboot is restart */
	child(w, w->root, NULL, "on_poweroff", "destroy");
	child(w, w->root, NULL, "on_reboot", "destroy");
	child(w, w->root, NULL, "on_crash", "destroy");
	return w->err ? w->err : write_devices(w, g);
}

char *domain_write(const struct domain_desc *d, const struct vm_stats_summary *measured)
{
	xmlDocPtr doc;
	struct writer w = { 0 };
	xmlChar *mem = NULL;
	char *out = NULL, *norm;
	int size = 0, ret;

	if (describable(d->guest))
		return NULL;
	doc = xmlNewDoc((const xmlChar *)"1.0");
	w.root = doc ? xmlNewDocNode(doc, NULL, (const xmlChar *)"domain", NULL) : NULL;
	if (!w.root) {
		xmlFreeDoc(doc);
		vmm_fail(-ENOMEM, "domain XML: out of memory");
		return NULL;
	}
	xmlDocSetRootElement(doc, w.root);
	ret = write_tree(&w, d, measured);
	if (!ret)
		xmlDocDumpFormatMemoryEnc(doc, &mem, &size, "UTF-8", 1);
	xmlFreeDoc(doc);
	if (ret || !mem) {
		if (ret != -EINVAL && ret != -ENOTSUP)
			vmm_fail(-ENOMEM, "domain XML: out of memory");
		xmlFree(mem);
		return NULL;
	}
	/* libvirt's own check: a name, path or command line it would refuse is refused here, with its words */
	norm = domain_normalise((const char *)mem, "domain XML");
	free(norm);
	if (norm)
		out = strdup((const char *)mem);
	xmlFree(mem);
	if (norm && !out)
		vmm_fail(-ENOMEM, "domain XML: out of memory");
	return out;
}
