/* SPDX-License-Identifier: MIT */
/*
 * A KVM virtual machine over guest RAM from libthpvm.
 *
 * Guest memory (struct thpvm_memmap) is borrowed and outlives the KVM
 * objects: vm_kvm_create() builds the VM, its memslots and vCPUs from an
 * ordered start-up table and can run again over the same memory (a forked
 * child must create a brand-new VM over its inherited copy-on-write RAM).
 * All per-VM state lives in struct vm; vCPU threads are started and stopped
 * by it; devices hang off its I/O bus. docs/vmm.md describes the lifecycle.
 */
#ifndef THPVM_VM_H
#define THPVM_VM_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <linux/kvm.h>
#include <thpvm.h>
#include "kvm_stats.h"
#include "../dev/iobus.h"

struct vcpu;
struct vm;
struct ctl_server;                      /* vmm/ctl: a control socket, opaque here */

/* Optional platform pieces, created by the start-up table. */
#define VM_F_IRQCHIP (1u << 0)   /* in-kernel PIC, IOAPIC and LAPICs (KVM_CREATE_IRQCHIP) */
#define VM_F_PIT     (1u << 1)   /* in-kernel PIT (KVM_CREATE_PIT2); needs VM_F_IRQCHIP */

#define VM_MAX_CPUS 256
/* Room a cpuid_fixup has beyond the supported table (x86/cpuid.h needs CPUID_EXTRA_ENTRIES). */
#define VM_CPUID_EXTRA_ENTRIES 16

struct vm_config {
	unsigned nr_cpus;
	unsigned features;                  /* VM_F_* */
	/*
	 * Unclaimed accesses: false stops the VM with an error (payloads:
	 * any stray access is a bug); true ignores writes and reads all ones
	 * (what a PC's floating bus does, for guests that probe).
	 */
	bool ignore_unclaimed_pio;
	bool ignore_unclaimed_mmio;
	/*
	 * Optional: adjusts one vCPU's CPUID (from KVM_GET_SUPPORTED_CPUID)
	 * before KVM_SET_CPUID2. The table has room for VM_CPUID_EXTRA_ENTRIES
	 * entries beyond vm->supported_cpuid->nent. Returns 0 or -errno after
	 * vmm_fail() (vCPU creation fails).
	 */
	int (*cpuid_fixup)(struct vm *vm, unsigned cpu, struct kvm_cpuid2 *cpuid);
	/*
	 * Guest-physical pages KVM keeps for itself on VMX without unrestricted
	 * guest (KVM_SET_IDENTITY_MAP_ADDR: 1 page, KVM_SET_TSS_ADDR: 3 pages),
	 * set before the vCPUs exist; 0 = not set. Linux guests put them in the
	 * MMIO hole (x86/layout.h); SVM and kvm-pvm accept and ignore them.
	 */
	uint64_t identity_map_gpa;
	uint64_t tss_gpa;
};

/* Why a VM stopped: one list, its errno and its text. */
#define VM_STOP_REASONS(X)                                                   \
	X(VM_STOP_NONE, 0, "running")                                        \
	X(VM_STOP_GUEST_EXIT, 0, "the guest ended")                          \
	X(VM_STOP_GUEST_ERROR, EFAULT, "guest error")                        \
	X(VM_STOP_HOST_ERROR, EIO, "host error")                             \
	X(VM_STOP_TIMEOUT, ETIMEDOUT, "timed out")                           \
	X(VM_STOP_INTERRUPTED, EINTR, "interrupted")                         \
	X(VM_STOP_REQUESTED, 0, "stopped on request")

THPVM_RESULT_DECLARE(vm_stop_reason, enum vm_stop_reason, VM_STOP_REASONS, VM_NR_STOP_REASONS);

/* Exit statuses thpvm gives for stops that are not the guest's own. */
#define VM_STATUS_FAILURE     1     /* guest or host error */
#define VM_STATUS_TIMEOUT     124   /* like timeout(1) */
#define VM_STATUS_INTERRUPTED 130   /* 128 + SIGINT */

/*
 * Subsystems that live beside the vCPUs (the collapse thread, the control
 * socket, ...) hook into the VM's lifecycle here instead of the VM knowing
 * each of them. Every callback is optional.
 */
