/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: libvirt domain XML through `thpvm run --domain`'s whole path
 * (vmm/domain/: libvirt's own parser and validator on its test driver, then
 * libxml2 XPath onto the run's options), strict or --domain-lenient (the
 * input's first byte, odd: lenient). libvirt does the parsing; thpvm must
 * not crash, and must not accept half a configuration: what it accepts is a
 * whole guest, which `domxml` writes back as XML that libvirt accepts and
 * that reads back to the same guest.
 */
#include "config.h"
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "run/run_opts.h"
#include "domain/domain.h"
#include "dev/virtio_net.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* What the run relies on once --domain is accepted: a kernel, sizes it can run, devices it can open. */
static void check_accepted(const struct run_opts *o)
{
	FUZZ_CHECK(o->guest.kernel && *o->guest.kernel && !o->guest.payload && !o->guest.nr_modules);
	FUZZ_CHECK(o->guest.memory_bytes && o->guest.memory_bytes % (2ULL << 20) == 0);
	FUZZ_CHECK(o->guest.nr_cpus >= 1 && o->guest.nr_cpus <= PAYLOAD_MAX_CPUS);
	FUZZ_CHECK(o->guest.nr_disks <= MACHINE_MAX_DISKS);
	for (unsigned i = 0; i < o->guest.nr_disks; i++) {
		const char *comma = strchr(o->guest.disks[i], ',');

		FUZZ_CHECK(comma != o->guest.disks[i] && (!comma || !strcmp(comma, ",readonly") ||
							  !strcmp(comma, ",snapshot")));
	}
	if (o->guest.net) {
		struct virtio_net_config cfg;
		char name[IFNAMSIZ];

		FUZZ_CHECK(virtio_net_parse(o->guest.net, &cfg, name) == 0);
	}
	FUZZ_CHECK(!o->guest.console || !strcmp(o->guest.console, "stdio") || !strncmp(o->guest.console, "file:", 5));
}

/* An accepted guest written as XML (domxml) and read again: the same guest. */
static void check_round_trip(const struct run_opts *a, const struct domain *d)
{
	struct domain_desc desc = { .guest = &a->guest, .backing = a->backing, .prefault = a->prefault,
				    .collapse_arg = a->collapse_arg, .name = d->name, .uuid = d->uuid };
	struct run_opts b;
	struct domain *d2 = NULL;
	char *xml = domain_write(&desc, NULL);

	FUZZ_CHECK(xml);
	run_opts_default(&b, "run");
	FUZZ_CHECK(domain_parse(xml, "fuzz-again.xml", false, &b, &d2) == 0);
	FUZZ_CHECK(d2->nr_warnings == 0 && same(d->name, d2->name) && same(d->uuid, d2->uuid));
	FUZZ_CHECK(a->guest.memory_bytes == b.guest.memory_bytes && a->guest.nr_cpus == b.guest.nr_cpus);
	FUZZ_CHECK(a->backing == b.backing && a->prefault == b.prefault && a->guest.rng == b.guest.rng);
	FUZZ_CHECK(!memcmp(&a->collapse, &b.collapse, sizeof(a->collapse)));
	FUZZ_CHECK(same(a->guest.cmdline, b.guest.cmdline) && a->guest.nr_disks == b.guest.nr_disks);
	/* paths come back absolute: the same where they were */
	if (a->guest.kernel[0] == '/')
		FUZZ_CHECK(same(a->guest.kernel, b.guest.kernel));
	for (unsigned i = 0; i < a->guest.nr_disks; i++)
		if (a->guest.disks[i][0] == '/')
			FUZZ_CHECK(same(a->guest.disks[i], b.guest.disks[i]));
	FUZZ_CHECK(!a->guest.net == !b.guest.net && !a->guest.console == !b.guest.console);
	domain_free(d2);
	free(xml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run_opts o;
	struct domain *d = NULL;
	bool lenient = size && (data[0] & 1);
	char *xml;

	if (!size)
		return 0;
	xml = malloc(size);
	if (!xml)
		return 0;
	memcpy(xml, data + 1, size - 1);
	xml[size - 1] = '\0';
	run_opts_default(&o, "run");
	vmm_clear_error();
	if (domain_parse(xml, "fuzz.xml", lenient, &o, &d) == 0) {
		check_accepted(&o);
		check_round_trip(&o, d);
	} else {
		/* a refusal is one line */
		FUZZ_CHECK(*vmm_last_error() && !strchr(vmm_last_error(), '\n'));
	}
	domain_free(d);
	free(xml);
	return 0;
}
