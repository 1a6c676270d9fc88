/* SPDX-License-Identifier: MIT */
/*
 * Snapshot-fork of payload guests on real KVM, real THP and real fork():
 * children see the parent's memory and only their own writes, the parent
 * none of theirs; a child continues with the parent's registers mid-loop;
 * a child's writes split exactly the extents it wrote, one private page
 * each, while the template stays HUGE; the in-kernel irqchip, PIT, LAPIC and
 * bus devices come back in the child; subsystem hooks run in their order.
 */
#include <sys/ioctl.h>
#include <sys/wait.h>
#include "fork_test.h"
#include "helpers.h"
#include "require.h"
#include "util/error.h"
#include "kvm/vcpu.h"
#include "kvm/vm_stats.h"
#include "x86/layout.h"

static void setup(void)
{
	ft_setup();
}

static void teardown(void)
{
	ft_teardown();
}

TestSuite(fork, .init = setup, .fini = teardown, .timeout = 120);

static struct vm_fork_reply reply;

Test(fork, children_see_the_parent_pattern_and_only_their_own_writes)
{
	static const char *const args[] = { "mode=fork", "percent=10", "seed=100", "base_seed=7", "base_gen=3", NULL };
	struct guest g;
	uint64_t total = 0, checked, bad;

	REQUIRE_KVM();
	guest_setup(&g, guest_mem(64 * MIB, THPVM_BACKING_THP), "memtest", 2, 2 * MIB, args);
	g.own_mem = true;
	ft_start(&g, 2);
	cr_assert_eq(ft_fork(&g, 8, false, NULL, &reply), 0, "%s", reply.message);
	cr_assert_eq(reply.nr_children, 8);
	cr_assert_not(reply.paused, "the parent runs on after a fork without template");
	cr_assert_eq(ft_wait_children(&g), 8, "a child failed: %s", ft_why());
	for (unsigned i = 1; i <= 8; i++) {
		cr_assert_eq(ft_value(i, "fork_index"), i);
		cr_assert_eq(ft_value(i, "pages_bad"), 0, "child %u saw a wrong page", i);
		cr_assert_gt(ft_value(i, "pages_written"), 0);
		cr_assert_lt(ft_value(i, "pages_written"), ft_value(i, "pages_checked") / 5,
			     "about 10%% of the pages, not all");
		if (i == 1)
			total = ft_value(i, "pages_checked");
		cr_assert_eq(ft_value(i, "pages_checked"), total, "every child checked every page");
	}
	/* the parent now checks that no child's write shows in its memory */
	payload_request_stop(g.payload);
	cr_assert_eq(vm_wait(g.vm, test_ns(60), NULL), 0);
	cr_assert_eq(g.vm->exit.status, 0, "parent: %s\n%s", g.vm->exit.message, guest_output(&g));
	checked = guest_result(&g, "pages_checked");
	bad = guest_result(&g, "pages_bad");
	cr_assert_eq(bad, 0);
	cr_assert_eq(checked, total);
	/* and the host agrees, page by page */
	{
		const struct payload_layout *l = payload_get_layout(g.payload);
		const void *base = thpvm_memmap_gpa_to_hva(g.mem, l->ranges[0].gpa, l->ranges[0].size_bytes);

		cr_assert_eq(pattern_check(base, l->ranges[0].gpa >> 12, l->ranges[0].size_bytes >> 12, 3, 7), 0);
	}
	guest_teardown(&g);
}

/* ---- registers ---- */

static struct kvm_regs saved_regs;
static struct kvm_sregs saved_sregs;
static struct kvm_fpu saved_fpu;

