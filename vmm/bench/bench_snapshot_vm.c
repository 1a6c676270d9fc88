/* SPDX-License-Identifier: MIT */
/*
 * thpvm bench snapshot, a whole VM: the path `thpvm run --restore` takes
 * (the snapshot's state file, a machine built again from its description,
 * the memory files read into fresh THP RAM, the vCPUs' state), timed to the
 * moment the VM could run, and the save of a running VM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <thpvm.h>
#include "bench.h"
#include "bench_snapshot.h"
#include "machine/guest_ram.h"
#include "machine/machine.h"
#include "state/snapshot_dir.h"
#include "util/clock.h"
#include "util/error.h"
#include "../kvm/vm.h"
#include "../kvm/vm_stats.h"

#define VM_CPUS 2                   /* the guest fills its RAM on both of this machine's cores */
#define RUN_MS 100                  /* the restored guest's first instructions, before KVM's count is read */

/* A built VM and what it holds. */
struct built {
	struct payload_image img;
	struct thpvm_memmap *mem;
	struct vm *vm;
	struct payload *p;
};

static void built_free(struct built *b)
{
	vm_destroy(b->vm);
	thpvm_memmap_destroy(b->mem);
	payload_image_free(&b->img);
	*b = (struct built){ 0 };
}

/* The machine mc describes, built as `thpvm run` builds it (RAM on demand, the payload set up in it), not started. */
static int build(struct snap_vm *sv, const struct machine_config *mc, enum thpvm_backing backing, struct built *b)
{
	struct guest_ram_config rc = { .size_bytes = mc->memory_bytes, .backing = backing,
				       .populate = THPVM_POPULATE_ON_DEMAND };
	struct payload_config pc = { .image = &b->img, .args = &mc->args, .guest_page_size = mc->guest_page_size,
				     .out = sv->null, .quiet_results = true };
	int ret;

	*b = (struct built){ 0 };
	if ((ret = payload_image_load(mc->payload, &b->img)) || (ret = guest_ram_create(&rc, &b->mem)) ||
	    (ret = payload_vm_create(b->mem, mc->nr_cpus, &pc, &b->vm, &b->p)))
		built_free(b);
	return ret;
}

static int save(struct snap_vm *sv, struct vm *vm, const json_t *machine, double *v)
{
	struct snapshot_report rep;
	int ret;

	if ((ret = vm_snapshot_save(vm, sv->dir, machine, &rep)))
		return ret;
	sv->data_bytes = rep.mem.bytes;
	sv->direct = rep.mem.direct;
	if (v) {
		v[SM_VM_SAVE] = (double)rep.total_ns / 1e6;
		v[SM_VM_SAVE_GBPS] = rep.memory_ns ? (double)rep.mem.bytes / (double)rep.memory_ns : 0.0;
	}
	return 0;
}

int snap_vm_setup(struct snap_vm *sv, uint64_t size, const char *dir)
{
	struct machine_config mc = { .payload = "memtest", .memory_bytes = size, .nr_cpus = VM_CPUS,
				     .guest_page_size = THPVM_EXTENT_SIZE };
	/* writing all of its RAM takes the guest ~1 s/GiB here, more where the memory is cold */
	uint64_t deadline = util_mono_ns() + (60 + 10 * (size >> 30)) * 1000000000ULL;
	json_t *machine = NULL;
	struct built b = { 0 };
	int ret;

	*sv = (struct snap_vm){ .size = size };
	snprintf(sv->dir, sizeof(sv->dir), "%s", dir);
	if (!(sv->null = fopen("/dev/null", "w")))
		return vmm_fail(-errno, "/dev/null: %s", strerror(errno));
	/* mode=fork without size: memtest writes its pattern over all its free RAM, then waits, idling */
	if ((ret = payload_args_add(&mc.args, "mode=fork")))
		return ret;
	if (!(machine = machine_config_to_json(&mc, THPVM_BACKING_THP)))
		return -EINVAL;
	if ((ret = build(sv, &mc, THPVM_BACKING_THP, &b)) || (ret = vm_start(b.vm)))
		goto out;
	while (payload_fork_waiting(b.p) < VM_CPUS && !ret) {
		if (vm_run_state(b.vm) == VM_STATE_STOPPED)
			ret = vmm_fail(-EIO, "memtest ended before it waited: %s", b.vm->exit.message);
		else if (util_mono_ns() > deadline)
			ret = vmm_fail(-ETIMEDOUT, "memtest did not write its %llu MiB in time",
				       (unsigned long long)(size >> 20));
		else
			bench_sleep_ms(10);
	}
	if (!ret && !(ret = vm_pause(b.vm)))
		ret = save(sv, b.vm, machine, NULL);
out:
	built_free(&b);
	json_decref(machine);
	return ret;
}

int snap_vm_once(struct snap_vm *sv, bool warm, double *v)
{
	struct snapshot_state s;
	struct snapshot_report rep;
	struct machine_config mc = { 0 };
	struct vm_stats_summary sum;
	struct thpvm_coverage cov;
	enum thpvm_backing backing;
	struct built b = { 0 };
	uint64_t t0;
	int ret;

	if (warm)
		bench_warm_memory(sv->size);
	t0 = util_mono_ns();
	/* s is cleared first thing, so freeing it is safe whatever fails */
	if ((ret = vm_snapshot_open(sv->dir, &s)) || (ret = machine_config_from_json(s.config, &mc, &backing)) ||
	    (ret = build(sv, &mc, backing, &b)) || (ret = vm_snapshot_load(b.vm, sv->dir, &s, false, &rep)))
		goto out;
	v[SM_VM_RESTORE] = (double)(util_mono_ns() - t0) / 1e6;
	v[SM_VM_LOAD_MEM] = (double)rep.memory_ns / 1e6;
	v[SM_VM_LOAD_GBPS] = rep.memory_ns ? (double)rep.mem.bytes / (double)rep.memory_ns : 0.0;
	if (thpvm_memmap_coverage(b.mem, THPVM_COVERAGE_REFRESH, &cov)) {
		ret = vmm_fail(-EIO, "%s", thpvm_last_error());
		goto out;
	}
	v[SM_VM_HUGE] = snap_huge_pct(&cov);
	/* KVM maps guest memory as the guest touches it: its count means something only once the guest ran */
	if ((ret = vm_start(b.vm)))
		goto out;
	bench_sleep_ms(RUN_MS);
	if (vm_run_state(b.vm) == VM_STATE_STOPPED) {
		ret = vmm_fail(-EIO, "the restored guest stopped: %s", b.vm->exit.message);
		goto out;
	}
	if ((ret = vm_stats_summary(b.vm, &sum)))
		goto out;
	v[SM_VM_PAGES_2M] = sum.kvm_valid ? (double)sum.pages_2m : -1.0;
	/* the restored VM, paused, is saved in its snapshot's place: the next sample restores what it wrote */
	if (!(ret = vm_pause(b.vm)) && !(ret = snap_rm_tree(sv->dir)))
		ret = save(sv, b.vm, s.config, v);
out:
	built_free(&b);
	snapshot_state_free(&s);
	return ret;
}

void snap_vm_free(struct snap_vm *sv)
{
	if (sv->null)
		fclose(sv->null);
	sv->null = NULL;
}
