# x86 building blocks shared by the VMM and its unit tests
VMM_X86_SOURCES = \
	vmm/x86/layout.h \
	vmm/x86/pagetable.h \
	vmm/x86/pagetable.c \
	vmm/x86/cpu_bits.h \
	vmm/x86/gdt.h \
	vmm/x86/gdt.c
# Linux boot: loader (bzImage, PVH vmlinux), e820, MP table, ACPI tables, boot CPU state, CPUID, MSRs
VMM_X86_SOURCES += \
	vmm/x86/linux.h \
	vmm/x86/linux_internal.h \
	vmm/x86/linux.c \
	vmm/x86/linux_result.c \
	vmm/x86/linux_file.c \
	vmm/x86/linux_cpu.c \
	vmm/x86/bzimage.c \
	vmm/x86/elf_pvh.c \
	vmm/x86/pvh.h \
	vmm/x86/e820.h \
	vmm/x86/e820.c \
	vmm/x86/mptable.h \
	vmm/x86/mptable.c \
	vmm/x86/acpi.h \
	vmm/x86/acpi.c \
	vmm/x86/multiboot.h \
	vmm/x86/multiboot.c \
	vmm/x86/cpuid.h \
	vmm/x86/cpuid.c \
	vmm/x86/msr.h \
	vmm/x86/msr.c
# Legacy PC devices for Linux guests (COM1 UART, i8042, debug-exit port): register models; *_dev.c attach them to the I/O bus
VMM_LEGACY_DEV_SOURCES = \
	vmm/dev/legacy_dev.h \
	vmm/dev/uart8250.h \
	vmm/dev/uart8250.c \
	vmm/dev/i8042.h \
	vmm/dev/i8042.c \
	vmm/dev/debug_exit.h \
	vmm/dev/debug_exit.c

# KVM state capture and restore (pause, fork, snapshots)
VMM_STATE_SOURCES = \
	vmm/state/kvm_state.h \
	vmm/state/kvm_state.c

# The VMM core: KVM VM/vCPU lifecycle, I/O bus, payload guests. Linked into
# thpvm and (as tests/lib/libvmmcore.la) into the tests that drive real VMs.
VMM_CORE_SOURCES = \
	vmm/util/util.h \
	vmm/util/clock.h \
	vmm/util/util.c \
	vmm/util/error.h \
	vmm/util/error.c \
	vmm/util/crc32c.h \
	vmm/util/crc32c.c \
	vmm/util/opts.h \
	vmm/util/opts.c \
	vmm/util/progress.h \
	vmm/util/progress.c \
	vmm/kvm/kvm_stats.h \
	vmm/kvm/kvm_stats.c \
	vmm/kvm/vm.h \
	vmm/kvm/vm.c \
	vmm/kvm/vm_run.c \
	vmm/kvm/vm_stats.h \
	vmm/kvm/vm_stats.c \
	vmm/kvm/vcpu.h \
	vmm/kvm/vcpu.c \
	vmm/kvm/vcpu_exit.c \
	vmm/kvm/vcpu_dump.c \
	vmm/dev/iobus.h \
	vmm/dev/iobus.c \
	vmm/machine/guest_ram.h \
	vmm/machine/guest_ram.c \
	vmm/machine/payload.h \
	vmm/machine/payload_internal.h \
	vmm/machine/payload_image.c \
	vmm/machine/payload_args.c \
	vmm/machine/payload_layout.c \
	vmm/machine/payload_setup.c \
	vmm/machine/payload_dev.c \
	guests/include/payload_abi.h \
	$(VMM_X86_SOURCES) \
	$(VMM_STATE_SOURCES)
VMM_CORE_CFLAGS = -I$(top_srcdir)/vmm -I$(top_srcdir)/guests/include $(URING_CFLAGS) \
	-DTHPVM_PAYLOAD_INSTALL_DIR=\"$(pkglibdir)/payloads\"

