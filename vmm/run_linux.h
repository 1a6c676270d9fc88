/* SPDX-License-Identifier: MIT */
/* `thpvm run --kernel` for other commands (thpvm demo --linux). */
#ifndef THPVM_RUN_LINUX_H
#define THPVM_RUN_LINUX_H

struct vm;
struct run_opts;

/*
 * run_linux(), calling after(vm, arg) (may be NULL) once the guest has
 * ended and before the VM is destroyed, e.g. to report its statistics.
 * Returns thpvm's exit status.
 */
int run_linux_report(const struct run_opts *o, void (*after)(struct vm *vm, void *arg), void *arg);

#endif
