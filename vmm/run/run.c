/* SPDX-License-Identifier: MIT */
/*
 * The run driver: one step table for every kind of guest, unwound in
 * reverse on every way out; the guest's exit status passed on, every
 * failure one line (vmm/run/run.h).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "run.h"
#include "util/util.h"
#include "collapse/collapse_vm.h"
#include "util/error.h"
#include "machine/guest_ram.h"
#include "run_opts.h"
#include "ctl/vm_ctl.h"
#include "kvm/vm.h"
#include "kvm/vm_stats.h"
#include "machine/machine.h"
#include "state/snapshot_dir.h"
#include "domain/domain.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Everything a run holds, built by the step table below and unwound in reverse. */
struct run {
	const struct run_opts *o;
	/* the guest: the command line's, or a restored snapshot's own (--restore) */
	struct machine_config guest;
	enum thpvm_backing backing;
	struct snapshot_state snap;     /* --restore: the snapshot's state file */
	json_t *description;            /* the guest's description for `snapshot` (NULL: no_snapshot says why) */
	char no_snapshot[256];
	const struct machine_ops *ops;
	void *machine;                  /* the machine's own state (ops->check) */
	struct thpvm_memmap *mem;
	struct vm *vm;
	struct vm_ctl *ctl;             /* --ctl-sock */
	char disk_specs[MACHINE_MAX_DISKS][PATH_MAX + 16]; /* a restore's disks, inside the snapshot */
};

/* --stats / --stats-json: the report of vm, printed or written. Returns 0 or -EIO (already said why). */
static int write_stats(struct vm *vm, const struct run_opts *o)
{
	int ret = 0;

	if (o->stats) {
		fflush(stdout);
		if (vm_stats_print(stdout, vm)) {
			cli_error("%s: statistics: %s", o->guest.cmd, vmm_last_error());
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
			cli_error("%s: cannot write statistics to %s%s%s", o->guest.cmd, o->stats_json, j ? "" : ": ",
				  j ? "" : vmm_last_error());
			ret = -EIO;
		}
		json_decref(j);
	}
	return ret;
}

/*
 * The guest RAM the snapshot's description makes must be the regions the
 * state file holds, and its vCPUs the saved ones: checked now, before any
 * memory exists (bad input), not when the state goes back in.
 */
static int check_snapshot_layout(struct run *r)
{
	struct guest_ram_region layout[GUEST_RAM_MAX_REGIONS];
	struct thpvm_region_info ram[GUEST_RAM_MAX_REGIONS] = { 0 };
	unsigned n = guest_ram_layout(r->guest.memory_bytes, layout);

	for (unsigned i = 0; i < n; i++) {
		ram[i].name = layout[i].name;
		ram[i].gpa = layout[i].gpa;
		ram[i].size_bytes = layout[i].size_bytes;
	}
	return vm_snapshot_check_layout(r->o->restore, &r->snap, ram, n, r->guest.nr_cpus);
}

/*
 * --restore: the snapshot's state file, every check of it, before any
 * memory exists; the guest is then the snapshot's (its machine built again
 * the same way, its state loaded once the VM exists).
 */
static int open_snapshot(struct run *r)
{
	int ret;

	r->guest = r->o->guest;
	r->backing = r->o->backing;
	if (!r->o->restore)
		return 0;
	if ((ret = vm_snapshot_open(r->o->restore, &r->snap)))
		return ret;
	if ((ret = machine_config_from_json(r->snap.config, &r->guest, &r->backing))) {
		vmm_error_prefix("%s", r->o->restore);
		return ret;
	}
	r->guest.cmd = r->o->guest.cmd;
	/* the snapshot's own disk copies (disk0.img,snapshot) are where the snapshot is, not where we run */
	for (unsigned i = 0; i < r->guest.nr_disks; i++) {
		if (r->guest.disks[i][0] == '/')
			continue;
		if (snprintf(r->disk_specs[i], sizeof(r->disk_specs[i]), "%s/%s", r->o->restore, r->guest.disks[i]) >=
		    (int)sizeof(r->disk_specs[i]))
			return vmm_fail(-ENAMETOOLONG, "%s: disk %u: path too long", r->o->restore, i);
		r->guest.disks[i] = r->disk_specs[i];
	}
	if ((ret = check_snapshot_layout(r)))
		return ret;
	/* where a Linux guest's console goes is this run's choice, not the guest's state */
	r->guest.console = r->o->guest.console;
	if (r->guest.console && !r->guest.kernel)
		return vmm_fail(-EINVAL, "%s holds a payload guest: --console is for Linux guests", r->o->restore);
	r->ops = r->guest.kernel ? &machine_linux : &machine_payload;
	return 0;
}

