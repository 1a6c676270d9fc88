/* SPDX-License-Identifier: MIT */
/*
 * thpvm domxml: a `thpvm run` command line as libvirt domain XML
 * (docs/libvirt.md), validated by libvirt; `thpvm run --domain` of it runs
 * the same guest. Options that say how a run goes rather than what the VM
 * is (--timeout, --ctl-sock, the reports, a restore) have no place in a
 * domain and are refused, naming where they go instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include "cli.h"
#include "run/run_opts.h"
#include "domain/domain.h"
#include "util/error.h"

/* The first of o's run-only options, or NULL. */
static const char *run_only(const struct run_opts *o)
{
	return o->restore ? "--restore" : o->clones ? "--clones" : o->timeout_ns ? "--timeout" :
	       o->ctl_sock ? "--ctl-sock" : o->stats ? "--stats" : o->stats_json ? "--stats-json" : NULL;
}

static int run(int argc, char **argv)
{
	struct run_opts o = { .guest.cmd = "domxml" };
	struct domain_desc d;
	const char *bad;
	char *xml;
	int ret;

	run_opts_domain = &domain_run_opts;
	if ((ret = run_opts_parse(argc, argv, &o)))
		goto out;
	ret = 2;
	if ((bad = run_only(&o))) {
		cli_error("domxml: %s says how a run goes, not what the VM is: give it to thpvm run beside --domain", bad);
		goto out;
	}
	d = (struct domain_desc){ .guest = &o.guest, .backing = o.backing, .prefault = o.prefault,
				  .collapse_arg = o.collapse_arg, .name = o.domain ? o.domain->name : NULL,
				  .uuid = o.domain ? o.domain->uuid : NULL };
	if (!(xml = domain_write(&d, NULL))) {
		cli_error("domxml: %s", vmm_last_error());
		goto out;
	}
	fputs(xml, stdout);
	free(xml);
	ret = fflush(stdout) ? 1 : 0;
out:
	run_opts_release(&o);
	return ret;
}

const struct cli_command cmd_domxml = {
	.name = "domxml",
	.summary = "print a thpvm run command line as libvirt domain XML (validated by libvirt)",
	.usage = "thpvm domxml " RUN_OPTS_LINUX_USAGE "\n"
		 "       thpvm domxml --domain FILE.xml [--domain-lenient]",
	.run = run,
};