struct vm_hooks {
	const char *name;                   /* key of its object in vm_stats_json() */
	void *arg;
	/*
	 * Fork (issue 5): the VM is paused. prepare runs in the parent before
	 * state capture and fork(): stop background work that must not be
	 * caught half-done (a failure aborts the fork). parent runs in the
	 * parent after the forks, whether they worked or not. child runs in
	 * each child after its new KVM VM exists and state is restored, before
	 * the vCPUs resume: the child's only thread is the one that forked.
	 */
	int (*fork_prepare)(void *arg);
	void (*fork_parent)(void *arg);
	int (*fork_child)(void *arg, struct vm *vm, unsigned child_index);
	json_t *(*stats)(void *arg);        /* new reference, added to the VM's stats */
	/*
	 * A pause asked for from outside (vm_pause_for_user(): the control
	 * socket's pause), not a fork's nor a subsystem's own: pause_begin runs
	 * before vm_pause() and may wait for the subsystem's work in flight
	 * (the collapse thread's, whose quiesce of file-backed RAM would
	 * otherwise resume the VM under this pause); pause_end runs as soon as
	 * vm_pause() returned. Not held across the pause: whoever resumes the
	 * VM need not know.
	 */
	void (*pause_begin)(void *arg);
	void (*pause_end)(void *arg);
	/*
	 * The subsystem's control commands, each schema beside its handler
	 * (kvmtool's way: the owner registers, the socket knows nobody): called
	 * when a control socket is attached to the VM, and in a forked child for
	 * its own socket. Returns what ctl_server_register() returns.
	 */
	int (*ctl_register)(void *arg, struct vm *vm, struct ctl_server *srv);
	/*
	 * A snapshot on disk (state/snapshot_dir.c), the VM paused and its
	 * devices stopped: files the subsystem's devices need beside the memory
	 * files (a disk's contents) written into tmpdir, the snapshot's
	 * directory before its rename, and the machine's description (saved in
	 * the state file) changed to name them. Returns 0 or -errno with
	 * vmm_last_error(); the save fails with it.
	 */
	int (*snapshot_save)(void *arg, const char *tmpdir, json_t *machine);
	void (*destroy)(void *arg);         /* at vm_destroy(), before the KVM objects go */
};

#define VM_MAX_HOOKS 8
#define VM_KVM_MAX_STEPS 16

struct vm_exit_info {
	enum vm_stop_reason reason;
	int status;                         /* what thpvm exits with */
	int vcpu;                           /* the vCPU that caused the stop, or -1 */
	char message[512];                  /* one line, no "thpvm: " prefix */
	char *dump;                         /* register dump (several lines), or NULL */
};

struct vm {
	struct vm_config cfg;
	struct thpvm_memmap *mem;           /* borrowed guest RAM */
	struct iobus *bus;

	/* KVM objects: vm_kvm_create() / vm_kvm_destroy() */
	int kvm_fd_next;                    /* an open /dev/kvm the next vm_kvm_create() takes (a forked child's), or -1 */
	int kvm_fd;
	int vm_fd;
	int run_size;                       /* KVM_GET_VCPU_MMAP_SIZE */
	struct kvm_cpuid2 *supported_cpuid;
	unsigned nr_slots;
	struct kvm_stats stats;             /* fd -1 when the kernel has no binary stats */
	struct vcpu **vcpus;
	unsigned nr_vcpus;
	unsigned steps_done;                /* start-up table: steps to unwind */
	uint64_t step_ns[VM_KVM_MAX_STEPS]; /* time each step took in the last vm_kvm_create() */

	/* run state, under lock; other modules ask vm_run_state() */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started;                       /* threads created, not yet joined */
	bool stopping;
	bool pause_requested;
	unsigned nr_running;                /* vCPU threads in their loop */
	unsigned nr_paused;
	int finish_status;                  /* first non-zero vcpu_finish() status */
	struct vm_exit_info exit;

	struct vm_hooks hooks[VM_MAX_HOOKS];
	unsigned nr_hooks;
};

/* Creates the VM over mem (vm_kvm_create() included). Returns 0 or -errno, vmm_last_error() says why. */
int vm_create(const struct vm_config *cfg, struct thpvm_memmap *mem, struct vm **out);
/* Stops the vCPUs if running, destroys KVM objects and devices; mem is left alone. */
void vm_destroy(struct vm *vm);

/*
 * The start-up table: /dev/kvm, the VM, CPUID, irqchip, PIT, one memslot
 * per region, statistics, vCPUs. On failure the steps done are unwound in
 * reverse and the error names the step. Safe to call again after
 * vm_kvm_destroy(), e.g. in a forked child over inherited memory.
 */
int vm_kvm_create(struct vm *vm);
void vm_kvm_destroy(struct vm *vm);
/* The start-up table's steps, for vm->step_ns[] (where a forked child's time goes). */
unsigned vm_kvm_nr_steps(void);
const char *vm_kvm_step_name(unsigned step);

