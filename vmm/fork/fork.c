/* SPDX-License-Identifier: MIT */
/*
 * vm_fork(): prepare, pause, capture, fork() each child, let the subsystems
 * go on, wait for every child to report its new VM running, then resume or
 * stay paused as a template. The child side is child_main(): drop the
 * parent's KVM objects, build a new VM over the inherited copy-on-write
 * RAM, restore, run the fork_child hooks, release the vCPUs, tell the
 * parent through a pipe (with its timings, or why it failed).
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"
#include "state/snapshot.h"
#include "util/error.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"
#include "state/tsc.h"
#include "util/clock.h"

THPVM_RESULT_LOOKUPS(, vm_fork_result, enum vm_fork_result, VM_FORK_RESULTS, VM_FORK_NR_RESULTS, "VM_FORK_UNKNOWN",
		     EIO)

const char *vm_fork_result_code(enum vm_fork_result r, char *buf, size_t len)
{
	const char *n = vm_fork_result_name(r) + strlen("VM_FORK_");
	size_t i;

	for (i = 0; i + 1 < len && n[i]; i++)
		buf[i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] - 'A' + 'a' : n[i]);
	if (len)
		buf[i] = '\0';
	return buf;
}

bool vm_fork_result_is_resources(enum vm_fork_result r)
{
	return r == VM_FORK_NO_PROCESSES || r == VM_FORK_NO_MEMORY || r == VM_FORK_NO_DESCRIPTORS ||
	       r == VM_FORK_CHILD_NO_RESOURCES;
}

/* ---- the per-VM state, as the VM's "fork" hooks ---- */

static json_t *stats_hook(void *arg)
{
	struct fork_state *fs = arg;

	return vm_fork_stats_json(fs->vm);
}

static void destroy_hook(void *arg)
{
	struct fork_state *fs = arg;

	fork_children_stop(fs);
	pthread_cond_destroy(&fs->cond);
	pthread_mutex_destroy(&fs->lock);
	free(fs);
}

static struct fork_state *find_state(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_hooks; i++)
		if (!strcmp(vm->hooks[i].name, "fork"))
			return vm->hooks[i].arg;
	return NULL;
}

int vm_fork_attach(struct vm *vm)
{
	struct fork_state *fs;
	struct vm_hooks h = { .name = "fork", .stats = stats_hook, .destroy = destroy_hook };
	int ret;

	if (find_state(vm))
		return 0;
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		return vmm_fail(-ENOMEM, "fork: out of memory");
	fs->vm = vm;
	fs->wake_fd = -1;
	fs->next_index = 1;
	pthread_mutex_init(&fs->lock, NULL);
	pthread_cond_init(&fs->cond, NULL);
	h.arg = fs;
	if ((ret = vm_add_hooks(vm, &h))) {
		pthread_cond_destroy(&fs->cond);
		pthread_mutex_destroy(&fs->lock);
		free(fs);
	}
	return ret;
}

struct fork_state *fork_state_get(struct vm *vm)
{
	return vm_fork_attach(vm) ? NULL : find_state(vm);
}

const struct vm_fork_identity *vm_fork_identity(struct vm *vm)
{
	struct fork_state *fs = find_state(vm);

	return fs ? &fs->id : NULL;
}

/* ---- the parent ---- */

