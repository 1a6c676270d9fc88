/* SPDX-License-Identifier: MIT */
/*
 * The VM's control commands: names, help and argument schemas, declared
 * here once and documented in docs/ctl.md; the VMM supplies the handlers
 * with ctl_api_register(). Change a schema here and in docs/ctl.md together.
 */
#include "config.h"
#include <errno.h>
#include <string.h>
#include "ctl.h"

static const struct ctl_arg stats_args[] = {
	{ .name = "extents", .type = CTL_ARG_BOOL, .help = "include the per-extent table (default false)" },
	{ 0 },
};

static const char *const fork_consoles[] = { "file", "inherit", NULL };

static const struct ctl_arg fork_args[] = {
	{ .name = "count", .type = CTL_ARG_UINT, .min = 1, .max = CTL_FORK_MAX_COUNT,
	  .help = "number of children (default 1)" },
	{ .name = "template", .type = CTL_ARG_BOOL,
	  .help = "stay paused as a template after forking (default false: resume)" },
	{ .name = "sockets", .type = CTL_ARG_ARRAY, .items = CTL_ARG_STRING, .min = 1, .max = CTL_FORK_MAX_COUNT,
	  .help = "control socket path of each child, one per child (default: prefix + \".N\")" },
	{ .name = "prefix", .type = CTL_ARG_STRING, .min = 1, .max = 100,
	  .help = "children's sockets are PREFIX.N, N the child's index (default: this VM's socket path)" },
	{ .name = "console", .type = CTL_ARG_STRING, .choices = fork_consoles,
	  .help = "file: each child's stdout and stderr go to SOCKET.console (default); inherit: this VM's" },
	{ 0 },
};

static const char *const collapse_modes[] = { "off", "tlb", "balanced", "density", NULL };
static const char *const collapse_engines[] = { "auto", "madv", "remap", NULL };

/* The keys of --collapse MODE[,key=value...] (thpvm_collapse_config_parse), with the same names. */
static const struct ctl_arg collapse_args[] = {
	{ .name = "options", .type = CTL_ARG_STRING, .min = 1, .max = 512,
	  .help = "options in the --collapse form, e.g. \"tlb,batch=32\", applied before the other arguments" },
	{ .name = "mode", .type = CTL_ARG_STRING, .choices = collapse_modes,
	  .help = "collapse policy (resets private and delay_ms to the mode's defaults unless given too)" },
	{ .name = "engine", .type = CTL_ARG_STRING, .choices = collapse_engines,
	  .help = "auto: MADV_COLLAPSE where the kernel can, else copy-and-remap" },
	{ .name = "private", .type = CTL_ARG_UINT, .min = 0, .max = 512,
	  .help = "balanced, density: private 4 KiB pages of a split extent that trigger its collapse" },
	{ .name = "delay_ms", .type = CTL_ARG_UINT, .min = 0, .max = 86400000,
	  .help = "balanced: collapse an extent split longer than this" },
	{ .name = "max_absent", .type = CTL_ARG_UINT, .min = 0, .max = 511,
	  .help = "never collapse an extent with more absent pages" },
	{ .name = "rate", .type = CTL_ARG_UINT, .min = 0, .max = 1048576,
	  .help = "copying rate limit in MiB/s (0: unlimited)" },
	{ .name = "interval_ms", .type = CTL_ARG_UINT, .min = 0, .max = 3600000,
	  .help = "sleep after a pass that collapsed nothing" },
	{ .name = "budget", .type = CTL_ARG_UINT, .min = 1, .max = 1048576, .help = "extents examined per pass" },
	{ .name = "batch", .type = CTL_ARG_UINT, .min = 1, .max = 64,
	  .help = "adjacent extents per MADV_COLLAPSE call" },
	{ .name = "remap_batch", .type = CTL_ARG_UINT, .min = 1, .max = 64,
	  .help = "extents per copy-and-remap operation (writers wait for this many copies)" },
	{ .name = "nice", .type = CTL_ARG_INT, .min = -20, .max = 19, .help = "the thread's nice value" },
	{ 0 },
};

static const struct ctl_arg console_args[] = {
	{ .name = "text", .type = CTL_ARG_STRING, .required = true, .min = 1, .max = 4096,
	  .help = "what to type on the guest's console (a Linux guest's COM1)" },
	{ .name = "newline", .type = CTL_ARG_BOOL, .help = "press Enter after text: a \\n follows it (default true)" },
	{ 0 },
};

static const struct ctl_command planned[] = {
	{ .name = "pause", .help = "stop every vCPU at an instruction boundary and quiesce the devices" },
	{ .name = "resume", .help = "let a paused VM run again" },
	{ .name = "stats", .help = "KVM stats, guest memory coverage, fork and copy-on-write counters",
	  .args = stats_args },
	{ .name = "fork", .help = "pause, capture the state and fork child VMs sharing this VM's memory",
	  .args = fork_args },
	{ .name = "quit", .help = "stop the VM and exit the VMM after replying" },
	{ .name = "console", .help = "type text on the guest's console (Linux guests; a forked child's only input)",
	  .args = console_args },
	{ .name = "collapse", .help = "show the collapse thread's state and counters; with arguments, change its policy",
	  .args = collapse_args },
};

const struct ctl_command *ctl_api_find(const char *name)
{
	for (size_t i = 0; i < sizeof(planned) / sizeof(planned[0]); i++)
		if (!strcmp(planned[i].name, name))
			return &planned[i];
	return NULL;
}

int ctl_api_register(struct ctl_server *srv, const char *name, ctl_handler_fn handler, void *ctx)
{
	const struct ctl_command *spec = ctl_api_find(name);
	struct ctl_command cmd;

	if (!spec)
		return -ENOENT;
	cmd = *spec;
	cmd.handler = handler;
	return ctl_server_register(srv, &cmd, ctx);
}