static void close_snapshot(struct run *r)
{
	snapshot_state_free(&r->snap);
}

/* Bad input (the image, its arguments, the console) is found before any memory exists. */
static int check_machine(struct run *r)
{
	return r->ops->check(&r->guest, &r->machine);
}

static void release_machine(struct run *r)
{
	r->ops->release(r->machine);
	r->machine = NULL;
}

/*
 * On demand: a kernel's checks come first, and need the memory layout.
 * --memory-mode shared: a snapshot's memory files mapped MAP_PRIVATE.
 */
static int create_ram(struct run *r)
{
	struct guest_ram_config rc = {
		.size_bytes = r->guest.memory_bytes,
		.backing = r->backing,
		.populate = THPVM_POPULATE_ON_DEMAND,
	};
	int fds[THPVM_MAX_REGIONS], ret;

	/* regions and files agree (open_snapshot checked the layout): every fd guest_ram_create() takes is one */
	if (!r->o->restore_shared)
		return guest_ram_create(&rc, &r->mem);
	if ((ret = vm_snapshot_open_memory(r->o->restore, &r->snap, fds)))
		return ret;
	rc.file_fds = fds;
	ret = guest_ram_create(&rc, &r->mem);
	for (unsigned i = 0; i < r->snap.nr_regions; i++)
		close(fds[i]);
	return ret;
}

static void destroy_ram(struct run *r)
{
	thpvm_memmap_destroy(r->mem);
	r->mem = NULL;
}

static int load_machine(struct run *r)
{
	return r->ops->load ? r->ops->load(r->machine, &r->guest, r->mem) : 0;
}

/* --prefault: every page written now, before the guest is loaded into it or runs. */
static int prefault(struct run *r)
{
	int ret;

	if (!r->o->prefault)
		return 0;
	for (unsigned i = 0; i < thpvm_memmap_nr_regions(r->mem); i++)
		if ((ret = thpvm_region_prefault(thpvm_memmap_region(r->mem, i), NULL, NULL)))
			return vmm_fail(ret, "%s", thpvm_last_error());
	return 0;
}

static int create_vm(struct run *r)
{
	return r->ops->create_vm(r->machine, &r->guest, r->mem, &r->vm);
}

static void destroy_vm(struct run *r)
{
	vm_destroy(r->vm);
	r->vm = NULL;
}

/*
 * --restore: guest RAM and the VM's state from the snapshot, into the
 * machine just built; every VM gets the `clone` command (clone_ctl.c), which
 * only a restored one obeys.
 */
static int restore_snapshot(struct run *r)
{
	int ret = r->o->restore ? vm_snapshot_load(r->vm, r->o->restore, &r->snap, r->o->restore_shared, NULL) : 0;

	return ret ? ret : run_clone_attach(r->vm, r->o);
}

/*
 * The control socket's `domxml` (vmm/domain/): the VM as libvirt domain XML,
 * from the guest the run has (the command line's, the domain's, the
 * snapshot's) and the backing it got.
 */
static int describe_vm(struct run *r)
{
	struct domain_desc d = { .guest = &r->guest, .backing = r->backing, .prefault = r->o->prefault,
				 .collapse_arg = r->o->collapse_arg, .name = r->o->domain ? r->o->domain->name : NULL,
				 .uuid = r->o->domain ? r->o->domain->uuid : NULL };

	return domain_ctl_attach(r->vm, &d);
}

/* The collapse thread (docs/collapse.md): the VM owns it from here on; started as the vCPUs start. */
static int start_collapse(struct run *r)
{
	return collapse_vm_setup(r->vm, &r->o->collapse, NULL);
}

static void child_exit(void *arg, struct vm *vm);

/* The control socket (docs/ctl.md): created early so a bad path is refused before any memory exists. */
static int open_ctl(struct run *r)
{
	struct vm_ctl_config cfg = { .path = r->o->ctl_sock, .interrupt = &interrupted, .timeout_ns = r->o->timeout_ns,
				     .child_exit = child_exit, .arg = r };

	if (!r->o->ctl_sock)
		return 0;
	/* what a `snapshot` stores to build this machine again; a guest that cannot be restored says why then */
	r->description = machine_config_to_json(&r->guest, r->backing);
	if (!r->description)
		snprintf(r->no_snapshot, sizeof(r->no_snapshot), "%s", vmm_last_error());
	cfg.machine = r->description;
	cfg.no_snapshot = r->no_snapshot;
	return vm_ctl_create(&cfg, &r->ctl);
}

static void close_ctl(struct run *r)
{
	vm_ctl_destroy(r->ctl);
	r->ctl = NULL;
	json_decref(r->description);
	r->description = NULL;
}

