/* SPDX-License-Identifier: MIT */
/* The VM object: start-up table and unwinding, features, devices, re-creation over the same memory. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include "kvm_test.h"
#include "util/error.h"
#include "kvm/vcpu.h"
#include "kvm/vm_stats.h"
#include "x86/layout.h"

#define A(...) ((const char *const[]){ __VA_ARGS__, NULL })

TestSuite(vm, .timeout = 60);

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

Test(vm, failed_startup_step_is_named_and_unwound)
{
	struct thpvm_memmap *mem;
	struct vm_config cfg = { .nr_cpus = 2, .features = VM_F_PIT };
	struct vm *vm;
	int fds;

	REQUIRE_KVM();
	mem = guest_mem(16 * 1024 * 1024, THPVM_BACKING_THP);
	fds = count_fds();
	cr_assert_eq(vm_create(&cfg, mem, &vm), -EINVAL);
	cr_assert_null(vm);
	cr_assert_str_eq(vmm_last_error(), "create the in-kernel PIT: the in-kernel PIT needs the in-kernel irqchip");
	cr_assert_eq(count_fds(), fds, "the steps done were unwound (no fd left open)");
	thpvm_memmap_destroy(mem);
}

Test(vm, create_and_destroy_leave_nothing_behind)
{
	struct thpvm_memmap *mem;
	struct vm_config cfg = { .nr_cpus = 4 };
	struct vm *vm;
	int fds;

	REQUIRE_KVM();
	mem = guest_mem(16 * 1024 * 1024, THPVM_BACKING_THP);
	fds = count_fds();
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(vm_create(&cfg, mem, &vm), 0, "%s", vmm_last_error());
		cr_assert_eq(vm->nr_vcpus, 4);
		cr_assert_eq(vm->nr_slots, 1);
		vm_destroy(vm);
	}
	cr_assert_eq(count_fds(), fds);
	thpvm_memmap_destroy(mem);
}

Test(vm, irqchip_and_pit_are_optional_features)
{
	struct thpvm_memmap *mem;
	struct vm_config cfg = { .nr_cpus = 1, .features = VM_F_IRQCHIP | VM_F_PIT };
	struct vm *vm;

	REQUIRE_KVM();
	mem = guest_mem(16 * 1024 * 1024, THPVM_BACKING_THP);
	cr_assert_eq(vm_create(&cfg, mem, &vm), 0, "%s", vmm_last_error());
	cr_assert_eq(vm_irq_line(vm, 4, true), 0, "%s", vmm_last_error());
	cr_assert_eq(vm_irq_line(vm, 4, false), 0);
	vm_destroy(vm);
	cfg.features = 0;
	cr_assert_eq(vm_create(&cfg, mem, &vm), 0);
	cr_assert_eq(vm_irq_line(vm, 4, true), -ENODEV);
	vm_destroy(vm);
	thpvm_memmap_destroy(mem);
}

/* An MMIO device in the payload's probe window: records what the guest wrote. */
struct probe {
	pthread_mutex_t lock;
	unsigned nr;
	struct iobus_access last;
	uint8_t data[8];
};

