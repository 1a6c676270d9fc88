/* SPDX-License-Identifier: MIT */
/*
 * The Linux machine (docs/linux-boot.md): a console, a kernel loaded into
 * guest RAM, the PC devices. The terminal is restored on every way out
 * (console.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "machine.h"
#include "util/util.h"
#include "dev/console.h"
#include "util/error.h"
#include "linux_machine.h"
#include "dev/pc_dev.h"
#include "linux_virtio.h"
#include "kvm/kvm_host.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"
#include "x86/layout.h"

struct linux_machine {
	struct console *con;
	struct linux_boot boot;
	struct linux_module modules[MACHINE_MAX_MODULES]; /* --module PATH[,STRING], split */
	char *module_specs[MACHINE_MAX_MODULES];
};

static void linux_ops_release(void *state)
{
	struct linux_machine *m = state;

	if (!m)
		return;
	console_close(m->con);
	for (unsigned i = 0; i < MACHINE_MAX_MODULES; i++)
		free(m->module_specs[i]);
	free(m);
}

/* A console file that cannot be created, a disk that cannot be opened: bad input, found before any memory exists. */
static int linux_ops_check(const struct machine_config *mc, void **state)
{
	struct linux_machine *m;
	struct console_config cc;
	int ret;

	if ((ret = linux_virtio_check(mc)))
		return ret;
	if (!(m = calloc(1, sizeof(*m))))
		return vmm_fail(-ENOMEM, "out of memory");
	if ((ret = console_parse(mc->console ? mc->console : "stdio", &cc)) || (ret = console_open(&cc, &m->con))) {
		free(m);
		return ret;
	}
	*state = m;
	return 0;
}

/* The kernel's checks need the memory layout, so they come after guest RAM exists (on demand, nothing touched). */
static int linux_ops_load(void *state, const struct machine_config *mc, struct thpvm_memmap *mem)
{
	struct linux_machine *m = state;
	struct linux_load_config lc = {
		.kernel_path = mc->kernel,
		.initrd_path = mc->initrd,
		.cmdline = mc->cmdline,
		.nr_cpus = mc->nr_cpus,
	};
	struct acpi_mmio_device devices[X86_VIRTIO_MAX_DEVICES];
	int ret;

	/* PATH,STRING: the module's file, and the string its kernel sees (the path when none) */
	for (unsigned i = 0; i < mc->nr_modules; i++) {
		char *comma;

		free(m->module_specs[i]);
		if (!(m->module_specs[i] = strdup(mc->modules[i])))
			return vmm_fail(-ENOMEM, "out of memory");
		comma = strchr(m->module_specs[i], ',');
		if (comma)
			*comma = '\0';
		m->modules[i] = (struct linux_module){ m->module_specs[i], comma ? comma + 1 : NULL };
	}
	lc.modules = m->modules;
	lc.nr_modules = mc->nr_modules;
	if (linux_virtio_count(mc)) {
		/* Linux finds virtio-mmio devices through ACPI (x86/acpi.h) */
		if ((ret = linux_virtio_acpi(mc, devices)))
			return ret;
		lc.devices = devices;
		lc.nr_devices = linux_virtio_count(mc);
		if (mc->cmdline && strstr(mc->cmdline, "acpi=off"))
			cli_error("warning: acpi=off on the command line hides the virtio devices (--rng, --disk, --net) from the "
				  "guest: they are described by ACPI");
	}
	return linux_machine_load(mem, &lc, &m->boot);
}

static int linux_ops_create_vm(void *state, const struct machine_config *mc, struct thpvm_memmap *mem, struct vm **vm)
{
	struct linux_machine *m = state;
	int ret;

	if ((ret = linux_vm_create(mem, &m->boot, m->con, vm)))
		return ret;
	if ((ret = linux_virtio_attach(*vm, mc))) {
		vm_destroy(*vm);
		*vm = NULL;
	}
	return ret;
}

/*
 * Said once, before the guest runs: what happens next is slow or a guest
 * error, not a hang of thpvm. Then the terminal goes raw.
 */
static void linux_ops_start(void *state, const struct machine_config *mc, uint64_t timeout_ns)
{
	struct linux_machine *m = state;
	struct kvm_host h;

	kvm_host_detect(&h);
	if (!kvm_host_boots_linux(&h))
		cli_error("warning: /dev/kvm is %s: Linux boots very slowly or fails here%s; "
			  "use a VMX/SVM host or the nested lab (docs/lab.md)",
			  h.what, timeout_ns ? "" : " (--timeout bounds the attempt)");
	fflush(stdout);
	if (console_raw(m->con))
		cli_error("%s: %s (the console stays as it is)", mc->cmd, vmm_last_error());
	else if (console_is_raw(m->con))
		cli_error("console: Ctrl-A x quits, Ctrl-A h lists the keys");
}

/* Input after vm_start(): it resets the VM's stop state, so a Ctrl-A x read before it would be lost. */
static int linux_ops_started(void *state)
{
	struct linux_machine *m = state;

	return console_input_start(m->con);
}

static void linux_ops_stop(void *state)
{
	struct linux_machine *m = state;

	console_input_stop(m->con);
	console_flush(m->con);
	console_restore(m->con);
}

static void linux_ops_flush(void *state)
{
	struct linux_machine *m = state;

	console_flush(m->con);
}

/* A debug-exit status says nothing; a timeout says where vCPU 0 was. */
static bool linux_ops_report_exit(void *state, struct vm *vm)
{
	const struct vm_exit_info *e = &vm->exit;
	struct kvm_regs regs;
	uint32_t v;

	(void)state;
	if (e->reason == VM_STOP_GUEST_EXIT &&
	    (debug_exit_dev_fired(vm, X86_PORT_DEBUG_EXIT, &v) || debug_exit_dev_fired(vm, X86_PORT_DEBUG_EXIT_MB, &v)) &&
	    v <= 255)
		return true;
	if (e->reason == VM_STOP_TIMEOUT && !vcpu_get_regs(vm->vcpus[0], &regs)) {
		cli_error("%s (vcpu 0 at RIP 0x%llx)", e->message, (unsigned long long)regs.rip);
		return true;
	}
	return false;
}

const struct machine_ops machine_linux = {
	.kind = "Linux",
	.check = linux_ops_check,
	.release = linux_ops_release,
	.load = linux_ops_load,
	.create_vm = linux_ops_create_vm,
	.start = linux_ops_start,
	.started = linux_ops_started,
	.stop = linux_ops_stop,
	.flush = linux_ops_flush,
	.report_exit = linux_ops_report_exit,
};
