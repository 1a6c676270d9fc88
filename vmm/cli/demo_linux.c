/* SPDX-License-Identifier: MIT */
/*
 * thpvm demo --linux: boots the Linux guest recipe (Debian's kernel and the
 * busybox initramfs, guests/linux) and runs memtest inside it, where the host
 * can boot Linux. On kvm-pvm it cannot (guest ring 0 is emulated), which is
 * found at run time and explained, with the way to the nested lab.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "demo.h"
#include "util/util.h"
#include "run/run_opts.h"
#include "run/run.h"
#include "kvm/kvm_host.h"
#include "kvm/vm.h"
#include "kvm/vm_stats.h"

#ifndef THPVM_LINUX_GUEST_DIR_DEFAULT
#define THPVM_LINUX_GUEST_DIR_DEFAULT "guests/linux"
#endif

#define DEMO_CMDLINE "console=ttyS0 quiet nokaslr pci=off acpi=off initcall_blacklist=cmos_init"
#define DEMO_TIMEOUT_S 300

static void after_guest(struct vm *vm, void *arg)
{
	(void)arg;
	printf("\nHow the guest's RAM was mapped when it ended:\n");
	vm_stats_print_summary(stdout, vm);
}

int demo_linux(const char *guest_dir, uint64_t memory_bytes)
{
	static char kernel[4096], initrd[4096], cmdline[512];
	struct run_opts o;
	struct kvm_host h;
	int status;

	if (!guest_dir)
		guest_dir = getenv("THPVM_LINUX_GUEST_DIR");
	if (!guest_dir)
		guest_dir = THPVM_LINUX_GUEST_DIR_DEFAULT;
	kvm_host_detect(&h);
	printf("thpvm demo --linux: a Debian kernel + busybox initramfs under thpvm, memtest inside it\n");
	printf("KVM on this host: %s\n", h.what);
	if (!kvm_host_boots_linux(&h)) {
		printf("\nA Linux guest cannot boot here: %s.\n"
		       "Linux needs a host with hardware virtualization (VMX or SVM: kvm_intel or kvm_amd).\n"
		       "On this machine use the nested lab, where thpvm runs inside an L1 Linux under QEMU TCG\n"
		       "with nested SVM and boots the same guest (docs/lab.md):\n"
		       "  make -C build check-lab   # Linux under thpvm with 1 and 2 vCPUs, memtest inside, pages_2m\n"
		       "  make -C build bench-lab   # boot time to the init marker, thpvm next to QEMU\n",
		       h.kind == KVM_HOST_NONE ? "there is no usable /dev/kvm" : "guest ring 0 would be emulated");
		return 0;
	}
	snprintf(kernel, sizeof(kernel), "%s/vmlinux", guest_dir);
	snprintf(initrd, sizeof(initrd), "%s/initramfs.cpio", guest_dir);
	if (access(kernel, R_OK) || access(initrd, R_OK)) {
		cli_error("demo: no Linux guest in %s (vmlinux, initramfs.cpio): build it with 'make linux-guest' "
			  "or pass --guest-dir DIR", guest_dir);
		return 1;
	}
	/* memtest over half the guest's RAM, two threads on two vCPUs */
	snprintf(cmdline, sizeof(cmdline), DEMO_CMDLINE " thpvm.run=memtest,mem=%lluM,cpus=2",
		 (unsigned long long)(memory_bytes >> 21));
	run_opts_default(&o, "demo");
	o.guest.kernel = kernel;
	o.guest.initrd = initrd;
	o.guest.cmdline = cmdline;
	o.guest.memory_bytes = memory_bytes;
	o.guest.nr_cpus = 2;
	o.timeout_ns = DEMO_TIMEOUT_S * 1000000000ULL;
	printf("booting %s with %s, %llu MiB, 2 vCPUs\ncommand line: %s\n\n", kernel, initrd,
	       (unsigned long long)(memory_bytes >> 20), cmdline);
	fflush(stdout);
	status = run_guest(&o, after_guest, NULL);
	printf("\nmemtest inside the Linux guest: %s (guest status %d)\n", status ? "FAILED" : "passed", status);
	return status;
}