/* In the child, after the restore: the new vCPU must hold what the paused parent's held. */
static int check_registers(void *arg, struct vm *vm, unsigned index)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	struct kvm_fpu f;
	int fd = vm->vcpus[0]->fd;

	(void)arg;
	(void)index;
	if (ioctl(fd, KVM_GET_REGS, &r) || ioctl(fd, KVM_GET_SREGS, &s) || ioctl(fd, KVM_GET_FPU, &f))
		return vmm_fail(-EIO, "reading the child's registers");
	if (memcmp(&r, &saved_regs, sizeof(r)))
		return vmm_fail(-EPROTO, "general registers differ: rip %llx vs %llx, rbx %llx vs %llx",
				(unsigned long long)r.rip, (unsigned long long)saved_regs.rip, (unsigned long long)r.rbx,
				(unsigned long long)saved_regs.rbx);
	if (s.cr0 != saved_sregs.cr0 || s.cr3 != saved_sregs.cr3 || s.cr4 != saved_sregs.cr4 ||
	    s.efer != saved_sregs.efer || memcmp(&s.cs, &saved_sregs.cs, sizeof(s.cs)) ||
	    memcmp(&s.tr, &saved_sregs.tr, sizeof(s.tr)) || s.gdt.base != saved_sregs.gdt.base)
		return vmm_fail(-EPROTO, "system registers differ");
	if (memcmp(f.xmm, saved_fpu.xmm, sizeof(f.xmm)) || f.mxcsr != saved_fpu.mxcsr || f.fcw != saved_fpu.fcw)
		return vmm_fail(-EPROTO, "SSE registers differ");
	return 0;
}

Test(fork, a_child_continues_with_the_parents_registers_mid_loop)
{
	static const char *const args[] = { "mode=compute", "iterations=60000000", "seed=5", NULL };
	struct vm_hooks h = { .name = "regcheck", .fork_child = check_registers };
	struct timespec ts = { 0, 20 * 1000000 };
	uint64_t x = 5, sum = 0;
	struct guest g;
	int fd;

	REQUIRE_KVM();
	for (uint64_t i = 0; i < 60000000ULL; i++) {
		x = ft_mix64(x ^ i);
		sum += x;
	}
	guest_setup(&g, NULL, "forktest", 1, 2 * MIB, args);
	cr_assert_eq(vm_add_hooks(g.vm, &h), 0);
	cr_assert_eq(vm_start(g.vm), 0);
	fd = g.vm->vcpus[0]->fd;
	/*
	 * Paused inside the loop (rcx, its counter, past 0): on a loaded host
	 * the vCPU may still be setting up after 20 ms, so look again after a
	 * resume rather than trust one sleep.
	 */
	for (unsigned tries = 0;; tries++) {
		nanosleep(&ts, NULL);
		cr_assert_eq(vm_pause(g.vm), 0);
		cr_assert_eq(g.vm->exit.reason, VM_STOP_NONE, "the loop ended before the fork: make it longer");
		cr_assert_eq(ioctl(fd, KVM_GET_REGS, &saved_regs), 0);
		if (saved_regs.rcx || tries == 50)
			break;
		cr_assert_eq(vm_resume(g.vm), 0);
	}
	cr_assert_eq(ioctl(fd, KVM_GET_SREGS, &saved_sregs), 0);
	cr_assert_eq(ioctl(fd, KVM_GET_FPU, &saved_fpu), 0);
	cr_assert_neq(saved_regs.rcx, 0, "paused inside the loop (after 50 looks)");
	cr_assert_lt(saved_regs.rcx, 60000000ULL, "paused inside the loop");

	cr_assert_eq(ft_fork(&g, 2, false, NULL, &reply), 0, "%s", reply.message);
	cr_assert_eq(ft_wait_children(&g), 2, "%s", ft_why());
	cr_assert_eq(vm_wait(g.vm, test_ns(60), NULL), 0);
	cr_assert_eq(g.vm->exit.status, 0, "%s", g.vm->exit.message);
	cr_assert_eq(guest_result(&g, "compute"), x, "parent's result");
	cr_assert_eq(guest_result(&g, "compute_xmm"), sum, "parent's SSE sum");
	cr_assert_eq(guest_result(&g, "fork_index"), 0);
	for (unsigned i = 1; i <= 2; i++) {
		cr_assert_eq(ft_value(i, "compute"), x, "child %u's result", i);
		cr_assert_eq(ft_value(i, "compute_xmm"), sum, "child %u's SSE sum", i);
		cr_assert_eq(ft_value(i, "fork_index"), i);
	}
	guest_teardown(&g);
}

