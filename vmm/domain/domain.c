/* SPDX-License-Identifier: MIT */
/* thpvm run --domain: libvirt normalises, libxml2 reads, nothing left unread (domain.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/xpathInternals.h>
#include "domain_internal.h"
#include "util/error.h"
#include "run/run_opts.h"

/* what _private of a consumed node points to: libxml2 leaves the field to applications */
static char used_mark;

void dom_use(xmlNodePtr n)
{
	if (n)
		n->_private = &used_mark;
}

bool dom_used(xmlNodePtr n)
{
	return n->_private == &used_mark;
}

void dom_use_tree(xmlNodePtr n)
{
	if (!n)
		return;
	dom_use(n);
	if (n->type != XML_ELEMENT_NODE)
		return;
	for (xmlAttrPtr a = n->properties; a; a = a->next)
		dom_use((xmlNodePtr)a);
	for (xmlNodePtr c = n->children; c; c = c->next)
		dom_use_tree(c);
}

unsigned dom_nodes(struct dom *x, xmlNodePtr ctx, const char *xpath, xmlNodePtr *out, unsigned max)
{
	xmlXPathObjectPtr r;
	unsigned n = 0;

	x->xp->node = ctx ? ctx : xmlDocGetRootElement(x->doc);
	r = xmlXPathEvalExpression((const xmlChar *)xpath, x->xp);
	if (r && r->type == XPATH_NODESET && r->nodesetval)
		for (int i = 0; i < r->nodesetval->nodeNr && n < max; i++)
			out[n++] = r->nodesetval->nodeTab[i];
	xmlXPathFreeObject(r);
	return n;
}

xmlNodePtr dom_node(struct dom *x, xmlNodePtr ctx, const char *xpath)
{
	xmlNodePtr n;

	return dom_nodes(x, ctx, xpath, &n, 1) ? n : NULL;
}

/* s (malloc'd) owned by the domain from now on; NULL when it cannot be kept (freed then) */
static char *own(struct domain *d, char *s)
{
	char **grown;

	if (!s)
		return NULL;
	if (!(d->nr_strings & (d->nr_strings + 1)) || !d->strings) {
		/* grown at 0, 1, 3, 7, ...: capacity doubles */
		grown = realloc(d->strings, sizeof(*grown) * 2 * (d->nr_strings + 1));
		if (!grown) {
			free(s);
			return NULL;
		}
		d->strings = grown;
	}
	d->strings[d->nr_strings++] = s;
	return s;
}

char *dom_keep(struct dom *x, const char *s)
{
	return own(x->d, strdup(s));
}

const char *dom_str(struct dom *x, xmlNodePtr ctx, const char *xpath)
{
	xmlNodePtr n = dom_node(x, ctx, xpath);
	xmlChar *v;
	char *s;

	if (!n)
		return NULL;
	dom_use(n);
	/* libxml2's copy goes back to its own allocator */
	v = xmlNodeGetContent(n);
	s = v ? own(x->d, strdup((const char *)v)) : NULL;
	xmlFree(v);
	return s;
}

static char *node_path(xmlNodePtr n)
{
	xmlChar *p = xmlGetNodePath(n);
	char *s = strdup(p ? (const char *)p : "?");

	xmlFree(p);
	return s;
}

static int say(struct dom *x, xmlNodePtr n, int err, const char *fmt, va_list ap)
{
	char reason[512], line[1024], *path = node_path(n);

	vsnprintf(reason, sizeof(reason), fmt, ap);
	snprintf(line, sizeof(line), "%s: %s: %s", x->d->origin, path ? path : "?", reason);
	free(path);
	if (err == -ENOTSUP && x->d->lenient) {
		dom_use_tree(n);
		if (x->d->nr_warnings < DOMAIN_MAX_WARNINGS)
			x->d->warnings[x->d->nr_warnings++] = strdup(line);
		return 0;
	}
	return vmm_fail(err, "%s", line);
}

int dom_refuse(struct dom *x, xmlNodePtr n, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = say(x, n, -ENOTSUP, fmt, ap);
	va_end(ap);
	return ret;
}

int dom_bad(struct dom *x, xmlNodePtr n, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = say(x, n, -EINVAL, fmt, ap);
	va_end(ap);
	return ret;
}

void domain_free(struct domain *d)
{
	if (!d)
		return;
	for (unsigned i = 0; i < d->nr_strings; i++)
		free(d->strings[i]);
	for (unsigned i = 0; i < d->nr_warnings; i++)
		free(d->warnings[i]);
	free(d->strings);
	free(d);
}

int domain_parse(const char *xml, const char *origin, bool lenient, struct run_opts *o, struct domain **out)
{
	struct domain *d = calloc(1, sizeof(*d));
	struct dom x = { .d = d, .o = o };
	char *norm;
	int ret;

	*out = d;
	if (!d)
		return vmm_fail(-ENOMEM, "%s: out of memory", origin);
	d->origin = own(d, strdup(origin));
	d->lenient = lenient;
	if (!d->origin)
		return vmm_fail(-ENOMEM, "%s: out of memory", origin);
	if (!(norm = domain_normalise(xml, origin)))
		return -EINVAL;
	/* libvirt wrote it: a failure here is libxml2 running out of memory, not bad input */
	x.doc = xmlReadMemory(norm, (int)strlen(norm), origin, NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS);
	free(norm);
	if (!x.doc || !(x.xp = xmlXPathNewContext(x.doc))) {
		xmlFreeDoc(x.doc);
		return vmm_fail(-ENOMEM, "%s: cannot read libvirt's normalised XML", origin);
	}
	xmlXPathRegisterNs(x.xp, (const xmlChar *)"thpvm", (const xmlChar *)DOMAIN_THPVM_NS);
	ret = dom_map(&x);
	if (!ret)
		ret = dom_unused(&x);
	xmlXPathFreeContext(x.xp);
	xmlFreeDoc(x.doc);
	return ret;
}

int domain_load(const char *path, bool lenient, struct run_opts *o, struct domain **out)
{
	FILE *f = fopen(path, "r");
	char *xml = NULL;
	size_t len = 0;
	int ret;

	*out = NULL;
	if (!f)
		return vmm_fail(-errno, "%s: %s", path, strerror(errno));
	/* a domain XML is small; a file past 1 MiB is not one */
	xml = malloc(1 << 20);
	if (xml)
		len = fread(xml, 1, (1 << 20) - 1, f);
	ret = !xml ? -ENOMEM : ferror(f) ? -EIO : !feof(f) && fgetc(f) != EOF ? -EFBIG : 0;
	fclose(f);
	if (ret) {
		free(xml);
		return vmm_fail(ret, "%s: %s", path, ret == -EFBIG ? "larger than 1 MiB: not a domain XML" : strerror(-ret));
	}
	xml[len] = '\0';
	ret = domain_parse(xml, path, lenient, o, out);
	free(xml);
	return ret;
}

const struct run_opts_domain_ops domain_run_opts = { .load = domain_load, .free = domain_free };
