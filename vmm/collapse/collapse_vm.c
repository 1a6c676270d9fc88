/* SPDX-License-Identifier: MIT */
/*
 * The collapse thread of one VM (collapse_vm.h). The collapser itself is
 * libthpvm's; this file ties its life to the VM's through vm_hooks.
 *
 * Fork (vm_hooks): prepare pauses the collapser before the fork code pauses
 * the vCPUs (thpvm_collapse_pause() waits for the operation in flight, which
 * may itself be pausing the VM through the quiesce hook: the other order
 * could deadlock). parent resumes it unless the VM stayed paused as a
 * template: collapsing a template's split extent would give the template a
 * private copy of pages its children share. Then the collapser stays held
 * until the VM resumes; a small watcher thread waits for that on the VM's
 * condition variable (vm_resume() broadcasts it), so parent works whether
 * the fork code calls it before or after resuming. child destroys the
 * inherited collapser (in a child that only frees) and creates and starts a
 * fresh one over the child's memory with the parent's configuration.
 *
 * Locks: cv->lock guards the fields below it and is never held while calling
 * into the collapser or the VM; the watcher reads cv->closing under vm->lock.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "collapse_vm.h"
#include "util/error.h"
#include "kvm/vm.h"

struct collapse_vm {
	struct vm *vm;
	struct thpvm_collapse *c;
	pid_t owner_pid;            /* the process whose threads these are */
	bool file_backed;           /* a region userfaultfd may not protect: quiesce hook installed */
	pthread_mutex_t lock;
	struct thpvm_collapse_config cfg;
	bool started;               /* collapse_vm_start() called: the thread runs unless the mode is off */
	bool held;                  /* paused for a template: one pause of the collapser is ours */
	bool releasing;             /* the watcher gave the hold up and is resuming the collapser */
	bool watcher_running;
	bool closing;               /* under vm->lock: the watcher must end */
	pthread_t watcher;
	uint64_t nr_forks;
	uint64_t nr_quiesce_pauses, nr_quiesce_refused; /* atomics */
};

int collapse_vm_parse(const char *str, struct thpvm_collapse_config *cfg)
{
	struct thpvm_collapse_config out;
	int ret;

	thpvm_collapse_config_default(&out);
	ret = thpvm_collapse_config_parse(&out, str);
	if (ret)
		return vmm_fail(ret, "%s", thpvm_last_error());
	*cfg = out;
	return 0;
}

/*
 * Stops the VM's writers for a copy userfaultfd cannot protect. Only a
 * running VM that nobody else paused is paused (and resumed) here: pausing
 * an already paused VM and resuming it afterwards would undo the other
 * pause, and a VM not running yet could start during the copy. Otherwise the
 * extent stays split for now (QUIESCE_FAILED) and a later pass retries.
 */
static int quiesce(void *arg, bool stop)
{
	struct collapse_vm *cv = arg;
	struct vm *vm = cv->vm;

	if (!stop)
		return vm_resume(vm);
	if (vm_run_state(vm) != VM_STATE_RUNNING) {
		__atomic_add_fetch(&cv->nr_quiesce_refused, 1, __ATOMIC_RELAXED);
		return -EBUSY;
	}
	__atomic_add_fetch(&cv->nr_quiesce_pauses, 1, __ATOMIC_RELAXED);
	return vm_pause(vm);
}

static bool has_file_region(struct thpvm_memmap *mem)
{
	for (unsigned i = 0; i < thpvm_memmap_nr_regions(mem); i++) {
		struct thpvm_region_info info;

		thpvm_region_get_info(thpvm_memmap_region(mem, i), &info);
		if (info.backing == THPVM_BACKING_FILE)
			return true;
	}
	return false;
}

static void wire_quiesce(struct collapse_vm *cv, struct thpvm_collapse_config *cfg)
{
	cfg->quiesce = cv->file_backed ? quiesce : NULL;
	cfg->quiesce_arg = cv->file_backed ? cv : NULL;
}

static int create_collapser(struct collapse_vm *cv, struct thpvm_memmap *mem, struct thpvm_collapse_config *cfg)
{
	int ret;

	cv->file_backed = has_file_region(mem);
	wire_quiesce(cv, cfg);
	ret = thpvm_collapse_create(mem, cfg, &cv->c);
	if (ret)
		return vmm_fail(ret, "collapse thread: %s", thpvm_last_error());
	return 0;
}

