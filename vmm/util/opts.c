/* SPDX-License-Identifier: MIT */
/* The subcommands' option errors, said one way (util/opts.h). */
#include <getopt.h>
#include "opts.h"
#include "util.h"

void opt_begin(void)
{
	opterr = 0;
	optind = 0;
}

int opt_bad(const char *cmd, int c, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";

	if (c == ':')
		cli_error("%s: option '%s' needs a value", cmd, arg);
	else
		cli_error("%s: unknown option '%s' (try 'thpvm %s --help')", cmd, arg, cmd);
	return 2;
}

int opt_rest(const char *cmd, int argc, char **argv)
{
	if (optind >= argc)
		return 0;
	cli_error("%s: unexpected argument '%s' (try 'thpvm %s --help')", cmd, argv[optind], cmd);
	return 2;
}
