/* SPDX-License-Identifier: MIT */
/*
 * `thpvm run --kernel`: console, memory, kernel, VM, run, report. Every
 * failure is one line; the guest's status (debug-exit port) is passed on.
 * The terminal is restored on every way out (console.c).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "run_opts.h"
#include "run_linux.h"
#include "cli.h"
#include "console.h"
#include "error.h"
#include "guest_ram.h"
#include "collapse_vm.h"
#include "linux_machine.h"
#include "vm_api.h"
#include "dev/pc_dev.h"
#include "kvm/kvm_host.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"
#include "x86/layout.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Everything a run holds, built by the start-up table below and unwound in reverse. */
struct linux_run {
	const struct run_opts *o;
	struct console *con;
	struct thpvm_memmap *mem;
	struct linux_boot boot;
	struct vm *vm;
	struct vm_api *api;             /* --api-sock */
};

/* A console file that cannot be created is bad input, found before any memory exists. */
static int open_console(struct linux_run *r)
{
	struct console_config cc;
	int ret;

	if ((ret = console_parse(r->o->console ? r->o->console : "stdio", &cc)))
		return ret;
	return console_open(&cc, &r->con);
}

static void close_console(struct linux_run *r)
{
	console_close(r->con);
	r->con = NULL;
}

/* On demand: the kernel's checks come first, and need the memory layout. */
static int create_ram(struct linux_run *r)
{
	struct guest_ram_config rc = {
		.size_bytes = r->o->memory_bytes,
		.backing = r->o->backing,
		.populate = THPVM_POPULATE_ON_DEMAND,
	};

	return guest_ram_create(&rc, &r->mem);
}

static void destroy_ram(struct linux_run *r)
{
	thpvm_memmap_destroy(r->mem);
	r->mem = NULL;
}

static int load_kernel(struct linux_run *r)
{
	struct linux_load_config lc = {
		.kernel_path = r->o->kernel,
		.initrd_path = r->o->initrd,
		.cmdline = r->o->cmdline,
		.nr_cpus = r->o->nr_cpus,
	};

	return linux_machine_load(r->mem, &lc, &r->boot);
}

static int prefault(struct linux_run *r)
{
	int ret;

	if (!r->o->prefault)
		return 0;
	for (unsigned i = 0; i < thpvm_memmap_nr_regions(r->mem); i++)
		if ((ret = thpvm_region_prefault(thpvm_memmap_region(r->mem, i), NULL, NULL)))
			return vmm_fail(ret, "%s", thpvm_last_error());
	return 0;
}

static int create_vm(struct linux_run *r)
{
	return linux_vm_create(r->mem, &r->boot, r->con, &r->vm);
}

static void destroy_vm(struct linux_run *r)
{
	vm_destroy(r->vm);
	r->vm = NULL;
}

/* The collapse thread (docs/collapse.md): the VM owns it from here on; started as the vCPUs start. */
static int start_collapse(struct linux_run *r)
{
	return collapse_vm_setup(r->vm, &r->o->collapse, NULL);
}

static void unwind(struct linux_run *r, unsigned done);
static void child_exit(void *arg, struct vm *vm);

/* The control socket (docs/api.md): created early so a bad path is refused before any memory exists. */
static int open_api(struct linux_run *r)
{
	struct vm_api_config cfg = { .path = r->o->api_sock, .interrupt = &interrupted, .timeout_ns = r->o->timeout_ns,
				     .child_exit = child_exit, .arg = r };

	return r->o->api_sock ? vm_api_create(&cfg, &r->api) : 0;
}

static void close_api(struct linux_run *r)
{
	vm_api_destroy(r->api);
	r->api = NULL;
}

static int attach_api(struct linux_run *r)
{
	return r->api ? vm_api_attach(r->api, r->vm) : 0;
}

/* The server stops before the VM its commands use goes. */
static void stop_api(struct linux_run *r)
{
	vm_api_stop(r->api);
}

static const struct run_step {
	const char *name;
	int (*init)(struct linux_run *r);
	void (*exit)(struct linux_run *r);
	int fail_status;            /* thpvm's exit status when init fails: 2 = bad input */
} run_steps[] = {
	{ "open the console", open_console, close_console, 2 },
	{ "open the control socket", open_api, close_api, 2 },
	{ "allocate guest RAM", create_ram, destroy_ram, 1 },
	{ "load the kernel", load_kernel, NULL, 2 },
	{ "prefault guest RAM", prefault, NULL, 1 },
	{ "create the VM", create_vm, destroy_vm, 1 },
	{ "start the collapse thread", start_collapse, NULL, 1 },
	{ "serve the control socket", attach_api, stop_api, 1 },
};
#define NR_RUN_STEPS (sizeof(run_steps) / sizeof(run_steps[0]))

