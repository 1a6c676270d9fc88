/* SPDX-License-Identifier: MIT */
/*
 * The control socket's "console" command (docs/ctl.md): text typed into
 * COM1's receive FIFO, a forked child's only input. Its schema sits beside
 * its handler in console_ctl.c; a machine registers it through its VM hook.
 */
#ifndef THPVM_CONSOLE_CTL_H
#define THPVM_CONSOLE_CTL_H

#include "ctl/ctl.h"

struct vm;

/* The command as registered (its handler takes the VM as ctx): for the schema checks of the tests. */
extern const struct ctl_command console_ctl_command;

/*
 * A vm_hooks.ctl_register: registers "console" on srv for vm (arg unused).
 * A VM without a UART at COM1 (a payload guest) answers `unsupported`.
 */
int console_ctl_register(void *arg, struct vm *vm, struct ctl_server *srv);

#endif