/* Starts or stops the thread for cv->cfg's mode. */
static int apply_mode(struct collapse_vm *cv)
{
	bool want;
	int ret;

	pthread_mutex_lock(&cv->lock);
	want = cv->started && cv->cfg.mode != THPVM_COLLAPSE_MODE_OFF;
	pthread_mutex_unlock(&cv->lock);
	if (!want)
		return thpvm_collapse_stop(cv->c);
	ret = thpvm_collapse_start(cv->c);
	return ret ? vmm_fail(ret, "%s", thpvm_last_error()) : 0;
}

/* ---- the template watcher ---- */

static void *watch_template(void *arg)
{
	struct collapse_vm *cv = arg;
	struct vm *vm = cv->vm;
	bool resumed;

	pthread_mutex_lock(&vm->lock);
	while (vm_run_state_locked(vm) == VM_STATE_PAUSED && !cv->closing)
		pthread_cond_wait(&vm->cond, &vm->lock);
	/* a template that stops or goes away is no reason to copy its shared pages */
	resumed = vm_run_state_locked(vm) == VM_STATE_RUNNING && !cv->closing;
	pthread_mutex_unlock(&vm->lock);
	if (!resumed)
		return NULL;
	/*
	 * A fork from now on takes a hold of its own (held is false), but to
	 * anyone asking the hold lasts until the collapser runs again: seeing it
	 * gone and the collapser still paused was a window the lab caught.
	 */
	pthread_mutex_lock(&cv->lock);
	cv->held = false;
	cv->releasing = true;
	pthread_mutex_unlock(&cv->lock);
	thpvm_collapse_resume(cv->c);
	pthread_mutex_lock(&cv->lock);
	cv->releasing = false;
	pthread_mutex_unlock(&cv->lock);
	return NULL;
}

static void stop_watcher(struct collapse_vm *cv)
{
	bool running;

	pthread_mutex_lock(&cv->vm->lock);
	cv->closing = true;
	pthread_cond_broadcast(&cv->vm->cond);
	pthread_mutex_unlock(&cv->vm->lock);
	pthread_mutex_lock(&cv->lock);
	running = cv->watcher_running;
	cv->watcher_running = false;
	pthread_mutex_unlock(&cv->lock);
	if (running)
		pthread_join(cv->watcher, NULL);
	pthread_mutex_lock(&cv->vm->lock);
	cv->closing = false;
	pthread_mutex_unlock(&cv->vm->lock);
}

/* ---- vm_hooks ---- */

static int hook_fork_prepare(void *arg)
{
	struct collapse_vm *cv = arg;

	thpvm_collapse_pause(cv->c);
	return 0;
}

static void hook_fork_parent(void *arg)
{
	struct collapse_vm *cv = arg;
	bool paused, keep = false, join_old = false;
	pthread_t old;

	paused = vm_run_state(cv->vm) == VM_STATE_PAUSED;
	pthread_mutex_lock(&cv->lock);
	cv->nr_forks++;
	if (paused && !cv->held) {
		/* the pause fork_prepare took becomes the template's hold */
		cv->held = keep = true;
		join_old = cv->watcher_running; /* a watcher that ended on its own */
		old = cv->watcher;
		cv->watcher_running = false;
	}
	pthread_mutex_unlock(&cv->lock);
	if (!keep) {
		thpvm_collapse_resume(cv->c);
		return;
	}
	if (join_old)
		pthread_join(old, NULL);
	pthread_mutex_lock(&cv->lock);
	cv->watcher_running = !pthread_create(&cv->watcher, NULL, watch_template, cv);
	if (!cv->watcher_running)
		cv->held = false;
	pthread_mutex_unlock(&cv->lock);
	if (!cv->watcher_running) /* no watcher, no hold: better collapse a template than never again */
		thpvm_collapse_resume(cv->c);
}

static int hook_fork_child(void *arg, struct vm *vm, unsigned child_index)
{
	struct collapse_vm *cv = arg;
	struct thpvm_collapse_config cfg;
	int ret;

	(void)child_index;
	/* only the forking thread exists here: nothing else holds these locks, reset them */
	pthread_mutex_init(&cv->lock, NULL);
	thpvm_collapse_destroy(cv->c); /* in a child: closes and frees only */
	cv->c = NULL;
	cv->vm = vm;
	cv->owner_pid = getpid();
	cv->held = cv->releasing = cv->watcher_running = cv->closing = false;
	cv->nr_forks = 0;
	cv->nr_quiesce_pauses = cv->nr_quiesce_refused = 0;
	cfg = cv->cfg;
	if ((ret = create_collapser(cv, vm->mem, &cfg)))
		return ret;
	cv->cfg = cfg;
	return apply_mode(cv);
}

