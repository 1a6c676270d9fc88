/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include "vm.h"
#include "vcpu.h"
#include "util/error.h"
#include "util/clock.h"

THPVM_RESULT_LOOKUPS(, vm_stop_reason, enum vm_stop_reason, VM_STOP_REASONS, VM_NR_STOP_REASONS, "VM_STOP_UNKNOWN",
		     EINVAL)

/* ---- the start-up table ---- */

static int step_kvm_open(struct vm *vm)
{
	int ver;

	/* /dev/kvm is not bound to a process: a forked child keeps using its parent's (it may have lost the right to open it) */
	vm->kvm_fd = vm->kvm_fd_next >= 0 ? vm->kvm_fd_next : open("/dev/kvm", O_RDWR | O_CLOEXEC);
	vm->kvm_fd_next = -1;
	if (vm->kvm_fd < 0)
		return vmm_fail(-errno, "cannot open /dev/kvm: %s%s", strerror(errno),
				errno == ENOENT ? " (KVM is not available on this host)" : "");
	ver = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, NULL);
	if (ver != KVM_API_VERSION)
		return vmm_fail(-ENOTSUP, "/dev/kvm speaks API version %d, thpvm needs %d", ver, KVM_API_VERSION);
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) <= 0)
		return vmm_fail(-ENOTSUP, "KVM lacks KVM_CAP_IMMEDIATE_EXIT (needed to stop vCPUs cleanly)");
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (vm->run_size < (int)sizeof(struct kvm_run))
		return vmm_fail(-EIO, "KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	return 0;
}

static void step_kvm_close(struct vm *vm)
{
	close(vm->kvm_fd);
	vm->kvm_fd = -1;
}

static int step_vm_create(struct vm *vm)
{
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return vmm_fail(-errno, "KVM_CREATE_VM: %s", strerror(errno));
	fcntl(vm->vm_fd, F_SETFD, FD_CLOEXEC);
	return 0;
}

static void step_vm_close(struct vm *vm)
{
	close(vm->vm_fd);
	vm->vm_fd = -1;
}

/*
 * What KVM supports does not change while the process lives, and asking
 * costs 0.4-0.8 ms on kvm-pvm (a forked child's whole budget is ~2 ms): the
 * first answer is kept, published without a lock (a forked child must never
 * wait for a lock another thread held), and copied for every VM.
 */
static struct kvm_cpuid2 *supported_cpuid_cache;

static int step_cpuid(struct vm *vm)
{
	struct kvm_cpuid2 *cached = __atomic_load_n(&supported_cpuid_cache, __ATOMIC_ACQUIRE), *expected = NULL;

	if (cached) {
		size_t len = sizeof(*cached) + cached->nent * sizeof(cached->entries[0]);

		vm->supported_cpuid = malloc(len);
		if (!vm->supported_cpuid)
			return vmm_fail(-ENOMEM, "out of memory for CPUID");
		memcpy(vm->supported_cpuid, cached, len);
		return 0;
	}
	for (unsigned nent = 64; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));

		if (!c)
			return vmm_fail(-ENOMEM, "out of memory for CPUID");
		c->nent = nent;
		if (!ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c)) {
			size_t len = sizeof(*c) + c->nent * sizeof(c->entries[0]);
			struct kvm_cpuid2 *keep = malloc(len);

			vm->supported_cpuid = c;
			if (keep) {
				memcpy(keep, c, len);
				if (!__atomic_compare_exchange_n(&supported_cpuid_cache, &expected, keep, false,
								 __ATOMIC_RELEASE, __ATOMIC_RELAXED))
					free(keep);
			}
			return 0;
		}
		free(c);
		if (errno != E2BIG)
			return vmm_fail(-errno, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
	}
	return vmm_fail(-E2BIG, "KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

static void step_cpuid_free(struct vm *vm)
{
	free(vm->supported_cpuid);
	vm->supported_cpuid = NULL;
}

static int step_irqchip(struct vm *vm)
{
	if (!(vm->cfg.features & VM_F_IRQCHIP))
		return 0;
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0))
		return vmm_fail(-errno, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
	return 0;
}

static int step_pit(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	if (!(vm->cfg.features & VM_F_PIT))
		return 0;
	if (!(vm->cfg.features & VM_F_IRQCHIP))
		return vmm_fail(-EINVAL, "the in-kernel PIT needs the in-kernel irqchip");
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit))
		return vmm_fail(-errno, "KVM_CREATE_PIT2: %s", strerror(errno));
	return 0;
}

