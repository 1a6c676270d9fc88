/* SPDX-License-Identifier: MIT */
/*
 * Snapshot-fork as a user drives it: `thpvm run --ctl-sock` and `thpvm ctl`
 * (pause, resume, stats, fork, quit), children with their own sockets and
 * console files, a child forking again, children reaped and their statuses
 * in the parent's stats, errors that leave the VM running, and every
 * process and socket gone at the end.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>
#include "helpers.h"
#include "kvm_test.h"


static char dir[64], sock[128];
static pid_t vmm_pid;
/* children the VMs reported, killed at teardown should a test fail with them running */
static pid_t kids_seen[16];
static unsigned nr_kids_seen;

static void track(json_t *fork_result)
{
	json_t *kids = json_object_get(fork_result, "children");

	for (size_t i = 0; i < json_array_size(kids) && nr_kids_seen < 16; i++)
		kids_seen[nr_kids_seen++] = (pid_t)json_integer_value(json_object_get(json_array_get(kids, i), "pid"));
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/thpvm-forkapi-XXXXXX");
	cr_assert(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/vm.sock", dir);
	kvm_test_payload_dir();
	vmm_pid = 0;
}

static void teardown(void)
{
	char cmd[256];

	if (vmm_pid > 0 && !kill(vmm_pid, SIGKILL))
		waitpid(vmm_pid, NULL, 0);
	for (unsigned i = 0; i < nr_kids_seen; i++)
		kill(kids_seen[i], SIGKILL);
	nr_kids_seen = 0;
	/* children run in their own process groups; whatever is left is found by its socket's owner */
	snprintf(cmd, sizeof(cmd), "fuser -k -9 %s/vm.sock* >/dev/null 2>&1; rm -rf %s", dir, dir);
	if (system(cmd)) {
		/* fuser may be missing or find nothing */
	}
}

TestSuite(fork_api, .init = setup, .fini = teardown, .timeout = 120);

static const char *str(json_t *o, const char *path)
{
	json_t *v = json_at(o, path);

	return json_is_string(v) ? json_string_value(v) : "";
}

/* thpvm run in the background, its console in dir/parent.out; returns once the payload waits for a fork. */
static void start_vmm(const char *const *extra)
{
	/* --collapse off: these tests look at the children's split extents, which a collapse thread would mend */
	const char *argv[32] = { THPVM, "run", "--payload", "forktest", "--memory", "64M", "--prefault",
				 "--timeout", "100", "--ctl-sock", sock, "--collapse", "off" };
	char out[128];
	int n = 13, fd;

	for (unsigned i = 0; extra && extra[i]; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	snprintf(out, sizeof(out), "%s/parent.out", dir);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	vmm_pid = thpvm_spawn(argv, -1, fd, fd);
	close(fd);
	ctl_wait_fork_waiting(sock, vmm_pid, 1000);
}

static char *file(const char *path)
{
	static char buf[65536];
	int fd = open(path, O_RDONLY);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	fd_slurp(fd, buf, sizeof(buf));
	return buf;
}

/* Waits until path's content holds needle. */
static void wait_for_text(const char *path, const char *needle)
{
	for (unsigned i = 0; i < 1000; i++) {
		int fd = open(path, O_RDONLY);

		if (fd >= 0) {
			static char buf[65536];

			fd_slurp(fd, buf, sizeof(buf));
			if (strstr(buf, needle))
				return;
		}
		sleep_ms(10);
	}
	cr_assert_fail("%s never showed '%s'", path, needle);
}

static void wait_gone(const char *path)
{
	for (unsigned i = 0; i < 1000 && !access(path, F_OK); i++)
		sleep_ms(10);
	cr_assert(access(path, F_OK), "%s is still there", path);
}

Test(fork_api, pause_resume_stats_fork_and_quit_through_thpvm_ctl)
{
	static const char *const extra[] = { "--arg", "mode=touch", "--arg", "then=wait", NULL };
	char s1[160], s2[160], s11[160], c1[192], c11[192];
	json_t *j, *kids;
	struct thpvm_cmd *o;
	int st;

	REQUIRE_KVM();
	start_vmm(extra);
	snprintf(s1, sizeof(s1), "%s.1", sock);
	snprintf(s2, sizeof(s2), "%s.2", sock);
	snprintf(s11, sizeof(s11), "%s.1.1", sock);
	snprintf(c1, sizeof(c1), "%s.console", s1);
	snprintf(c11, sizeof(c11), "%s.console", s11);

	j = thpvm_ctl_ok(sock, "pause", NULL);
	cr_assert_str_eq(str(j, "state"), "paused");
	json_decref(j);
	o = thpvm_ctl(sock, "pause", NULL);
	cr_assert_eq(o->status, 1);
	cr_assert(strstr(o->err, "thpvm: bad_state: the VM is paused, not running"), "%s", o->err);
	j = thpvm_ctl_ok(sock, "resume", NULL);
	cr_assert_str_eq(str(j, "state"), "running");
	json_decref(j);

	j = thpvm_ctl_ok(sock, "stats", NULL);
	cr_assert_eq(json_num(j, "fork.index"), 0);
	cr_assert_eq(json_num(j, "fork.depth"), 0);
	cr_assert_eq(json_num(j, "fork.memory.guest_ram_bytes"), 64 << 20);
	cr_assert_eq(json_num(j, "summary.size_bytes"), 64 << 20);
	cr_assert_str_eq(str(j, "state"), "running");
	json_decref(j);

	/* two children of a template */
	j = thpvm_ctl_ok(sock, "fork", "count=2", "template=true", NULL);
	track(j);
	cr_assert_str_eq(str(j, "state"), "paused");
	kids = json_object_get(j, "children");
	cr_assert_eq(json_array_size(kids), 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(kids, 0), "socket")), s1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(kids, 1), "socket")), s2);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(kids, 0), "console")), c1);
	cr_assert_gt(json_integer_value(json_object_get(json_array_get(kids, 0), "pid")), 0);
	cr_assert(json_is_object(json_object_get(j, "timing")));
	json_decref(j);
	{
		struct stat sb;

		cr_assert_eq(stat(s1, &sb), 0);
		cr_assert(S_ISSOCK(sb.st_mode));
		cr_assert_eq(sb.st_mode & 0777, 0600, "a child's socket is 0600 as well");
	}
	wait_for_text(c1, "extents_written=");
	cr_assert(strstr(file(c1), "result fork_index=1\n"), "%s", file(c1));
	cr_assert(strstr(file(c1), "result fork_depth=1\n"), "%s", file(c1));

	j = thpvm_ctl_ok(s1, "stats", NULL);
	cr_assert_eq(json_num(j, "fork.index"), 1);
	cr_assert_eq(json_num(j, "fork.depth"), 1);
	cr_assert_eq(json_num(j, "fork.parent_pid"), vmm_pid);
	cr_assert_str_eq(str(j, "state"), "running");
	cr_assert_geq(json_num(j, "fork.memory.split_extents"), json_num(j, "payload.results.extents_written"),
		      "the extents the child wrote are split in it");
	cr_assert_gt(json_num(j, "fork.memory.shared_bytes"), json_num(j, "fork.memory.private_bytes"),
		     "the child still shares most of its RAM");
	json_decref(j);
	j = thpvm_ctl_ok(sock, "stats", NULL);
	cr_assert_eq(json_num(j, "fork.memory.split_extents"), 0, "the template's extents stay HUGE");
	cr_assert_eq(json_num(j, "fork.children_running"), 2);
	json_decref(j);

	/* a child forks again: its child is PATH.1.1, two forks from the original */
	j = thpvm_ctl_ok(s1, "fork", NULL);
	track(j);
	cr_assert_str_eq(str(j, "state"), "running");
	json_decref(j);
	wait_for_text(c11, "extents_written=");
	cr_assert(strstr(file(c11), "result fork_depth=2\n"), "%s", file(c11));
	j = thpvm_ctl_ok(s11, "stats", NULL);
	cr_assert_eq(json_num(j, "fork.depth"), 2);
	json_decref(j);

	/* everyone quits; the parent saw its children end */
	for (const char *p = s11;; p = p == s11 ? s1 : s2) {
		j = thpvm_ctl_ok(p, "quit", NULL);
		cr_assert_str_eq(str(j, "state"), "quitting");
		json_decref(j);
		wait_gone(p);
		if (p == s2)
			break;
	}
	for (unsigned i = 0; i < 500; i++) {
		j = thpvm_ctl_ok(sock, "stats", NULL);
		if (json_num(j, "fork.children_running") == 0)
			break;
		json_decref(j);
		j = NULL;
		sleep_ms(10);
	}
	cr_assert_not_null(j, "the parent's children were reaped");
	kids = json_object_get(json_object_get(j, "fork"), "children");
	cr_assert_eq(json_array_size(kids), 2);
	for (unsigned i = 0; i < 2; i++) {
		cr_assert_str_eq(json_string_value(json_object_get(json_array_get(kids, i), "state")), "exited");
		cr_assert_eq(json_integer_value(json_object_get(json_array_get(kids, i), "exit_status")), 0);
	}
	json_decref(j);
	j = thpvm_ctl_ok(sock, "quit", NULL);
	json_decref(j);
	cr_assert_eq(waitpid(vmm_pid, &st, 0), vmm_pid);
	vmm_pid = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "thpvm run: status 0x%x\n%s", st,
		  file(strcat(strcpy((char[160]){ 0 }, dir), "/parent.out")));
	cr_assert(access(sock, F_OK), "the socket is removed");
}

