/* SPDX-License-Identifier: MIT */
/*
 * vmm/domain/: `thpvm run --domain FILE.xml` (docs/libvirt.md), and back:
 * `thpvm domxml ARGS` and the control socket's `domxml`. libvirt
 * itself parses and validates the domain XML (its test driver, in this
 * process: no daemon) and normalises it; the normalised XML is then read
 * with libxml2 XPath onto the run's options. Every element and attribute
 * is either consumed, on the documented harmless list, or refused with its
 * XPath (a warning instead with --domain-lenient): nothing is ignored
 * silently.
 * The reverse direction writes a guest's options as domain XML (libxml2's
 * tree, so every name and path is escaped) and has libvirt validate it.
 * Calls down only: libvirt, libxml2, the collapse option parser, the device
 * option parsers (dev/), the VM's stats and hooks (kvm/), ctl/, util/.
 */
#ifndef THPVM_DOMAIN_H
#define THPVM_DOMAIN_H

#include <stdbool.h>
#include <thpvm.h>

struct run_opts;
struct machine_config;
struct vm;
struct vm_stats_summary;
struct ctl_command;

/* thpvm's own knobs inside <metadata> (docs/libvirt.md) */
#define DOMAIN_THPVM_NS "https://thpvm.dev/xmlns/domain/1"
#define DOMAIN_MAX_WARNINGS 32

/* What a domain leaves behind: the strings o points to, the name and uuid, lenient mode's warnings. */
struct domain {
	const char *origin;             /* the file, for messages */
	bool lenient;                   /* --domain-lenient: refusals of what thpvm does not do become warnings */
	char *name, *uuid;              /* kept for the reverse direction (domxml), not used by the run */
	char **strings;                 /* what o's string fields point to, and the text read */
	unsigned nr_strings;
	char *warnings[DOMAIN_MAX_WARNINGS];
	unsigned nr_warnings;
};

/*
 * Reads FILE's domain XML onto o (its guest, backing, prefault and
 * collapse; o starts from run_opts_default()). Returns 0, or -errno with
 * vmm_last_error() one line naming the problem (libvirt's own message, or
 * the XPath of the element or attribute and why). *out holds what o
 * points to, also on failure: domain_free() it after o's last use.
 */
int domain_load(const char *path, bool lenient, struct run_opts *o, struct domain **out);
/* The same from XML in memory; origin names it in messages. */
int domain_parse(const char *xml, const char *origin, bool lenient, struct run_opts *o, struct domain **out);
void domain_free(struct domain *d);
/* The two above for run_opts_parse() (run/run_opts.h: run_opts_domain) */
extern const struct run_opts_domain_ops domain_run_opts;

/* libvirt's test driver: the normalised XML of xml (malloc'd), or NULL with vmm_last_error() (domain_virt.c) */
char *domain_normalise(const char *xml, const char *origin);

/* A guest as a run has it (its command line's, a domain's, a restored snapshot's): what domxml writes. */
struct domain_desc {
	const struct machine_config *guest;
	enum thpvm_backing backing;
	bool prefault;
	const char *collapse_arg;       /* MODE[,KEY=VALUE...] as given, NULL: the default */
	const char *name, *uuid;        /* NULL: "thpvm", and no <uuid> (libvirt makes one) */
};

/*
 * d as domain XML (malloc'd, UTF-8, a trailing newline) that libvirt's
 * validator accepted; measured (may be NULL) adds what the VM has now
 * (<thpvm:measured>: coverage and KVM's mappings, which --domain passes
 * over). NULL with vmm_last_error() one line naming the problem: a guest
 * XML cannot describe (a payload, multiboot modules), or libvirt's refusal.
 */
char *domain_write(const struct domain_desc *d, const struct vm_stats_summary *measured);

/*
 * The control socket's `domxml` command for vm, with d (copied: its
 * strings must outlive the VM): added as a VM hook, registered where a
 * socket is attached (domain_ctl.c).
 */
int domain_ctl_attach(struct vm *vm, const struct domain_desc *d);
/* The command as registered (its handler takes the hook's state): for the schema checks of the tests. */
extern const struct ctl_command domain_ctl_command;

#endif
