/* SPDX-License-Identifier: MIT */
/* The VM's control commands (docs/ctl.md) and what a forked child does with the control socket. */
#include "config.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>
#include "vm_ctl.h"
#include "ctl.h"
#include "util/error.h"
#include "fork/fork.h"
#include "kvm/vm.h"
#include "kvm/vm_stats.h"
#include "state/snapshot_dir.h"
#include "state/tsc.h"
#include "util/clock.h"

/* sun_path holds 108 bytes with the NUL */
#define CTL_SOCKET_PATH_MAX ((int)sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

struct vm_ctl {
	struct vm_ctl_config cfg;
	char *path;
	struct ctl_server *srv;
	struct vm *vm;
};

static const char *state_str(struct vm *vm)
{
	enum vm_run_state st = vm_run_state(vm);

	/* the control socket's words: a VM not yet started is "stopped" too */
	return vm_run_state_name(st == VM_STATE_CREATED ? VM_STATE_STOPPED : st);
}

/* ---- pause, resume, quit ---- */

static json_t *h_pause(void *ctx, json_t *args, struct ctl_error *err)
{
	struct vm_ctl *vc = ctx;
	const char *st = state_str(vc->vm);
	uint64_t t = util_mono_ns();

	(void)args;
	if (strcmp(st, "running"))
		return ctl_fail(err, CTL_BAD_STATE, "the VM is %s, not running", st);
	/* the subsystems' work in flight first (vm_hooks.pause_begin): a collapse's quiesce would resume the VM */
	if (vm_pause_for_user(vc->vm))
		return ctl_fail(err, CTL_FAILED, "pause: %s", vmm_last_error());
	return json_pack("{s:s, s:f}", "state", state_str(vc->vm), "pause_ms", (double)(util_mono_ns() - t) / 1e6);
}

static json_t *h_resume(void *ctx, json_t *args, struct ctl_error *err)
{
	struct vm_ctl *vc = ctx;
	const char *st;
	int ret = 0;

	(void)args;
	/* a collapse's quiesce pauses the VM briefly: that pause is not the user's to undo */
	vm_hooks_hold(vc->vm);
	st = state_str(vc->vm);
	if (!strcmp(st, "paused"))
		ret = vm_resume(vc->vm);
	vm_hooks_release(vc->vm);
	if (strcmp(st, "paused"))
		return ctl_fail(err, CTL_BAD_STATE, "the VM is %s, not paused", st);
	if (ret)
		return ctl_fail(err, CTL_FAILED, "resume: %s", vmm_last_error());
	return json_pack("{s:s}", "state", state_str(vc->vm));
}

static json_t *h_quit(void *ctx, json_t *args, struct ctl_error *err)
{
	struct vm_ctl *vc = ctx;
	const char *st = state_str(vc->vm);

	(void)args;
	(void)err;
	/* the reply goes out before the server stops: the run's ending stops it after vm_wait returns */
	if (strcmp(st, "stopped"))
		vm_stop(vc->vm, VM_STOP_REQUESTED, 0, -1, "quit on request (control socket)");
	return json_pack("{s:s, s:i}", "state", "quitting", "pid", (int)getpid());
}

/* ---- stats ---- */

static const struct ctl_arg stats_args[] = {
	{ .name = "extents", .type = CTL_ARG_BOOL, .help = "include the per-extent table (default false)" },
	{ 0 },
};

static json_t *extents_json(struct vm *vm)
{
	json_t *list = json_array();

	for (unsigned r = 0; r < thpvm_memmap_nr_regions(vm->mem); r++) {
		struct thpvm_region *region = thpvm_memmap_region(vm->mem, r);
		struct thpvm_region_info ri;

		thpvm_region_get_info(region, &ri);
		for (uint64_t e = 0; e < thpvm_region_nr_extents(region); e++) {
			struct thpvm_extent_info x;
			json_t *o;

			if (thpvm_region_extent(region, e, &x))
				continue;
			o = json_pack("{s:s, s:I, s:s, s:i}", "region", ri.name, "gpa", (json_int_t)x.gpa, "state",
				      thpvm_extent_state_str(x.state), "present", (int)x.nr_present);
			if (ri.backing == THPVM_BACKING_FILE && x.state == THPVM_EXTENT_HUGE)
				json_object_set_new(o, "page_cache", json_boolean(x.file_huge));
			if (x.detail_valid) {
				json_object_set_new(o, "private", json_integer(x.nr_private));
				json_object_set_new(o, "shared", json_integer(x.nr_shared));
				json_object_set_new(o, "absent", json_integer(x.nr_absent));
			}
			json_array_append_new(list, o);
		}
	}
	return list;
}