static json_t *hook_stats(void *arg)
{
	return collapse_vm_status(arg);
}

/*
 * A user's pause (vm_pause_for_user()) waits for the collapse in flight,
 * whose quiesce hook (file-backed RAM) could otherwise resume the VM under
 * that pause; once the VM is paused the hook refuses to touch it.
 */
static void hook_pause_begin(void *arg)
{
	struct collapse_vm *cv = arg;

	if (cv->c)
		thpvm_collapse_pause(cv->c);
}

static void hook_pause_end(void *arg)
{
	struct collapse_vm *cv = arg;

	if (cv->c)
		thpvm_collapse_resume(cv->c);
}

static void hook_destroy(void *arg)
{
	struct collapse_vm *cv = arg;

	if (getpid() == cv->owner_pid)
		stop_watcher(cv);
	thpvm_collapse_destroy(cv->c);
	pthread_mutex_destroy(&cv->lock);
	free(cv);
}

/* ---- the API ---- */

int collapse_vm_attach(struct vm *vm, const struct thpvm_collapse_config *cfg, struct collapse_vm **out)
{
	struct collapse_vm *cv = calloc(1, sizeof(*cv));
	struct vm_hooks hooks = {
		.name = COLLAPSE_VM_HOOKS,
		.fork_prepare = hook_fork_prepare,
		.fork_parent = hook_fork_parent,
		.fork_child = hook_fork_child,
		.stats = hook_stats,
		.pause_begin = hook_pause_begin,
		.pause_end = hook_pause_end,
		.destroy = hook_destroy,
		.ctl_register = collapse_ctl_register,
	};
	int ret;

	if (out)
		*out = NULL;
	if (!cv)
		return vmm_fail(-ENOMEM, "out of memory for the collapse thread");
	cv->vm = vm;
	cv->owner_pid = getpid();
	cv->cfg = *cfg;
	pthread_mutex_init(&cv->lock, NULL);
	if ((ret = create_collapser(cv, vm->mem, &cv->cfg))) {
		pthread_mutex_destroy(&cv->lock);
		free(cv);
		return ret;
	}
	hooks.arg = cv;
	if ((ret = vm_add_hooks(vm, &hooks))) {
		thpvm_collapse_destroy(cv->c);
		pthread_mutex_destroy(&cv->lock);
		free(cv);
		return ret;
	}
	if (out)
		*out = cv;
	return 0;
}

int collapse_vm_start(struct collapse_vm *cv)
{
	pthread_mutex_lock(&cv->lock);
	cv->started = true;
	pthread_mutex_unlock(&cv->lock);
	return apply_mode(cv);
}

int collapse_vm_setup(struct vm *vm, const struct thpvm_collapse_config *cfg, struct collapse_vm **out)
{
	struct collapse_vm *cv;
	int ret = collapse_vm_attach(vm, cfg, &cv);

	if (ret)
		return ret;
	if (out)
		*out = cv;
	/* the VM owns cv now: a failed start leaves it to vm_destroy() */
	return collapse_vm_start(cv);
}

struct collapse_vm *collapse_vm_of(struct vm *vm)
{
	for (unsigned i = 0; vm && i < vm->nr_hooks; i++)
		if (!strcmp(vm->hooks[i].name, COLLAPSE_VM_HOOKS))
			return vm->hooks[i].arg;
	return NULL;
}

struct thpvm_collapse *collapse_vm_collapser(struct collapse_vm *cv)
{
	return cv->c;
}

void collapse_vm_get_config(struct collapse_vm *cv, struct thpvm_collapse_config *cfg)
{
	pthread_mutex_lock(&cv->lock);
	*cfg = cv->cfg;
	pthread_mutex_unlock(&cv->lock);
}

int collapse_vm_configure(struct collapse_vm *cv, const struct thpvm_collapse_config *cfg)
{
	struct thpvm_collapse_config next = *cfg;
	int ret;

	wire_quiesce(cv, &next);
	ret = thpvm_collapse_configure(cv->c, &next);
	if (ret)
		return vmm_fail(ret, "%s", thpvm_last_error());
	pthread_mutex_lock(&cv->lock);
	cv->cfg = next;
	pthread_mutex_unlock(&cv->lock);
	return apply_mode(cv);
}

