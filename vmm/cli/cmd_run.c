/* SPDX-License-Identifier: MIT */
/* thpvm run: run a guest; its exit status becomes thpvm's. */
#include "cli.h"
#include "run/run_opts.h"
#include "run/run.h"
#include "domain/domain.h"

static int run(int argc, char **argv)
{
	struct run_opts o = { .guest.cmd = "run" };
	int ret;

	run_opts_domain = &domain_run_opts;
	if (!(ret = run_opts_parse(argc, argv, &o)))
		ret = o.clones ? run_clones(&o) : run_guest(&o, NULL, NULL);
	run_opts_release(&o);
	return ret;
}

const struct cli_command cmd_run = {
	.name = "run",
	.summary = "run a payload guest, boot a Linux kernel or restore a snapshot; the guest's exit status becomes "
		   "thpvm's",
	.usage = "thpvm run " RUN_OPTS_USAGE " [--stats] [--stats-json FILE]\n"
		 "       thpvm run " RUN_OPTS_LINUX_USAGE " [--stats] [--stats-json FILE]\n"
		 "       thpvm run " RUN_OPTS_DOMAIN_USAGE " [--stats] [--stats-json FILE]\n"
		 "       thpvm run " RUN_OPTS_RESTORE_USAGE " [--stats] [--stats-json FILE]\n"
		 "Linux console on stdio: Ctrl-A x quits, Ctrl-A h lists the keys (docs/linux-boot.md); "
		 "--domain: libvirt domain XML (docs/libvirt.md)",
	.run = run,
};