static void unwind(struct linux_run *r, unsigned done)
{
	while (done > 0)
		if (run_steps[--done].exit)
			run_steps[done].exit(r);
}

/* Said once, before the guest runs: what happens next is slow or a guest error, not a hang of thpvm. */
static void warn_host(const struct run_opts *o)
{
	struct kvm_host h;

	kvm_host_detect(&h);
	if (kvm_host_boots_linux(&h))
		return;
	cli_error("warning: /dev/kvm is %s: Linux boots very slowly or fails here%s; "
		  "use a VMX/SVM host or the nested lab (docs/lab.md)",
		  h.what, o->timeout_ns ? "" : " (--timeout bounds the attempt)");
}

/* How the guest ended, one line (plus a register dump for guest errors); nothing for a debug-exit status. */
static void report_exit(struct vm *vm)
{
	const struct vm_exit_info *e = &vm->exit;
	struct kvm_regs regs;
	uint32_t v;

	if (e->reason == VM_STOP_GUEST_EXIT && debug_exit_dev_fired(vm, X86_PORT_DEBUG_EXIT, &v) && v <= 255)
		return;
	if (e->reason == VM_STOP_TIMEOUT && !vcpu_get_regs(vm->vcpus[0], &regs)) {
		cli_error("%s (vcpu 0 at RIP 0x%llx)", e->message, (unsigned long long)regs.rip);
		return;
	}
	cli_error("%s", e->message);
	if (e->dump)
		fprintf(stderr, "%s\n", e->dump);
}

/*
 * A forked child (docs/fork.md) whose guest has ended: it reports like the
 * original run, on its own console (its stdout and stderr), tears down and
 * exits with the guest's status; _exit(), as run_payload.c says why. Its
 * console never had the terminal (console_fork_child()).
 */
static void child_exit(void *arg, struct vm *vm)
{
	struct linux_run *r = arg;
	struct run_opts o = *r->o;
	int status;

	console_flush(r->con);
	report_exit(vm);
	status = vm->exit.status;
	o.stats_json = NULL;
	if (run_write_stats(vm, &o) && !status)
		status = 1;
	unwind(r, NR_RUN_STEPS);
	fflush(NULL);
	_exit(status);
}

int run_linux_report(const struct run_opts *o, void (*after)(struct vm *vm, void *arg), void *arg)
{
	struct linux_run r = { .o = o };
	struct sigaction sa, old_int, old_term, old_hup, old_pipe;
	unsigned done;
	int status, ret;

	for (done = 0; done < NR_RUN_STEPS; done++) {
		if (run_steps[done].init(&r)) {
			cli_error("%s: %s", o->cmd, vmm_last_error());
			unwind(&r, done);
			return run_steps[done].fail_status;
		}
	}
	warn_host(o);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	interrupted = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	/* a console reader that goes away loses the output; thpvm goes on and ends normally */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, &old_pipe);
	fflush(stdout);
	if (console_raw(r.con))
		cli_error("%s: %s (the console stays as it is)", o->cmd, vmm_last_error());
	else if (console_is_raw(r.con))
		cli_error("console: Ctrl-A x quits, Ctrl-A h lists the keys");
	/*
	 * Input after vm_start(): it resets the VM's stop state, so a Ctrl-A x
	 * read before it would be lost and thpvm would never quit.
	 */
	if ((ret = vm_start(r.vm)) || (ret = console_input_start(r.con)) ||
	    (ret = vm_wait(r.vm, o->timeout_ns, &interrupted))) {
		console_input_stop(r.con);
		console_restore(r.con);
		cli_error("%s: %s", o->cmd, vmm_last_error());
		status = 1;
	} else {
		console_input_stop(r.con);
		console_flush(r.con);
		console_restore(r.con);
		report_exit(r.vm);
		status = r.vm->exit.status;
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	if (after)
		after(r.vm, arg);
	if (run_write_stats(r.vm, o) && !status)
		status = 1;
	unwind(&r, done);
	sigaction(SIGPIPE, &old_pipe, NULL);
	return status;
}

int run_linux(const struct run_opts *o)
{
	return run_linux_report(o, NULL, NULL);
}
