/* SPDX-License-Identifier: MIT */
/*
 * The control socket's "collapse" command: the collapse thread's status, and
 * changes of its policy at run time. Its schema (argument names, types,
 * ranges) sits beside the handler and is documented in docs/ctl.md; the
 * arguments are the keys of --collapse MODE[,key=value...].
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "collapse_vm.h"
#include "util/error.h"
#include "ctl/ctl.h"

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

/* Integer arguments, by name, and the --collapse key each one sets. */
static const char *const int_keys[] = { "private", "delay_ms", "max_absent", "rate", "interval_ms",
					"budget",  "batch",    "remap_batch", "nice" };

/* Applies "key=value" through the --collapse parser, so both forms share one set of checks. */
static int apply(struct thpvm_collapse_config *cfg, const char *key, const char *value, struct ctl_error *err)
{
	char item[96];

	snprintf(item, sizeof(item), "%s%s%s", key ? key : "", key ? "=" : "", value);
	if (thpvm_collapse_config_parse(cfg, item))
		return ctl_fail_errno(err, CTL_ARG_VALUE, "argument '%s' of 'collapse': %s", key ? key : "mode",
				      thpvm_last_error());
	return 0;
}

static json_t *collapse_handler(void *ctx, json_t *args, struct ctl_error *err)
{
	struct collapse_vm *cv = ctx;
	struct thpvm_collapse_config cfg;
	const char *s;
	json_t *status;

	if (json_object_size(args)) {
		collapse_vm_get_config(cv, &cfg);
		s = ctl_arg_string(args, "options", NULL);
		if (s && thpvm_collapse_config_parse(&cfg, s))
			return ctl_fail(err, CTL_ARG_VALUE, "argument 'options' of 'collapse': %s", thpvm_last_error());
		/* the mode word first: it resets the thresholds, which the arguments below may then set */
		if ((s = ctl_arg_string(args, "mode", NULL)) && apply(&cfg, NULL, s, err))
			return NULL;
		if ((s = ctl_arg_string(args, "engine", NULL)) && apply(&cfg, "engine", s, err))
			return NULL;
		for (size_t i = 0; i < sizeof(int_keys) / sizeof(int_keys[0]); i++) {
			char num[24];

			if (!json_object_get(args, int_keys[i]))
				continue;
			snprintf(num, sizeof(num), "%lld", ctl_arg_int(args, int_keys[i], 0));
			if (apply(&cfg, int_keys[i], num, err))
				return NULL;
		}
		if (collapse_vm_configure(cv, &cfg))
			return ctl_fail(err, CTL_FAILED, "%s", vmm_last_error());
	}
	status = collapse_vm_status(cv);
	return status ? status : ctl_fail(err, CTL_NO_MEMORY, "collapse: cannot build the status");
}

const struct ctl_command collapse_ctl_command = {
	.name = "collapse",
	.help = "show the collapse thread's state and counters; with arguments, change its policy",
	.args = collapse_args,
	.handler = collapse_handler,
};

int collapse_ctl_register(void *arg, struct vm *vm, struct ctl_server *srv)
{
	(void)vm;
	return ctl_server_register(srv, &collapse_ctl_command, arg);
}

int collapse_vm_ctl_register(struct ctl_server *srv, struct vm *vm)
{
	struct collapse_vm *cv = collapse_vm_of(vm);

	if (!cv)
		return vmm_fail(-ENOENT, "this VM has no collapse thread");
	return collapse_ctl_register(cv, vm, srv);
}
