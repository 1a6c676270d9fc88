/* SPDX-License-Identifier: MIT */
#include <stddef.h>
#include "cli.h"

extern const struct cli_command cmd_demo;
extern const struct cli_command cmd_bench;
extern const struct cli_command cmd_ctl;
extern const struct cli_command cmd_host;
extern const struct cli_command cmd_run;
extern const struct cli_command cmd_snapshot;
extern const struct cli_command cmd_stats;
extern const struct cli_command cmd_domxml;

const struct cli_command *const cli_commands[] = {
	&cmd_demo,
	&cmd_bench,
	&cmd_ctl,
	&cmd_domxml,
	&cmd_host,
	&cmd_run,
	&cmd_snapshot,
	&cmd_stats,
	NULL,
};
