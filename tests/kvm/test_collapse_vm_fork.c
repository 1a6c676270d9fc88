/* SPDX-License-Identifier: MIT */
/*
 * The collapse thread across a real snapshot-fork, end to end with the
 * built thpvm: a collbench template with `--collapse tlb` is forked as a
 * template through its control socket; the template's collapser is held
 * (it shares its pages with the child), the child gets a collapser of its
 * own with the parent's policy, its guest splits every extent, and the
 * child's thread puts them back on 2 MiB pages, KVM's included.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include "kvm_test.h"
#include "helpers.h"
#include "ctl/ctl.h"


TestSuite(collapse_vm_fork, .timeout = 120);

static char dir[64], sock[128];
static pid_t vmm = -1;

static json_t *call(const char *path, const char *cmd, json_t *args)
{
	struct ctl_error err;
	json_t *res = NULL;
	int ret = ctl_call(path, cmd, args, 30000, &res, &err);

	json_decref(args);
	cr_assert_eq(ret, 0, "%s on %s: %s", cmd, path, err.message);
	return res;
}

static double num(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b)
		v = json_object_get(v, b);
	cr_assert(json_is_number(v), "no number %s.%s", a, b ? b : "");
	return json_number_value(v);
}

static void teardown(void)
{
	if (vmm > 0) {
		struct ctl_error err;
		json_t *r = NULL;

		if (!ctl_call(sock, "quit", NULL, 5000, &r, &err))
			json_decref(r);
		for (int i = 0; i < 500 && waitpid(vmm, NULL, WNOHANG) == 0; i++)
			sleep_ms(10);
		if (!kill(vmm, SIGKILL))
			waitpid(vmm, NULL, 0);
	}
	if (dir[0]) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd)) {
			/* nothing more to do */
		}
	}
}

Test(collapse_vm_fork, a_forked_child_recovers_its_split_memory_while_the_template_holds, .fini = teardown)
{
	const char *argv[] = { THPVM, "run", "--payload", "collbench", "--memory", "128M", "--prefault", "--collapse",
			       "tlb,interval_ms=5", "--timeout", "100", "--ctl-sock", sock, NULL };
	char out[160];
	json_t *r, *child, *st;
	const char *csock, *console;
	double ws_extents;
	pid_t cpid;
	int fd, i;

	REQUIRE_KVM();
	REQUIRE_THP();
	snprintf(dir, sizeof(dir), "/tmp/thpvm-cvm-fork-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/vm.sock", dir);
	snprintf(out, sizeof(out), "%s/parent.out", dir);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	kvm_test_payload_dir();
	vmm = thpvm_spawn(argv, -1, fd, fd);
	close(fd);
	for (i = 0; i < 2000; i++) {
		struct ctl_error err;

		r = NULL;
		if (!ctl_call(sock, "stats", NULL, 5000, &r, &err) &&
		    json_integer_value(json_object_get(json_object_get(r, "payload"), "fork_waiting")) >= 1)
			break;
		json_decref(r);
		r = NULL;
		cr_assert_eq(waitpid(vmm, NULL, WNOHANG), 0, "the template ended; see %s", out);
		sleep_ms(10);
	}
	cr_assert_not_null(r, "the template never waited for a fork");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "collapse"), "mode")), "tlb");
	json_decref(r);
	/* the extents the guest's laps touch: a recovered child maps them all with 2 MiB pages again */
	ws_extents = 0;
	{
		char line[256];
		FILE *f = fopen(out, "r");

		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "result ws_bytes=", 16))
				ws_extents = strtod(line + 16, NULL) / (2 * MIB);
		if (f)
			fclose(f);
	}
	cr_assert_gt(ws_extents, 32, "the template reported no working set (see %s)", out);

	r = call(sock, "fork", json_pack("{s:i, s:b}", "count", 1, "template", 1));
	child = json_array_get(json_object_get(r, "children"), 0);
	csock = json_string_value(json_object_get(child, "socket"));
	console = json_string_value(json_object_get(child, "console"));
	cpid = (pid_t)json_integer_value(json_object_get(child, "pid"));
	cr_assert(csock && console && cpid > 0);

	/* the template: paused, its collapser held */
	st = call(sock, "collapse", NULL);
	cr_assert(json_is_true(json_object_get(st, "held_for_template")), "a template's collapser is held");
	cr_assert(json_is_true(json_object_get(st, "paused")));
	cr_assert_eq(num(st, "forks", NULL), 1);
	json_decref(st);

	/* the child: its own collapser with the template's policy; its guest splits everything, the thread mends it */
	st = call(csock, "collapse", NULL);
	cr_assert_str_eq(json_string_value(json_object_get(st, "mode")), "tlb");
	cr_assert(json_is_true(json_object_get(st, "running")));
	cr_assert(json_is_false(json_object_get(st, "held_for_template")));
	cr_assert_eq(num(st, "config", "interval_ms"), 5, "the parent's knobs came along");
	json_decref(st);
	for (i = 0; i < 3000; i++) {
		st = call(csock, "stats", NULL);
		if (num(st, "collapse", "collapsed") >= 32 && num(st, "summary", "huge_pct") >= 99 &&
		    num(st, "summary", "kvm_pages_2m") >= 0.95 * ws_extents)
			break;
		json_decref(st);
		st = NULL;
		sleep_ms(20);
	}
	cr_assert_not_null(st, "the child's memory did not come back on 2 MiB pages");
	cr_log_info("child: %.0f collapsed, %.1f%% HUGE, pages_2m %.0f", num(st, "collapse", "collapsed"),
		    num(st, "summary", "huge_pct"), num(st, "summary", "kvm_pages_2m"));
	json_decref(st);

	/* the template's extents were never copied: still held, nothing collapsed there */
	st = call(sock, "collapse", NULL);
	cr_assert(json_is_true(json_object_get(st, "held_for_template")));
	cr_assert_eq(num(st, "collapsed", NULL), 0);
	json_decref(st);
	/* resumed, the template's collapser is released */
	json_decref(call(sock, "resume", NULL));
	for (i = 0; i < 250; i++) {
		st = call(sock, "collapse", NULL);
		if (json_is_false(json_object_get(st, "held_for_template")) && json_is_false(json_object_get(st, "paused")))
			break;
		json_decref(st);
		st = NULL;
		sleep_ms(20);
	}
	cr_assert_not_null(st, "resuming the template did not release its collapser");
	json_decref(st);

	json_decref(call(csock, "quit", NULL));
	for (i = 0; i < 1000 && !(kill(cpid, 0) && errno == ESRCH); i++)
		sleep_ms(10);
	unlink(console);
	json_decref(r);
}
