/* SPDX-License-Identifier: MIT */
/*
 * libvirt's own parser and validator for a domain XML: defined on libvirt's
 * test driver (test:///default, in this process, no daemon, nothing on the
 * host touched) with schema validation, read back normalised, undefined.
 * The schemas are in libvirt0 (/usr/share/libvirt/schemas), which
 * libvirt-dev depends on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <libxml/xmlerror.h>
#include "domain.h"
#include "util/error.h"

/* libvirt prints every error on stderr by default; thpvm says one line itself */
static void quiet(void *arg, virErrorPtr err)
{
	(void)arg;
	(void)err;
}

/*
 * libxml2's own messages (a schema it cannot load, a parse warning) go to
 * stderr by default, beside thpvm's one line: libvirt's error, which says
 * the same, is the one that is reported.
 */
static void xml_quiet(void *arg, const char *fmt, ...)
{
	(void)arg;
	(void)fmt;
}

/*
 * libvirt's last error as one line: its parser's messages span lines (the
 * offending source line and a caret under it; the validator's details,
 * one a line), joined here with ": ", carets and echoed source left out,
 * and libvirt's name for the input replaced by the file's.
 */
static int virt_fail(const char *origin, const char *what)
{
	const char *msg = virGetLastErrorMessage(), *l, *end;
	char line[1024] = "";
	size_t n = 0;

	for (l = msg; *l; l = *end ? end + 1 : end) {
		const char *next;
		size_t len;

		end = strchrnul(l, '\n');
		len = (size_t)(end - l);
		next = *end ? end + 1 : end;
		/* a caret line, or the source line above one */
		if (len && strspn(l, "-^ ") == len)
			continue;
		if (*next && strspn(next, "-^ ") == (size_t)(strchrnul(next, '\n') - next) && strchr(next, '^'))
			continue;
		while (len && (*l == ' ' || *l == '\t'))
			l++, len--;
		if (!len)
			continue;
		if (len > 20 && !strncmp(l, "(domain_definition)", 19)) {
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s", n ? ": " : "", origin);
			l += 19, len -= 19;
			if (n >= sizeof(line))
				break;
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%.*s", (int)len, l);
		} else {
			n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%.*s", n ? ": " : "", (int)len, l);
		}
		if (n >= sizeof(line))
			break;
	}
	return vmm_fail(-EINVAL, "%s: %s: %s", origin, what, line[0] ? line : "libvirt gave no reason");
}

char *domain_normalise(const char *xml, const char *origin)
{
	virConnectPtr conn;
	virDomainPtr dom, other;
	char *out = NULL;

	virInitialize();
	virSetErrorFunc(NULL, quiet);
	xmlSetGenericErrorFunc(NULL, xml_quiet);
	conn = virConnectOpen("test:///default");
	if (!conn) {
		virt_fail(origin, "libvirt's test driver");
		return NULL;
	}
	/*
	 * The test driver starts with a domain of its own named "test": gone
	 * (from this process's driver only) so that a domain of that name is
	 * not refused as a duplicate.
	 */
	if ((other = virDomainLookupByName(conn, "test"))) {
		virDomainDestroy(other);
		virDomainUndefine(other);
		virDomainFree(other);
	}
	dom = virDomainDefineXMLFlags(conn, xml, VIR_DOMAIN_DEFINE_VALIDATE);
	if (!dom) {
		virt_fail(origin, "libvirt refused it");
	} else {
		if (!(out = virDomainGetXMLDesc(dom, 0)))
			virt_fail(origin, "libvirt");
		virDomainUndefine(dom);
		virDomainFree(dom);
	}
	virConnectClose(conn);
	return out;
}
