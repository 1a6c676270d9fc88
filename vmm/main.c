/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "config.h"

static void usage(FILE *out)
{
	fprintf(out, "usage: thpvm COMMAND [OPTIONS]\n\ncommands:\n");
	for (const struct cli_command *const *c = cli_commands; *c; c++)
		fprintf(out, "  %-8s %s\n", (*c)->name, (*c)->summary);
	fprintf(out, "\n'thpvm COMMAND --help' describes one command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("thpvm %s\n", PACKAGE_VERSION);
		return 0;
	}
	for (const struct cli_command *const *c = cli_commands; *c; c++) {
		if (!strcmp(argv[1], (*c)->name)) {
			if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
				printf("usage: %s\n%s\n", (*c)->usage, (*c)->summary);
				return 0;
			}
			return (*c)->run(argc - 1, argv + 1);
		}
	}
	cli_error("unknown command '%s' (try 'thpvm --help')", argv[1]);
	return 2;
}
