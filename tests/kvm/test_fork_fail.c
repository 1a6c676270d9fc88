/* SPDX-License-Identifier: MIT */
/*
 * Forks that cannot be done, with real resource failures: fork() refused by
 * RLIMIT_NPROC (a process that dropped to an unprivileged uid, since root
 * ignores the limit), no file descriptor left (RLIMIT_NOFILE), a child that
 * fails while building its VM. Each is reported with its reason, no child
 * is left behind, and the VM carries on with its memory intact; once the
 * resource is back the same VM forks fine.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "fork_test.h"
#include "helpers.h"
#include "util/error.h"

#define NOBODY 65534

static void setup(void)
{
	ft_setup();
}

static void teardown(void)
{
	ft_teardown();
}

TestSuite(fork_fail, .init = setup, .fini = teardown, .timeout = 120);

static struct vm_fork_reply reply;

/* This test's worker (its own process) becomes nobody, keeping the VM it already has. */
static void drop_to_nobody(void)
{
	cr_assert_eq(chown(ft_dir(), NOBODY, NOBODY), 0);
	cr_assert_eq(setgroups(0, NULL), 0);
	cr_assert_eq(setresgid(NOBODY, NOBODY, NOBODY), 0);
	cr_assert_eq(setresuid(NOBODY, NOBODY, NOBODY), 0);
	/* a uid change makes the process undumpable: /proc/self would be root's, unreadable */
	cr_assert_eq(prctl(PR_SET_DUMPABLE, 1), 0);
}

static void parent_verifies(struct guest *g)
{
	payload_request_stop(g->payload);
	if (vm_run_state(g->vm) == VM_STATE_PAUSED)
		cr_assert_eq(vm_resume(g->vm), 0);
	cr_assert_eq(vm_wait(g->vm, test_ns(60), NULL), 0);
	cr_assert_eq(g->vm->exit.status, 0, "%s\n%s", g->vm->exit.message, guest_output(g));
}

Test(fork_fail, fork_refused_by_the_process_limit_is_reported_and_the_vm_loses_nothing)
{
	static const char *const args[] = { "mode=fork", "base_seed=9", NULL };
	struct vm_fork_child_status st[4];
	struct rlimit old, none;
	struct guest g;

	REQUIRE_KVM();
	if (geteuid() != 0)
		cr_skip_test("needs root to drop to an unprivileged uid (root ignores RLIMIT_NPROC)");
	guest_setup(&g, guest_mem(64 * MIB, THPVM_BACKING_THP), "memtest", 2, 2 * MIB, args);
	g.own_mem = true;
	ft_start(&g, 2);
	drop_to_nobody();
	cr_assert_eq(getrlimit(RLIMIT_NPROC, &old), 0);
	none = (struct rlimit){ .rlim_cur = 0, .rlim_max = old.rlim_max };
	cr_assert_eq(setrlimit(RLIMIT_NPROC, &none), 0);

	cr_assert_eq(ft_fork(&g, 2, false, NULL, &reply), -EAGAIN, "%s", reply.message);
	cr_assert_eq(reply.result, VM_FORK_NO_PROCESSES);
	cr_assert(strstr(reply.message, "fork() of child 1 of 2: Resource temporarily unavailable"), "%s",
		  reply.message);
	cr_assert(strstr(reply.message, "RLIMIT_NPROC"), "the reason names the limit: %s", reply.message);
	cr_assert_eq(reply.nr_children, 0);
	cr_assert_eq(vm_fork_children(g.vm, st, 4), 0, "no child is kept");
	cr_assert_not(vm_run_state(g.vm) == VM_STATE_PAUSED, "the VM runs on");

	/* the limit back: the same VM forks (the children as nobody, on the parent's /dev/kvm) */
	cr_assert_eq(setrlimit(RLIMIT_NPROC, &old), 0);
	cr_assert_eq(ft_fork(&g, 2, false, NULL, &reply), 0, "%s", reply.message);
	cr_assert_eq(ft_wait_children(&g), 2, "%s", ft_why());
	for (unsigned i = 1; i <= 2; i++)
		cr_assert_eq(ft_value(i, "pages_bad"), 0);
	parent_verifies(&g);
	cr_assert_eq(guest_result(&g, "pages_bad"), 0, "the parent's memory is what it wrote");
	guest_teardown(&g);
}