/* Before KVM_CREATE_VCPU: VMX builds its real-mode identity map there when a vCPU is created. */
static int step_kvm_pages(struct vm *vm)
{
	if (vm->cfg.identity_map_gpa && ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &vm->cfg.identity_map_gpa))
		return vmm_fail(-errno, "KVM_SET_IDENTITY_MAP_ADDR 0x%llx: %s",
				(unsigned long long)vm->cfg.identity_map_gpa, strerror(errno));
	if (vm->cfg.tss_gpa && ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)vm->cfg.tss_gpa))
		return vmm_fail(-errno, "KVM_SET_TSS_ADDR 0x%llx: %s", (unsigned long long)vm->cfg.tss_gpa,
				strerror(errno));
	return 0;
}

/* One memslot per region: the region already has hva == gpa (mod 2 MiB), so KVM can map 2 MiB. */
static int step_memslots(struct vm *vm)
{
	for (unsigned i = 0; i < thpvm_memmap_nr_regions(vm->mem); i++) {
		struct thpvm_region_info info;
		struct kvm_userspace_memory_region slot;

		thpvm_region_get_info(thpvm_memmap_region(vm->mem, i), &info);
		slot = (struct kvm_userspace_memory_region){
			.slot = i,
			.guest_phys_addr = info.gpa,
			.memory_size = info.size_bytes,
			.userspace_addr = (uint64_t)(uintptr_t)info.hva,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot))
			return vmm_fail(-errno, "KVM_SET_USER_MEMORY_REGION for region '%s' [0x%llx, 0x%llx): %s",
					info.name, (unsigned long long)info.gpa,
					(unsigned long long)(info.gpa + info.size_bytes), strerror(errno));
		vm->nr_slots = i + 1;
	}
	return 0;
}

/* In a forked child the inherited VM fd answers EIO: nothing to undo there, so errors are ignored. */
static void step_memslots_remove(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_slots; i++) {
		struct kvm_userspace_memory_region slot = { .slot = i };

		ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot);
	}
	vm->nr_slots = 0;
}

/* Statistics are a report, not a requirement: a kernel without them runs VMs all the same. */
static int step_stats(struct vm *vm)
{
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_BINARY_STATS_FD) <= 0) {
		vm->stats.fd = -1;
		return 0;
	}
	return kvm_stats_open(vm->vm_fd, &vm->stats);
}

static void step_stats_close(struct vm *vm)
{
	kvm_stats_close(&vm->stats);
}

static int step_vcpus(struct vm *vm)
{
	int max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	int ret;

	if (max <= 0)
		max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max > 0 && vm->cfg.nr_cpus > (unsigned)max)
		return vmm_fail(-EINVAL, "%u vCPUs requested, KVM allows %d", vm->cfg.nr_cpus, max);
	vm->vcpus = calloc(vm->cfg.nr_cpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return vmm_fail(-ENOMEM, "out of memory for vCPUs");
	for (unsigned i = 0; i < vm->cfg.nr_cpus; i++) {
		if ((ret = vcpu_create(vm, i, &vm->vcpus[i])))
			return ret;
		vm->nr_vcpus = i + 1;
	}
	return 0;
}