bool collapse_vm_held(struct collapse_vm *cv)
{
	bool held;

	pthread_mutex_lock(&cv->lock);
	held = cv->held || cv->releasing;
	pthread_mutex_unlock(&cv->lock);
	return held;
}

json_t *collapse_vm_status(struct collapse_vm *cv)
{
	json_t *o = cv->c ? thpvm_collapse_stats_json(cv->c) : NULL;
	uint64_t forks;
	bool held;

	if (!o)
		return NULL;
	pthread_mutex_lock(&cv->lock);
	held = cv->held || cv->releasing;
	forks = cv->nr_forks;
	pthread_mutex_unlock(&cv->lock);
	json_object_set_new(o, "held_for_template", json_boolean(held));
	json_object_set_new(o, "file_backed", json_boolean(cv->file_backed));
	json_object_set_new(o, "quiesce_pauses",
			    json_integer((json_int_t)__atomic_load_n(&cv->nr_quiesce_pauses, __ATOMIC_RELAXED)));
	json_object_set_new(o, "quiesce_refused",
			    json_integer((json_int_t)__atomic_load_n(&cv->nr_quiesce_refused, __ATOMIC_RELAXED)));
	json_object_set_new(o, "forks", json_integer((json_int_t)forks));
	return o;
}

static void print_hist(FILE *out, const char *what, const struct thpvm_collapse_hist *h)
{
	fprintf(out, "  %-22s %8llu   p50 %6llu   p99 %6llu   max %6llu us\n", what, (unsigned long long)h->count,
		(unsigned long long)thpvm_collapse_hist_percentile_us(h, 50),
		(unsigned long long)thpvm_collapse_hist_percentile_us(h, 99), (unsigned long long)((h->max_ns + 999) / 1000));
}

void collapse_vm_print(FILE *out, struct collapse_vm *cv)
{
	struct thpvm_collapse_stats s;
	bool held = collapse_vm_held(cv), any = false;

	if (!cv->c) {
		fprintf(out, "collapse thread: none (it could not be created)\n");
		return;
	}
	thpvm_collapse_stats(cv->c, &s);
	fprintf(out, "collapse thread: mode %s, engine %s, %s%s%s; userfaultfd write-protect %s\n",
		thpvm_collapse_mode_str(s.config.mode), thpvm_collapse_engine_str(s.config.engine),
		s.running ? "running" : "not running", s.paused ? ", paused" : "", held ? " (template)" : "",
		s.uffd ? "available" : "unavailable");
	if (s.kernel_note[0])
		fprintf(out, "  this kernel: %s\n", s.kernel_note);
	fprintf(out, "  passes %llu (%llu rounds), %llu extents examined, %llu candidates\n",
		(unsigned long long)s.nr_passes, (unsigned long long)s.nr_rounds, (unsigned long long)s.nr_examined,
		(unsigned long long)s.nr_candidates);
	fprintf(out, "  collapsed %llu extents (MADV_COLLAPSE %llu, copy-and-remap %llu) in %llu operations, %.1f MiB copied\n",
		(unsigned long long)s.nr_collapsed,
		(unsigned long long)s.nr_collapsed_by_engine[THPVM_COLLAPSE_ENGINE_MADV],
		(unsigned long long)s.nr_collapsed_by_engine[THPVM_COLLAPSE_ENGINE_REMAP], (unsigned long long)s.nr_ops,
		(double)s.bytes_copied / (1 << 20));
	fprintf(out, "  back-offs %llu (%llu ms asleep), VMAs %llu of %llu, writer stalls %llu\n",
		(unsigned long long)s.nr_backoffs, (unsigned long long)(s.backoff_ns / 1000000),
		(unsigned long long)s.nr_vmas, (unsigned long long)s.max_vmas, (unsigned long long)s.nr_stalls);
	print_hist(out, "operation latency", &s.latency);
	print_hist(out, "writer stall", &s.stall);
	fprintf(out, "  results:");
	for (unsigned r = 0; r < THPVM_NR_COLLAPSE_RESULTS; r++) {
		const char *name = thpvm_collapse_result_name((enum thpvm_collapse_result)r) + strlen("THPVM_COLLAPSE_");

		if (!s.results[r])
			continue;
		/* the keys of the JSON report: "not_split" */
		fputc(' ', out);
		for (; *name; name++)
			fputc(tolower((unsigned char)*name), out);
		fprintf(out, " %llu", (unsigned long long)s.results[r]);
		any = true;
	}
	fprintf(out, "%s\n", any ? "" : " none");
}
