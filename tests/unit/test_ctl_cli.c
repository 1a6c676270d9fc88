/* SPDX-License-Identifier: MIT */
/* `thpvm ctl`, the built binary, against a real server: output, exit statuses, messages. */
#include "config.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "ctl_helpers.h"

TestSuite(ctl, .init = ctl_fixture_init, .fini = ctl_fixture_fini, .timeout = 60);

struct run {
	int status;     /* exit status, or 128 + signal */
	char out[8192]; /* stdout */
	char err[2048]; /* stderr */
};

static void slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;

	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* Runs THPVM_BIN with the arguments (NULL-terminated), optionally as nobody. */
static void run_ctl(struct run *r, bool as_nobody, ...)
{
	char out_path[128], err_path[128];
	const char *argv[32] = { THPVM_BIN };
	unsigned argc = 1;
	va_list ap;
	pid_t pid;
	int status;

	va_start(ap, as_nobody);
	while (argc < 31 && (argv[argc] = va_arg(ap, const char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	snprintf(out_path, sizeof(out_path), "%s/stdout", ctl_fix_tmp.dir);
	snprintf(err_path, sizeof(err_path), "%s/stderr", ctl_fix_tmp.dir);
	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int o = open(out_path, O_CREAT | O_TRUNC | O_WRONLY, 0666);
		int e = open(err_path, O_CREAT | O_TRUNC | O_WRONLY, 0666);

		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(120);
		if (as_nobody && (setgroups(0, NULL) || setresgid(NOBODY_GID, NOBODY_GID, NOBODY_GID) ||
				  setresuid(NOBODY_UID, NOBODY_UID, NOBODY_UID)))
			_exit(121);
		execv(THPVM_BIN, (char **)argv);
		_exit(122);
	}
	while (waitpid(pid, &status, 0) < 0)
		cr_assert_eq(errno, EINTR, "waitpid: %s", strerror(errno));
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	cr_assert(r->status < 120, "could not run %s (status %d)", THPVM_BIN, r->status);
	slurp(out_path, r->out, sizeof(r->out));
	slurp(err_path, r->err, sizeof(r->err));
}

static json_t *stdout_json(const struct run *r)
{
	json_error_t jerr;
	json_t *v = json_loads(r->out, 0, &jerr);

	cr_assert_not_null(v, "stdout is not JSON (%s): %s", jerr.text, r->out);
	return v;
}

Test(ctl, cli_prints_the_result_as_pretty_json_and_exits_0)
{
	struct run r;
	json_t *v;

	run_ctl(&r, false, "ctl", ctl_fix_tmp.path, "add", "a=40", "b=2", NULL);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_empty(r.err);
	v = stdout_json(&r);
	cr_assert_eq(json_integer_value(json_object_get(v, "sum")), 42);
	cr_assert_not_null(strstr(r.out, "{\n  \"sum\": 42\n}"), "pretty: %s", r.out);
	json_decref(v);

	run_ctl(&r, false, "ctl", "--raw", ctl_fix_tmp.path, "add", "a=1", "b=2", NULL);
	cr_assert_eq(r.status, 0);
	cr_assert_str_eq(r.out, "{\"sum\":3}\n");

	run_ctl(&r, false, "ctl", ctl_fix_tmp.path, "add", "--json", "{\"a\": -5, \"b\": 2}", "--raw", NULL);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "{\"sum\":-3}\n");
}

Test(ctl, cli_values_are_json_when_they_parse_else_strings)
{
	struct run r;
	json_t *v, *args;

	run_ctl(&r, false, "ctl", ctl_fix_tmp.path, "echo", "n=4", "flag=true", "s=tlb", "list=[1,2]", "value={\"k\":null}",
		"text=4x", "real=0.25", NULL);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	v = stdout_json(&r);
	args = json_object_get(v, "args");
	cr_assert_eq(json_integer_value(json_object_get(args, "n")), 4);
	cr_assert(json_is_true(json_object_get(args, "flag")));
	cr_assert_str_eq(json_string_value(json_object_get(args, "s")), "tlb");
	cr_assert_eq(json_array_size(json_object_get(args, "list")), 2);
	cr_assert(json_is_null(json_object_get(json_object_get(args, "value"), "k")));
	cr_assert_str_eq(json_string_value(json_object_get(args, "text")), "4x");
	cr_assert_float_eq(json_real_value(json_object_get(args, "real")), 0.25, 1e-9);
	json_decref(v);

	/* a string that would parse as JSON is quoted */
	run_ctl(&r, false, "ctl", "--raw", ctl_fix_tmp.path, "echo", "text=\"true\"", NULL);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, "{\"args\":{\"text\":\"true\"}}\n");
}

