/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include "fork_test.h"
#include "util/error.h"
#include "helpers.h"
#include "kvm/vcpu.h"

static char dir[64];
/*
 * The children forked in this test, by pid, for the teardown. Not the
 * guest: it lives in the test's stack frame, dead by the time .fini runs
 * (a failed assertion leaves it too), and its VM may be freed. Reading it
 * there made every fork test "crash during its teardown" in the lab, where
 * Criterion had reused that stack.
 */
static pid_t child_pids[256];
static unsigned nr_child_pids;
/* why the last ft_wait_children() counted a child as failed, for the assertion's message */
static char why[2048];

void ft_setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/thpvm-fork-XXXXXX");
	cr_assert(mkdtemp(dir));
	nr_child_pids = 0;
}

/* Whether pid is still a child of this process (not reaped, not reused by another). */
static bool still_our_child(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 1, " %*c %d", &ppid);
	fclose(f);
	return ppid == (int)getpid();
}

void ft_teardown(void)
{
	char cmd[128];

	for (unsigned i = 0; i < nr_child_pids; i++)
		if (still_our_child(child_pids[i])) {
			kill(child_pids[i], SIGKILL);
			waitpid(child_pids[i], NULL, 0);
		}
	nr_child_pids = 0;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd)) {
		/* a report left behind in /tmp is not a test failure */
	}
}

const char *ft_dir(void)
{
	return dir;
}

void ft_start(struct guest *g, unsigned nr_waiting)
{
	struct timespec ts = { 0, 1000000 };

	cr_assert_eq(vm_start(g->vm), 0, "%s", vmm_last_error());
	for (unsigned i = 0; i < 20000 && payload_fork_waiting(g->payload) < nr_waiting; i++) {
		cr_assert_eq(g->vm->exit.reason, VM_STOP_NONE, "the guest ended before waiting: %s\n%s",
			     g->vm->exit.message, guest_output(g));
		nanosleep(&ts, NULL);
	}
	cr_assert_eq(payload_fork_waiting(g->payload), nr_waiting, "the guest never waited for a fork:\n%s",
		     guest_output(g));
}

struct ft_ctx {
	struct guest *g;
	ft_report_fn report;
};

/* In the child: its VM runs to the end, then the report, then exit with the guest's status. */
static void child_run(void *arg, struct vm *vm, const struct vm_fork_child *c)
{
	struct ft_ctx *x = arg;
	char path[128];
	FILE *f;

	vm_wait(vm, test_ns(60), NULL);
	snprintf(path, sizeof(path), "%s/child.%u", dir, c->index);
	f = fopen(path, "w");
	if (f) {
		const char *out = guest_output(x->g);
		size_t len = strlen(out);

		fprintf(f, "status=%d\nreason=%d\nmessage=%s\n", vm->exit.status, (int)vm->exit.reason,
			vm->exit.message);
		/* where each vCPU was when the VM ended: a hang says where it hung */
		fprintf(f, "vcpus=fork_waiting %u;", payload_fork_waiting(x->g->payload));
		for (unsigned i = 0; i < vm->nr_vcpus; i++) {
			struct kvm_regs r = { 0 };

			ioctl(vm->vcpus[i]->fd, KVM_GET_REGS, &r);
			fprintf(f, " vcpu %u: finished %d, %llu exits, last %u, rip %#llx;", i, vm->vcpus[i]->finished,
				(unsigned long long)vm->vcpus[i]->nr_exits, vm->vcpus[i]->run->exit_reason,
				(unsigned long long)r.rip);
		}
		fputc('\n', f);
		/* the console's last 400 bytes, so a failure in the lab says what the guest printed */
		fputs("output=", f);
		for (const char *ch = len > 400 ? out + len - 400 : out; *ch; ch++)
			fputs(*ch == '\n' ? " | " : (char[2]){ *ch, 0 }, f);
		fputc('\n', f);
		for (unsigned i = 0; i < payload_nr_results(x->g->payload); i++) {
			const struct payload_result *r = payload_result_at(x->g->payload, i);

			fprintf(f, "%s=%llu\n", r->name, (unsigned long long)r->value);
		}
		if (x->report)
			x->report(x->g, f);
		fclose(f);
	}
	/* not exit(): this process is a copy of a test worker, whose exit handlers are not ours */
	_exit(vm->exit.reason == VM_STOP_GUEST_EXIT ? vm->exit.status : 100 + (int)vm->exit.reason);
}