Test(fork_api, a_failed_fork_leaves_the_vm_running_and_no_child_behind)
{
	static const char *const extra[] = { "--arg", "then=wait", NULL };
	char arg[256], bad[160], out[128];
	struct thpvm_cmd *o;
	json_t *j;
	int st;

	REQUIRE_KVM();
	start_vmm(extra);
	/* child 2's socket cannot be created: the whole request fails, child 1 is gone too */
	snprintf(bad, sizeof(bad), "%s/nodir/b.sock", dir);
	snprintf(arg, sizeof(arg), "sockets=[\"%s/a.sock\", \"%s\"]", dir, bad);
	o = thpvm_ctl(sock, "fork", arg, NULL);
	cr_assert_eq(o->status, 1, "%s", o->out);
	cr_assert(strstr(o->err, "thpvm: failed: child 2 (pid "), "%s", o->err);
	cr_assert(strstr(o->err, "no child was kept"), "%s", o->err);
	cr_assert(access(strcat(strcpy((char[160]){ 0 }, dir), "/a.sock"), F_OK), "child 1's socket is gone");
	j = thpvm_ctl_ok(sock, "stats", NULL);
	cr_assert_str_eq(str(j, "state"), "running");
	cr_assert_eq(json_num(j, "fork.children_running"), 0);
	cr_assert_eq(json_num(j, "fork.results.child_failed"), 1);
	json_decref(j);

	o = thpvm_ctl(sock, "fork", "count=3", "sockets=[\"/tmp/x\"]", NULL);
	cr_assert_eq(o->status, 1);
	cr_assert(strstr(o->err, "thpvm: arg_value: argument 'sockets' of 'fork' has 1 paths for 3 children"), "%s",
		  o->err);
	o = thpvm_ctl(sock, "fork", "sockets=[\"/tmp/x\"]", "prefix=/tmp/y", NULL);
	cr_assert_eq(o->status, 1);
	cr_assert(strstr(o->err, "exclude each other"), "%s", o->err);
	o = thpvm_ctl(sock, "fork", "prefix=/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		NULL);
	cr_assert_eq(o->status, 1);
	cr_assert(strstr(o->err, "arg_value"), "%s", o->err);
	o = thpvm_ctl(sock, "resume", NULL);
	cr_assert_eq(o->status, 1);
	cr_assert(strstr(o->err, "bad_state: the VM is running, not paused"), "%s", o->err);

	/* console=inherit: the child prints into the parent's output */
	j = thpvm_ctl_ok(sock, "fork", "console=inherit", NULL);
	track(j);
	cr_assert(json_is_null(json_object_get(json_array_get(json_object_get(j, "children"), 0), "console")));
	json_decref(j);
	snprintf(out, sizeof(out), "%s/parent.out", dir);
	wait_for_text(out, "result fork_index=1\n");
	j = thpvm_ctl_ok(strcat(strcpy((char[160]){ 0 }, sock), ".1"), "quit", NULL);
	json_decref(j);
	j = thpvm_ctl_ok(sock, "quit", NULL);
	json_decref(j);
	cr_assert_eq(waitpid(vmm_pid, &st, 0), vmm_pid);
	vmm_pid = 0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x: %s", st, file(out));
}

Test(fork_api, a_socket_path_that_cannot_be_made_is_refused_before_anything_runs)
{
	char bad[160];

	REQUIRE_KVM();
	snprintf(bad, sizeof(bad), "%s/nodir/vm.sock", dir);
	{
		const char *args[] = { "run", "--payload", "forktest", "--ctl-sock", bad, NULL };
		struct thpvm_cmd *c = thpvm_cmd_run(args);
		const char *err = c->err;

		cr_assert_eq(c->status, 2, "status %d: %s", c->status, err);
		cr_assert(strstr(err, "thpvm: run: --ctl-sock "), "%s", err);
		cr_assert(strstr(err, "directory does not exist"), "%s", err);
		cr_assert(strchr(err, '\n') == err + strlen(err) - 1, "one line: %s", err);
	}
}