/* ---- coverage: one write per extent ---- */

/* In the child after its guest wrote even extents and read odd ones of the free range (no cr_assert here). */
static void report_coverage(struct guest *g, FILE *out)
{
	const struct payload_layout *l = payload_get_layout(g->payload);
	uint64_t lo = l->ranges[0].gpa, hi = lo + l->ranges[0].size_bytes;
	unsigned split = 0, split_one_private = 0, huge = 0, other_split = 0;
	struct vm_stats_summary s;
	struct thpvm_region *r = thpvm_memmap_region(g->mem, 0);

	if (thpvm_region_refresh(r))
		fprintf(out, "refresh_failed=1\n");
	for (uint64_t e = 0; e < thpvm_region_nr_extents(r); e++) {
		struct thpvm_extent_info x;

		thpvm_region_extent(r, e, &x);
		if (x.state == THPVM_EXTENT_SPLIT)
			thpvm_region_refresh_detail(r, e);
		thpvm_region_extent(r, e, &x);
		if (x.gpa < lo || x.gpa >= hi) {
			other_split += x.state == THPVM_EXTENT_SPLIT;
			continue;
		}
		huge += x.state == THPVM_EXTENT_HUGE;
		split += x.state == THPVM_EXTENT_SPLIT;
		split_one_private += x.state == THPVM_EXTENT_SPLIT && x.detail_valid && x.nr_private == 1 &&
				     x.nr_shared == 511;
	}
	vm_stats_summary(g->vm, &s);
	fprintf(out, "split=%u\nsplit_one_private=%u\nhuge=%u\nother_split=%u\npages_2m=%llu\n", split,
		split_one_private, huge, other_split, (unsigned long long)s.pages_2m);
}

Test(fork, a_write_splits_only_its_extent_and_copies_one_page)
{
	static const char *const args[] = { "mode=touch", NULL };
	struct guest_ram_config rc = { .size_bytes = 64 * MIB, .backing = THPVM_BACKING_THP,
				       .populate = THPVM_POPULATE_PREFAULT };
	struct thpvm_coverage cov;
	struct thpvm_memmap *mem;
	struct guest g;
	uint64_t written, read;

	REQUIRE_KVM();
	REQUIRE_THP();
	cr_assert_eq(guest_ram_create(&rc, &mem), 0, "%s", vmm_last_error());
	guest_setup(&g, mem, "forktest", 1, 2 * MIB, args);
	g.own_mem = true;
	ft_start(&g, 1);
	cr_assert_eq(ft_fork(&g, 1, true, report_coverage, &reply), 0, "%s", reply.message);
	cr_assert(reply.paused, "a template stays paused");
	cr_assert_eq(ft_wait_children(&g), 1, "%s", ft_why());
	written = ft_value(1, "extents_written");
	read = ft_value(1, "extents_read");
	cr_assert_gt(written, 4);
	cr_assert_eq(ft_value(1, "split"), written, "SPLIT extents in the child = the extents it wrote");
	cr_assert_eq(ft_value(1, "split_one_private"), written, "each with 1 private page and 511 shared");
	cr_assert_eq(ft_value(1, "huge"), read, "the extents it only read stay HUGE");
	cr_assert_leq(ft_value(1, "other_split"), 4, "outside the free range only the VMM's and the payload's own");
	cr_assert_geq(ft_value(1, "pages_2m"), read, "KVM maps the read extents with 2 MiB pages in the child");
	/* the template still has all of its RAM on 2 MiB pages */
	cr_assert_eq(thpvm_memmap_coverage(g.mem, THPVM_COVERAGE_REFRESH, &cov), 0);
	cr_assert_eq(cov.nr_huge, cov.nr_extents, "template: %llu of %llu extents HUGE",
		     (unsigned long long)cov.nr_huge, (unsigned long long)cov.nr_extents);
	guest_teardown(&g);
}

