/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: a `thpvm ctl` command line through its parser (--raw,
 * --timeout SECONDS, --json OBJECT, SOCK COMMAND, KEY=VALUE with VALUE as
 * JSON when it parses), up to the request it would send. The input is the
 * arguments after "ctl", separated by NUL bytes.
 */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "cli/cli.h"

static char good_cmd[] = "ctl", good_sock[] = "/run/vm.sock", good_name[] = "fork", good_kv[] = "count=2";
static char *good[] = { good_cmd, good_sock, good_name, good_kv, NULL };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[FUZZ_MAX_ARGS + 2];
	struct ctl_cli_req req;
	int argc = fuzz_argv(data, size, "ctl", argv);

	if (!ctl_cli_parse(argc, argv, &req)) {
		/* what the request relies on: a socket, a command, an object of arguments, a sane timeout */
		FUZZ_CHECK(req.path && req.cmd);
		FUZZ_CHECK(json_is_object(req.args));
		FUZZ_CHECK(req.timeout_ms == -1 || (req.timeout_ms >= 0 && req.timeout_ms <= 86400000));
		json_decref(req.args);
	} else {
		FUZZ_CHECK(!req.args);
	}
	/* a parse leaves nothing behind: a good command line after this one is still good */
	FUZZ_CHECK(ctl_cli_parse(4, good, &req) == 0);
	FUZZ_CHECK(json_integer_value(json_object_get(req.args, "count")) == 2);
	json_decref(req.args);
	fuzz_argv_free(argc, argv);
	return 0;
}
