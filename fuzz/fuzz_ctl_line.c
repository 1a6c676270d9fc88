/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: request lines through the control server's whole path (JSON,
 * request fields, the schema of the command named, dispatch, the reply line),
 * with the VM's real command table: the schemas its owners register
 * (vm_ctl.c, collapse_ctl.c, console_ctl.c) and help. The handlers are
 * stand-ins that echo their validated arguments: the VM behind them is not
 * what this target searches.
 */
#include "config.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "fuzz.h"
#include "ctl/internal.h"
#include "ctl/vm_ctl.h"
#include "collapse/collapse_vm.h"
#include "dev/console_ctl.h"

static struct ctl_server *srv;
static char dir[] = "/tmp/thpvm-fuzz-ctl-XXXXXX";

static json_t *echo(void *ctx, json_t *args, struct ctl_error *err)
{
	return json_pack("{s:O}", "args", args);
}

static void add(const struct ctl_command *real)
{
	struct ctl_command c = *real;

	c.handler = echo;
	if (ctl_server_register(srv, &c, NULL))
		abort();
}

static void cleanup(void)
{
	ctl_server_destroy(srv); /* removes its socket */
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct ctl_server_config cfg = { 0 };
	struct ctl_error err;
	char path[64];

	if (!mkdtemp(dir))
		abort();
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	cfg.path = path;
	if (ctl_server_create(&srv, &cfg, &err)) {
		fprintf(stderr, "fuzz_ctl_line: %s\n", err.message);
		abort();
	}
	for (const struct ctl_command *c = vm_ctl_commands; c->name; c++)
		add(c);
	add(&collapse_ctl_command);
	add(&console_ctl_command);
	atexit(cleanup);
	return 0;
}

/* Every line of the input, as the transport cuts them, gets at most one reply: one JSON object, one line. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	if (!srv)
		LLVMFuzzerInitialize(NULL, NULL);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		char *line = malloc(len ? len : 1), *reply;

		if (!line)
			return 0;
		memcpy(line, p, len);
		reply = ctl_server_handle_line(srv, line, len);
		free(line);
		if (reply) {
			size_t n = strlen(reply);
			json_error_t jerr;
			json_t *j;

			FUZZ_CHECK(n && reply[n - 1] == '\n' && !memchr(reply, '\n', n - 1));
			j = json_loadb(reply, n, 0, &jerr);
			FUZZ_CHECK(json_is_object(j));
			FUZZ_CHECK(json_is_boolean(json_object_get(j, "ok")));
			json_decref(j);
			free(reply);
		}
		p += len + 1;
	}
	return 0;
}