/* ---- the in-kernel irqchip, PIT, LAPIC and a device with state ---- */

#define TDEV_PORT 0x300

struct tdev {
	struct device dev;
	uint64_t value;
	unsigned saves, restores, stops, starts;
};

static int tdev_access(struct device *d, struct iobus_access *a)
{
	(void)d;
	(void)a;
	return 0;
}

static json_t *tdev_save(struct device *d)
{
	struct tdev *t = d->opaque;

	t->saves++;
	return json_pack("{s:I}", "value", (json_int_t)t->value);
}

static int tdev_restore(struct device *d, const json_t *st)
{
	struct tdev *t = d->opaque;

	t->restores++;
	t->value = (uint64_t)json_integer_value(json_object_get(st, "value"));
	return 0;
}

static void tdev_stop(struct device *d)
{
	((struct tdev *)d->opaque)->stops++;
}

static void tdev_start(struct device *d)
{
	((struct tdev *)d->opaque)->starts++;
}

static const struct device_ops tdev_ops = { .access = tdev_access, .save = tdev_save, .restore = tdev_restore,
					     .stop = tdev_stop, .start = tdev_start };
static struct tdev tdev;

/* In the child before its vCPUs run: KVM's devices and ours hold what the parent set. */
static int check_platform(void *arg, struct vm *vm, unsigned index)
{
	struct kvm_irqchip pic = { .chip_id = KVM_IRQCHIP_PIC_MASTER };
	struct kvm_pit_state2 pit;
	struct kvm_lapic_state lapic;

	(void)arg;
	(void)index;
	if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &pic) || pic.chip.pic.imr != 0xfb)
		return vmm_fail(-EPROTO, "PIC mask not restored: 0x%x", pic.chip.pic.imr);
	if (ioctl(vm->vm_fd, KVM_GET_PIT2, &pit) || pit.channels[0].count != 4321 || pit.channels[0].mode != 2)
		return vmm_fail(-EPROTO, "PIT channel 0 not restored: count %u mode %u", pit.channels[0].count,
				pit.channels[0].mode);
	if (ioctl(vm->vcpus[0]->fd, KVM_GET_LAPIC, &lapic) || lapic.regs[0x80] != 0x20)
		return vmm_fail(-EPROTO, "LAPIC TPR not restored: 0x%x", (unsigned)(uint8_t)lapic.regs[0x80]);
	if (tdev.value != 41 || tdev.restores != 1)
		return vmm_fail(-EPROTO, "device state: value %llu, %u restores", (unsigned long long)tdev.value,
				tdev.restores);
	return 0;
}

static void report_device(struct guest *g, FILE *out)
{
	(void)g;
	fprintf(out, "dev_starts=%u\n", tdev.starts);
}

