/* SPDX-License-Identifier: MIT */
/*
 * vmm/cli/: the thpvm command line, one table of subcommands (commands.c),
 * each in its own cmd_*.c, and the demo. The top layer: it may call every
 * other one (run, bench, ctl's client, machine, kvm, util); nothing calls it.
 */
#ifndef THPVM_VMM_CLI_H
#define THPVM_VMM_CLI_H

#include "util/util.h"

struct cli_command {
	const char *name;
	const char *summary;
	const char *usage;
	/* returns the process exit status */
	int (*run)(int argc, char **argv);
};

/* All subcommands, NULL-terminated (commands.c). */
extern const struct cli_command *const cli_commands[];

#endif
