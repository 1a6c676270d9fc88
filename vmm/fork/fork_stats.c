/* SPDX-License-Identifier: MIT */
/*
 * The "fork" object of a VM's stats: who it is, what it forked, where the
 * last fork's time went, and what its guest RAM owns versus shares.
 *
 * Private vs shared comes from /proc/self/smaps of the guest RAM mappings:
 * the kernel counts each 4 KiB page by its own mapcount there (this kernel
 * has CONFIG_PAGE_MAPCOUNT), so a template's HUGE extent whose THP a child
 * has partly copied shows exactly the pages still shared. pagemap's
 * exclusive bit, which libthpvm's per-extent detail uses, is exact only for
 * SPLIT extents (for a PMD-mapped THP it reflects the head page alone), so
 * the extent counts below give the layout (HUGE / SPLIT / ABSENT and the
 * private / shared pages of SPLIT extents) and smaps gives the bytes.
 */
#include "config.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "internal.h"
#include "util/error.h"
#include "kvm/vm.h"

/* A VMA that overlaps guest RAM. */
static bool in_guest_ram(uint64_t start, uint64_t end, void *arg)
{
	struct thpvm_memmap *mem = arg;

	for (unsigned i = 0; i < thpvm_memmap_nr_regions(mem); i++) {
		struct thpvm_region_info info;
		uint64_t hva;

		thpvm_region_get_info(thpvm_memmap_region(mem, i), &info);
		hva = (uint64_t)(uintptr_t)info.hva;
		if (start < hva + info.size_bytes && end > hva)
			return true;
	}
	return false;
}

/* Pss of the whole process (/proc/PID/smaps_rollup), 0 when unreadable. */
static uint64_t process_pss(pid_t pid)
{
	struct thpvm_smaps s;

	return thpvm_smaps_read(pid, NULL, NULL, &s) ? 0 : s.pss;
}

int vm_fork_memory(struct thpvm_memmap *mem, pid_t pid, struct vm_fork_memory *out)
{
	struct thpvm_smaps s = { 0 };
	int ret = mem ? thpvm_smaps_read(pid, in_guest_ram, mem, &s) : 0;

	memset(out, 0, sizeof(*out));
	if (ret)
		return ret;
	out->rss_bytes = s.rss;
	out->pss_bytes = s.pss;
	out->private_bytes = s.private_clean + s.private_dirty;
	out->shared_bytes = s.shared_clean + s.shared_dirty;
	out->anon_huge_bytes = s.anon_huge;
	out->process_pss_bytes = process_pss(pid ? pid : getpid());
	return 0;
}

json_t *fork_memory_json(struct vm *vm)
{
	struct thpvm_coverage cov;
	struct thpvm_smaps s;
	json_t *o = json_object();
	int ret;

	if ((ret = thpvm_memmap_coverage(vm->mem, THPVM_COVERAGE_REFRESH | THPVM_COVERAGE_DETAIL, &cov))) {
		json_object_set_new(o, "error", json_string(thpvm_last_error()));
		return o;
	}
	json_object_set_new(o, "guest_ram_bytes", json_integer((json_int_t)cov.size_bytes));
	if (!thpvm_smaps_read(0, in_guest_ram, vm->mem, &s)) {
		json_object_set_new(o, "rss_bytes", json_integer((json_int_t)s.rss));
		json_object_set_new(o, "pss_bytes", json_integer((json_int_t)s.pss));
		json_object_set_new(o, "private_bytes", json_integer((json_int_t)(s.private_clean + s.private_dirty)));
		json_object_set_new(o, "shared_bytes", json_integer((json_int_t)(s.shared_clean + s.shared_dirty)));
		json_object_set_new(o, "anon_huge_bytes", json_integer((json_int_t)s.anon_huge));
		json_object_set_new(o, "vmas", json_integer(s.nr_vmas));
	}
	json_object_set_new(o, "huge_extents", json_integer((json_int_t)cov.nr_huge));
	json_object_set_new(o, "split_extents", json_integer((json_int_t)cov.nr_split));
	json_object_set_new(o, "absent_extents", json_integer((json_int_t)cov.nr_absent));
	if (cov.detail_valid) {
		json_object_set_new(o, "split_private_bytes", json_integer((json_int_t)cov.split_private_bytes));
		json_object_set_new(o, "split_shared_bytes", json_integer((json_int_t)cov.split_shared_bytes));
		json_object_set_new(o, "split_absent_bytes", json_integer((json_int_t)cov.split_absent_bytes));
	}
	json_object_set_new(o, "process_pss_bytes", json_integer((json_int_t)process_pss(getpid())));
	return o;
}

