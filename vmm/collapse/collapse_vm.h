/* SPDX-License-Identifier: MIT */
/*
 * The collapse thread of one VM: libthpvm's collapser (include/thpvm/collapse.h)
 * over the VM's guest RAM, hooked into the VM's lifecycle with vm_add_hooks():
 * its stats under "collapse" in vm_stats_json(), stopped and freed by
 * vm_destroy(), paused around a fork, kept paused in a template, recreated in
 * a forked child. docs/collapse.md ("In the VMM") has the whole story.
 */
#ifndef THPVM_COLLAPSE_VM_H
#define THPVM_COLLAPSE_VM_H

#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>
#include <thpvm.h>

struct vm;
struct collapse_vm;
struct ctl_server;
struct ctl_command;

/* The name of the VM hooks, and the key of the stats in vm_stats_json(). */
#define COLLAPSE_VM_HOOKS "collapse"

/*
 * Defaults (balanced) plus "MODE[,key=value...]" (the --collapse form, e.g.
 * "tlb", "off", "balanced,private=64,delay_ms=500"). Returns 0 or -EINVAL
 * with vmm_last_error() naming the bad option.
 */
int collapse_vm_parse(const char *str, struct thpvm_collapse_config *cfg);

/*
 * Creates the collapser over vm->mem (guest RAM and memslots must exist) and
 * adds its hooks to the VM; the VM owns it from then on (vm_destroy() stops
 * and frees it). When a region is file-backed the quiesce hook pauses the VM
 * for copies userfaultfd cannot protect. The thread is not started. Returns
 * 0 or -errno with vmm_last_error() set.
 */
int collapse_vm_attach(struct vm *vm, const struct thpvm_collapse_config *cfg, struct collapse_vm **out);
/* Starts the thread when the mode is not off (call when the vCPUs start). Returns 0 or -errno. */
int collapse_vm_start(struct collapse_vm *cv);
/* attach + start: one call for a run path. *out may be NULL. */
int collapse_vm_setup(struct vm *vm, const struct thpvm_collapse_config *cfg, struct collapse_vm **out);

/* The VM's collapse thread (from its hooks), or NULL when it has none. */
struct collapse_vm *collapse_vm_of(struct vm *vm);
/* The libthpvm collapser (changes in a forked child: look it up again there). */
struct thpvm_collapse *collapse_vm_collapser(struct collapse_vm *cv);
void collapse_vm_get_config(struct collapse_vm *cv, struct thpvm_collapse_config *cfg);
/*
 * Applies a new configuration (the quiesce hook is kept) and starts or stops
 * the thread for the mode: off stops it, any other mode starts it once
 * collapse_vm_start() was called. Returns 0 or -EINVAL with vmm_last_error().
 */
int collapse_vm_configure(struct collapse_vm *cv, const struct thpvm_collapse_config *cfg);

/* Whether the collapser is held paused because its VM stayed paused as a template after a fork. */
bool collapse_vm_held(struct collapse_vm *cv);

/*
 * thpvm_collapse_stats_json() plus the VMM's part: "held_for_template",
 * "file_backed", "quiesce_pauses", "quiesce_refused", "forks" (new reference).
 */
json_t *collapse_vm_status(struct collapse_vm *cv);
/* A few lines for `thpvm stats` / `--stats`. */
void collapse_vm_print(FILE *out, struct collapse_vm *cv);

/*
 * The control socket's "collapse" command (vmm/collapse/collapse_ctl.c): without
 * arguments the status, with arguments a new policy, then the status.
 * Registers it on srv for vm's collapse thread; -ENOENT when vm has none.
 * The server's thread must stop before vm_destroy() (the handler's context
 * is freed with the VM).
 */
int collapse_vm_ctl_register(struct ctl_server *srv, struct vm *vm);
/* The same as the VM's hook (vm_hooks.ctl_register, arg the collapse thread). */
int collapse_ctl_register(void *arg, struct vm *vm, struct ctl_server *srv);
/* The command as registered (handler and schema): for the schema checks of the tests. */
extern const struct ctl_command collapse_ctl_command;

#endif
