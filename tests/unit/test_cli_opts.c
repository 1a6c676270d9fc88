/* SPDX-License-Identifier: MIT */
/*
 * Every subcommand's option errors, through the built binary: one line on
 * stderr in one form (vmm/util/opts.h), exit status 2, and the help it
 * points to exists. No KVM needed: options are read before anything runs.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

/* Runs "THPVM_BIN args" with stdout discarded; its stderr into err. Returns the exit status. */
static int thpvm_stderr(const char *args, char *err, size_t len)
{
	char cmd[512];
	size_t n;
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd), "%s %s 2>&1 >/dev/null", THPVM_BIN, args);
	f = popen(cmd, "r");
	cr_assert_not_null(f, "popen %s", cmd);
	n = fread(err, 1, len - 1, f);
	err[n] = '\0';
	st = pclose(f);
	cr_assert(WIFEXITED(st), "%s: no exit status (%d)", args, st);
	return WEXITSTATUS(st);
}

static const char *const commands[] = {
	"run --payload selftest", "stats --payload selftest", "demo", "host", "ctl", "snapshot", "bench tlb", "bench fork",
	"bench collapse", "bench collapse-mem", "bench coverage",
};

static const char *name_of(const char *cmd, char *buf, size_t len)
{
	const char *sp = strstr(cmd, " --");

	snprintf(buf, len, "%.*s", sp ? (int)(sp - cmd) : (int)strlen(cmd), cmd);
	return buf;
}

Test(cli_opts, an_unknown_option_is_one_line_naming_it_and_the_help)
{
	char err[1024], want[256], args[256], name[64];

	for (unsigned i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		name_of(commands[i], name, sizeof(name));
		snprintf(args, sizeof(args), "%s --frobnicate", commands[i]);
		cr_assert_eq(thpvm_stderr(args, err, sizeof(err)), 2, "%s: %s", args, err);
		snprintf(want, sizeof(want), "thpvm: %s: unknown option '--frobnicate' (try 'thpvm %s --help')\n", name,
			 name);
		cr_assert_str_eq(err, want, "%s", args);
		/* the help it points to is there */
		snprintf(args, sizeof(args), "%s --help", name);
		cr_assert_eq(thpvm_stderr(args, err, sizeof(err)), 0, "%s: %s", args, err);
	}
}

Test(cli_opts, a_missing_value_and_an_extra_argument_are_named)
{
	static const struct {
		const char *args, *line;
	} cases[] = {
		{ "run --payload", "thpvm: run: option '--payload' needs a value\n" },
		{ "run --payload selftest extra", "thpvm: run: unexpected argument 'extra' (try 'thpvm run --help')\n" },
		{ "run --payload selftest --memory-mode shared",
		  "thpvm: run: --memory-mode needs --restore (it says how a snapshot's memory comes back)\n" },
		{ "run --restore /nonexistent --memory-mode lazy",
		  "thpvm: run: --memory-mode 'lazy': expected eager or shared\n" },
		{ "run --restore /nonexistent --kernel k", "thpvm: run: --kernel and --restore exclude each other "
		  "(a restored guest is the snapshot's)\n" },
		{ "run --restore /nonexistent --rng", "thpvm: run: --rng and --restore exclude each other "
		  "(a restored guest is the snapshot's)\n" },
		{ "run --payload selftest --rng", "thpvm: run: --rng needs --kernel (it is for Linux guests)\n" },
		{ "run --payload selftest --disk d.img", "thpvm: run: --disk needs --kernel (it is for Linux guests)\n" },
		{ "run --payload selftest --module m", "thpvm: run: --module needs --kernel (it is for Linux guests)\n" },
		{ "run --payload selftest --net tap=t0", "thpvm: run: --net needs --kernel (it is for Linux guests)\n" },
		{ "run --restore /nonexistent --net tap=t0", "thpvm: run: --net and --restore exclude each other "
		  "(a restored guest is the snapshot's)\n" },
		{ "run --restore /nonexistent --disk d.img", "thpvm: run: --disk and --restore exclude each other "
		  "(a restored guest is the snapshot's)\n" },
		{ "demo --memory", "thpvm: demo: option '--memory' needs a value\n" },
		{ "host extra", "thpvm: host: unexpected argument 'extra' (try 'thpvm host --help')\n" },
		{ "ctl --timeout", "thpvm: ctl: option '--timeout' needs a value\n" },
		{ "bench tlb --reps", "thpvm: bench tlb: option '--reps' needs a value\n" },
		{ "bench fork extra", "thpvm: bench fork: unexpected argument 'extra' (try 'thpvm bench fork --help')\n" },
		{ "bench collapse --window", "thpvm: bench collapse: option '--window' needs a value\n" },
		{ "bench collapse-mem --memory", "thpvm: bench collapse-mem: option '--memory' needs a value\n" },
		{ "bench coverage extra",
		  "thpvm: bench coverage: unexpected argument 'extra' (try 'thpvm bench coverage --help')\n" },
	};
	char err[1024];

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(thpvm_stderr(cases[i].args, err, sizeof(err)), 2, "%s: %s", cases[i].args, err);
		cr_assert_str_eq(err, cases[i].line, "%s", cases[i].args);
	}
}
