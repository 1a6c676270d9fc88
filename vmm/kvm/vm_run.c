/* SPDX-License-Identifier: MIT */
/* Running a VM: vCPU threads, stop, pause and resume, waiting with a timeout. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "vm.h"
#include "vcpu.h"
#include "util/error.h"
#include "util/clock.h"

void vm_stop_dump(struct vm *vm, enum vm_stop_reason reason, int status, int vcpu, char *dump, const char *message)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->exit.reason == VM_STOP_NONE) {
		vm->exit.reason = reason;
		vm->exit.status = status;
		vm->exit.vcpu = vcpu;
		snprintf(vm->exit.message, sizeof(vm->exit.message), "%s", message);
		vm->exit.dump = dump;
		dump = NULL;
	}
	vm->stopping = true;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	free(dump);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(vm->vcpus[i], VCPU_REQ_STOP);
}

void vm_stop(struct vm *vm, enum vm_stop_reason reason, int status, int vcpu, const char *fmt, ...)
{
	char msg[sizeof(vm->exit.message)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vm_stop_dump(vm, reason, status, vcpu, NULL, msg);
}

void vm_vcpu_finish(struct vcpu *vcpu, int status)
{
	struct vm *vm = vcpu->vm;

	pthread_mutex_lock(&vm->lock);
	vcpu->finished = true;
	if (status && !vm->finish_status)
		vm->finish_status = status;
	pthread_mutex_unlock(&vm->lock);
}

int vm_start(struct vm *vm)
{
	unsigned failed = vm->nr_vcpus;
	int ret = 0;

	if (vm->started || vm->steps_done == 0)
		return vmm_fail(-EBUSY, "VM already running or not created");
	iobus_seal(vm->bus);
	/*
	 * Threads are created under the lock and wait for it before their
	 * first KVM_RUN: a vCPU that stops the VM at once must find every
	 * other thread already known, so its kick reaches them.
	 */
	pthread_mutex_lock(&vm->lock);
	vm->stopping = false;
	vm->pause_requested = false;
	vm->finish_status = 0;
	vm->exit.reason = VM_STOP_NONE;
	vm->exit.vcpu = -1;
	vm->exit.message[0] = '\0';
	free(vm->exit.dump);
	vm->exit.dump = NULL;
	vm->started = true;
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		vm->vcpus[i]->requests = 0;
		vm->vcpus[i]->finished = false;
	}
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = vm->vcpus[i];

		vm->nr_running++;
		ret = pthread_create(&v->thread, NULL, vcpu_thread, v);
		if (ret) {
			vm->nr_running--;
			failed = i;
			break;
		}
		v->thread_started = true;
	}
	pthread_mutex_unlock(&vm->lock);
	if (failed < vm->nr_vcpus) {
		vm_stop(vm, VM_STOP_HOST_ERROR, VM_STATUS_FAILURE, (int)failed, "cannot start vCPU %u thread: %s", failed,
			strerror(ret));
		vm_wait(vm, 0, NULL);
		return vmm_fail(-ret, "cannot start vCPU %u thread: %s", failed, strerror(ret));
	}
	return 0;
}

static void deadline_after(struct timespec *ts, uint64_t ns)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += (time_t)(ns / 1000000000ULL);
	ts->tv_nsec += (long)(ns % 1000000000ULL);
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int vm_wait(struct vm *vm, uint64_t timeout_ns, volatile sig_atomic_t *interrupt)
{
	uint64_t end = timeout_ns ? util_mono_ns() + timeout_ns : 0;

	if (!vm->started)
		return vmm_fail(-EINVAL, "VM is not running");
	pthread_mutex_lock(&vm->lock);
	while (vm->nr_running > 0) {
		struct timespec ts;
		int rc;

		/* 50 ms ticks: a signal handler can only set a flag, and we must notice it */
		deadline_after(&ts, 50000000ULL);
		rc = pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
		if (vm->stopping) {
			/* belt and braces: a vCPU still running 50 ms after a stop is kicked again */
			if (rc == ETIMEDOUT) {
				pthread_mutex_unlock(&vm->lock);
				for (unsigned i = 0; i < vm->nr_vcpus; i++)
					vcpu_kick(vm->vcpus[i], VCPU_REQ_STOP);
				pthread_mutex_lock(&vm->lock);
			}
			continue;
		}
		if (interrupt && *interrupt) {
			pthread_mutex_unlock(&vm->lock);
			vm_stop(vm, VM_STOP_INTERRUPTED, VM_STATUS_INTERRUPTED, -1, "interrupted by a signal");
			pthread_mutex_lock(&vm->lock);
		} else if (end && util_mono_ns() >= end) {
			pthread_mutex_unlock(&vm->lock);
			vm_stop(vm, VM_STOP_TIMEOUT, VM_STATUS_TIMEOUT, -1, "guest still running after %.1f s: stopped",
				(double)timeout_ns / 1e9);
			pthread_mutex_lock(&vm->lock);
		}
	}
	pthread_mutex_unlock(&vm->lock);
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		if (vm->vcpus[i]->thread_started)
			pthread_join(vm->vcpus[i]->thread, NULL);
		vm->vcpus[i]->thread_started = false;
	}
	vm->started = false;
	return 0;
}

