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
 * --clones N (clones.c): N processes each running o's snapshot (through
 * run_clone_spawn(), like the `clone` command's), clone i (from 1) with the socket CTL_SOCK.i and its output (a
 * Linux guest's console too) in CTL_SOCK.i.console; thpvm prints a line per
 * clone as it starts and ends, forwards SIGINT, SIGTERM and SIGHUP to them,
 * and exits once all have ended, with the first status that was not 0.
 */
#define RUN_MAX_CLONES 256
int run_clones(const struct run_opts *o);

/*
 * The thpvm binary this process runs, opened once (clones.c): call at
 * start-up, before anything may replace the file. Returns 0 or -errno.
 */
int run_clone_exe_open(void);

/*
 * One clone of o's snapshot (clones.c), the one spawner of --clones and the
 * `clone` command: posix_spawn of the binary run_clone_exe_open() opened,
 * as `thpvm run --restore DIR --memory-mode MODE --ctl-sock sock` with o's
 * --collapse, --timeout, --prefault and --stats; its stdout and stderr in
 * sock.console, stdin /dev/null, no other descriptor, no signal blocked.
 * The clone is the caller's child: the caller reaps it. Returns its pid,
 * or -errno (vmm_last_error() says why).
 */
pid_t run_clone_spawn(const struct run_opts *o, const char *sock);

/*
 * The `clone` control command (clone_ctl.c, docs/ctl.md): adds its VM hook
 * to vm, run with o (which must outlive the VM), and, o being a restore,
 * opens the binary for them (run_clone_exe_open()). On a VM restored from
 * a snapshot, `clone n=N` starts N clones of it, each through
 * run_clone_spawn() and reaped by a thread of its own; elsewhere it
 * refuses. Returns 0 or -errno.
 */
int run_clone_attach(struct vm *vm, const struct run_opts *o);

#endif