static int probe_access(struct device *dev, struct iobus_access *a)
{
	struct probe *p = dev->opaque;

	pthread_mutex_lock(&p->lock);
	p->nr++;
	p->last = *a;
	memcpy(p->data, a->data, a->size);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

Test(vm, mmio_devices_see_guest_writes)
{
	static const struct device_ops ops = { .access = probe_access };
	struct probe p = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct device dev = { .name = "probe", .ops = &ops, .opaque = &p };
	struct guest g;
	const struct vm_exit_info *e;
	uint32_t v;

	REQUIRE_KVM();
	guest_setup(&g, NULL, "selftest", 1, 2 << 20, A("mode=mmio"));
	cr_assert_eq(vm_add_device(g.vm, IOBUS_MMIO, X86_PAYLOAD_MMIO_PROBE_GPA, 4096, &dev), 0);
	cr_assert_eq(dev.vm, g.vm);
	e = guest_run(&g, 10000);
	/* the write is handled; the payload carries on into its ud2 */
	cr_assert_eq(p.nr, 1);
	cr_assert(p.last.is_write);
	cr_assert_eq(p.last.addr, X86_PAYLOAD_MMIO_PROBE_GPA);
	cr_assert_eq(p.last.offset, 0);
	cr_assert_eq(p.last.size, 4);
	memcpy(&v, p.data, 4);
	cr_assert_eq(v, 0x12345678);
	cr_assert(strstr(e->message, "#UD"), "%s", e->message);
	/* registering after the start is refused */
	cr_assert_eq(vm_add_device(g.vm, IOBUS_MMIO, X86_PAYLOAD_MMIO_PROBE_GPA + 4096, 4096, &dev), -EBUSY);
	guest_teardown(&g);
}

/* What a forked child does: new KVM objects over the same memory, the captured vCPU state put back. */
Test(vm, kvm_objects_can_be_created_again_over_the_same_memory)
{
	struct guest g;
	struct kvm_regs regs[2];
	struct kvm_sregs sregs[2];
	int old_vm_fd;

	REQUIRE_KVM();
	guest_setup(&g, NULL, "selftest", 2, 2 << 20, A("status=9"));
	for (unsigned i = 0; i < 2; i++) {
		cr_assert_eq(vcpu_get_regs(g.vm->vcpus[i], &regs[i]), 0);
		cr_assert_eq(vcpu_get_sregs(g.vm->vcpus[i], &sregs[i]), 0);
	}
	old_vm_fd = g.vm->vm_fd;
	vm_kvm_destroy(g.vm);
	cr_assert_eq(g.vm->nr_vcpus, 0);
	cr_assert_eq(vm_kvm_create(g.vm), 0, "%s", vmm_last_error());
	cr_assert_eq(g.vm->nr_vcpus, 2);
	(void)old_vm_fd;
	for (unsigned i = 0; i < 2; i++) {
		cr_assert_eq(vcpu_set_sregs(g.vm->vcpus[i], &sregs[i]), 0);
		cr_assert_eq(vcpu_set_regs(g.vm->vcpus[i], &regs[i]), 0);
	}
	cr_assert_eq(guest_run(&g, 10000)->status, 9, "%s", g.vm->exit.message);
	cr_assert_eq(guest_result(&g, "answer"), 42);
	guest_teardown(&g);
}

static char destroyed[8];
static unsigned nr_destroyed;

static json_t *hook_stats(void *arg)
{
	return json_pack("{s:s}", "who", (const char *)arg);
}

static void hook_destroy(void *arg)
{
	destroyed[nr_destroyed++] = *(const char *)arg;
}

Test(vm, hooks_add_stats_and_are_destroyed_in_reverse)
{
	struct thpvm_memmap *mem;
	struct vm_config cfg = { .nr_cpus = 1 };
	struct vm_hooks a = { .name = "alpha", .arg = "a", .stats = hook_stats, .destroy = hook_destroy };
	struct vm_hooks b = { .name = "beta", .arg = "b", .destroy = hook_destroy };
	struct vm *vm;
	json_t *st;

	REQUIRE_KVM();
	mem = guest_mem(16 * 1024 * 1024, THPVM_BACKING_THP);
	cr_assert_eq(vm_create(&cfg, mem, &vm), 0, "%s", vmm_last_error());
	cr_assert_eq(vm_add_hooks(vm, &a), 0);
	cr_assert_eq(vm_add_hooks(vm, &b), 0);
	cr_assert_eq(vm_add_hooks(vm, &a), -EEXIST);
	cr_assert_str_eq(vmm_last_error(), "VM hooks 'alpha' added twice");
	for (unsigned i = 2; i < VM_MAX_HOOKS; i++) {
		struct vm_hooks h = { .name = (const char *[]){ "2", "3", "4", "5", "6", "7" }[i - 2] };

		cr_assert_eq(vm_add_hooks(vm, &h), 0);
	}
	cr_assert_eq(vm_add_hooks(vm, &(struct vm_hooks){ .name = "one-too-many" }), -ENOSPC);
	st = vm_stats_json(vm);
	cr_assert_not_null(st, "%s", vmm_last_error());
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(st, "alpha"), "who")), "a");
	cr_assert_null(json_object_get(st, "beta"), "a hook without stats adds nothing");
	json_decref(st);
	vm_destroy(vm);
	cr_assert_eq(nr_destroyed, 2);
	cr_assert_eq(destroyed[0], 'b', "last added is destroyed first");
	cr_assert_eq(destroyed[1], 'a');
	thpvm_memmap_destroy(mem);
}