/* Registers a device range on the VM's bus and sets dev->vm. Before vm_start() only. */
int vm_add_device(struct vm *vm, enum iobus_space space, uint64_t base, uint64_t len, struct device *dev);
/* Drives an interrupt line of the in-kernel irqchip (KVM_IRQ_LINE). -ENODEV without VM_F_IRQCHIP. */
int vm_irq_line(struct vm *vm, unsigned irq, bool level);
/*
 * KVM_IRQFD: a write to eventfd fd raises GSI gsi (an edge: high, then low)
 * with no ioctl from the writer; bound to this VM's KVM object (a forked
 * child binds an eventfd of its own to its own VM).
 */
int vm_irqfd(struct vm *vm, unsigned gsi, int fd, bool assign);
/*
 * KVM_IOEVENTFD: a guest write of len bytes of value datamatch at MMIO gpa
 * signals eventfd fd inside KVM, without an exit to thpvm.
 */
int vm_ioeventfd(struct vm *vm, uint64_t gpa, unsigned len, uint64_t datamatch, int fd, bool assign);

/* Adds a subsystem's hooks (copied). -ENOSPC past VM_MAX_HOOKS, -EEXIST for a name already there. */
int vm_add_hooks(struct vm *vm, const struct vm_hooks *hooks);

/* Starts one thread per vCPU. */
int vm_start(struct vm *vm);
/*
 * Waits until every vCPU thread has left its loop and joins them. After
 * timeout_ns (0 = none) the VM is stopped as timed out; when *interrupt
 * becomes non-zero (a signal handler's flag; NULL = none) as interrupted.
 */
int vm_wait(struct vm *vm, uint64_t timeout_ns, volatile sig_atomic_t *interrupt);
/* vm_start() + vm_wait(). The outcome is in vm->exit. */
int vm_run(struct vm *vm, uint64_t timeout_ns, volatile sig_atomic_t *interrupt);

/*
 * Stops the VM: the first stop wins and records reason, status, vCPU and
 * message (dump: text the VM takes ownership of, or NULL); every vCPU is
 * kicked out of KVM_RUN. Callable from any thread, including vCPU threads
 * and device handlers.
 */
__attribute__((format(printf, 5, 6))) void vm_stop(struct vm *vm, enum vm_stop_reason reason, int status, int vcpu,
						   const char *fmt, ...);
void vm_stop_dump(struct vm *vm, enum vm_stop_reason reason, int status, int vcpu, char *dump, const char *message);

/*
 * Pause: every vCPU leaves KVM_RUN at an instruction boundary (signal +
 * immediate_exit) and parks; device threads are quiesced (stop()). Returns
 * when all running vCPUs are parked. Resume undoes it. Return 0 or -errno.
 */
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
/*
 * Every hook's pause_begin, and (in reverse) pause_end: between the two no
 * subsystem pauses or resumes the VM on its own (the collapse thread's
 * quiesce waits), so a user's command can read the run state and act on it.
 */
void vm_hooks_hold(struct vm *vm);
void vm_hooks_release(struct vm *vm);
/* vm_pause() between vm_hooks_hold() and vm_hooks_release(): a pause a user asked for. */
int vm_pause_for_user(struct vm *vm);

/* Where a VM is in its life; the one reading of the run state fields for every other module. */
enum vm_run_state {
	VM_STATE_CREATED,           /* never started (or a forked child before its vm_start()) */
	VM_STATE_RUNNING,           /* vCPU threads run, no pause asked */
	VM_STATE_PAUSED,            /* a pause asked (vm_pause()): vCPUs parked or parking */
	VM_STATE_STOPPED,           /* stopping, or ended (vm->exit says how) */
};
/* The state now (takes vm->lock), or with vm->lock already held. */
enum vm_run_state vm_run_state(struct vm *vm);
enum vm_run_state vm_run_state_locked(const struct vm *vm);
const char *vm_run_state_name(enum vm_run_state state);

/*
 * In a forked child: the parent's vCPU threads do not exist here, and the
 * locks they used may have been held at fork(). The run state starts over
 * (VM_STATE_CREATED); vm->exit is left for the caller.
 */
void vm_reset_after_fork(struct vm *vm);

/* This vCPU is done (e.g. a payload's CPU_EXIT): the VM ends, as GUEST_EXIT, when all are. */
void vm_vcpu_finish(struct vcpu *vcpu, int status);

#endif
