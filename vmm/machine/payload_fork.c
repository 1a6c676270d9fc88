/* SPDX-License-Identifier: MIT */
/*
 * The payload machine's part in a fork: in a child, before its vCPUs run,
 * fill the boot info's fork mailbox (index, TSCs, then depth, which the
 * payload polls) and drop the results lock the parent's vCPUs may have
 * held. The SLEEP call, which lets a waiting payload idle in the VMM. And
 * its control commands: "console" only, which a payload (no UART) refuses.
 */
#include "config.h"
#include <errno.h>
#include <time.h>
#include "payload_internal.h"
#include "util/error.h"
#include "dev/console_ctl.h"
#include "fork/fork.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

static int payload_fork_child(void *arg, struct vm *vm, unsigned index)
{
	struct payload *p = arg;
	const struct vm_fork_identity *id = vm_fork_identity(vm);
	struct payload_fork_info *f = &p->boot_info->fork;

	pthread_mutex_init(&p->lock, NULL);
	if (!id)
		return 0;
	f->index = index;
	f->cmd_tsc = id->cmd_host_tsc + (uint64_t)id->tsc_offset;
	f->resume_tsc = id->resume_host_tsc + (uint64_t)id->tsc_offset;
	__atomic_store_n(&f->depth, id->depth, __ATOMIC_RELEASE);
	return 0;
}

/* The payload in the VM's stats: its name, the vCPUs waiting for a fork, the last value of each result. */
static json_t *payload_stats(void *arg)
{
	struct payload *p = arg;
	json_t *o = json_object(), *results = json_object();

	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; i < p->nr_results; i++)
		json_object_set_new(results, p->results[i].name, json_integer((json_int_t)p->results[i].value));
	pthread_mutex_unlock(&p->lock);
	json_object_set_new(o, "fork_waiting", json_integer(payload_fork_waiting(p)));
	json_object_set_new(o, "results", results);
	return o;
}

int payload_fork_register(struct vm *vm, struct payload *p)
{
	/* no UART: its "console" command answers that it is unsupported, as docs/ctl.md says */
	struct vm_hooks h = { .name = "payload", .arg = p, .fork_child = payload_fork_child, .stats = payload_stats,
			      .ctl_register = console_ctl_register };

	return vm_add_hooks(vm, &h);
}

unsigned payload_fork_waiting(const struct payload *p)
{
	return (unsigned)__atomic_load_n(&p->boot_info->fork.waiting, __ATOMIC_ACQUIRE);
}

int payload_call_sleep(struct vcpu *v, uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ULL), .tv_nsec = (long)(ns % 1000000000ULL) };

	if (ns > PAYLOAD_SLEEP_MAX_NS)
		return vmm_fail(-EINVAL, "payload sleep of %llu ns: at most %d", (unsigned long long)ns,
				PAYLOAD_SLEEP_MAX_NS);
	/* a kick (pause, stop) interrupts the sleep: the signal has no SA_RESTART */
	if (!__atomic_load_n(&v->requests, __ATOMIC_SEQ_CST))
		nanosleep(&ts, NULL);
	return 0;
}
