/* SPDX-License-Identifier: MIT */
/* `thpvm run --payload`: image, memory, VM, run, report; every failure one line, the guest's status passed on. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "run_opts.h"
#include "cli.h"
#include "error.h"
#include "guest_ram.h"
#include "kvm/vm.h"
#include "kvm/vm_stats.h"
#include "x86/layout.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void print_exit(const struct vm_exit_info *e)
{
	if (e->reason == VM_STOP_GUEST_EXIT)
		return;
	cli_error("%s", e->message);
	if (e->dump)
		fprintf(stderr, "%s\n", e->dump);
}

static int write_stats(struct vm *vm, const struct run_opts *o)
{
	int ret = 0;

	if (o->stats) {
		fflush(stdout);
		if (vm_stats_print(stdout, vm)) {
			cli_error("%s: statistics: %s", o->cmd, vmm_last_error());
			ret = -EIO;
		}
	}
	if (o->stats_json) {
		json_t *j = vm_stats_json(vm);

		if (!j || json_dump_file(j, o->stats_json, JSON_INDENT(1))) {
			cli_error("%s: cannot write statistics to %s%s%s", o->cmd, o->stats_json, j ? "" : ": ",
				  j ? "" : vmm_last_error());
			ret = -EIO;
		}
		json_decref(j);
	}
	return ret;
}

int run_payload(const struct run_opts *o)
{
	struct payload_image image;
	struct payload_layout layout;
	struct guest_ram_config rc = {
		.size_bytes = o->memory_bytes,
		.backing = o->backing,
		.populate = o->prefault ? THPVM_POPULATE_PREFAULT : THPVM_POPULATE_ON_DEMAND,
	};
	struct payload_config pc = { .image = &image, .args = &o->args, .guest_page_size = o->guest_page_size };
	uint64_t low = o->memory_bytes < X86_MMIO_HOLE_GPA ? o->memory_bytes : X86_MMIO_HOLE_GPA;
	struct sigaction sa, old_int, old_term;
	struct thpvm_memmap *mem = NULL;
	struct payload *payload;
	struct vm *vm = NULL;
	int status;

	if (payload_image_load(o->payload, &image)) {
		cli_error("%s: %s", o->cmd, vmm_last_error());
		return 2;
	}
	if (payload_args_check(&o->args, &image) || payload_layout_compute(low, o->memory_bytes - low, &layout)) {
		cli_error("%s: %s", o->cmd, vmm_last_error());
		payload_image_free(&image);
		return 2;
	}
	if (guest_ram_create(&rc, &mem) || payload_vm_create(mem, o->nr_cpus, &pc, &vm, &payload)) {
		cli_error("%s: %s", o->cmd, vmm_last_error());
		thpvm_memmap_destroy(mem);
		payload_image_free(&image);
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	interrupted = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	if (vm_run(vm, o->timeout_ns, &interrupted)) {
		cli_error("%s: %s", o->cmd, vmm_last_error());
		status = 1;
	} else {
		fflush(stdout);
		print_exit(&vm->exit);
		status = vm->exit.status;
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (write_stats(vm, o) && !status)
		status = 1;
	vm_destroy(vm);
	thpvm_memmap_destroy(mem);
	payload_image_free(&image);
	return status;
}