static int attach_ctl(struct run *r)
{
	return r->ctl ? vm_ctl_attach(r->ctl, r->vm) : 0;
}

/* The server stops before the VM its commands use goes. */
static void stop_ctl(struct run *r)
{
	vm_ctl_stop(r->ctl);
}

static const struct run_step {
	const char *name;
	int (*init)(struct run *r);
	/* undoes init, also one that failed: it takes whatever init got (NULL when it got nothing) */
	void (*exit)(struct run *r);
	int fail_status;            /* thpvm's exit status when init fails: 2 = bad input */
} run_steps[] = {
	{ "read the snapshot", open_snapshot, close_snapshot, 2 },
	{ "check the guest's input", check_machine, release_machine, 2 },
	{ "open the control socket", open_ctl, close_ctl, 2 },
	{ "allocate guest RAM", create_ram, destroy_ram, 1 },
	{ "load the guest", load_machine, NULL, 2 },
	{ "prefault guest RAM", prefault, NULL, 1 },
	{ "create the VM", create_vm, destroy_vm, 1 },
	{ "restore the snapshot", restore_snapshot, NULL, 1 },
	{ "describe the VM (domxml)", describe_vm, NULL, 1 },
	{ "start the collapse thread", start_collapse, NULL, 1 },
	{ "serve the control socket", attach_ctl, stop_ctl, 1 },
};
#define NR_RUN_STEPS (sizeof(run_steps) / sizeof(run_steps[0]))

static void unwind(struct run *r, unsigned done)
{
	while (done > 0)
		if (run_steps[--done].exit)
			run_steps[done].exit(r);
}

/* How the guest ended, after its last output; returns its exit status. */
static int report_exit(struct run *r, struct vm *vm)
{
	r->ops->flush(r->machine);
	if (!r->ops->report_exit(r->machine, vm)) {
		cli_error("%s", vm->exit.message);
		if (vm->exit.dump)
			fprintf(stderr, "%s\n", vm->exit.dump);
	}
	return vm->exit.status;
}

/*
 * A forked child (docs/fork.md) whose guest has ended: it reports like the
 * original run, on its own console, tears down and exits with the guest's
 * status. --stats-json is the original's only: children have their
 * sockets. _exit(): a leak check at exit cannot work in a forked child of a
 * multi-threaded process (LeakSanitizer's thread list is the parent's).
 */
static void child_exit(void *arg, struct vm *vm)
{
	struct run *r = arg;
	struct run_opts o = *r->o;
	int status;

	status = report_exit(r, vm);
	o.stats_json = NULL;
	if (write_stats(vm, &o) && !status)
		status = 1;
	unwind(r, NR_RUN_STEPS);
	fflush(NULL);
	_exit(status);
}

int run_guest(const struct run_opts *o, void (*after)(struct vm *vm, void *arg), void *arg)
{
	struct run r = { .o = o, .ops = o->guest.kernel ? &machine_linux : &machine_payload };
	struct sigaction sa, old_int, old_term, old_hup, old_pipe;
	unsigned done;
	int status, ret;

	/*
	 * Signals are ours from the start: one while the machine is built (a
	 * long prefault, a big restore) ends the run cleanly after the step it
	 * came in, socket removed and all, with the status a run stopped by it
	 * gets, not by the default action halfway through.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	interrupted = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	/* a reader of the guest's output that goes away loses the output; thpvm goes on and ends normally */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, &old_pipe);
	for (done = 0; done < NR_RUN_STEPS; done++) {
		if (run_steps[done].init(&r)) {
			cli_error("%s: %s", o->guest.cmd, vmm_last_error());
			/* the failed step's exit too: it takes whatever its init got before failing */
			status = run_steps[done].fail_status;
			done++;
			goto unwind;
		}
		if (interrupted) {
			cli_error("interrupted by a signal while the machine was being built");
			status = VM_STATUS_INTERRUPTED;
			done++;
			goto unwind;
		}
	}
	if (r.ops->start)
		r.ops->start(r.machine, &r.guest, o->timeout_ns);
	if (!(ret = vm_start(r.vm)) && r.ops->started)
		ret = r.ops->started(r.machine);
	if (!ret)
		ret = vm_wait(r.vm, o->timeout_ns, &interrupted);
	if (r.ops->stop)
		r.ops->stop(r.machine);
	if (ret) {
		cli_error("%s: %s", o->guest.cmd, vmm_last_error());
		status = 1;
	} else {
		status = report_exit(&r, r.vm);
	}
	if (after)
		after(r.vm, arg);
	if (write_stats(r.vm, o) && !status)
		status = 1;
unwind:
	unwind(&r, done);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	return status;
}