Test(fork, irqchip_pit_lapic_and_device_state_come_back_in_the_child)
{
	static const char *const args[] = { "mode=latency", NULL };
	struct vm_config vc = { .nr_cpus = 2, .features = VM_F_IRQCHIP | VM_F_PIT };
	struct payload_config pc = { .guest_page_size = 2 * MIB };
	struct vm_hooks h = { .name = "platform", .fork_child = check_platform };
	struct kvm_mp_state runnable = { .mp_state = KVM_MP_STATE_RUNNABLE };
	struct kvm_irqchip pic = { .chip_id = KVM_IRQCHIP_PIC_MASTER };
	struct kvm_pit_state2 pit;
	struct kvm_lapic_state lapic;
	struct guest g;

	REQUIRE_KVM();
	/* the guest of guest_setup(), on a VM with the in-kernel platform */
	memset(&g, 0, sizeof(g));
	kvm_test_payload_dir();
	g.own_mem = true;
	g.mem = guest_mem(64 * MIB, THPVM_BACKING_THP);
	cr_assert_eq(payload_image_load("forktest", &g.image), 0);
	for (unsigned i = 0; args[i]; i++)
		cr_assert_eq(payload_args_add(&g.args, args[i]), 0);
	g.out = open_memstream(&g.out_buf, &g.out_len);
	pc.image = &g.image;
	pc.args = &g.args;
	pc.out = g.out;
	cr_assert_eq(vm_create(&vc, g.mem, &g.vm), 0, "%s", vmm_last_error());
	cr_assert_eq(payload_setup(g.vm, &pc, &g.payload), 0, "%s", vmm_last_error());
	/* an AP waits for INIT/SIPI under the in-kernel LAPIC: payloads start every vCPU at once */
	cr_assert_eq(ioctl(g.vm->vcpus[1]->fd, KVM_SET_MP_STATE, &runnable), 0);
	memset(&tdev, 0, sizeof(tdev));
	tdev.dev = (struct device){ .name = "tdev", .ops = &tdev_ops, .opaque = &tdev };
	cr_assert_eq(vm_add_device(g.vm, IOBUS_PIO, TDEV_PORT, 1, &tdev.dev), 0);
	cr_assert_eq(vm_add_hooks(g.vm, &h), 0);

	cr_assert_eq(ioctl(g.vm->vm_fd, KVM_GET_IRQCHIP, &pic), 0);
	pic.chip.pic.imr = 0xfb;
	cr_assert_eq(ioctl(g.vm->vm_fd, KVM_SET_IRQCHIP, &pic), 0);
	cr_assert_eq(ioctl(g.vm->vm_fd, KVM_GET_PIT2, &pit), 0);
	pit.channels[0].count = 4321;
	pit.channels[0].mode = 2;
	cr_assert_eq(ioctl(g.vm->vm_fd, KVM_SET_PIT2, &pit), 0);
	cr_assert_eq(ioctl(g.vm->vcpus[0]->fd, KVM_GET_LAPIC, &lapic), 0);
	lapic.regs[0x80] = 0x20;
	cr_assert_eq(ioctl(g.vm->vcpus[0]->fd, KVM_SET_LAPIC, &lapic), 0);
	tdev.value = 41;

	ft_start(&g, 2);
	cr_assert_eq(ft_fork(&g, 1, true, report_device, &reply), 0, "%s", reply.message);
	cr_assert_eq(ft_wait_children(&g), 1, "%s", ft_why());
	cr_assert_eq(ft_value(1, "fork_index"), 1);
	cr_assert_eq(ft_value(1, "dev_starts"), 1, "the child starts its device again");
	cr_assert_eq(tdev.saves, 1);
	cr_assert_eq(tdev.stops, 1, "the parent's pause stopped the device");
	cr_assert_eq(tdev.starts, 0, "a template stays paused: its device stays stopped");
	cr_assert_gt(ft_value(1, "fork_latency_cycles"), 0, "the child's TSC runs on from the parent's");
	payload_request_stop(g.payload);
	cr_assert_eq(vm_resume(g.vm), 0);
	cr_assert_eq(vm_wait(g.vm, test_ns(60), NULL), 0);
	cr_assert_eq(g.vm->exit.status, 0, "%s", g.vm->exit.message);
	guest_teardown(&g);
}

/* ---- hooks ---- */

struct order {
	int prepared_while_paused;      /* 1 if the VM was paused when prepare ran */
	unsigned prepares, parents;
	bool refuse;
};
static struct order hook_a, hook_b;
static struct vm *hook_vm;

static int order_prepare(void *arg)
{
	struct order *o = arg;

	o->prepares++;
	o->prepared_while_paused = vm_run_state(hook_vm) == VM_STATE_PAUSED;
	return o->refuse ? vmm_fail(-EBUSY, "test hook refuses") : 0;
}

static void order_parent(void *arg)
{
	((struct order *)arg)->parents++;
}

