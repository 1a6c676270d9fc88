/* SPDX-License-Identifier: MIT */
/* The thpvm command line: one table of subcommands, each in its own cmd_*.c. */
#ifndef THPVM_VMM_CLI_H
#define THPVM_VMM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cli_command {
	const char *name;
	const char *summary;
	const char *usage;
	/* returns the process exit status */
	int (*run)(int argc, char **argv);
};

/* All subcommands, NULL-terminated (commands.c). */
extern const struct cli_command *const cli_commands[];

/* Parses "512M", "1G", "4096", "2m"; powers of 1024. Returns 0 or -EINVAL / -ERANGE. */
int parse_size(const char *str, uint64_t *out);
/* Parses an unsigned integer in [min, max]. */
int parse_uint(const char *str, uint64_t min, uint64_t max, uint64_t *out);
/* Formats bytes as "1 GiB", "64 MiB", "12 KiB" into buf. */
const char *format_size(uint64_t bytes, char *buf, unsigned len);

/*
 * The build tree this thpvm runs from (the directory holding vmm/thpvm; a
 * libtool build runs vmm/.libs/thpvm), into buf. -ENOENT when this thpvm
 * is not in a build tree (installed).
 */
int cli_build_dir(char *buf, size_t len);

/* Prints "thpvm: <msg>" on stderr, one line. */
__attribute__((format(printf, 1, 2))) void cli_error(const char *fmt, ...);

#endif