static json_t *h_stats(void *ctx, json_t *args, struct ctl_error *err)
{
	struct vm_ctl *vc = ctx;
	struct ctl_server_stats cs;
	json_t *o = vm_stats_json(vc->vm);

	if (!o)
		return ctl_fail(err, CTL_FAILED, "stats: %s", vmm_last_error());
	json_object_set_new(o, "state", json_string(state_str(vc->vm)));
	ctl_server_get_stats(vc->srv, &cs);
	json_object_set_new(o, "ctl",
			    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "connections", (json_int_t)cs.connections,
				      "requests", (json_int_t)cs.requests, "errors", (json_int_t)cs.errors, "refused_peer",
				      (json_int_t)cs.refused_peer, "events", (json_int_t)cs.events, "events_dropped",
				      (json_int_t)cs.events_dropped));
	if (ctl_arg_bool(args, "extents", false))
		json_object_set_new(o, "extents", extents_json(vc->vm));
	return o;
}

/* ---- fork ---- */

static const char *const fork_consoles[] = { "file", "inherit", NULL };

static const struct ctl_arg fork_args[] = {
	{ .name = "count", .type = CTL_ARG_UINT, .min = 1, .max = VM_FORK_MAX_COUNT,
	  .help = "number of children (default 1)" },
	{ .name = "template", .type = CTL_ARG_BOOL,
	  .help = "stay paused as a template after forking (default false: resume)" },
	{ .name = "sockets", .type = CTL_ARG_ARRAY, .items = CTL_ARG_STRING, .min = 1, .max = VM_FORK_MAX_COUNT,
	  .help = "control socket path of each child, one per child (default: prefix + \".N\")" },
	{ .name = "prefix", .type = CTL_ARG_STRING, .min = 1, .max = 100,
	  .help = "children's sockets are PREFIX.N, N the child's index (default: this VM's socket path)" },
	{ .name = "console", .type = CTL_ARG_STRING, .choices = fork_consoles,
	  .help = "file: each child's stdout and stderr go to SOCKET.console (default); inherit: this VM's" },
	{ 0 },
};

struct fork_ctx {
	struct vm_ctl *vc;
	json_t *sockets;            /* explicit paths, or NULL */
	const char *prefix;         /* else PREFIX.INDEX */
	bool console_file;
};

static int describe(void *arg, unsigned nth, struct vm_fork_child *c)
{
	struct fork_ctx *fc = arg;
	int n;

	if (fc->sockets)
		n = snprintf(c->socket, sizeof(c->socket), "%s", json_string_value(json_array_get(fc->sockets, nth)));
	else
		n = snprintf(c->socket, sizeof(c->socket), "%s.%u", fc->prefix, c->index);
	if (n < 0 || n > CTL_SOCKET_PATH_MAX)
		return vmm_fail(-ENAMETOOLONG, "child %u's socket path '%.*s...' is longer than %d bytes", c->index, 64,
				c->socket, CTL_SOCKET_PATH_MAX);
	for (unsigned i = 0; fc->sockets && i < nth; i++)
		if (!strcmp(json_string_value(json_array_get(fc->sockets, i)), c->socket))
			return vmm_fail(-EINVAL, "socket path '%s' given twice", c->socket);
	if (!strcmp(c->socket, fc->vc->path))
		return vmm_fail(-EINVAL, "socket path '%s' is this VM's own", c->socket);
	/* the socket path fits in 108 bytes, so this fits */
	if (fc->console_file && snprintf(c->console, sizeof(c->console), "%.*s.console", CTL_SOCKET_PATH_MAX,
					 c->socket) < 0)
		return vmm_fail(-EINVAL, "console path of child %u", c->index);
	return 0;
}

