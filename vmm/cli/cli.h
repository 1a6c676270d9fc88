/* SPDX-License-Identifier: MIT */
/*
 * vmm/cli/: the thpvm command line, one table of subcommands (commands.c),
 * each in its own cmd_*.c, and the demo. The top layer: it may call every
 * other one (run, bench, ctl's client, machine, kvm, util); nothing calls it.
 */
#ifndef THPVM_VMM_CLI_H
#define THPVM_VMM_CLI_H

#include <stdbool.h>
#include <jansson.h>
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

/*
 * `thpvm ctl`'s way to send one request to SOCK (cmd_ctl.c): the reply's
 * result printed as JSON on stdout (raw: one line), an error said on stderr;
 * takes args. timeout_ms -1: none. Returns thpvm ctl's exit status (0 ok,
 * 1 the VM answered with an error, 2 no answer).
 */
int ctl_cli_send(const char *path, const char *cmd, json_t *args, int timeout_ms, bool raw);
/* A ctl_event_fn: a progress event's line on stderr where it is a terminal (the VMM's line, as it prints it); others ignored. */
void ctl_cli_print_event(json_t *event, void *arg);

/* What `thpvm ctl`'s arguments ask for. */
struct ctl_cli_req {
	const char *path, *cmd;         /* argv's */
	json_t *args;                   /* the request's arguments, an object (owned) */
	int timeout_ms;                 /* -1: none */
	bool raw;
};
/* thpvm ctl's arguments into req: 0, or its exit status for bad input (2) after one line on stderr, args NULL. */
int ctl_cli_parse(int argc, char **argv, struct ctl_cli_req *req);

#endif