static int order_child(void *arg, struct vm *vm, unsigned index)
{
	struct order *o = arg;

	(void)index;
	/* the child's own KVM VM exists and its vCPUs have not started */
	return o->prepares == 1 && vm_run_state(vm) == VM_STATE_CREATED && vm->vm_fd >= 0 ? 0 : vmm_fail(-EPROTO, "child hook out of order");
}

Test(fork, hooks_prepare_before_the_pause_and_a_refusal_aborts_the_fork)
{
	static const char *const args[] = { "mode=latency", NULL };
	struct vm_hooks a = { .name = "a", .arg = &hook_a, .fork_prepare = order_prepare, .fork_parent = order_parent,
			      .fork_child = order_child };
	struct vm_hooks b = { .name = "b", .arg = &hook_b, .fork_prepare = order_prepare, .fork_parent = order_parent };
	struct guest g;

	REQUIRE_KVM();
	memset(&hook_a, 0, sizeof(hook_a));
	memset(&hook_b, 0, sizeof(hook_b));
	guest_setup(&g, NULL, "forktest", 1, 2 * MIB, args);
	hook_vm = g.vm;
	cr_assert_eq(vm_add_hooks(g.vm, &a), 0);
	cr_assert_eq(vm_add_hooks(g.vm, &b), 0);
	ft_start(&g, 1);

	hook_b.refuse = true;
	cr_assert_eq(ft_fork(&g, 1, true, NULL, &reply), -EBUSY);
	cr_assert_eq(reply.result, VM_FORK_PREPARE_FAILED);
	cr_assert(strstr(reply.message, "b could not prepare for the fork: test hook refuses"), "%s", reply.message);
	cr_assert_eq(hook_a.parents, 1, "a, prepared, is told the fork is over");
	cr_assert_eq(hook_b.parents, 0, "b refused: nothing to undo");
	cr_assert_not(vm_run_state(g.vm) == VM_STATE_PAUSED, "the VM was never paused");
	cr_assert_eq(reply.nr_children, 0);

	hook_b.refuse = false;
	hook_a.prepares = hook_b.prepares = hook_a.parents = hook_b.parents = 0;
	cr_assert_eq(ft_fork(&g, 1, true, NULL, &reply), 0, "%s", reply.message);
	cr_assert_eq(hook_a.prepares, 1);
	cr_assert_eq(hook_a.prepared_while_paused, 0, "prepare runs before the pause");
	cr_assert_eq(hook_a.parents, 1);
	cr_assert_eq(hook_b.parents, 1);
	cr_assert_eq(ft_wait_children(&g), 1, "the child's hook saw its new VM before its vCPUs ran: %s", ft_why());
	payload_request_stop(g.payload);
	cr_assert_eq(vm_resume(g.vm), 0);
	cr_assert_eq(vm_wait(g.vm, test_ns(60), NULL), 0);
	guest_teardown(&g);
}

Test(fork, a_stopped_vm_or_a_bad_count_is_refused)
{
	static const char *const args[] = { "mode=latency", NULL };
	struct guest g;

	REQUIRE_KVM();
	guest_setup(&g, NULL, "forktest", 1, 2 * MIB, args);
	ft_start(&g, 1);
	cr_assert_eq(ft_fork(&g, 0, false, NULL, &reply), -EINVAL);
	cr_assert_eq(reply.result, VM_FORK_BAD_REQUEST);
	cr_assert_eq(ft_fork(&g, VM_FORK_MAX_COUNT + 1, false, NULL, &reply), -EINVAL);
	payload_request_stop(g.payload);
	cr_assert_eq(vm_wait(g.vm, test_ns(60), NULL), 0);
	cr_assert_eq(ft_fork(&g, 1, false, NULL, &reply), -EBUSY, "%s", reply.message);
	cr_assert_eq(reply.result, VM_FORK_BAD_STATE);
	cr_assert(strstr(reply.message, "stopped"), "%s", reply.message);
	guest_teardown(&g);
}
