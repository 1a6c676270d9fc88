/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include "vcpu.h"
#include "vm.h"
#include "util/error.h"

/* The signal that kicks a vCPU thread out of KVM_RUN; its handler does nothing. */
#define VCPU_KICK_SIGNAL (SIGRTMIN + 1)

static void kick_handler(int sig)
{
	(void)sig;
}

static void install_kick_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: KVM_RUN must return EINTR */
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
}

/* One APIC ID per vCPU in the leaves that carry it; the rest is what KVM supports. */
static int set_cpuid(struct vcpu *v)
{
	const struct kvm_cpuid2 *sup = v->vm->supported_cpuid;
	size_t len = sizeof(*sup) + sup->nent * sizeof(sup->entries[0]);
	/* room for the fixup to add entries (vm.h) */
	struct kvm_cpuid2 *c = malloc(len + VM_CPUID_EXTRA_ENTRIES * sizeof(sup->entries[0]));
	int ret = 0;

	if (!c)
		return vmm_fail(-ENOMEM, "out of memory for CPUID");
	memcpy(c, sup, len);
	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1)
			e->ebx = (e->ebx & 0x00ffffffu) | (v->index << 24);
		else if (e->function == 0xb || e->function == 0x1f)
			e->edx = v->index;
	}
	if (v->vm->cfg.cpuid_fixup && (ret = v->vm->cfg.cpuid_fixup(v->vm, v->index, c))) {
		free(c);
		return ret;
	}
	if (ioctl(v->fd, KVM_SET_CPUID2, c))
		ret = vmm_fail(-errno, "vCPU %u: KVM_SET_CPUID2: %s", v->index, strerror(errno));
	free(c);
	return ret;
}

int vcpu_create(struct vm *vm, unsigned index, struct vcpu **out)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	struct vcpu *v = calloc(1, sizeof(*v));
	int ret;

	*out = NULL;
	if (!v)
		return vmm_fail(-ENOMEM, "out of memory for a vCPU");
	pthread_once(&once, install_kick_handler);
	v->vm = vm;
	v->index = index;
	v->stats.fd = -1;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (v->fd < 0) {
		ret = vmm_fail(-errno, "KVM_CREATE_VCPU %u: %s", index, strerror(errno));
		free(v);
		return ret;
	}
	fcntl(v->fd, F_SETFD, FD_CLOEXEC);
	v->run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		ret = vmm_fail(-errno, "vCPU %u: mmap of kvm_run: %s", index, strerror(errno));
		close(v->fd);
		free(v);
		return ret;
	}
	if ((ret = set_cpuid(v)) || (vm->stats.fd >= 0 && (ret = kvm_stats_open(v->fd, &v->stats)))) {
		munmap(v->run, (size_t)vm->run_size);
		close(v->fd);
		free(v);
		return ret;
	}
	*out = v;
	return 0;
}

void vcpu_destroy(struct vcpu *v)
{
	if (!v)
		return;
	kvm_stats_close(&v->stats);
	munmap(v->run, (size_t)v->vm->run_size);
	close(v->fd);
	free(v);
}

void vcpu_kick(struct vcpu *v, unsigned req)
{
	__atomic_fetch_or(&v->requests, req, __ATOMIC_SEQ_CST);
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (v->thread_started)
		pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

/* Parks the thread while the VM is paused. */
static void vcpu_park(struct vcpu *v)
{
	struct vm *vm = v->vm;

	pthread_mutex_lock(&vm->lock);
	if (vm->pause_requested && !vm->stopping) {
		vm->nr_paused++;
		pthread_cond_broadcast(&vm->cond);
		while (vm->pause_requested && !vm->stopping)
			pthread_cond_wait(&vm->cond, &vm->lock);
		vm->nr_paused--;
	}
	pthread_mutex_unlock(&vm->lock);
}

void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	/* vm_start() holds the lock until every thread exists */
	pthread_mutex_lock(&vm->lock);
	pthread_mutex_unlock(&vm->lock);
	for (;;) {
		unsigned req;

		/*
		 * Clear immediate_exit before looking at the requests: a kick
		 * that sets a request after our look also sets immediate_exit
		 * after our clear, so KVM_RUN returns at once.
		 */
		__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		req = __atomic_load_n(&v->requests, __ATOMIC_SEQ_CST);
		if (req & VCPU_REQ_STOP)
			break;
		if (req & VCPU_REQ_PAUSE) {
			__atomic_fetch_and(&v->requests, ~VCPU_REQ_PAUSE, __ATOMIC_SEQ_CST);
			vcpu_park(v);
			continue;
		}
		if (ioctl(v->fd, KVM_RUN, NULL) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			vm_stop(vm, VM_STOP_HOST_ERROR, VM_STATUS_FAILURE, (int)v->index, "vcpu %u: KVM_RUN: %s",
				v->index, strerror(errno));
			break;
		}
		v->nr_exits++;
		if (vcpu_handle_exit(v))
			break;
	}
	pthread_mutex_lock(&vm->lock);
	vm->nr_running--;
	/* the last vCPU the guest ended ends the VM */
	if (vm->nr_running == 0 && !vm->stopping) {
		int status = vm->finish_status;

		pthread_mutex_unlock(&vm->lock);
		vm_stop(vm, VM_STOP_GUEST_EXIT, status, (int)v->index, "every vCPU finished, status %d", status);
		pthread_mutex_lock(&vm->lock);
	}
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

int vcpu_get_regs(struct vcpu *v, struct kvm_regs *regs)
{
	return ioctl(v->fd, KVM_GET_REGS, regs) ? vmm_fail(-errno, "vCPU %u: KVM_GET_REGS: %s", v->index, strerror(errno)) : 0;
}

int vcpu_set_regs(struct vcpu *v, const struct kvm_regs *regs)
{
	return ioctl(v->fd, KVM_SET_REGS, regs) ? vmm_fail(-errno, "vCPU %u: KVM_SET_REGS: %s", v->index, strerror(errno)) : 0;
}

int vcpu_get_sregs(struct vcpu *v, struct kvm_sregs *sregs)
{
	return ioctl(v->fd, KVM_GET_SREGS, sregs) ? vmm_fail(-errno, "vCPU %u: KVM_GET_SREGS: %s", v->index, strerror(errno)) : 0;
}

int vcpu_set_sregs(struct vcpu *v, const struct kvm_sregs *sregs)
{
	return ioctl(v->fd, KVM_SET_SREGS, sregs) ? vmm_fail(-errno, "vCPU %u: KVM_SET_SREGS: %s", v->index, strerror(errno)) : 0;
}

int vcpu_set_fpu(struct vcpu *v, const struct kvm_fpu *fpu)
{
	return ioctl(v->fd, KVM_SET_FPU, fpu) ? vmm_fail(-errno, "vCPU %u: KVM_SET_FPU: %s", v->index, strerror(errno)) : 0;
}