Test(ctl, cli_error_reply_exits_1_with_code_and_message_on_stderr)
{
	struct run r;

	run_ctl(&r, false, "ctl", ctl_fix_tmp.path, "add", "a=1", "b=x", NULL);
	cr_assert_eq(r.status, 1);
	cr_assert_str_empty(r.out);
	cr_assert_str_eq(r.err, "thpvm: arg_type: argument 'b' of 'add' must be an int, got a string\n");

	run_ctl(&r, false, "ctl", ctl_fix_tmp.path, "reboot", NULL);
	cr_assert_eq(r.status, 1);
	cr_assert_str_eq(r.err, "thpvm: unknown_cmd: no command 'reboot' (try 'help')\n");

	run_ctl(&r, false, "ctl", ctl_fix_tmp.path, "fail", NULL);
	cr_assert_eq(r.status, 1);
	cr_assert_str_eq(r.err, "thpvm: bad_state: the test VM is not paused\n");

	run_ctl(&r, false, "ctl", ctl_fix_tmp.path, "add", "a=1", NULL);
	cr_assert_eq(r.status, 1);
	cr_assert_not_null(strstr(r.err, "thpvm: missing_arg: command 'add' needs argument 'b'"), "%s", r.err);
}

Test(ctl, cli_cannot_connect_exits_2_naming_the_reason)
{
	char stale[128], file[128];
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct run r;
	int fd;

	run_ctl(&r, false, "ctl", "/tmp/thpvm-ctl-no-such.sock", "help", NULL);
	cr_assert_eq(r.status, 2);
	cr_assert_str_eq(r.err, "thpvm: ctl: no such socket: /tmp/thpvm-ctl-no-such.sock\n");

	snprintf(stale, sizeof(stale), "%s/stale.sock", ctl_fix_tmp.dir);
	memcpy(addr.sun_path, stale, strlen(stale) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
	run_ctl(&r, false, "ctl", stale, "help", NULL);
	cr_assert_eq(r.status, 2);
	cr_assert_not_null(strstr(r.err, "connection refused: nobody listens on"), "%s", r.err);

	snprintf(file, sizeof(file), "%s/file", ctl_fix_tmp.dir);
	cr_assert_eq(close(open(file, O_CREAT | O_WRONLY, 0600)), 0);
	run_ctl(&r, false, "ctl", file, "help", NULL);
	cr_assert_eq(r.status, 2);
	cr_assert_not_null(strstr(r.err, "is not a socket"), "%s", r.err);
}

Test(ctl, cli_as_another_uid_exits_2_permission_denied_or_1_refused)
{
	struct run r;

	if (geteuid() != 0)
		cr_skip_test("needs root to run the client as uid %d (nobody)", NOBODY_UID);
	chmod(ctl_fix_tmp.dir, 0755);
	run_ctl(&r, true, "ctl", ctl_fix_tmp.path, "help", NULL);
	cr_assert_eq(r.status, 2, "stderr: %s", r.err);
	cr_assert_not_null(strstr(r.err, "thpvm: ctl: permission denied: "), "%s", r.err);
	cr_assert_not_null(strstr(r.err, ctl_fix_tmp.path), "%s", r.err);
	/* through a socket somebody widened: the server itself refuses */
	cr_assert_eq(chmod(ctl_fix_tmp.path, 0666), 0);
	run_ctl(&r, true, "ctl", ctl_fix_tmp.path, "help", NULL);
	cr_assert_eq(r.status, 1, "stderr: %s", r.err);
	cr_assert_not_null(strstr(r.err, "thpvm: peer_refused: connection from uid 65534 refused"), "%s", r.err);
}

Test(ctl, cli_usage_errors_exit_2)
{
	static const char *const cases[][7] = {
		{ "ctl", NULL },
		{ "ctl", "SOCK", NULL },
		{ "ctl", "SOCK", "add", "a", NULL },
		{ "ctl", "SOCK", "add", "=1", NULL },
		{ "ctl", "SOCK", "add", "a=1", "a=2", NULL },
		{ "ctl", "SOCK", "add", "a=1", "--json", "{}", NULL },
	};
	static const char *const messages[] = { "usage", "usage", "not KEY=VALUE", "not KEY=VALUE", "given twice",
						"not both" };
	struct run r;

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *a[7];

		for (unsigned k = 0; k < 7; k++)
			a[k] = cases[i][k] && !strcmp(cases[i][k], "SOCK") ? ctl_fix_tmp.path : cases[i][k];
		run_ctl(&r, false, a[0], a[1], a[2], a[3], a[4], a[5], a[6], NULL);
		cr_assert_eq(r.status, 2, "case %u", i);
		cr_assert_not_null(strstr(r.err, messages[i]), "case %u: %s", i, r.err);
	}
	run_ctl(&r, false, "ctl", ctl_fix_tmp.path, "add", "--json", "[1]", NULL);
	cr_assert_eq(r.status, 2);
	cr_assert_not_null(strstr(r.err, "--json expects an object"), "%s", r.err);
	run_ctl(&r, false, "ctl", "--timeout", "soon", ctl_fix_tmp.path, "help", NULL);
	cr_assert_eq(r.status, 2);
	cr_assert_not_null(strstr(r.err, "--timeout expects seconds"), "%s", r.err);
}

