/* SPDX-License-Identifier: MIT */
/*
 * thpvm stats: runs a guest like `thpvm run` and, when it ends, prints one
 * report of its RAM from both sides (libthpvm's coverage, KVM's statistics).
 * With a control socket (later) the same report comes from a running VM.
 */
#include "cli.h"
#include "run/run_opts.h"
#include "run/run.h"
#include "domain/domain.h"

static int run(int argc, char **argv)
{
	struct run_opts o = { .guest.cmd = "stats" };
	int ret;

	run_opts_domain = &domain_run_opts;
	if (!(ret = run_opts_parse(argc, argv, &o))) {
		o.stats = true;
		ret = run_guest(&o, NULL, NULL);
	}
	run_opts_release(&o);
	return ret;
}

const struct cli_command cmd_stats = {
	.name = "stats",
	.summary = "run a guest and report its RAM: host coverage next to KVM's statistics",
	.usage = "thpvm stats " RUN_OPTS_USAGE " [--json FILE]\n"
		 "       thpvm stats " RUN_OPTS_LINUX_USAGE " [--json FILE]\n"
		 "       thpvm stats " RUN_OPTS_DOMAIN_USAGE " [--json FILE]",
	.run = run,
};
