/* SPDX-License-Identifier: MIT */
/*
 * A VM's control socket (docs/ctl.md): the server from vmm/ctl with the
 * VM's commands pause, resume, stats, fork, snapshot and quit, and those its
 * subsystems register themselves. Created early (a bad
 * path is refused before any memory exists), attached to the VM once it
 * exists (commands registered, the server thread started), stopped before
 * the VM goes.
 *
 * fork runs vm_fork() on the server thread. Each child forgets the parent's
 * server, sends its console (stdout and stderr) to SOCKET.console unless
 * asked to keep the parent's, opens its own socket (PATH.N, or as given) once
 * its vCPUs run, and carries on, on the thread that forked (its only one),
 * serving that socket, waiting for its VM and then calling child_exit (the
 * run's own ending: report, tear down, exit).
 */
#ifndef THPVM_VM_CTL_H
#define THPVM_VM_CTL_H

#include <signal.h>
#include <stdint.h>
#include "ctl.h"

struct vm;
struct vm_ctl;

/*
 * The VM's own commands (pause, resume, stats, fork, snapshot, quit), each schema
 * beside its handler, ending with an empty entry. The VM's subsystems add
 * theirs through vm_hooks.ctl_register (collapse, console).
 */
extern const struct ctl_command vm_ctl_commands[];

struct vm_ctl_config {
	const char *path;                   /* the control socket (copied) */
	volatile sig_atomic_t *interrupt;   /* the run's signal flag: a child's wait watches it too (may be NULL) */
	uint64_t timeout_ns;                /* a child's run limit from its start, 0 = none */
	/*
	 * In a child whose VM has ended (vm_wait returned): finish like the
	 * run does and exit the process; must not return. NULL: the child
	 * stops its server, destroys nothing and exits with the VM's status.
	 */
	void (*child_exit)(void *arg, struct vm *vm);
	void *arg;
	/*
	 * The machine's description for `snapshot` (machine_config_to_json();
	 * borrowed, must outlive the socket), or NULL when this VM cannot be
	 * snapshotted, no_snapshot saying why.
	 */
	const json_t *machine;
	const char *no_snapshot;
};

/* Creates the socket (mode 0600, same uid only). Returns 0 or -errno with vmm_last_error(). */
int vm_ctl_create(const struct vm_ctl_config *cfg, struct vm_ctl **out);
/* Registers the VM's commands and its subsystems' (their hooks), and starts the server thread. */
int vm_ctl_attach(struct vm_ctl *vc, struct vm *vm);
/* Stops the server thread (waits for a running command). Not from a handler. */
void vm_ctl_stop(struct vm_ctl *vc);
/* Stops if needed and frees; removes the socket file. NULL is fine. */
void vm_ctl_destroy(struct vm_ctl *vc);
/* This VM's socket path (a child's own after a fork). */
const char *vm_ctl_path(const struct vm_ctl *vc);

#endif