/* Before the child's VM exists: the parent's server is not ours; our console is. */
static int child_init(void *arg, struct vm *vm, const struct vm_fork_child *c)
{
	struct fork_ctx *fc = arg;
	struct vm_ctl *vc = fc->vc;
	char *path;
	int ret, fd;

	(void)vm;
	ctl_server_forget_after_fork(vc->srv);
	vc->srv = NULL;
	path = strdup(c->socket);
	if (!path)
		return vmm_fail(-ENOMEM, "out of memory");
	free(vc->path);
	vc->path = path;
	if (!c->console[0])
		return 0;
	fd = open(c->console, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return vmm_fail(-errno, "console %s: %s", c->console, strerror(errno));
	if (dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) {
		ret = vmm_fail(-errno, "console %s: %s", c->console, strerror(errno));
		close(fd);
		return ret;
	}
	close(fd);
	return 0;
}

/* Once its vCPUs run, before the parent replies: the socket the reply names listens. */
static int child_open(void *arg, struct vm *vm, const struct vm_fork_child *c)
{
	struct fork_ctx *fc = arg;
	struct ctl_server_config cfg = { .path = c->socket };
	struct ctl_error err;
	int ret;

	(void)vm;
	if ((ret = ctl_server_create(&fc->vc->srv, &cfg, &err)))
		return vmm_fail(ret, "control socket: %s", err.message);
	return 0;
}

/* The child's main from now on, on the thread that forked. */
static void __attribute__((noreturn)) child_main(struct vm_ctl *vc)
{
	sigset_t none;

	/* the forking thread was the server's, which blocks every signal */
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	vm_wait(vc->vm, vc->cfg.timeout_ns, vc->cfg.interrupt);
	if (vc->cfg.child_exit)
		vc->cfg.child_exit(vc->cfg.arg, vc->vm);
	vm_ctl_stop(vc);
	fflush(NULL);
	/* no exit handlers: this is a copy of another program's process (and LeakSanitizer cannot scan it) */
	_exit(vc->vm->exit.status);
}

static int register_commands(struct vm_ctl *vc);

/*
 * The thread that forked is the child's only thread and so its thread-group
 * leader: it must not end (its handler never returns), since /proc/self of
 * a process whose leader has exited answers ESRCH, and smaps and pagemap
 * are read through it.
 */
static void child_run(void *arg, struct vm *vm, const struct vm_fork_child *c)
{
	struct fork_ctx *fc = arg;
	struct vm_ctl *vc = fc->vc;
	int ret;

	(void)vm;
	if ((ret = register_commands(vc)) || (ret = ctl_server_start(vc->srv))) {
		fprintf(stderr, "thpvm: child %u: control socket %s: %s\n", c->index, vc->path, vmm_last_error());
		_exit(1);
	}
	child_main(vc);
}

static enum ctl_result ctl_result_of(enum vm_fork_result r)
{
	if (vm_fork_result_is_resources(r))
		return CTL_NO_RESOURCES;
	switch (r) {
	case VM_FORK_BAD_REQUEST:
		return CTL_ARG_VALUE;
	case VM_FORK_BAD_STATE:
	case VM_FORK_PREPARE_FAILED:
		return CTL_BAD_STATE;
	default:
		return CTL_FAILED;
	}
}

static json_t *h_fork(void *ctx, json_t *args, struct ctl_error *err)
{
	uint64_t cmd_tsc = host_rdtsc(), cmd_ns = util_mono_ns();
	struct vm_ctl *vc = ctx;
	struct fork_ctx fc = { .vc = vc };
	struct vm_fork_ops ops = { .describe = describe, .child_init = child_init, .child_open = child_open,
				   .child_run = child_run, .arg = &fc };
	struct vm_fork_request req = { .cmd_host_tsc = cmd_tsc, .cmd_ns = cmd_ns, .ops = &ops };
	struct vm_fork_reply *rep;
	json_t *children, *out;
	int ret;

	fc.sockets = json_object_get(args, "sockets");
	fc.prefix = ctl_arg_string(args, "prefix", vc->path);
	fc.console_file = strcmp(ctl_arg_string(args, "console", "file"), "inherit");
	req.count = (unsigned)ctl_arg_int(args, "count", fc.sockets ? (long long)json_array_size(fc.sockets) : 1);
	req.template = ctl_arg_bool(args, "template", false);
	if (fc.sockets && json_array_size(fc.sockets) != req.count)
		return ctl_fail(err, CTL_ARG_VALUE, "argument 'sockets' of 'fork' has %zu paths for %u children",
				json_array_size(fc.sockets), req.count);
	if (fc.sockets && json_object_get(args, "prefix"))
		return ctl_fail(err, CTL_ARG_VALUE, "arguments 'sockets' and 'prefix' of 'fork' exclude each other");
	rep = malloc(sizeof(*rep));
	if (!rep)
		return ctl_fail(err, CTL_NO_MEMORY, "out of memory for the fork reply");
	ret = vm_fork(vc->vm, &req, rep);
	if (ret == VM_FORK_IN_CHILD) {
		/* a child: its main thread carries on; this reply is dropped by the forgotten server */
		free(rep);
		return NULL;
	}
	if (ret) {
		ctl_fail(err, ctl_result_of(rep->result), "%s", rep->message);
		free(rep);
		return NULL;
	}
	children = json_array();
	for (unsigned i = 0; i < rep->nr_children; i++) {
		const struct vm_fork_child *c = &rep->children[i];
		json_t *o = json_pack("{s:i, s:i, s:s, s:f}", "index", (int)c->index, "pid", (int)c->pid, "socket",
				      c->socket, "running_ms", (double)c->timing.running / 1e6);

		json_object_set_new(o, "console", c->console[0] ? json_string(c->console) : json_null());
		json_array_append_new(children, o);
	}
	out = json_pack("{s:o, s:s, s:o}", "children", children, "state", rep->paused ? "paused" : state_str(vc->vm),
			"timing", vm_fork_timing_json(&rep->timing, &rep->children[0].timing, rep->nr_children));
	free(rep);
	return out;
}

/* ---- snapshot (docs/snapshot-format.md) ---- */

static const struct ctl_arg snapshot_args[] = {
	{ .name = "path", .type = CTL_ARG_STRING, .required = true, .min = 1, .max = 4000,
	  .help = "the snapshot directory to create (must not exist)" },
	{ .name = "resume", .type = CTL_ARG_BOOL,
	  .help = "a running VM runs on after the save (default true); false: it stays paused" },
	{ .name = "progress", .type = CTL_ARG_BOOL,
	  .help = "progress event lines on this connection before the reply (default false; docs/ctl.md, Events)" },
	{ 0 },
};

/* A progress event on the snapshot's connection: what the VMM's terminal line says, as JSON. */
static void snapshot_event(const char *what, uint64_t done, uint64_t total, uint64_t elapsed_ns, void *arg)
{
	struct vm_ctl *vc = arg;
	json_t *ev = json_pack("{s:s, s:s, s:I, s:I, s:f}", "event", "progress", "what", what, "done_bytes",
			       (json_int_t)done, "total_bytes", (json_int_t)total, "elapsed_ms", (double)elapsed_ns / 1e6);

	if (ev)
		ctl_server_event(vc->srv, ev);
}

static json_t *h_snapshot(void *ctx, json_t *args, struct ctl_error *err)
{
	struct vm_ctl *vc = ctx;
	const char *dir = ctl_arg_string(args, "path", NULL), *st;
	bool running, resume = ctl_arg_bool(args, "resume", true);
	struct snapshot_progress prog = { .fd = STDERR_FILENO };
	struct snapshot_report rep;
	int ret;

	if (ctl_arg_bool(args, "progress", false)) {
		prog.event = snapshot_event;
		prog.arg = vc;
	}
	if (!vc->cfg.machine)
		return ctl_fail(err, CTL_UNSUPPORTED, "snapshot: %s", vc->cfg.no_snapshot ? vc->cfg.no_snapshot : "");
	/*
	 * Held from the state read to the end: a collapse's quiesce pauses the
	 * VM for a moment and resumes it, which must not happen under the save
	 * (a VM paused by a quiesce is running, as far as the user is concerned).
	 */
	vm_hooks_hold(vc->vm);
	st = state_str(vc->vm);
	running = !strcmp(st, "running");
	if (!running && strcmp(st, "paused")) {
		vm_hooks_release(vc->vm);
		return ctl_fail(err, CTL_BAD_STATE, "the VM is %s, not running or paused", st);
	}
	if (running && vm_pause(vc->vm)) {
		vm_hooks_release(vc->vm);
		return ctl_fail(err, CTL_FAILED, "pause: %s", vmm_last_error());
	}
	/* a long save shows how far it got where someone watches the VMM's terminal, or the client asked */
	ret = vm_snapshot_save_progress(vc->vm, dir, vc->cfg.machine, &prog, &rep);
	if (running && resume && vm_resume(vc->vm) && !ret) {
		vm_hooks_release(vc->vm);
		return ctl_fail(err, CTL_FAILED, "saved, but resume: %s", vmm_last_error());
	}
	vm_hooks_release(vc->vm);
	if (ret)
		return ctl_fail(err, ret == -EEXIST ? CTL_ARG_VALUE : ret == -ENOMEM ? CTL_NO_MEMORY : CTL_FAILED, "%s",
				vmm_last_error());
	return json_pack("{s:s, s:s, s:I, s:I, s:{s:I, s:I, s:I}, s:b, s:f, s:f, s:f}", "path", dir, "state",
			 state_str(vc->vm), "memory_bytes", (json_int_t)rep.mem.bytes, "state_bytes",
			 (json_int_t)rep.state_bytes, "extents", "data", (json_int_t)rep.mem.nr[THPVM_IMAGE_DATA], "zero",
			 (json_int_t)rep.mem.nr[THPVM_IMAGE_ZERO], "absent", (json_int_t)rep.mem.nr[THPVM_IMAGE_ABSENT],
			 "direct", rep.mem.direct, "capture_ms", (double)rep.capture_ns / 1e6, "memory_ms",
			 (double)rep.memory_ns / 1e6, "total_ms", (double)rep.total_ns / 1e6);
}

/* ---- the server ---- */

/* The VM's own commands, each schema beside its handler; the VM's subsystems add theirs (vm_hooks.ctl_register). */
const struct ctl_command vm_ctl_commands[] = {
	{ .name = "pause", .help = "stop every vCPU at an instruction boundary and quiesce the devices",
	  .handler = h_pause },
	{ .name = "resume", .help = "let a paused VM run again", .handler = h_resume },
	{ .name = "stats", .help = "KVM stats, guest memory coverage, fork and copy-on-write counters",
	  .args = stats_args, .handler = h_stats },
	{ .name = "fork", .help = "pause, capture the state and fork child VMs sharing this VM's memory",
	  .args = fork_args, .handler = h_fork },
	{ .name = "snapshot", .help = "pause, save the whole VM into a new directory, resume unless asked not to",
	  .args = snapshot_args, .handler = h_snapshot },
	{ .name = "quit", .help = "stop the VM and exit the VMM after replying", .handler = h_quit },
	{ 0 },
};

static int register_commands(struct vm_ctl *vc)
{
	struct vm *vm = vc->vm;
	int ret;

	for (const struct ctl_command *c = vm_ctl_commands; c->name; c++)
		if ((ret = ctl_server_register(vc->srv, c, vc)))
			return vmm_fail(ret, "control socket: cannot register '%s': %s", c->name, strerror(-ret));
	for (unsigned h = 0; h < vm->nr_hooks; h++)
		if (vm->hooks[h].ctl_register && (ret = vm->hooks[h].ctl_register(vm->hooks[h].arg, vm, vc->srv)))
			return vmm_fail(ret, "control socket: %s cannot register its commands: %s", vm->hooks[h].name,
					strerror(-ret));
	return 0;
}

int vm_ctl_create(const struct vm_ctl_config *cfg, struct vm_ctl **out)
{
	struct ctl_server_config sc = { .path = cfg->path };
	struct ctl_error err;
	struct vm_ctl *vc;
	int ret;

	*out = NULL;
	vc = calloc(1, sizeof(*vc));
	if (!vc || !(vc->path = strdup(cfg->path))) {
		free(vc);
		return vmm_fail(-ENOMEM, "out of memory for the control socket");
	}
	vc->cfg = *cfg;
	vc->cfg.path = NULL;
	if ((ret = ctl_server_create(&vc->srv, &sc, &err))) {
		free(vc->path);
		free(vc);
		return vmm_fail(ret, "--ctl-sock %s: %s", cfg->path, err.message);
	}
	*out = vc;
	return 0;
}

int vm_ctl_attach(struct vm_ctl *vc, struct vm *vm)
{
	int ret;

	vc->vm = vm;
	if ((ret = vm_fork_attach(vm)) || (ret = register_commands(vc)))
		return ret;
	if ((ret = ctl_server_start(vc->srv)))
		return vmm_fail(ret, "control socket: cannot start its thread: %s", strerror(-ret));
	return 0;
}

void vm_ctl_stop(struct vm_ctl *vc)
{
	if (vc && vc->srv)
		ctl_server_stop(vc->srv);
}

void vm_ctl_destroy(struct vm_ctl *vc)
{
	if (!vc)
		return;
	ctl_server_destroy(vc->srv);
	free(vc->path);
	free(vc);
}

const char *vm_ctl_path(const struct vm_ctl *vc)
{
	return vc->path;
}