static void step_vcpus_destroy(struct vm *vm)
{
	for (unsigned i = vm->nr_vcpus; i-- > 0;)
		vcpu_destroy(vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
	vm->nr_vcpus = 0;
}

static const struct vm_step {
	const char *name;
	int (*init)(struct vm *vm);
	void (*exit)(struct vm *vm);
} vm_steps[] = {
	{ "open /dev/kvm", step_kvm_open, step_kvm_close },
	{ "create the VM", step_vm_create, step_vm_close },
	{ "read supported CPUID", step_cpuid, step_cpuid_free },
	{ "create the in-kernel irqchip", step_irqchip, NULL },
	{ "create the in-kernel PIT", step_pit, NULL },
	{ "set KVM's private pages", step_kvm_pages, NULL },
	{ "register guest memory", step_memslots, step_memslots_remove },
	{ "open VM statistics", step_stats, step_stats_close },
	{ "create vCPUs", step_vcpus, step_vcpus_destroy },
};

#define NR_VM_STEPS (sizeof(vm_steps) / sizeof(vm_steps[0]))
_Static_assert(NR_VM_STEPS <= VM_KVM_MAX_STEPS, "vm->step_ns holds every step");

unsigned vm_kvm_nr_steps(void)
{
	return NR_VM_STEPS;
}

const char *vm_kvm_step_name(unsigned step)
{
	return step < NR_VM_STEPS ? vm_steps[step].name : "";
}

int vm_kvm_create(struct vm *vm)
{
	vm->kvm_fd = vm->vm_fd = -1;
	vm->stats.fd = -1;
	vm->steps_done = 0;
	memset(vm->step_ns, 0, sizeof(vm->step_ns));
	for (unsigned i = 0; i < NR_VM_STEPS; i++) {
		uint64_t t = util_mono_ns();
		int ret = vm_steps[i].init(vm);

		vm->step_ns[i] = util_mono_ns() - t;

		if (ret) {
			vmm_error_prefix("%s", vm_steps[i].name);
			if (vm_steps[i].exit) /* a step cleans up its own partial work */
				vm_steps[i].exit(vm);
			vm_kvm_destroy(vm);
			return ret;
		}
		vm->steps_done = i + 1;
	}
	return 0;
}

void vm_kvm_destroy(struct vm *vm)
{
	while (vm->steps_done > 0) {
		const struct vm_step *s = &vm_steps[--vm->steps_done];

		if (s->exit)
			s->exit(vm);
	}
}

int vm_create(const struct vm_config *cfg, struct thpvm_memmap *mem, struct vm **out)
{
	struct vm *vm;
	int ret;

	*out = NULL;
	if (!cfg->nr_cpus || cfg->nr_cpus > VM_MAX_CPUS)
		return vmm_fail(-EINVAL, "%u vCPUs: expected 1..%u", cfg->nr_cpus, VM_MAX_CPUS);
	if (!mem || !thpvm_memmap_nr_regions(mem))
		return vmm_fail(-EINVAL, "a VM needs guest memory");
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return vmm_fail(-ENOMEM, "out of memory for the VM");
	vm->cfg = *cfg;
	vm->mem = mem;
	vm->kvm_fd_next = -1;
	vm->exit.vcpu = -1;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	if ((ret = iobus_create(&vm->bus)) || (ret = vm_kvm_create(vm))) {
		iobus_destroy(vm->bus);
		pthread_cond_destroy(&vm->cond);
		pthread_mutex_destroy(&vm->lock);
		free(vm);
		return ret;
	}
	*out = vm;
	return 0;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	if (vm->started) {
		vm_stop(vm, VM_STOP_REQUESTED, 0, -1, "VM destroyed");
		vm_wait(vm, 0, NULL);
	}
	/* last added, first gone: a subsystem may use those added before it */
	for (unsigned i = vm->nr_hooks; i-- > 0;)
		if (vm->hooks[i].destroy)
			vm->hooks[i].destroy(vm->hooks[i].arg);
	vm_kvm_destroy(vm);
	iobus_destroy(vm->bus);
	free(vm->exit.dump);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

int vm_add_hooks(struct vm *vm, const struct vm_hooks *hooks)
{
	for (unsigned i = 0; i < vm->nr_hooks; i++)
		if (!strcmp(vm->hooks[i].name, hooks->name))
			return vmm_fail(-EEXIST, "VM hooks '%s' added twice", hooks->name);
	if (vm->nr_hooks >= VM_MAX_HOOKS)
		return vmm_fail(-ENOSPC, "too many VM hooks (at most %d)", VM_MAX_HOOKS);
	vm->hooks[vm->nr_hooks++] = *hooks;
	return 0;
}

int vm_add_device(struct vm *vm, enum iobus_space space, uint64_t base, uint64_t len, struct device *dev)
{
	dev->vm = vm;
	return iobus_register(vm->bus, space, base, len, dev);
}

int vm_irqfd(struct vm *vm, unsigned gsi, int fd, bool assign)
{
	struct kvm_irqfd f = { .fd = (uint32_t)fd, .gsi = gsi, .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN };

	if (!(vm->cfg.features & VM_F_IRQCHIP))
		return vmm_fail(-ENODEV, "irqfd for GSI %u without an in-kernel irqchip", gsi);
	if (ioctl(vm->vm_fd, KVM_IRQFD, &f))
		return vmm_fail(-errno, "KVM_IRQFD %u: %s", gsi, strerror(errno));
	return 0;
}

int vm_ioeventfd(struct vm *vm, uint64_t gpa, unsigned len, uint64_t datamatch, int fd, bool assign)
{
	struct kvm_ioeventfd e = {
		.datamatch = datamatch,
		.addr = gpa,
		.len = len,
		.fd = fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &e))
		return vmm_fail(-errno, "KVM_IOEVENTFD 0x%llx: %s", (unsigned long long)gpa, strerror(errno));
	return 0;
}

int vm_irq_line(struct vm *vm, unsigned irq, bool level)
{
	struct kvm_irq_level l = { .irq = irq, .level = level };

	if (!(vm->cfg.features & VM_F_IRQCHIP))
		return vmm_fail(-ENODEV, "IRQ %u raised without an in-kernel irqchip", irq);
	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &l))
		return vmm_fail(-errno, "KVM_IRQ_LINE %u: %s", irq, strerror(errno));
	return 0;
}