static int fail(struct fork_state *fs, struct vm_fork_reply *rep, enum vm_fork_result r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(struct fork_state *fs, struct vm_fork_reply *rep, enum vm_fork_result r, const char *fmt, ...)
{
	va_list ap;

	rep->result = r;
	va_start(ap, fmt);
	vsnprintf(rep->message, sizeof(rep->message), fmt, ap);
	va_end(ap);
	if (fs) {
		pthread_mutex_lock(&fs->lock);
		fs->results[r]++;
		snprintf(fs->last_error, sizeof(fs->last_error), "%s", rep->message);
		pthread_mutex_unlock(&fs->lock);
	}
	vmm_fail(-vm_fork_result_errno(r), "%s", rep->message);
	return -vm_fork_result_errno(r);
}

static void hooks_parent(struct vm *vm, unsigned upto)
{
	for (unsigned h = 0; h < upto && h < vm->nr_hooks; h++)
		if (vm->hooks[h].fork_parent)
			vm->hooks[h].fork_parent(vm->hooks[h].arg);
}

/* Children made by a request that then failed: killed and reaped here (the reaper never saw them). */
static void kill_batch(struct fork_batch *b, unsigned made)
{
	for (unsigned i = 0; i < made; i++) {
		const char *sock = b->rep->children[i].socket;
		struct stat st;

		kill(b->rep->children[i].pid, SIGKILL);
		waitpid(b->rep->children[i].pid, NULL, 0);
		/* its socket, if it got that far, would be left behind (its console stays: it says why) */
		if (sock[0] && !lstat(sock, &st) && S_ISSOCK(st.st_mode))
			unlink(sock);
		close(b->pidfds[i]);
		b->pidfds[i] = -1;
	}
}

static void close_pipes(struct fork_batch *b)
{
	for (unsigned i = 0; i < b->req->count; i++)
		for (unsigned k = 0; k < 2; k++)
			if (b->pipes[i][k] >= 0) {
				close(b->pipes[i][k]);
				b->pipes[i][k] = -1;
			}
}

static const char *fork_errno_hint(int err, char *buf, size_t len)
{
	if (err == EAGAIN)
		snprintf(buf, len, " (process limit: RLIMIT_NPROC, pid_max or the cgroup's pids.max)");
	else if (err == ENOMEM)
		snprintf(buf, len, " (memory, or mappings: vm.max_map_count)");
	else
		buf[0] = '\0';
	return buf;
}

/* Reads every child's report. Returns the index of a failed child, or -1 when all run. */
static int wait_ready(struct fork_batch *b, unsigned timeout_ms, struct ready_msg *bad)
{
	unsigned n = b->req->count, left = n;
	uint64_t end = util_mono_ns() + (uint64_t)timeout_ms * 1000000ULL;
	struct pollfd *p = calloc(n, sizeof(*p));
	int failed = -1;

	if (!p) {
		bad->err = -ENOMEM;
		bad->result = VM_FORK_NO_MEMORY;
		snprintf(bad->message, sizeof(bad->message), "out of memory waiting for the children");
		return 0;
	}
	for (unsigned i = 0; i < n; i++)
		p[i] = (struct pollfd){ .fd = b->pipes[i][0], .events = POLLIN };
	while (left && failed < 0) {
		uint64_t now = util_mono_ns();
		int r;

		if (now >= end) {
			for (unsigned i = 0; i < n; i++)
				if (p[i].fd >= 0) {
					failed = (int)i;
					break;
				}
			bad->err = -ETIMEDOUT;
			bad->result = VM_FORK_CHILD_TIMEOUT;
			snprintf(bad->message, sizeof(bad->message), "no report within %u ms", timeout_ms);
			break;
		}
		r = poll(p, n, (int)((end - now) / 1000000ULL) + 1);
		if (r < 0 && errno != EINTR)
			break;
		for (unsigned i = 0; i < n && failed < 0; i++) {
			struct ready_msg m;
			ssize_t got;

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			got = read(p[i].fd, &m, sizeof(m));
			if (got == (ssize_t)sizeof(m) && m.err == 0) {
				b->rep->children[i].timing = m.timing;
			} else if (got == (ssize_t)sizeof(m)) {
				*bad = m;
				bad->message[sizeof(bad->message) - 1] = '\0';
				failed = (int)i;
			} else {
				int st = 0;

				/*
				 * Ended without a word: say how. Its pipe closes as it
				 * exits, a moment before its status can be collected
				 * (a SIGKILL mid-fork was reported without its signal):
				 * wait for the status, up to a second.
				 */
				for (unsigned k = 0; k < 200 && !waitpid(b->rep->children[i].pid, &st, WNOHANG); k++)
					usleep(5000);
				bad->err = -EIO;
				bad->result = VM_FORK_CHILD_FAILED;
				if (WIFSIGNALED(st))
					snprintf(bad->message, sizeof(bad->message), "ended by signal %d (%s) before its VM ran",
						 WTERMSIG(st), strsignal(WTERMSIG(st)));
				else
					snprintf(bad->message, sizeof(bad->message), "ended before its VM ran");
				failed = (int)i;
			}
			p[i].fd = -1;
			left--;
		}
	}
	free(p);
	return failed;
}

static void record_success(struct fork_state *fs, struct vm_fork_reply *rep)
{
	pthread_mutex_lock(&fs->lock);
	fs->results[VM_FORK_OK]++;
	fs->nr_children_made += rep->nr_children;
	fs->next_index += rep->nr_children;
	fs->has_last = true;
	fs->last_count = rep->nr_children;
	fs->last = rep->timing;
	fs->last_child = rep->children[0].timing;
	pthread_mutex_unlock(&fs->lock);
}

/* Why the VM cannot be forked now, or NULL. */
static const char *bad_state(struct vm *vm, char *buf, size_t len)
{
	const char *why = NULL;

	pthread_mutex_lock(&vm->lock);
	if (vm_run_state_locked(vm) == VM_STATE_STOPPED) {
		why = "the VM has stopped or is stopping";
	} else {
		for (unsigned i = 0; i < vm->nr_vcpus; i++)
			if (vm->vcpus[i]->finished) {
				snprintf(buf, len, "vCPU %u has already ended (its payload called CPU_EXIT): "
					 "a VM is forked with all its vCPUs", i);
				why = buf;
				break;
			}
	}
	pthread_mutex_unlock(&vm->lock);
	return why;
}

int vm_fork(struct vm *vm, const struct vm_fork_request *req, struct vm_fork_reply *rep)
{
	struct fork_batch b = { .vm = vm, .req = req, .rep = rep };
	struct ready_msg bad = { 0 };
	char buf[256], hint[128];
	bool was_paused, started, paused_here = false, parent_done = false;
	enum vm_run_state st;
	unsigned made = 0, prepared = 0;
	uint64_t t;
	int ret = 0, err = 0, failed;

	b.cmd_ns = req->cmd_ns ? req->cmd_ns : util_mono_ns();
	b.cmd_tsc = req->cmd_host_tsc ? req->cmd_host_tsc : host_rdtsc();
	memset(rep, 0, sizeof(*rep));
	rep->timing.cmd_host_tsc = b.cmd_tsc;
	b.fs = fork_state_get(vm);
	if (!b.fs)
		return fail(NULL, rep, VM_FORK_NO_MEMORY, "%s", vmm_last_error());
	pthread_mutex_lock(&b.fs->lock);
	b.fs->nr_requests++;
	pthread_mutex_unlock(&b.fs->lock);
	if (!req->count || req->count > VM_FORK_MAX_COUNT)
		return fail(b.fs, rep, VM_FORK_BAD_REQUEST, "fork count %u: expected 1..%d", req->count,
			    VM_FORK_MAX_COUNT);
	{
		const char *why = bad_state(vm, buf, sizeof(buf));

		if (why)
			return fail(b.fs, rep, VM_FORK_BAD_STATE, "cannot fork: %s", why);
	}
	for (unsigned i = 0; i < req->count; i++) {
		rep->children[i].index = b.fs->next_index + i;
		if (req->ops && req->ops->describe && (ret = req->ops->describe(req->ops->arg, i, &rep->children[i])))
			return fail(b.fs, rep, VM_FORK_BAD_REQUEST, "%s", vmm_last_error());
	}

	/* subsystems first: one may pause the VM itself while it quiesces */
	t = util_mono_ns();
	for (; prepared < vm->nr_hooks; prepared++) {
		struct vm_hooks *h = &vm->hooks[prepared];

		vmm_clear_error();
		if (h->fork_prepare && (ret = h->fork_prepare(h->arg))) {
			char what[sizeof(rep->message)];

			snprintf(what, sizeof(what), "%s", vmm_last_error()[0] ? vmm_last_error() : strerror(-ret));
			hooks_parent(vm, prepared);
			return fail(b.fs, rep, VM_FORK_PREPARE_FAILED, "%s could not prepare for the fork: %s", h->name,
				    what);
		}
	}
	rep->timing.prepare_ns = util_mono_ns() - t;

	st = vm_run_state(vm);
	was_paused = st == VM_STATE_PAUSED;
	started = st == VM_STATE_RUNNING || st == VM_STATE_PAUSED;
	t = util_mono_ns();
	if (started && !was_paused) {
		if ((ret = vm_pause(vm))) {
			ret = fail(b.fs, rep, VM_FORK_BAD_STATE, "cannot pause the VM: %s", vmm_last_error());
			goto undo_pause;
		}
		paused_here = true;
	}
	rep->timing.pause_ns = util_mono_ns() - t;
	{
		const char *why = bad_state(vm, buf, sizeof(buf));

		if (why) {
			ret = fail(b.fs, rep, VM_FORK_BAD_STATE, "cannot fork: %s", why);
			goto undo_pause;
		}
	}

	t = util_mono_ns();
	if ((ret = vm_snapshot_capture(vm, &b.snap))) {
		ret = fail(b.fs, rep, VM_FORK_CAPTURE_FAILED, "capturing the VM's state: %s", vmm_last_error());
		goto undo_pause;
	}
	rep->timing.capture_ns = util_mono_ns() - t;
	rep->timing.complete_io_ns = b.snap.complete_io_ns;
	rep->timing.capture_vcpus_ns = b.snap.vcpus_ns;
	rep->timing.capture_vm_ns = b.snap.vm_ns;
	rep->timing.capture_devices_ns = b.snap.devices_ns;
	rep->timing.capture_host_tsc = b.snap.host_tsc;

	b.pipes = malloc(req->count * sizeof(*b.pipes));
	b.pidfds = malloc(req->count * sizeof(*b.pidfds));
	if (!b.pipes || !b.pidfds) {
		ret = fail(b.fs, rep, VM_FORK_NO_MEMORY, "out of memory for %u children", req->count);
		goto undo_capture;
	}
	for (unsigned i = 0; i < req->count; i++)
		b.pipes[i][0] = b.pipes[i][1] = b.pidfds[i] = -1;
	for (unsigned i = 0; i < req->count; i++) {
		if (pipe2(b.pipes[i], O_CLOEXEC)) {
			err = errno;
			ret = fail(b.fs, rep, err == EMFILE || err == ENFILE ? VM_FORK_NO_DESCRIPTORS : VM_FORK_NO_MEMORY,
				   "a pipe to child %u: %s", i + 1, strerror(err));
			goto undo_pipes;
		}
	}

	/* buffered output would be written once by each child as well */
	fflush(NULL);
	b.parent_pid = getpid();
	t = util_mono_ns();
	for (; made < req->count; made++) {
		uint64_t t1 = util_mono_ns(), d;
		pid_t pid = fork();

		if (pid == 0)
			return fork_child_main(&b, made);
		if (pid < 0) {
			err = errno;
			break;
		}
		d = util_mono_ns() - t1;
		if (d > rep->timing.fork_max_ns)
			rep->timing.fork_max_ns = d;
		rep->children[made].pid = pid;
		b.pidfds[made] = (int)syscall(SYS_pidfd_open, pid, 0);
		if (b.pidfds[made] < 0) {
			err = errno;
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			break;
		}
		close(b.pipes[made][1]);
		b.pipes[made][1] = -1;
	}
	rep->timing.fork_ns = util_mono_ns() - t;
	hooks_parent(vm, vm->nr_hooks);
	parent_done = true;
	if (made < req->count) {
		enum vm_fork_result r = err == EAGAIN ? VM_FORK_NO_PROCESSES
				     : err == ENOMEM ? VM_FORK_NO_MEMORY
				     : err == EMFILE || err == ENFILE ? VM_FORK_NO_DESCRIPTORS
								      : VM_FORK_CHILD_FAILED;

		kill_batch(&b, made);
		ret = fail(b.fs, rep, r, "fork() of child %u of %u: %s%s; the VM carries on, no child was kept", made + 1,
			   req->count, strerror(err), fork_errno_hint(err, hint, sizeof(hint)));
		goto undo_pipes;
	}

	t = util_mono_ns();
	failed = wait_ready(&b, req->ready_timeout_ms ? req->ready_timeout_ms : 30000, &bad);
	rep->timing.ready_ns = util_mono_ns() - t;
	if (failed >= 0) {
		enum vm_fork_result r = bad.result > VM_FORK_OK && bad.result < VM_FORK_NR_RESULTS ? bad.result
												    : VM_FORK_CHILD_FAILED;

		kill_batch(&b, made);
		ret = fail(b.fs, rep, r, "child %u (pid %d): %s; the VM carries on, no child was kept",
			   rep->children[failed].index, (int)rep->children[failed].pid, bad.message);
		goto undo_pipes;
	}
	rep->nr_children = made;
	close_pipes(&b);
	if ((ret = fork_children_add(b.fs, rep, b.pidfds, util_mono_ns()))) {
		/* the children run; only their reaping is in doubt */
		for (unsigned i = 0; i < made; i++)
			close(b.pidfds[i]);
	}
	record_success(b.fs, rep);

	t = util_mono_ns();
	if (started && !req->template && vm_run_state(vm) == VM_STATE_PAUSED)
		vm_resume(vm);
	rep->timing.resume_ns = util_mono_ns() - t;
	rep->paused = vm_run_state(vm) == VM_STATE_PAUSED;
	rep->timing.total_ns = util_mono_ns() - b.cmd_ns;
	pthread_mutex_lock(&b.fs->lock);
	b.fs->last = rep->timing;
	pthread_mutex_unlock(&b.fs->lock);
	vm_snapshot_free(&b.snap);
	free(b.pipes);
	free(b.pidfds);
	return 0;

undo_pipes:
	close_pipes(&b);
	for (unsigned i = 0; b.pidfds && i < req->count; i++)
		if (b.pidfds[i] >= 0)
			close(b.pidfds[i]);
undo_capture:
	free(b.pipes);
	free(b.pidfds);
	vm_snapshot_free(&b.snap);
undo_pause:
	if (!parent_done)
		hooks_parent(vm, vm->nr_hooks);
	if (paused_here)
		vm_resume(vm);
	rep->paused = vm_run_state(vm) == VM_STATE_PAUSED;
	return ret;
}