bin_PROGRAMS += vmm/thpvm
vmm_thpvm_SOURCES = \
	vmm/main.c \
	vmm/cli/cli.h \
	vmm/cli/commands.c \
	vmm/cli/cmd_demo.c \
	vmm/cli/demo_lab.c \
	vmm/run/run_opts.h \
	vmm/cli/run_opts.c \
	vmm/run/run.h \
	vmm/run/run.c \
	vmm/run/clones.c \
	vmm/run/clone_ctl.c \
	vmm/machine/machine.h \
	vmm/machine/payload_ops.c \
	vmm/cli/cmd_run.c \
	vmm/cli/cmd_stats.c \
	vmm/cli/cmd_domxml.c \
	vmm/cli/cmd_host.c \
	vmm/bench/bench.h \
	vmm/bench/bench.c \
	vmm/bench/bench_guest.c \
	vmm/bench/benches.c \
	vmm/bench/bench_coverage.c \
	vmm/bench/plot.h \
	vmm/bench/plot.c \
	vmm/bench/bench_tlb.c \
	vmm/bench/bench_collapse_mem.c \
	$(VMM_CORE_SOURCES)
vmm_thpvm_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(VMM_CORE_CFLAGS) \
	-DTHPVM_LAB_RUN=\"$(abs_top_srcdir)/tests/lab/run.sh\"
vmm_thpvm_LDADD = src/libthpvm.la $(JANSSON_LIBS) $(URING_LIBS) -lm

# The control socket (server, protocol, schema, client), shared with its tests; part of the
# core, since the subsystems there register their own commands on it (vm_hooks.ctl_register)
VMM_CTL_SOURCES = \
	vmm/ctl/ctl.h \
	vmm/ctl/internal.h \
	vmm/ctl/result.c \
	vmm/ctl/schema.c \
	vmm/ctl/socket.c \
	vmm/ctl/protocol.c \
	vmm/ctl/server.c \
	vmm/ctl/client.c
VMM_CORE_SOURCES += $(VMM_CTL_SOURCES)
vmm_thpvm_SOURCES += vmm/cli/cmd_ctl.c vmm/cli/cmd_snapshot.c
# Linux guests: the legacy devices on the I/O bus, the console, the machine, the run
VMM_LINUX_SOURCES = \
	$(VMM_LEGACY_DEV_SOURCES) \
	vmm/dev/pc_dev.h \
	vmm/dev/uart8250_dev.c \
	vmm/dev/virtio_mmio.c vmm/dev/virtio_mmio.h \
	vmm/dev/virtio_rng.c vmm/dev/virtio_dev.c vmm/dev/virtio_dev.h \
	vmm/dev/virtio_blk.c vmm/dev/virtio_blk.h vmm/dev/disk_chain.c vmm/dev/disk_chain.h \
	vmm/dev/virtio_net.c vmm/dev/virtio_net_opts.c vmm/dev/virtio_net.h \
	vmm/machine/linux_virtio.c vmm/machine/linux_virtio.h \
	vmm/dev/i8042_dev.c \
	vmm/dev/debug_exit_dev.c \
	vmm/dev/console.h \
	vmm/dev/console.c \
	vmm/dev/console_ctl.h \
	vmm/dev/console_ctl.c \
	vmm/kvm/kvm_host.h \
	vmm/kvm/kvm_host.c \
	vmm/machine/linux_machine.h \
	vmm/machine/linux_machine.c
VMM_CORE_SOURCES += $(VMM_LINUX_SOURCES)
vmm_thpvm_SOURCES += vmm/machine/linux_ops.c vmm/cli/demo.h vmm/cli/demo_linux.c
vmm_thpvm_CFLAGS += -DTHPVM_LINUX_GUEST_DIR_DEFAULT=\"$(abs_top_builddir)/guests/linux\"
# The collapse thread of a VM (libthpvm's collapser on the VM's hooks) and its control command
VMM_CORE_SOURCES += vmm/collapse/collapse_vm.h vmm/collapse/collapse_vm.c vmm/collapse/collapse_ctl.c

# Snapshot-fork (docs/fork.md): state capture and restore, vm_fork(), children and their reaper,
# fork statistics, the payload's fork mailbox. Part of the VMM core (thpvm and the KVM tests).
VMM_STATE_SOURCES += \
	vmm/state/tsc.h \
	vmm/state/tsc.c