Test(fork_fail, no_file_descriptor_left_is_reported_and_the_vm_carries_on)
{
	static const char *const args[] = { "mode=latency", NULL };
	struct rlimit old, tight;
	struct guest g;
	int lowest;

	REQUIRE_KVM();
	guest_setup(&g, NULL, "forktest", 1, 2 * MIB, args);
	ft_start(&g, 1);
	/* every descriptor below the lowest free one is taken: a limit there leaves none */
	lowest = open("/dev/null", O_RDONLY);
	cr_assert_geq(lowest, 0);
	close(lowest);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	tight = (struct rlimit){ .rlim_cur = (rlim_t)lowest, .rlim_max = old.rlim_max };
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &tight), 0);
	cr_assert_eq(ft_fork(&g, 1, true, NULL, &reply), -EMFILE);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	cr_assert_eq(reply.result, VM_FORK_NO_DESCRIPTORS);
	cr_assert(strstr(reply.message, "Too many open files"), "%s", reply.message);
	cr_assert_not(vm_run_state(g.vm) == VM_STATE_PAUSED, "a failed template fork leaves the VM running, as it was");

	cr_assert_eq(ft_fork(&g, 1, true, NULL, &reply), 0, "%s", reply.message);
	cr_assert_eq(ft_wait_children(&g), 1, "%s", ft_why());
	parent_verifies(&g);
	guest_teardown(&g);
}

/* Child 2 of each request fails to build its VM: the hook is the last step before its vCPUs run. */
static int fail_in_child_2(void *arg, struct vm *vm, unsigned index)
{
	(void)arg;
	(void)vm;
	return index == 2 ? vmm_fail(-ENOMEM, "no memory for its devices (test)") : 0;
}

Test(fork_fail, a_child_that_cannot_build_its_vm_fails_the_whole_request)
{
	static const char *const args[] = { "mode=latency", "then=wait", NULL };
	struct vm_hooks h = { .name = "test", .fork_child = fail_in_child_2 };
	struct vm_fork_child_status st[4];
	struct guest g;
	pid_t pids[3];

	REQUIRE_KVM();
	guest_setup(&g, NULL, "forktest", 1, 2 * MIB, args);
	cr_assert_eq(vm_add_hooks(g.vm, &h), 0);
	ft_start(&g, 1);
	cr_assert_eq(ft_fork(&g, 3, true, NULL, &reply), -EAGAIN, "%s", reply.message);
	cr_assert_eq(reply.result, VM_FORK_CHILD_NO_RESOURCES);
	cr_assert(strstr(reply.message, "child 2 (pid "), "%s", reply.message);
	cr_assert(strstr(reply.message, "fork_child hook: test: no memory for its devices (test)"), "%s", reply.message);
	for (unsigned i = 0; i < 3; i++)
		pids[i] = reply.children[i].pid;
	for (unsigned i = 0; i < 3; i++)
		cr_assert(kill(pids[i], 0) && errno == ESRCH, "child %u (pid %d) was killed and reaped", i + 1,
			  (int)pids[i]);
	cr_assert_eq(vm_fork_children(g.vm, st, 4), 0);
	cr_assert_not(vm_run_state(g.vm) == VM_STATE_PAUSED);
	/* indices are not used up by a failed request */
	cr_assert_eq(reply.children[0].index, 1);
	parent_verifies(&g);
	guest_teardown(&g);
}

/* Child 2 of each request dies (SIGKILL) while it builds its VM: a kill from outside at the worst moment. */
static int killed_in_child_2(void *arg, struct vm *vm, unsigned index)
{
	(void)arg;
	(void)vm;
	if (index == 2)
		raise(SIGKILL);
	return 0;
}

Test(fork_fail, a_child_killed_mid_fork_fails_the_request_without_a_hang_or_a_leftover)
{
	static const char *const args[] = { "mode=fork", "base_seed=9", NULL };
	struct vm_hooks h = { .name = "test", .fork_child = killed_in_child_2 };
	struct vm_fork_child_status st[4];
	struct guest g;

	REQUIRE_KVM();
	guest_setup(&g, guest_mem(64 * MIB, THPVM_BACKING_THP), "memtest", 2, 2 * MIB, args);
	g.own_mem = true;
	cr_assert_eq(vm_add_hooks(g.vm, &h), 0);
	ft_start(&g, 2);
	cr_assert_neq(ft_fork(&g, 3, true, NULL, &reply), 0, "a request whose child was killed cannot succeed");
	cr_assert(strstr(reply.message, "child 2 (pid "), "the reason names the child: %s", reply.message);
	cr_assert(strstr(reply.message, "ended by signal 9 (Killed) before its VM ran"), "and how it ended: %s",
		  reply.message);
	for (unsigned i = 0; i < 3; i++)
		cr_assert(kill(reply.children[i].pid, 0) && errno == ESRCH, "child %u (pid %d) was killed and reaped",
			  i + 1, (int)reply.children[i].pid);
	cr_assert_eq(vm_fork_children(g.vm, st, 4), 0);
	cr_assert_not(vm_run_state(g.vm) == VM_STATE_PAUSED, "the VM runs on");
	parent_verifies(&g);
	cr_assert_eq(guest_result(&g, "pages_bad"), 0, "the parent's memory is what it wrote, page by page");
	cr_assert_gt(guest_result(&g, "pages_checked"), 0);
	guest_teardown(&g);
}
