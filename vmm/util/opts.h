/* SPDX-License-Identifier: MIT */
/*
 * One way for every subcommand to read its options with getopt_long() and an
 * optstring that starts with ':' (so a missing value comes back as ':'):
 * opt_begin() before the loop, opt_bad() for what getopt_long() returned as
 * '?' or ':', opt_rest() after it when the command takes no operands. Each
 * error is one line, "<cmd>: ...", and the exit status for bad input, 2.
 */
#ifndef THPVM_UTIL_OPTS_H
#define THPVM_UTIL_OPTS_H

/*
 * getopt's state reset in full (optind = 0, not 1: only then does glibc
 * forget a cluster ("-ab") an earlier parse in this process stopped in the
 * middle of; found by fuzz/fuzz_run_args) and its own messages off (they
 * lack thpvm's prefix and would come before ours).
 */
void opt_begin(void);
/* c is what getopt_long() returned: ':' says the option needs a value, anything else that it is unknown. Returns 2. */
int opt_bad(const char *cmd, int c, char **argv);
/* 0 when no argument follows the options, else 2 after "<cmd>: unexpected argument '...'". */
int opt_rest(const char *cmd, int argc, char **argv);

#endif
