/* SPDX-License-Identifier: MIT */
/*
 * The VM's control commands as their owners declare them (vm_ctl.c's own,
 * collapse_ctl.c's, console_ctl.c's, domain_ctl.c's; each schema beside its handler): every
 * schema refuses bad arguments on a real socket, names are unique, and
 * docs/ctl.md documents every command, argument and error code.
 */
#include "config.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "ctl_helpers.h"
#include "collapse/collapse_vm.h"
#include "ctl/vm_ctl.h"
#include "dev/console_ctl.h"
#include "domain/domain.h"

TestSuite(ctl_commands, .init = ctl_fixture_init, .fini = ctl_fixture_fini, .timeout = 60);

/* Every command a VM can have, from its owner. */
static unsigned all_commands(const struct ctl_command **out, unsigned max)
{
	unsigned n = 0;

	for (const struct ctl_command *c = vm_ctl_commands; c->name && n < max; c++)
		out[n++] = c;
	if (n < max)
		out[n++] = &collapse_ctl_command;
	if (n < max)
		out[n++] = &console_ctl_command;
	if (n < max)
		out[n++] = &domain_ctl_command;
	return n;
}

/* Echoes what the schema let through: the command's name (ctx) and its arguments. */
static json_t *h_echo(void *ctx, json_t *args, struct ctl_error *err)
{
	(void)err;
	return json_pack("{s:s, s:O}", "cmd", (const char *)ctx, "args", args);
}

Test(ctl_commands, every_owners_schema_validates_its_arguments)
{
	static const struct bad_case cases[] = {
		{ "{\"cmd\": \"fork\", \"args\": {\"count\": 0}}\n", "arg_value", "[1, 256]" },
		{ "{\"cmd\": \"fork\", \"args\": {\"count\": 257}}\n", "arg_value", "[1, 256]" },
		{ "{\"cmd\": \"fork\", \"args\": {\"count\": \"4\"}}\n", "arg_type", "uint" },
		{ "{\"cmd\": \"fork\", \"args\": {\"template\": \"yes\"}}\n", "arg_type", "bool" },
		{ "{\"cmd\": \"fork\", \"args\": {\"sockets\": [\"a\", 1]}}\n", "arg_type", "element 1" },
		{ "{\"cmd\": \"pause\", \"args\": {\"now\": true}}\n", "unknown_arg", "takes none" },
		{ "{\"cmd\": \"collapse\", \"args\": {\"mode\": \"fast\"}}\n", "arg_value", "off, tlb, balanced, density" },
		{ "{\"cmd\": \"collapse\", \"args\": {\"private\": 513}}\n", "arg_value", "[0, 512]" },
		{ "{\"cmd\": \"console\", \"args\": {}}\n", "missing_arg", "text" },
		{ "{\"cmd\": \"console\", \"args\": {\"text\": 42}}\n", "arg_type", "string" },
		{ "{\"cmd\": \"snapshot\", \"args\": {}}\n", "missing_arg", "path" },
		{ "{\"cmd\": \"snapshot\", \"args\": {\"path\": \"\"}}\n", "arg_value", "path" },
		{ "{\"cmd\": \"snapshot\", \"args\": {\"path\": \"d\", \"resume\": 1}}\n", "arg_type", "bool" },
		{ "{\"cmd\": \"domxml\", \"args\": {\"measured\": \"yes\"}}\n", "arg_type", "bool" },
	};
	const struct ctl_command *cmds[16];
	unsigned n = all_commands(cmds, 16);
	int fd = conn_open(ctl_fix_tmp.path);
	json_t *r;

	cr_assert_eq(n, 9, "pause, resume, stats, fork, snapshot, quit, collapse, console, domxml");
	for (unsigned i = 0; i < n; i++) {
		struct ctl_command c = *cmds[i];

		cr_assert_not_null(cmds[i]->handler, "%s comes with its handler", c.name);
		c.handler = h_echo;
		cr_assert_eq(ctl_server_register(ctl_fix_srv, &c, (void *)c.name), 0, "%s", c.name);
	}
	/* a name is one owner's: a second registration is refused */
	cr_assert_eq(ctl_server_register(ctl_fix_srv, &collapse_ctl_command, NULL), -EEXIST);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		bad_case_check(fd, &cases[i], i);
	r = conn_call(fd, "{\"cmd\": \"fork\", \"args\": {\"count\": 4, \"template\": true, "
			  "\"sockets\": [\"a\", \"b\", \"c\", \"d\"]}}\n");
	cr_assert_str_eq(json_string_value(json_object_get(reply_result(r), "cmd")), "fork");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(reply_result(r), "args"), "count")), 4);
	json_decref(r);
	r = conn_call(fd, "{\"cmd\": \"collapse\", \"args\": {\"mode\": \"density\"}}\n");
	reply_result(r);
	json_decref(r);
	close(fd);
}

static char *slurp_doc(void)
{
	FILE *f = fopen(THPVM_SRCDIR "/docs/ctl.md", "re");
	static char buf[64 * 1024];
	size_t n;

	cr_assert_not_null(f, "docs/ctl.md: %s", strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

Test(ctl_commands, docs_ctl_md_lists_every_error_code_command_and_argument)
{
	const struct ctl_command *cmds[16];
	unsigned n = all_commands(cmds, 16);
	const char *doc = slurp_doc();
	char needle[96];

	for (unsigned r = 1; r < CTL_NR_RESULTS; r++) {
		snprintf(needle, sizeof(needle), "`%s`", ctl_result_code((enum ctl_result)r));
		cr_assert_not_null(strstr(doc, needle), "docs/ctl.md does not mention error code %s", needle);
	}
	for (unsigned i = 0; i < n; i++) {
		const struct ctl_command *cmd = cmds[i];
		struct ctl_error err;

		cr_assert(ctl_command_check(cmd, &err), "%s: %s", cmd->name, err.message);
		snprintf(needle, sizeof(needle), "### %s\n", cmd->name);
		cr_assert_not_null(strstr(doc, needle), "docs/ctl.md has no section for %s", cmd->name);
		for (const struct ctl_arg *a = cmd->args; a && a->name; a++) {
			snprintf(needle, sizeof(needle), "| `%s` | %s", a->name, ctl_arg_type_str(a->type));
			cr_assert_not_null(strstr(doc, needle), "docs/ctl.md does not document %s's argument '%s' as %s",
					   cmd->name, a->name, ctl_arg_type_str(a->type));
		}
	}
}
