/* SPDX-License-Identifier: MIT */
/* Inside vmm/domain/: reading the normalised XML and keeping track of what was read. */
#ifndef THPVM_DOMAIN_INTERNAL_H
#define THPVM_DOMAIN_INTERNAL_H

#include <libxml/tree.h>
#include <libxml/xpath.h>
#include "domain.h"

struct run_opts;

struct dom {
	struct domain *d;
	struct run_opts *o;
	xmlDocPtr doc;
	xmlXPathContextPtr xp;
};

/* The nodes xpath selects (at most max, in document order); their number, 0 when none. */
unsigned dom_nodes(struct dom *x, xmlNodePtr ctx, const char *xpath, xmlNodePtr *out, unsigned max);
/* The first node xpath selects, or NULL. */
xmlNodePtr dom_node(struct dom *x, xmlNodePtr ctx, const char *xpath);
/* Marks n consumed (dom_unused() passes it); dom_use_tree() n with everything under it. */
void dom_use(xmlNodePtr n);
void dom_use_tree(xmlNodePtr n);
bool dom_used(xmlNodePtr n);
/*
 * The text of the first node xpath selects (an element's content, an
 * attribute's value), marked consumed; NULL when there is none. Valid
 * until the domain is freed.
 */
const char *dom_str(struct dom *x, xmlNodePtr ctx, const char *xpath);
/* s, copied for the run's options to point to (freed with the domain); NULL on ENOMEM. */
char *dom_keep(struct dom *x, const char *s);

/*
 * n is something thpvm does not do: -ENOTSUP with "ORIGIN: XPATH: reason",
 * or, with --domain-lenient, 0 with that as a warning and n consumed.
 */
__attribute__((format(printf, 3, 4))) int dom_refuse(struct dom *x, xmlNodePtr n, const char *fmt, ...);
/* n's value cannot be run whatever the mode: -EINVAL with "ORIGIN: XPATH: reason". */
__attribute__((format(printf, 3, 4))) int dom_bad(struct dom *x, xmlNodePtr n, const char *fmt, ...);

/* domain_map.c: the mapping, section by section (docs/libvirt.md) */
int dom_map(struct dom *x);
/* domain_devices.c: <devices>, called by dom_map() */
int dom_map_devices(struct dom *x);
/* domain_check.c: the harmless list consumed, then every element or attribute left refused */
int dom_unused(struct dom *x);

#endif