VMM_FORK_SOURCES = \
	vmm/fork/fork.h \
	vmm/fork/internal.h \
	vmm/state/snapshot.h \
	vmm/state/snapshot.c \
	vmm/fork/fork.c \
	vmm/fork/fork_child.c \
	vmm/fork/children.c \
	vmm/fork/fork_stats.c \
	vmm/machine/payload_fork.c
VMM_CORE_SOURCES += $(VMM_FORK_SOURCES)
# The VM's control socket commands (pause, resume, stats, fork, quit) and `thpvm bench fork`
VMM_VM_CTL_SOURCES = \
	vmm/ctl/vm_ctl.h \
	vmm/ctl/vm_ctl.c
VMM_CORE_SOURCES += $(VMM_VM_CTL_SOURCES)
vmm_thpvm_SOURCES += vmm/bench/bench_fork.h vmm/bench/bench_fork.c vmm/bench/bench_fork_tmpl.c vmm/bench/bench_template.c \
	vmm/bench/bench_fork_mem.c
# thpvm bench collapse: the collapse thread recovering a forked child (needs snapshot-fork)
vmm_thpvm_SOURCES += vmm/bench/bench_collapse.c
# A snapshot's state file on disk (docs/snapshot-format.md). In the core, not VMM_STATE_SOURCES:
# tests/kvm/test_kvm_state links that list without util/.
VMM_CORE_SOURCES += vmm/state/snapshot_file.h vmm/state/snapshot_file.c
# Snapshots on disk: a whole VM saved to and loaded from a directory (the state file above, one memory
# file per region: libthpvm's region images, thpvm/image.h), and the machine's description it carries
VMM_CORE_SOURCES += vmm/state/snapshot_dir.h vmm/state/snapshot_dir.c vmm/state/page_cache.c vmm/machine/machine_json.c
# thpvm bench snapshot: the disk's own bandwidth (libthpvm's thpvm_image_measure_disk(), the images' own
# I/O loop), a region's image, a whole VM
vmm_thpvm_SOURCES += vmm/bench/bench_snapshot.h vmm/bench/bench_snapshot.c vmm/bench/bench_snapshot_mem.c \
	vmm/bench/bench_snapshot_vm.c vmm/bench/bench_snapshot_out.c vmm/bench/bench_snapshot_sweep.c
# thpvm bench blk: disk IOPS and throughput in a Linux guest under thpvm and QEMU next to the host's own
# (blkbench, guests/linux-user/blkbench.c, on the same image)
vmm_thpvm_SOURCES += vmm/bench/bench_blk.c
# thpvm bench tlb --linux: the Linux guest's TLB matrix, host backing x guest THP mode
vmm_thpvm_SOURCES += vmm/bench/bench_tlb_linux.c
# thpvm bench clone: clones of a snapshot (shared restore alone and at once, density, HUGE by file system,
# collapse back), each clone a process
vmm_thpvm_SOURCES += vmm/bench/bench_clone.h vmm/bench/bench_clone.c vmm/bench/bench_clone_parts.c
# thpvm run --domain FILE.xml (docs/libvirt.md): libvirt validates and normalises, libxml2's XPath reads;
# and back: thpvm domxml, the control socket's domxml (a libxml2 tree libvirt validates)
VMM_DOMAIN_SOURCES = \
	vmm/domain/domain.h \
	vmm/domain/domain_internal.h \
	vmm/domain/domain.c \
	vmm/domain/domain_virt.c \
	vmm/domain/domain_map.c \
	vmm/domain/domain_devices.c \
	vmm/domain/domain_check.c \
	vmm/domain/domain_write.c \
	vmm/domain/domain_ctl.c
VMM_DOMAIN_CFLAGS = $(LIBVIRT_CFLAGS) $(LIBXML_CFLAGS)
VMM_DOMAIN_LIBS = $(LIBVIRT_LIBS) $(LIBXML_LIBS)
vmm_thpvm_SOURCES += $(VMM_DOMAIN_SOURCES)
vmm_thpvm_CFLAGS += $(VMM_DOMAIN_CFLAGS)
vmm_thpvm_LDADD += $(VMM_DOMAIN_LIBS)
