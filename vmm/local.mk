# x86 building blocks shared by the VMM and its unit tests
VMM_X86_SOURCES = \
	vmm/x86/layout.h \
	vmm/x86/pagetable.h \
	vmm/x86/pagetable.c \
	vmm/x86/gdt.h \
	vmm/x86/gdt.c
# Linux boot: loader (bzImage, PVH vmlinux), e820, MP table, boot CPU state, CPUID, MSRs
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
	vmm/x86/cpuid.h \
	vmm/x86/cpuid.c \
	vmm/x86/msr.h \
	vmm/x86/msr.c
# Legacy PC devices for Linux guests (COM1 UART, i8042, debug-exit port): TO BE WIRED to the I/O bus
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

bin_PROGRAMS += vmm/thpvm
vmm_thpvm_SOURCES = \
	vmm/cli.h \
	vmm/main.c \
	vmm/commands.c \
	vmm/util.c \
	vmm/cmd_demo.c \
	vmm/bench/bench.h \
	vmm/bench/bench.c \
	vmm/bench/benches.c \
	vmm/bench/bench_coverage.c \
	$(VMM_X86_SOURCES) \
	$(VMM_STATE_SOURCES)
vmm_thpvm_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
vmm_thpvm_LDADD = src/libthpvm.la $(JANSSON_LIBS) -lm

# The control socket (server, protocol, command table, client), shared with its tests
VMM_CTL_SOURCES = \
	vmm/ctl/ctl.h \
	vmm/ctl/internal.h \
	vmm/ctl/result.c \
	vmm/ctl/schema.c \
	vmm/ctl/socket.c \
	vmm/ctl/protocol.c \
	vmm/ctl/server.c \
	vmm/ctl/client.c \
	vmm/ctl/api.c
vmm_thpvm_SOURCES += vmm/cmd_ctl.c $(VMM_CTL_SOURCES)
vmm_thpvm_SOURCES += $(VMM_LEGACY_DEV_SOURCES)
vmm_thpvm_SOURCES += vmm/bench/bench_collapse_mem.c
