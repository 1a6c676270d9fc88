/* SPDX-License-Identifier: MIT */
/*
 * vmm/run/: the one driver every guest runs through (`thpvm run`, `thpvm
 * stats`, `thpvm demo --linux`), kvmtool's builtin-run.c with thpvm's
 * explicit step table: init steps in order, unwound in reverse, one signal
 * setup, one report and finish path, also for a forked child. What differs
 * per kind of guest is a struct machine_ops (vmm/machine/).
 * Calls down: vmm/machine, vmm/kvm, the collapse thread (collapse_vm.c), the
 * control socket's VM commands (vm_ctl.c), guest RAM (guest_ram.c).
 */
#ifndef THPVM_RUN_H
#define THPVM_RUN_H

#include <stdbool.h>
#include <sys/types.h>

struct vm;
struct run_opts;

/*
 * Runs the guest o describes (o->kernel: Linux, else o->payload) to its end,
 * calling after(vm, arg) (may be NULL) once the guest has ended and before
 * the VM is destroyed, e.g. to report on it. Returns thpvm's exit status:
 * the guest's, 1 on a failure, 2 on bad input.
 */
int run_guest(const struct run_opts *o, void (*after)(struct vm *vm, void *arg), void *arg);

/*
 * --clones N (clones.c): N processes each running run_guest() on o's
 * snapshot, clone i (from 1) with the socket CTL_SOCK.i and its output (a
 * Linux guest's console too) in CTL_SOCK.i.console; thpvm prints a line per
 * clone as it starts and ends, forwards SIGINT, SIGTERM and SIGHUP to them,
 * and exits once all have ended, with the first status that was not 0.
 */
#define RUN_MAX_CLONES 256
int run_clones(const struct run_opts *o);

/*
 * One clone of o's snapshot (clones.c), the one spawner: a process running
 * run_guest() on o with its control socket at sock, its output in
 * sock.console, stdin /dev/null, holding nothing of this process (its
 * descriptors are closed). detach: a middle process forks it and exits, so
 * the clone is not this process's child (init reaps it; a VM that starts
 * clones has no loop waiting for them). Returns the clone's pid or -errno.
 */
pid_t run_clone_spawn(const struct run_opts *o, const char *sock, bool detach);

/*
 * The `clone` control command (clone_ctl.c, docs/ctl.md): adds its VM hook
 * to vm, run with o (which must outlive the VM). On a VM restored from a
 * snapshot, `clone n=N` starts N clones of it, each through
 * run_clone_spawn(); elsewhere it refuses. Returns 0 or -errno.
 */
int run_clone_attach(struct vm *vm, const struct run_opts *o);

#endif
