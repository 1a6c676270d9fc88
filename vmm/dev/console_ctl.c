/* SPDX-License-Identifier: MIT */
/* The "console" control command: its schema and its handler, together (docs/ctl.md). */
#include "config.h"
#include <errno.h>
#include <string.h>
#include "console_ctl.h"
#include "pc_dev.h"
#include "util/error.h"
#include "x86/layout.h"

/* The guest reads its FIFO at its own pace: a full FIFO waits this long for room. */
#define CONSOLE_INPUT_TIMEOUT_MS 5000

static const struct ctl_arg console_args[] = {
	{ .name = "text", .type = CTL_ARG_STRING, .required = true, .min = 1, .max = 4096,
	  .help = "what to type on the guest's console (a Linux guest's COM1)" },
	{ .name = "newline", .type = CTL_ARG_BOOL, .help = "press Enter after text: a \\n follows it (default true)" },
	{ 0 },
};

/* The bytes go to COM1's receive FIFO as if typed (a forked child reads no stdin). */
static json_t *h_console(void *ctx, json_t *args, struct ctl_error *err)
{
	struct vm *vm = ctx;
	const char *text = ctl_arg_string(args, "text", "");
	bool newline = ctl_arg_bool(args, "newline", true);
	size_t len = strlen(text), taken = 0, nl_taken = 0;
	int ret;

	ret = uart8250_dev_input(vm, X86_PORT_COM1, (const uint8_t *)text, len, CONSOLE_INPUT_TIMEOUT_MS, &taken);
	if (!ret && newline)
		ret = uart8250_dev_input(vm, X86_PORT_COM1, (const uint8_t *)"\n", 1, CONSOLE_INPUT_TIMEOUT_MS,
					 &nl_taken);
	if (ret == -ENODEV)
		return ctl_fail(err, CTL_UNSUPPORTED, "this VM has no console UART (a payload guest)");
	if (ret)
		return ctl_fail(err, CTL_FAILED, "console: %s", vmm_last_error());
	return json_pack("{s:I}", "bytes", (json_int_t)(taken + nl_taken));
}

const struct ctl_command console_ctl_command = {
	.name = "console",
	.help = "type text on the guest's console (Linux guests; a forked child's only input)",
	.args = console_args,
	.handler = h_console,
};

int console_ctl_register(void *arg, struct vm *vm, struct ctl_server *srv)
{
	(void)arg;
	return ctl_server_register(srv, &console_ctl_command, vm);
}
