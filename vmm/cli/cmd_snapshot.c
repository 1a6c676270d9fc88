/* SPDX-License-Identifier: MIT */
/* thpvm snapshot SOCK DIR: the control socket's `snapshot` command, spelled as a subcommand. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "util/opts.h"

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "paused", no_argument, NULL, 'p' },
		{ 0 },
	};
	char cwd[PATH_MAX], abs[PATH_MAX * 2];
	const char *dir;
	bool paused = false;
	json_t *args;
	int c;

	opt_begin();
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c != 'p')
			return opt_bad("snapshot", c, argv);
		paused = true;
	}
	if (argc - optind != 2) {
		cli_error("snapshot: usage: thpvm snapshot [--paused] SOCK DIR");
		return 2;
	}
	/* the VMM resolves a relative path against its own directory: make it the caller's */
	dir = argv[optind + 1];
	if (dir[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd))) {
			cli_error("snapshot: the current directory: %s", strerror(errno));
			return 2;
		}
		snprintf(abs, sizeof(abs), "%s/%s", cwd, dir);
		dir = abs;
	}
	/* on a terminal, the VMM's progress lines here too (event lines before the reply, docs/ctl.md) */
	args = json_pack("{s:s, s:b, s:b}", "path", dir, "resume", !paused, "progress", isatty(STDERR_FILENO));
	if (!args) {
		cli_error("snapshot: directory '%s' is not valid UTF-8", dir);
		return 2;
	}
	/* a big guest takes a while to write: no timeout, as a save is not a hang */
	return ctl_cli_send(argv[optind], "snapshot", args, -1, false);
}

const struct cli_command cmd_snapshot = {
	.name = "snapshot",
	.summary = "save a running VM into a new directory (thpvm run --restore DIR starts it again)",
	.usage = "thpvm snapshot [--paused] SOCK DIR\n"
		 "SOCK is the VM's --ctl-sock; DIR must not exist. --paused: the VM stays paused after the save.\n"
		 "Prints the result as JSON; exit status as thpvm ctl's (docs/snapshot-format.md).",
	.run = run,
};