int ft_fork(struct guest *g, unsigned count, bool template, ft_report_fn report, struct vm_fork_reply *rep)
{
	static struct ft_ctx x;
	static const struct vm_fork_ops ops = { .child_run = child_run, .arg = &x };
	struct vm_fork_request req = { .count = count, .template = template, .ops = &ops };

	int ret;

	x.g = g;
	x.report = report;
	ret = vm_fork(g->vm, &req, rep);
	for (unsigned i = 0; !ret && i < rep->nr_children; i++)
		if (nr_child_pids < sizeof(child_pids) / sizeof(child_pids[0]))
			child_pids[nr_child_pids++] = rep->children[i].pid;
	return ret;
}

/* The line child index reported for key, without the newline, in buf ("" when none). */
static const char *report_line(unsigned index, const char *key, char *buf, size_t size)
{
	char path[128], line[2048];
	size_t klen = strlen(key);
	FILE *f;

	buf[0] = 0;
	snprintf(path, sizeof(path), "%s/child.%u", dir, index);
	f = fopen(path, "r");
	if (!f)
		return buf;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == '=') {
			line[strcspn(line, "\n")] = 0;
			snprintf(buf, size, "%s", line + klen + 1);
		}
	fclose(f);
	return buf;
}

unsigned ft_wait_children(struct guest *g)
{
	struct vm_fork_child_status st[64];
	unsigned n, ok = 0;
	size_t at = 0;

	why[0] = 0;
	cr_assert_eq(vm_fork_wait_children(g->vm, test_ms(120000)), 0, "children still running after %.0f s",
		     test_secs(120));
	n = vm_fork_children(g->vm, st, 64);
	for (unsigned i = 0; i < n; i++) {
		bool good = st[i].exited && WIFEXITED(st[i].wait_status) && WEXITSTATUS(st[i].wait_status) == 0;
		uint64_t status = 0, reason = 0;
		char msg[1024];

		ok += good;
		if (good || at >= sizeof(why) - 1)
			continue;
		/* why, for the failure message: the child's own report, when it wrote one */
		if (ft_has(st[i].index, "status", &status) && ft_has(st[i].index, "reason", &reason))
			at += snprintf(why + at, sizeof(why) - at,
				       "%schild %u (pid %d): wait status 0x%x; guest status %llu, stop reason %llu: %s",
				       at ? "; " : "", st[i].index, (int)st[i].pid, st[i].wait_status,
				       (unsigned long long)status, (unsigned long long)reason,
				       report_line(st[i].index, "message", msg, sizeof(msg)));
		else
			at += snprintf(why + at, sizeof(why) - at, "%schild %u (pid %d): wait status 0x%x, exited %d, no report",
				       at ? "; " : "", st[i].index, (int)st[i].pid, st[i].wait_status, st[i].exited);
		if (at < sizeof(why) && *report_line(st[i].index, "vcpus", msg, sizeof(msg)))
			at += snprintf(why + at, sizeof(why) - at, " [%s]", msg);
		if (at < sizeof(why) && *report_line(st[i].index, "output", msg, sizeof(msg)))
			at += snprintf(why + at, sizeof(why) - at, " [console: ...%s]", msg);
	}
	if (*why)
		fprintf(stderr, "%s\n", why);
	return ok;
}

const char *ft_why(void)
{
	return *why ? why : "every child exited with status 0";
}

bool ft_has(unsigned index, const char *key, uint64_t *v)
{
	char line[64];

	if (!*report_line(index, key, line, sizeof(line)))
		return false;
	*v = strtoull(line, NULL, 0);
	return true;
}

uint64_t ft_value(unsigned index, const char *key)
{
	uint64_t v = 0;

	cr_assert(ft_has(index, key, &v), "child %u did not report %s", index, key);
	return v;
}

uint64_t ft_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}
