/* SPDX-License-Identifier: MIT */
/* One KVM vCPU: its fd, kvm_run page, statistics and thread. */
#ifndef THPVM_VCPU_H
#define THPVM_VCPU_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>
#include "kvm_stats.h"

struct vm;

/* Requests to a vCPU thread, set by vcpu_kick() (hints: the VM's lock holds the truth). */
#define VCPU_REQ_STOP  (1u << 0)
#define VCPU_REQ_PAUSE (1u << 1)

struct vcpu {
	struct vm *vm;
	unsigned index;
	int fd;
	struct kvm_run *run;
	struct kvm_stats stats;             /* fd -1 when unavailable */
	pthread_t thread;
	bool thread_started;
	unsigned requests;                  /* VCPU_REQ_*, atomic */
	bool finished;                      /* the guest ended this vCPU (vm_vcpu_finish) */
	uint64_t nr_exits;                  /* exits handled in userspace */
};

int vcpu_create(struct vm *vm, unsigned index, struct vcpu **out);
void vcpu_destroy(struct vcpu *vcpu);

/*
 * Asks the vCPU thread to act on req: sets it, then immediate_exit, then
 * signals the thread, so KVM_RUN returns whether the thread is inside it,
 * about to enter it or busy elsewhere.
 */
void vcpu_kick(struct vcpu *vcpu, unsigned req);
/* The thread body (vm_start creates it). */
void *vcpu_thread(void *arg);

/* Handles the exit in vcpu->run. Returns true when the thread should leave its loop. */
bool vcpu_handle_exit(struct vcpu *vcpu);

/* Register access, -errno with vmm_last_error() set on failure. */
int vcpu_get_regs(struct vcpu *vcpu, struct kvm_regs *regs);
int vcpu_set_regs(struct vcpu *vcpu, const struct kvm_regs *regs);
int vcpu_get_sregs(struct vcpu *vcpu, struct kvm_sregs *sregs);
int vcpu_set_sregs(struct vcpu *vcpu, const struct kvm_sregs *sregs);
int vcpu_set_fpu(struct vcpu *vcpu, const struct kvm_fpu *fpu);

/*
 * A register dump (general registers, RIP/RFLAGS, CR0/2/3/4, EFER,
 * segments, descriptor tables, code bytes at RIP) as text the caller frees.
 * regs and sregs override the vCPU's registers when not NULL (e.g. the
 * state an exception frame recorded).
 */
char *vcpu_dump(struct vcpu *vcpu, const struct kvm_regs *regs, const struct kvm_sregs *sregs);

/*
 * Stops the VM with a guest error on this vCPU: the one-line message and a
 * register dump (regs, sregs as in vcpu_dump()).
 */
__attribute__((format(printf, 4, 5))) void vcpu_guest_error(struct vcpu *vcpu, const struct kvm_regs *regs,
							    const struct kvm_sregs *sregs, const char *fmt, ...);

/* Whether regs/sregs are the architectural INIT/RESET state (real mode at f000:fff0). */
bool vcpu_state_is_init(const struct kvm_regs *r, const struct kvm_sregs *s);

/* Name of a KVM_EXIT_* reason ("IO", "SHUTDOWN", ...). */
const char *kvm_exit_reason_str(uint32_t reason);

#endif