int vm_run(struct vm *vm, uint64_t timeout_ns, volatile sig_atomic_t *interrupt)
{
	int ret = vm_start(vm);

	if (ret)
		return ret;
	return vm_wait(vm, timeout_ns, interrupt);
}

int vm_pause(struct vm *vm)
{
	if (!vm->started)
		return vmm_fail(-EINVAL, "VM is not running");
	pthread_mutex_lock(&vm->lock);
	vm->pause_requested = true;
	pthread_mutex_unlock(&vm->lock);
	for (unsigned i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(vm->vcpus[i], VCPU_REQ_PAUSE);
	pthread_mutex_lock(&vm->lock);
	while (vm->nr_paused < vm->nr_running && !vm->stopping)
		pthread_cond_wait(&vm->cond, &vm->lock);
	pthread_mutex_unlock(&vm->lock);
	iobus_stop_all(vm->bus);
	return 0;
}

void vm_hooks_hold(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_hooks; i++)
		if (vm->hooks[i].pause_begin)
			vm->hooks[i].pause_begin(vm->hooks[i].arg);
}

void vm_hooks_release(struct vm *vm)
{
	for (unsigned i = vm->nr_hooks; i-- > 0;)
		if (vm->hooks[i].pause_end)
			vm->hooks[i].pause_end(vm->hooks[i].arg);
}

int vm_pause_for_user(struct vm *vm)
{
	int ret;

	vm_hooks_hold(vm);
	ret = vm_pause(vm);
	vm_hooks_release(vm);
	return ret;
}

int vm_resume(struct vm *vm)
{
	if (!vm->started)
		return vmm_fail(-EINVAL, "VM is not running");
	iobus_start_all(vm->bus);
	pthread_mutex_lock(&vm->lock);
	vm->pause_requested = false;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

enum vm_run_state vm_run_state_locked(const struct vm *vm)
{
	if (vm->stopping || (!vm->started && vm->exit.reason != VM_STOP_NONE))
		return VM_STATE_STOPPED;
	if (!vm->started)
		return VM_STATE_CREATED;
	return vm->pause_requested ? VM_STATE_PAUSED : VM_STATE_RUNNING;
}

enum vm_run_state vm_run_state(struct vm *vm)
{
	enum vm_run_state st;

	pthread_mutex_lock(&vm->lock);
	st = vm_run_state_locked(vm);
	pthread_mutex_unlock(&vm->lock);
	return st;
}

const char *vm_run_state_name(enum vm_run_state state)
{
	switch (state) {
	case VM_STATE_CREATED:
		return "created";
	case VM_STATE_RUNNING:
		return "running";
	case VM_STATE_PAUSED:
		return "paused";
	case VM_STATE_STOPPED:
		break;
	}
	return "stopped";
}

void vm_reset_after_fork(struct vm *vm)
{
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->started = false;
	vm->stopping = false;
	vm->pause_requested = false;
	vm->nr_running = vm->nr_paused = 0;
	vm->finish_status = 0;
	for (unsigned i = 0; i < vm->nr_vcpus; i++) {
		vm->vcpus[i]->thread_started = false;
		vm->vcpus[i]->requests = 0;
	}
}
