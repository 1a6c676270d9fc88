/* SPDX-License-Identifier: MIT */
/*
 * A forked child, on the thread that forked (its only one): forget the
 * parent's children and locks, build a new KVM VM over the inherited
 * copy-on-write RAM, restore the captured state, run the fork_child hooks,
 * release the vCPUs, tell the parent (docs/fork.md, "The flow").
 */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"
#include "util/error.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"
#include "state/tsc.h"
#include "util/clock.h"

static enum vm_fork_result child_result_of(int err)
{
	switch (-err) {
	case ENOMEM: case EAGAIN: case EMFILE: case ENFILE: case ENOSPC:
		return VM_FORK_CHILD_NO_RESOURCES;
	default:
		return VM_FORK_CHILD_FAILED;
	}
}

static void __attribute__((noreturn)) child_fail(int fd, int err, const char *what)
{
	struct ready_msg m = { .err = err, .result = child_result_of(err) };

	snprintf(m.message, sizeof(m.message), "%s: %s", what, vmm_last_error());
	if (write(fd, &m, sizeof(m)) < 0) {
		/* the parent sees EOF and reports the child's exit instead */
	}
	_exit(1);
}

int fork_child_main(struct fork_batch *b, unsigned nth)
{
	struct vm *vm = b->vm;
	struct vm_fork_child *c = &b->rep->children[nth];
	struct vm_fork_child_timing *t = &c->timing;
	const struct vm_fork_ops *ops = b->req->ops;
	int fd = b->pipes[nth][1], ret;
	unsigned nsteps = vm_kvm_nr_steps();
	uint64_t t0;

	t->started = util_mono_ns() - b->cmd_ns;
	c->pid = getpid();
	for (unsigned j = 0; j < b->req->count; j++) {
		if (b->pipes[j][0] >= 0)
			close(b->pipes[j][0]);
		if (j != nth && b->pipes[j][1] >= 0)
			close(b->pipes[j][1]);
	}
	for (unsigned j = 0; j < nth; j++)
		close(b->pidfds[j]);
	/* its own process group: a terminal's ^C for the parent leaves the children running */
	setpgid(0, 0);

	fork_children_forget(b->fs);
	b->fs->id = (struct vm_fork_identity){
		.index = c->index, .depth = b->fs->id.depth + 1, .parent_pid = b->parent_pid,
		.cmd_host_tsc = b->cmd_tsc,
	};
	b->fs->next_index = 1;
	b->fs->nr_requests = b->fs->nr_children_made = 0;
	memset(b->fs->results, 0, sizeof(b->fs->results));
	b->fs->last_error[0] = '\0';
	b->fs->has_last = false;
	vm_reset_after_fork(vm);

	t0 = util_mono_ns();
	if (ops && ops->child_init && (ret = ops->child_init(ops->arg, vm, c)))
		child_fail(fd, ret, "child setup");
	t->init_ns = util_mono_ns() - t0;

	t0 = util_mono_ns();
	/* the parent's /dev/kvm serves the child's new VM (no open, and no right to open needed) */
	vm->kvm_fd_next = fcntl(vm->kvm_fd, F_DUPFD_CLOEXEC, 0);
	vm_kvm_destroy(vm);
	t->destroy_ns = util_mono_ns() - t0;
	t0 = util_mono_ns();
	if ((ret = vm_kvm_create(vm)))
		child_fail(fd, ret, "new KVM VM");
	t->create_ns = util_mono_ns() - t0;
	for (unsigned s = 0; s < nsteps; s++) {
		if (!strcmp(vm_kvm_step_name(s), "register guest memory"))
			t->memslots_ns = vm->step_ns[s];
		else if (!strcmp(vm_kvm_step_name(s), "create vCPUs"))
			t->vcpus_ns = vm->step_ns[s];
	}

	t0 = util_mono_ns();
	if ((ret = vm_snapshot_restore(vm, &b->snap)))
		child_fail(fd, ret, "restoring the state");
	b->fs->id.tsc_offset = b->snap.tsc_offsets[0];
	t->restore_ns = util_mono_ns() - t0;

	t0 = util_mono_ns();
	b->fs->id.resume_host_tsc = host_rdtsc();
	for (unsigned h = 0; h < vm->nr_hooks; h++) {
		if (!vm->hooks[h].fork_child)
			continue;
		vmm_clear_error();
		if ((ret = vm->hooks[h].fork_child(vm->hooks[h].arg, vm, c->index))) {
			if (!vmm_last_error()[0])
				vmm_fail(ret, "%s", strerror(-ret));
			vmm_error_prefix("%s", vm->hooks[h].name);
			child_fail(fd, ret, "fork_child hook");
		}
	}
	/* the parent stopped the devices' threads before capturing them */
	iobus_start_all(vm->bus);
	t->hooks_ns = util_mono_ns() - t0;

	t->resume_host_tsc = b->fs->id.resume_host_tsc;
	t0 = util_mono_ns();
	if ((ret = vm_start(vm)))
		child_fail(fd, ret, "starting the vCPUs");
	t->start_ns = util_mono_ns() - t0;
	t0 = util_mono_ns();
	if (ops && ops->child_open && (ret = ops->child_open(ops->arg, vm, c)))
		child_fail(fd, ret, "child setup");
	t->open_ns = util_mono_ns() - t0;
	t->running = util_mono_ns() - b->cmd_ns;
	{
		struct ready_msg m = { .err = 0, .result = VM_FORK_OK, .timing = *t };

		if (write(fd, &m, sizeof(m)) < 0) {
			/* the parent gave up waiting: it kills us */
		}
	}
	close(fd);
	vm_snapshot_free(&b->snap);
	free(b->pipes);
	free(b->pidfds);
	if (ops && ops->child_run)
		ops->child_run(ops->arg, vm, c);
	return VM_FORK_IN_CHILD;
}

