/* SPDX-License-Identifier: MIT */
/* `thpvm run --payload`: image, memory, VM, run, report; every failure one line, the guest's status passed on. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "run_opts.h"
#include "cli.h"
#include "error.h"
#include "guest_ram.h"
#include "collapse_vm.h"
#include "kvm/vm.h"
#include "kvm/vm_stats.h"
#include "vm_api.h"
#include "x86/layout.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void print_exit(const struct vm_exit_info *e)
{
	if (e->reason == VM_STOP_GUEST_EXIT || e->reason == VM_STOP_REQUESTED)
		return;
	cli_error("%s", e->message);
	if (e->dump)
		fprintf(stderr, "%s\n", e->dump);
}

int run_write_stats(struct vm *vm, const struct run_opts *o)
{
	int ret = 0;

	if (o->stats) {
		fflush(stdout);
		if (vm_stats_print(stdout, vm)) {
			cli_error("%s: statistics: %s", o->cmd, vmm_last_error());
			ret = -EIO;
		}
		if (collapse_vm_of(vm)) {
			fputc('\n', stdout);
			collapse_vm_print(stdout, collapse_vm_of(vm));
		}
	}
	if (o->stats_json) {
		json_t *j = vm_stats_json(vm);

		if (!j || json_dump_file(j, o->stats_json, JSON_INDENT(1))) {
			cli_error("%s: cannot write statistics to %s%s%s", o->cmd, o->stats_json, j ? "" : ": ",
				  j ? "" : vmm_last_error());
			ret = -EIO;
		}
		json_decref(j);
	}
	return ret;
}

/* Everything a run holds, built by the start-up table below and unwound in reverse. */
struct run_ctx {
	const struct run_opts *o;
	struct payload_image image;
	struct thpvm_memmap *mem;
	struct vm *vm;
	struct payload *payload;
	struct vm_api *api;             /* --api-sock */
};

static int load_image(struct run_ctx *c)
{
	return payload_image_load(c->o->payload, &c->image);
}

static void free_image(struct run_ctx *c)
{
	payload_image_free(&c->image);
}

/* Bad input is found before any memory or VM exists. */
static int check_input(struct run_ctx *c)
{
	uint64_t mem = c->o->memory_bytes, low = mem < X86_MMIO_HOLE_GPA ? mem : X86_MMIO_HOLE_GPA;
	struct payload_layout layout;
	int ret;

	if ((ret = payload_args_check(&c->o->args, &c->image)))
		return ret;
	return payload_layout_compute(low, mem - low, &layout);
}

static int create_ram(struct run_ctx *c)
{
	struct guest_ram_config rc = {
		.size_bytes = c->o->memory_bytes,
		.backing = c->o->backing,
		.populate = c->o->prefault ? THPVM_POPULATE_PREFAULT : THPVM_POPULATE_ON_DEMAND,
	};

	return guest_ram_create(&rc, &c->mem);
}

static void destroy_ram(struct run_ctx *c)
{
	thpvm_memmap_destroy(c->mem);
	c->mem = NULL;
}

static int create_vm(struct run_ctx *c)
{
	struct payload_config pc = { .image = &c->image, .args = &c->o->args, .guest_page_size = c->o->guest_page_size };

	return payload_vm_create(c->mem, c->o->nr_cpus, &pc, &c->vm, &c->payload);
}

static void destroy_vm(struct run_ctx *c)
{
	vm_destroy(c->vm);
	c->vm = NULL;
}

/* Owned by the VM from here on: vm_destroy() stops and frees it. Started last, as the vCPUs start. */
static int start_collapse(struct run_ctx *c)
{
	return collapse_vm_setup(c->vm, &c->o->collapse, NULL);
}

static void unwind(struct run_ctx *c, unsigned done);
static void child_exit(void *arg, struct vm *vm);

/* The control socket: created early so a bad path is refused before any memory exists. */
static int open_api(struct run_ctx *c)
{
	struct vm_api_config cfg = { .path = c->o->api_sock, .interrupt = &interrupted, .timeout_ns = c->o->timeout_ns,
				     .child_exit = child_exit, .arg = c };

	return c->o->api_sock ? vm_api_create(&cfg, &c->api) : 0;
}

static void close_api(struct run_ctx *c)
{
	vm_api_destroy(c->api);
	c->api = NULL;
}

static int attach_api(struct run_ctx *c)
{
	return c->api ? vm_api_attach(c->api, c->vm) : 0;
}

/* The server stops before the VM its commands use goes. */
static void stop_api(struct run_ctx *c)
{
	vm_api_stop(c->api);
}

static const struct run_step {
	const char *name;
	int (*init)(struct run_ctx *c);
	void (*exit)(struct run_ctx *c);
	int fail_status;            /* thpvm's exit status when init fails: 2 = bad input */
} run_steps[] = {
	{ "load the payload", load_image, free_image, 2 },
	{ "check arguments and memory size", check_input, NULL, 2 },
	{ "open the control socket", open_api, close_api, 2 },
	{ "allocate guest RAM", create_ram, destroy_ram, 1 },
	{ "create the VM and the payload guest", create_vm, destroy_vm, 1 },
	{ "start the collapse thread", start_collapse, NULL, 1 },
	{ "serve the control socket", attach_api, stop_api, 1 },
};
#define NR_RUN_STEPS (sizeof(run_steps) / sizeof(run_steps[0]))

static void unwind(struct run_ctx *c, unsigned done)
{
	while (done > 0)
		if (run_steps[--done].exit)
			run_steps[done].exit(c);
}

/*
 * A forked child (docs/fork.md) whose guest has ended: it reports like the
 * original run does, on its own console, tears down and exits with the
 * guest's status. --stats-json is the original's only: children have their
 * sockets. _exit(): a leak check at exit cannot work in a forked child of a
 * multi-threaded process (LeakSanitizer's thread list is the parent's).
 */
static void child_exit(void *arg, struct vm *vm)
{
	struct run_ctx *c = arg;
	struct run_opts o = *c->o;
	int status;

	fflush(stdout);
	print_exit(&vm->exit);
	status = vm->exit.status;
	o.stats_json = NULL;
	if (run_write_stats(vm, &o) && !status)
		status = 1;
	unwind(c, NR_RUN_STEPS);
	fflush(NULL);
	_exit(status);
}

int run_payload(const struct run_opts *o)
{
	struct run_ctx c = { .o = o };
	struct sigaction sa, old_int, old_term;
	unsigned done;
	int status;

	for (done = 0; done < NR_RUN_STEPS; done++) {
		if (run_steps[done].init(&c)) {
			cli_error("%s: %s", o->cmd, vmm_last_error());
			unwind(&c, done);
			return run_steps[done].fail_status;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	interrupted = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	if (vm_run(c.vm, o->timeout_ns, &interrupted)) {
		cli_error("%s: %s", o->cmd, vmm_last_error());
		status = 1;
	} else {
		fflush(stdout);
		print_exit(&c.vm->exit);
		status = c.vm->exit.status;
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (run_write_stats(c.vm, o) && !status)
		status = 1;
	unwind(&c, done);
	return status;
}