static json_t *ms(uint64_t ns)
{
	return json_real((double)ns / 1e6);
}

static json_t *timing_json(const struct vm_fork_timing *t, const struct vm_fork_child_timing *c, unsigned count)
{
	json_t *p = json_object(), *k = json_object();

	json_object_set_new(p, "count", json_integer(count));
	json_object_set_new(p, "prepare_ms", ms(t->prepare_ns));
	json_object_set_new(p, "pause_ms", ms(t->pause_ns));
	json_object_set_new(p, "capture_ms", ms(t->capture_ns));
	json_object_set_new(p, "capture_complete_io_ms", ms(t->complete_io_ns));
	json_object_set_new(p, "capture_vcpus_ms", ms(t->capture_vcpus_ns));
	json_object_set_new(p, "capture_vm_ms", ms(t->capture_vm_ns));
	json_object_set_new(p, "capture_devices_ms", ms(t->capture_devices_ns));
	json_object_set_new(p, "fork_ms", ms(t->fork_ns));
	json_object_set_new(p, "fork_max_ms", ms(t->fork_max_ns));
	json_object_set_new(p, "ready_wait_ms", ms(t->ready_ns));
	json_object_set_new(p, "resume_ms", ms(t->resume_ns));
	json_object_set_new(p, "total_ms", ms(t->total_ns));
	json_object_set_new(k, "started_ms", ms(c->started));
	json_object_set_new(k, "init_ms", ms(c->init_ns));
	json_object_set_new(k, "destroy_ms", ms(c->destroy_ns));
	json_object_set_new(k, "create_ms", ms(c->create_ns));
	json_object_set_new(k, "memslots_ms", ms(c->memslots_ns));
	json_object_set_new(k, "vcpus_ms", ms(c->vcpus_ns));
	json_object_set_new(k, "restore_ms", ms(c->restore_ns));
	json_object_set_new(k, "hooks_ms", ms(c->hooks_ns));
	json_object_set_new(k, "start_ms", ms(c->start_ns));
	json_object_set_new(k, "open_ms", ms(c->open_ns));
	json_object_set_new(k, "running_ms", ms(c->running));
	json_object_set_new(p, "first_child", k);
	return p;
}

json_t *vm_fork_timing_json(const struct vm_fork_timing *t, const struct vm_fork_child_timing *c, unsigned count)
{
	return timing_json(t, c, count);
}

json_t *vm_fork_stats_json(struct vm *vm)
{
	struct fork_state *fs = fork_state_get(vm);
	json_t *o, *results;
	unsigned running = 0, exited = 0;

	if (!fs)
		return NULL;
	o = json_object();
	results = json_object();
	pthread_mutex_lock(&fs->lock);
	json_object_set_new(o, "pid", json_integer(getpid()));
	json_object_set_new(o, "index", json_integer(fs->id.index));
	json_object_set_new(o, "depth", json_integer(fs->id.depth));
	if (fs->id.depth)
		json_object_set_new(o, "parent_pid", json_integer(fs->id.parent_pid));
	json_object_set_new(o, "paused", json_boolean(vm_run_state(vm) == VM_STATE_PAUSED));
	json_object_set_new(o, "requests", json_integer((json_int_t)fs->nr_requests));
	json_object_set_new(o, "children_made", json_integer((json_int_t)fs->nr_children_made));
	for (unsigned i = 0; i < fs->nr_children; i++) {
		running += !fs->children[i].exited;
		exited += fs->children[i].exited;
	}
	json_object_set_new(o, "children_running", json_integer(running));
	json_object_set_new(o, "children_reaped", json_integer((json_int_t)fs->nr_exited));
	for (unsigned r = 0; r < VM_FORK_NR_RESULTS; r++) {
		char code[48];

		if (!fs->results[r])
			continue;
		vm_fork_result_code(r, code, sizeof(code));
		json_object_set_new(results, code, json_integer((json_int_t)fs->results[r]));
	}
	json_object_set_new(o, "results", results);
	if (fs->last_error[0])
		json_object_set_new(o, "last_error", json_string(fs->last_error));
	if (fs->has_last)
		json_object_set_new(o, "last", timing_json(&fs->last, &fs->last_child, fs->last_count));
	pthread_mutex_unlock(&fs->lock);
	(void)exited;
	json_object_set_new(o, "children", fork_children_json(fs));
	json_object_set_new(o, "memory", fork_memory_json(vm));
	return o;
}