Test(ctl, cli_timeout_exits_2_when_the_vm_does_not_answer)
{
	struct run r;

	run_ctl(&r, false, "ctl", "--timeout", "0.2", ctl_fix_tmp.path, "sleep", "ms=2000", NULL);
	cr_assert_eq(r.status, 2);
	cr_assert_not_null(strstr(r.err, "no reply within 200 ms"), "%s", r.err);
	/* the server is still there for the next client once the handler is done */
	run_ctl(&r, false, "ctl", "--timeout", "10", ctl_fix_tmp.path, "add", "a=1", "b=1", NULL);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
}

Test(ctl, cli_help_lists_commands_and_arguments)
{
	struct run r;
	json_t *v;

	run_ctl(&r, false, "ctl", ctl_fix_tmp.path, "help", NULL);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_not_null(strstr(r.out, "add        add two integers\n"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "b=int"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "(required) second"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "s=string tlb|balanced"), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "list=array[uint] 1..3"), "%s", r.out);
	run_ctl(&r, false, "ctl", "--raw", ctl_fix_tmp.path, "help", "command=add", NULL);
	cr_assert_eq(r.status, 0);
	v = stdout_json(&r);
	cr_assert_eq(json_array_size(json_object_get(v, "commands")), 1);
	json_decref(v);
}

Test(ctl, library_call_returns_result_or_the_servers_error)
{
	struct ctl_error err;
	json_t *res, *args = json_pack("{s:i, s:i}", "a", 2, "b", 5);

	cr_assert_eq(ctl_call(ctl_fix_tmp.path, "add", args, 5000, &res, &err), 0, "%s", err.message);
	cr_assert_eq(json_integer_value(json_object_get(res, "sum")), 7);
	json_decref(res);
	json_decref(args);
	cr_assert_eq(ctl_call(ctl_fix_tmp.path, "fail", NULL, 5000, &res, &err), -EBUSY);
	cr_assert_eq(err.result, CTL_BAD_STATE);
	cr_assert_str_eq(err.message, "the test VM is not paused");
	cr_assert_null(res);
	cr_assert_eq(ctl_call("/tmp/thpvm-ctl-no-such.sock", "help", NULL, 5000, &res, &err), -ENOENT);
	cr_assert_eq(err.result, CTL_NO_SOCKET);
}

/* One word for the control socket: --ctl-sock, with --api-sock (its first name) still accepted; a bad path is bad input. */
Test(ctl, run_takes_ctl_sock_and_its_first_name_api_sock)
{
	static const char *const opts[] = { "--ctl-sock", "--api-sock" };
	struct run r;

	for (unsigned i = 0; i < 2; i++) {
		run_ctl(&r, false, "run", "--payload", "selftest", "--memory", "64M", opts[i],
			"/nonexistent-thpvm-dir/vm.sock", NULL);
		cr_assert_eq(r.status, 2, "%s: status %d, stderr: %s", opts[i], r.status, r.err);
		cr_assert(strstr(r.err, "thpvm: run: --ctl-sock /nonexistent-thpvm-dir/vm.sock: ") == r.err,
			  "%s: one line naming the option and the path: %s", opts[i], r.err);
		cr_assert(strstr(r.err, "its directory does not exist\n") && !strchr(strchr(r.err, '\n') + 1, '\n'),
			  "%s: %s", opts[i], r.err);
	}
}

/* The VM's sizes and counts are decimal whatever their leading zeros (base 0 once read 010 as 8). */
Test(ctl, run_reads_numbers_with_leading_zeros_as_decimal)
{
	static const struct {
		const char *opt, *val, *err;
	} cases[] = {
		{ "--cpus", "0100", "thpvm: run: --cpus '0100': expected 1..64\n" },
		{ "--memory", "08M", "thpvm: run: guest memory 8 MiB is too small: payload guests need at least 16 MiB\n" },
		{ "--memory", "010M", "thpvm: run: guest memory 10 MiB is too small: payload guests need at least 16 MiB\n" },
	};
	struct run r;

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_ctl(&r, false, "run", "--payload", "selftest", cases[i].opt, cases[i].val, NULL);
		cr_assert_eq(r.status, 2, "%s %s: status %d, stderr: %s", cases[i].opt, cases[i].val, r.status, r.err);
		cr_assert_str_eq(r.err, cases[i].err, "%s %s", cases[i].opt, cases[i].val);
	}
}
