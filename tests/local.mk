# Criterion tests by category; each binary's suite is its module.
#   unit/ - pure logic and small mappings      thp/ - real host memory management
#   kvm/  - need /dev/kvm (skip with a reason)  lab/ - nested Linux (make check-lab)
check_LTLIBRARIES = tests/lib/libtesthelpers.la
tests_lib_libtesthelpers_la_SOURCES = tests/lib/helpers.c tests/lib/helpers.h tests/lib/require.h tests/lib/main.c \
	tests/lib/syscall_deny.c

TEST_CFLAGS = $(AM_CFLAGS) $(CRITERION_CFLAGS) $(JANSSON_CFLAGS) -I$(top_srcdir)/tests/lib -I$(top_srcdir)/src
TEST_LDADD = tests/lib/libtesthelpers.la src/libthpvm.la $(CRITERION_LIBS) $(JANSSON_LIBS)

UNIT_TESTS = \
	tests/unit/test_memmap \
	tests/unit/test_thp_policy \
	tests/unit/test_x86_tables \
	tests/unit/test_payload_image \
	tests/unit/test_payload_args \
	tests/unit/test_payload_layout \
	tests/unit/test_kvm_stats \
	tests/unit/test_iobus \
	tests/unit/test_linux_user
THP_TESTS = \
	tests/thp/test_extent \
	tests/thp/test_cow \
	tests/thp/test_fallback \
	tests/thp/test_coverage
KVM_TESTS = \
	tests/kvm/test_kvm_state \
	tests/kvm/test_vm \
	tests/kvm/test_payload \
	tests/kvm/test_kvm_mapping \
	tests/kvm/test_run_cli

check_PROGRAMS += $(UNIT_TESTS) $(THP_TESTS) $(KVM_TESTS)
TESTS += $(UNIT_TESTS) $(THP_TESTS) $(KVM_TESTS)

tests_unit_test_memmap_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_memmap_LDADD = $(TEST_LDADD)
tests_unit_test_thp_policy_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_thp_policy_LDADD = $(TEST_LDADD)
tests_unit_test_x86_tables_SOURCES = tests/unit/test_x86_tables.c $(VMM_X86_SOURCES)
tests_unit_test_x86_tables_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/vmm
tests_unit_test_x86_tables_LDADD = $(TEST_LDADD)
tests_kvm_test_kvm_state_SOURCES = tests/kvm/test_kvm_state.c $(VMM_X86_SOURCES) $(VMM_STATE_SOURCES)
tests_kvm_test_kvm_state_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/vmm
tests_kvm_test_kvm_state_LDADD = $(TEST_LDADD)
tests_thp_test_extent_CFLAGS = $(TEST_CFLAGS)
tests_thp_test_extent_LDADD = $(TEST_LDADD)
tests_thp_test_cow_CFLAGS = $(TEST_CFLAGS)
tests_thp_test_cow_LDADD = $(TEST_LDADD)
tests_thp_test_fallback_CFLAGS = $(TEST_CFLAGS)
tests_thp_test_fallback_LDADD = $(TEST_LDADD)
tests_thp_test_coverage_CFLAGS = $(TEST_CFLAGS)
tests_thp_test_coverage_LDADD = $(TEST_LDADD)
# A region's image on disk (suite image): io_uring, O_DIRECT, holes, refusals
THP_TESTS += tests/thp/test_image
tests_thp_test_image_CFLAGS = $(TEST_CFLAGS)
tests_thp_test_image_LDADD = $(TEST_LDADD)

# The collapse thread (suite collapse) and the file backing it collapses (suite memmap_file).
UNIT_TESTS += tests/unit/test_collapse_config
COLLAPSE_TESTS = \
	tests/thp/test_memmap_file \
	tests/thp/test_collapse \
	tests/thp/test_collapse_fire \
	tests/thp/test_collapse_policy \
	tests/thp/test_collapse_fail \
	tests/thp/test_collapse_vma \
	tests/thp/test_collapse_thread
THP_TESTS += $(COLLAPSE_TESTS)
EXTRA_DIST += tests/thp/collapse_common.h
tests_unit_test_collapse_config_CFLAGS = $(TEST_CFLAGS)
tests_unit_test_collapse_config_LDADD = $(TEST_LDADD)
tests_thp_test_memmap_file_CFLAGS = $(TEST_CFLAGS)
tests_thp_test_memmap_file_LDADD = $(TEST_LDADD)
tests_thp_test_collapse_CFLAGS = $(TEST_CFLAGS)
tests_thp_test_collapse_LDADD = $(TEST_LDADD)
tests_thp_test_collapse_fire_CFLAGS = $(TEST_CFLAGS)
tests_thp_test_collapse_fire_LDADD = $(TEST_LDADD)
tests_thp_test_collapse_policy_CFLAGS = $(TEST_CFLAGS)
tests_thp_test_collapse_policy_LDADD = $(TEST_LDADD)
tests_thp_test_collapse_fail_CFLAGS = $(TEST_CFLAGS)
tests_thp_test_collapse_fail_LDADD = $(TEST_LDADD)
tests_thp_test_collapse_vma_CFLAGS = $(TEST_CFLAGS)
tests_thp_test_collapse_vma_LDADD = $(TEST_LDADD)
tests_thp_test_collapse_thread_CFLAGS = $(TEST_CFLAGS)
tests_thp_test_collapse_thread_LDADD = $(TEST_LDADD)

LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
LOG_COMPILER = $(top_srcdir)/tests/criterion-tap.sh
EXTRA_DIST += tests/criterion-tap.sh
# where the KVM tests ran, from the logs (scripts/test.sh runs it last)
EXTRA_DIST += tests/kvm-report.sh

# Subsets, for the sanitizer build and for quick runs.
check-unit:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS="$(UNIT_TESTS)"
check-thp:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS="$(THP_TESTS)"
check-kvm:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS="$(KVM_TESTS)"
.PHONY: check-unit check-thp check-kvm

# What CI runs under -fsanitize=address,undefined: everything on this host, and a
# subset of the KVM tests in the nested lab (tests/lab/kvm-l1-sanitized.lab).
SANITIZED_TESTS = $(UNIT_TESTS) $(THP_TESTS) $(KVM_TESTS) tests/lab/kvm-l1-sanitized.lab
EXTRA_DIST += tests/lab/kvm-l1-sanitized.lab
check-sanitized:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS="$(SANITIZED_TESTS)"
.PHONY: check-sanitized

# The control socket (suite ctl): real unix sockets, real fork, a real second uid, the built client
CTL_TESTS = \
	tests/unit/test_ctl_protocol \
	tests/unit/test_ctl_socket \
	tests/unit/test_ctl_fork \
	tests/unit/test_ctl_cli \
	tests/unit/test_ctl_events
# appended to UNIT_TESTS: built, run by check, check-unit and check-sanitized
UNIT_TESTS += $(CTL_TESTS)
CTL_TEST_SOURCES = tests/lib/ctl_helpers.c tests/lib/ctl_helpers.h $(VMM_CTL_SOURCES)
CTL_TEST_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/vmm -DTHPVM_BIN='"$(abs_top_builddir)/vmm/thpvm"' \
	-DTHPVM_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_ctl_protocol_SOURCES = tests/unit/test_ctl_protocol.c $(CTL_TEST_SOURCES)
tests_unit_test_ctl_protocol_CFLAGS = $(CTL_TEST_CFLAGS)
tests_unit_test_ctl_protocol_LDADD = $(TEST_LDADD)
tests_unit_test_ctl_socket_SOURCES = tests/unit/test_ctl_socket.c $(CTL_TEST_SOURCES)
tests_unit_test_ctl_socket_CFLAGS = $(CTL_TEST_CFLAGS)
tests_unit_test_ctl_socket_LDADD = $(TEST_LDADD)
tests_unit_test_ctl_fork_SOURCES = tests/unit/test_ctl_fork.c $(CTL_TEST_SOURCES)
tests_unit_test_ctl_fork_CFLAGS = $(CTL_TEST_CFLAGS)
tests_unit_test_ctl_fork_LDADD = $(TEST_LDADD)
tests_unit_test_ctl_cli_SOURCES = tests/unit/test_ctl_cli.c $(CTL_TEST_SOURCES)
tests_unit_test_ctl_cli_CFLAGS = $(CTL_TEST_CFLAGS)
tests_unit_test_ctl_cli_LDADD = $(TEST_LDADD)
tests_unit_test_ctl_events_SOURCES = tests/unit/test_ctl_events.c $(CTL_TEST_SOURCES)
tests_unit_test_ctl_events_CFLAGS = $(CTL_TEST_CFLAGS)
tests_unit_test_ctl_events_LDADD = $(TEST_LDADD)
# The VM's commands as their owners declare them (suite ctl_commands): links the VMM core, where they live,
# and vmm/domain/ (domxml)
UNIT_TESTS += tests/unit/test_ctl_commands
tests_unit_test_ctl_commands_SOURCES = tests/unit/test_ctl_commands.c tests/lib/ctl_helpers.c \
	tests/lib/ctl_helpers.h vmm/cli/run_opts.c $(VMM_DOMAIN_SOURCES)
tests_unit_test_ctl_commands_CFLAGS = $(VMM_TEST_CFLAGS) -DTHPVM_SRCDIR='"$(abs_top_srcdir)"' $(VMM_DOMAIN_CFLAGS)
tests_unit_test_ctl_commands_LDADD = $(VMM_TEST_LDADD) $(VMM_DOMAIN_LIBS)
# Progress lines on a terminal and nothing elsewhere (vmm/util/progress.h), on a pty
UNIT_TESTS += tests/unit/test_progress
tests_unit_test_progress_SOURCES = tests/unit/test_progress.c vmm/util/progress.c vmm/util/progress.h
tests_unit_test_progress_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/vmm
tests_unit_test_progress_LDADD = $(TEST_LDADD) -lutil
# Every subcommand's option errors, through the built binary (vmm/util/opts.h)
UNIT_TESTS += tests/unit/test_cli_opts
tests_unit_test_cli_opts_CFLAGS = $(TEST_CFLAGS) -DTHPVM_BIN='"$(abs_top_builddir)/vmm/thpvm"'
tests_unit_test_cli_opts_LDADD = $(TEST_LDADD)
# thpvm run --domain (suite domain): domain XML through the real libvirt (test driver) and libxml2 onto run options
UNIT_TESTS += tests/unit/test_domain
tests_unit_test_domain_SOURCES = tests/unit/test_domain.c vmm/cli/run_opts.c $(VMM_DOMAIN_SOURCES)
tests_unit_test_domain_CFLAGS = $(VMM_TEST_CFLAGS) $(VMM_DOMAIN_CFLAGS) -DTHPVM_SRCDIR='"$(abs_top_srcdir)"'
tests_unit_test_domain_LDADD = $(VMM_TEST_LDADD) $(VMM_DOMAIN_LIBS)
EXTRA_DIST += tests/unit/domains/virt-install.xml
# Linux boot (vmm/x86: loader, e820, MP table, boot CPU state, CPUID, MSRs). Tests that
# load real kernels read them from $THPVM_TEST_KERNEL_DIR (default: guests/linux in the
# build tree) and skip, saying where they looked, when there are none.
check_LTLIBRARIES += tests/lib/libvmmx86.la
tests_lib_libvmmx86_la_SOURCES = $(VMM_X86_SOURCES) $(VMM_LEGACY_DEV_SOURCES)
tests_lib_libvmmx86_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) -I$(top_srcdir)/vmm
LINUX_TEST_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/vmm \
	-DTHPVM_TEST_KERNEL_DIR_DEFAULT='"$(abs_top_builddir)/guests/linux"'
LINUX_TEST_LDADD = tests/lib/libvmmx86.la $(TEST_LDADD)
LINUX_TEST_HELPERS = tests/lib/linux_helpers.c tests/lib/linux_helpers.h
LINUX_UNIT_TESTS = \
	tests/unit/test_linux_bzimage \
	tests/unit/test_linux_pvh \
	tests/unit/test_linux_refuse \
	tests/unit/test_linux_e820 \
	tests/unit/test_linux_mptable \
	tests/unit/test_linux_acpi \
	tests/unit/test_linux_cpuid \
	tests/unit/test_linux_msr \
	tests/unit/test_linux_regs \
	tests/unit/test_linux_uart8250 \
	tests/unit/test_linux_i8042 \
	tests/unit/test_linux_debug_exit
UNIT_TESTS += $(LINUX_UNIT_TESTS)
KVM_TESTS += tests/kvm/test_linux_vcpu
tests_unit_test_linux_bzimage_SOURCES = tests/unit/test_linux_bzimage.c $(LINUX_TEST_HELPERS)
tests_unit_test_linux_bzimage_CFLAGS = $(LINUX_TEST_CFLAGS)
tests_unit_test_linux_bzimage_LDADD = $(LINUX_TEST_LDADD)
tests_unit_test_linux_pvh_SOURCES = tests/unit/test_linux_pvh.c $(LINUX_TEST_HELPERS)
tests_unit_test_linux_pvh_CFLAGS = $(LINUX_TEST_CFLAGS)
tests_unit_test_linux_pvh_LDADD = $(LINUX_TEST_LDADD)
tests_unit_test_linux_refuse_SOURCES = tests/unit/test_linux_refuse.c $(LINUX_TEST_HELPERS)
tests_unit_test_linux_refuse_CFLAGS = $(LINUX_TEST_CFLAGS)
tests_unit_test_linux_refuse_LDADD = $(LINUX_TEST_LDADD)
tests_unit_test_linux_e820_SOURCES = tests/unit/test_linux_e820.c $(LINUX_TEST_HELPERS)
tests_unit_test_linux_e820_CFLAGS = $(LINUX_TEST_CFLAGS)
tests_unit_test_linux_e820_LDADD = $(LINUX_TEST_LDADD)
tests_unit_test_linux_mptable_SOURCES = tests/unit/test_linux_mptable.c $(LINUX_TEST_HELPERS)
tests_unit_test_linux_mptable_CFLAGS = $(LINUX_TEST_CFLAGS)
tests_unit_test_linux_mptable_LDADD = $(LINUX_TEST_LDADD)
tests_unit_test_linux_acpi_SOURCES = tests/unit/test_linux_acpi.c $(LINUX_TEST_HELPERS)
tests_unit_test_linux_acpi_CFLAGS = $(LINUX_TEST_CFLAGS)
tests_unit_test_linux_acpi_LDADD = $(LINUX_TEST_LDADD)
tests_unit_test_linux_cpuid_SOURCES = tests/unit/test_linux_cpuid.c
tests_unit_test_linux_cpuid_CFLAGS = $(LINUX_TEST_CFLAGS)
tests_unit_test_linux_cpuid_LDADD = $(LINUX_TEST_LDADD)
tests_unit_test_linux_msr_SOURCES = tests/unit/test_linux_msr.c
tests_unit_test_linux_msr_CFLAGS = $(LINUX_TEST_CFLAGS)
tests_unit_test_linux_msr_LDADD = $(LINUX_TEST_LDADD)
tests_unit_test_linux_regs_SOURCES = tests/unit/test_linux_regs.c $(LINUX_TEST_HELPERS)
tests_unit_test_linux_regs_CFLAGS = $(LINUX_TEST_CFLAGS)
tests_unit_test_linux_regs_LDADD = $(LINUX_TEST_LDADD)
tests_kvm_test_linux_vcpu_SOURCES = tests/kvm/test_linux_vcpu.c $(LINUX_TEST_HELPERS)
tests_kvm_test_linux_vcpu_CFLAGS = $(LINUX_TEST_CFLAGS)
tests_kvm_test_linux_vcpu_LDADD = $(LINUX_TEST_LDADD)
tests_unit_test_linux_uart8250_CFLAGS = $(LINUX_TEST_CFLAGS)
tests_unit_test_linux_uart8250_LDADD = $(LINUX_TEST_LDADD)
tests_unit_test_linux_i8042_CFLAGS = $(LINUX_TEST_CFLAGS)
tests_unit_test_linux_i8042_LDADD = $(LINUX_TEST_LDADD)
tests_unit_test_linux_debug_exit_CFLAGS = $(LINUX_TEST_CFLAGS)
tests_unit_test_linux_debug_exit_LDADD = $(LINUX_TEST_LDADD)
# The VMM core (vmm/), once, for every test that drives it.
check_LTLIBRARIES += tests/lib/libvmmcore.la
tests_lib_libvmmcore_la_SOURCES = $(VMM_CORE_SOURCES)
tests_lib_libvmmcore_la_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(VMM_CORE_CFLAGS)
VMM_TEST_CFLAGS = $(TEST_CFLAGS) $(VMM_CORE_CFLAGS) -DTHPVM_BUILD_DIR=\"$(abs_top_builddir)\"
VMM_TEST_LDADD = tests/lib/libvmmcore.la $(TEST_LDADD) $(URING_LIBS)

tests_unit_test_payload_image_CFLAGS = $(VMM_TEST_CFLAGS)
tests_unit_test_payload_image_LDADD = $(VMM_TEST_LDADD)
tests_unit_test_payload_args_CFLAGS = $(VMM_TEST_CFLAGS)
tests_unit_test_payload_args_LDADD = $(VMM_TEST_LDADD)
tests_unit_test_payload_layout_CFLAGS = $(VMM_TEST_CFLAGS)
tests_unit_test_payload_layout_LDADD = $(VMM_TEST_LDADD)
tests_unit_test_kvm_stats_CFLAGS = $(VMM_TEST_CFLAGS)
tests_unit_test_kvm_stats_LDADD = $(VMM_TEST_LDADD)
tests_unit_test_iobus_CFLAGS = $(VMM_TEST_CFLAGS)
tests_unit_test_iobus_LDADD = $(VMM_TEST_LDADD)
# virtio-mmio and virtio-rng (suite virtio): the test plays the guest's driver over real memory
# virtio-blk (suite virtio_blk): its I/O thread on a real io_uring over a real image file
# virtio-net (suite virtio_net): its thread on a real tap, in a network namespace of the test's own
VIRTIO_TEST_HELPERS = tests/lib/virtio_guest.c tests/lib/virtio_guest.h
UNIT_TESTS += tests/unit/test_virtio tests/unit/test_virtio_blk tests/unit/test_disk_chain tests/unit/test_virtio_net
tests_unit_test_disk_chain_CFLAGS = $(VMM_TEST_CFLAGS)
tests_unit_test_disk_chain_LDADD = $(VMM_TEST_LDADD)
tests_unit_test_virtio_SOURCES = tests/unit/test_virtio.c $(VIRTIO_TEST_HELPERS)
tests_unit_test_virtio_CFLAGS = $(VMM_TEST_CFLAGS)
tests_unit_test_virtio_LDADD = $(VMM_TEST_LDADD)
tests_unit_test_virtio_blk_SOURCES = tests/unit/test_virtio_blk.c $(VIRTIO_TEST_HELPERS)
tests_unit_test_virtio_blk_CFLAGS = $(VMM_TEST_CFLAGS)
tests_unit_test_virtio_blk_LDADD = $(VMM_TEST_LDADD)
tests_unit_test_virtio_net_SOURCES = tests/unit/test_virtio_net.c $(VIRTIO_TEST_HELPERS)
tests_unit_test_virtio_net_CFLAGS = $(VMM_TEST_CFLAGS)
tests_unit_test_virtio_net_LDADD = $(VMM_TEST_LDADD)

KVM_TEST_SOURCES = tests/kvm/kvm_test.h tests/kvm/kvm_test.c
tests_kvm_test_payload_SOURCES = tests/kvm/test_payload.c $(KVM_TEST_SOURCES)
tests_kvm_test_payload_CFLAGS = $(VMM_TEST_CFLAGS)
tests_kvm_test_payload_LDADD = $(VMM_TEST_LDADD)
tests_kvm_test_kvm_mapping_SOURCES = tests/kvm/test_kvm_mapping.c $(KVM_TEST_SOURCES)
tests_kvm_test_kvm_mapping_CFLAGS = $(VMM_TEST_CFLAGS)
tests_kvm_test_kvm_mapping_LDADD = $(VMM_TEST_LDADD)
tests_kvm_test_run_cli_SOURCES = tests/kvm/test_run_cli.c $(KVM_TEST_SOURCES)
tests_kvm_test_run_cli_CFLAGS = $(VMM_TEST_CFLAGS)
tests_kvm_test_run_cli_LDADD = $(VMM_TEST_LDADD)
# every thpvm bench subcommand once, small: the shape of what it measures (and in the lab, on NPT)
KVM_TESTS += tests/kvm/test_bench
tests_kvm_test_bench_SOURCES = tests/kvm/test_bench.c $(KVM_TEST_SOURCES)
tests_kvm_test_bench_CFLAGS = $(VMM_TEST_CFLAGS)
tests_kvm_test_bench_LDADD = $(VMM_TEST_LDADD)
tests_kvm_test_vm_SOURCES = tests/kvm/test_vm.c $(KVM_TEST_SOURCES)
tests_kvm_test_vm_CFLAGS = $(VMM_TEST_CFLAGS)
tests_kvm_test_vm_LDADD = $(VMM_TEST_LDADD)
tests_unit_test_linux_user_CFLAGS = $(VMM_TEST_CFLAGS)
tests_unit_test_linux_user_LDADD = $(VMM_TEST_LDADD)
# The collapse thread in real VMs (suite collapse_vm): engines, policies, back-off, promotion, integrity under
# fire, fork hooks, control command (its handler and the ctl server are in the core; the ctl test helpers come along).
COLLAPSE_VM_TESTS = \
	tests/kvm/test_collapse_vm \
	tests/kvm/test_collapse_vm_fire \
	tests/kvm/test_collapse_vm_ctl
KVM_TESTS += $(COLLAPSE_VM_TESTS)
COLLAPSE_VM_TEST_SOURCES = tests/kvm/collapse_vm_test.h tests/kvm/collapse_vm_test.c $(KVM_TEST_SOURCES)
tests_kvm_test_collapse_vm_SOURCES = tests/kvm/test_collapse_vm.c $(COLLAPSE_VM_TEST_SOURCES)
tests_kvm_test_collapse_vm_CFLAGS = $(VMM_TEST_CFLAGS)
tests_kvm_test_collapse_vm_LDADD = $(VMM_TEST_LDADD)
tests_kvm_test_collapse_vm_fire_SOURCES = tests/kvm/test_collapse_vm_fire.c $(COLLAPSE_VM_TEST_SOURCES)
tests_kvm_test_collapse_vm_fire_CFLAGS = $(VMM_TEST_CFLAGS)
tests_kvm_test_collapse_vm_fire_LDADD = $(VMM_TEST_LDADD)
tests_kvm_test_collapse_vm_ctl_SOURCES = tests/kvm/test_collapse_vm_ctl.c $(COLLAPSE_VM_TEST_SOURCES) \
	tests/lib/ctl_helpers.h tests/lib/ctl_helpers.c
tests_kvm_test_collapse_vm_ctl_CFLAGS = $(VMM_TEST_CFLAGS) \
	-DTHPVM_BIN='"$(abs_top_builddir)/vmm/thpvm"' -DTHPVM_SRCDIR='"$(abs_top_srcdir)"'
tests_kvm_test_collapse_vm_ctl_LDADD = $(VMM_TEST_LDADD)
# The control socket of a running VM under a soak of valid and malformed clients (issue 16)
KVM_TESTS += tests/kvm/test_ctl_soak
tests_kvm_test_ctl_soak_SOURCES = tests/kvm/test_ctl_soak.c $(COLLAPSE_VM_TEST_SOURCES)
tests_kvm_test_ctl_soak_CFLAGS = $(VMM_TEST_CFLAGS)
tests_kvm_test_ctl_soak_LDADD = $(VMM_TEST_LDADD)
include tests/lab/local.mk
# Linux guests under thpvm (run --kernel): the CLI end to end with synthetic PVH
# kernels, the console on a pty, the legacy devices on the bus, host detection.
LINUX_RUN_TESTS = \
	tests/kvm/test_linux_run \
	tests/kvm/test_linux_console \
	tests/kvm/test_linux_machine \
	tests/kvm/test_pc_dev
KVM_TESTS += $(LINUX_RUN_TESTS)
UNIT_TESTS += tests/unit/test_kvm_host
LINUX_RUN_TEST_CFLAGS = $(VMM_TEST_CFLAGS) \
	-DTHPVM_TEST_KERNEL_DIR_DEFAULT='"$(abs_top_builddir)/guests/linux"'
tests_kvm_test_linux_run_SOURCES = tests/kvm/test_linux_run.c $(KVM_TEST_SOURCES) $(LINUX_TEST_HELPERS)
tests_kvm_test_linux_run_CFLAGS = $(LINUX_RUN_TEST_CFLAGS)
tests_kvm_test_linux_run_LDADD = $(VMM_TEST_LDADD)
# Multiboot v1 kernels (suite multiboot): guests/multiboot/mbtest.elf with modules, and every malformed input
KVM_TESTS += tests/kvm/test_multiboot
tests_kvm_test_multiboot_SOURCES = tests/kvm/test_multiboot.c $(KVM_TEST_SOURCES) $(LINUX_TEST_HELPERS)
tests_kvm_test_multiboot_CFLAGS = $(LINUX_RUN_TEST_CFLAGS)
tests_kvm_test_multiboot_LDADD = $(VMM_TEST_LDADD)
# Guests that write garbage to every port, flood the console, touch memory with nothing behind it (issue 16)
KVM_TESTS += tests/kvm/test_guest_misbehaves
tests_kvm_test_guest_misbehaves_SOURCES = tests/kvm/test_guest_misbehaves.c $(KVM_TEST_SOURCES) $(LINUX_TEST_HELPERS)
tests_kvm_test_guest_misbehaves_CFLAGS = $(LINUX_RUN_TEST_CFLAGS)
tests_kvm_test_guest_misbehaves_LDADD = $(VMM_TEST_LDADD)
tests_kvm_test_linux_console_SOURCES = tests/kvm/test_linux_console.c $(KVM_TEST_SOURCES) $(LINUX_TEST_HELPERS)
tests_kvm_test_linux_console_CFLAGS = $(LINUX_RUN_TEST_CFLAGS)
tests_kvm_test_linux_console_LDADD = $(VMM_TEST_LDADD) -lutil
tests_kvm_test_linux_machine_SOURCES = tests/kvm/test_linux_machine.c $(KVM_TEST_SOURCES) $(LINUX_TEST_HELPERS)
tests_kvm_test_linux_machine_CFLAGS = $(LINUX_RUN_TEST_CFLAGS)
tests_kvm_test_linux_machine_LDADD = $(VMM_TEST_LDADD)
tests_kvm_test_pc_dev_SOURCES = tests/kvm/test_pc_dev.c $(KVM_TEST_SOURCES)
tests_kvm_test_pc_dev_CFLAGS = $(VMM_TEST_CFLAGS)
tests_kvm_test_pc_dev_LDADD = $(VMM_TEST_LDADD)
tests_unit_test_kvm_host_CFLAGS = $(VMM_TEST_CFLAGS)
tests_unit_test_kvm_host_LDADD = $(VMM_TEST_LDADD)
# Snapshot-fork (suites fork, fork_fail, fork_api): real KVM, real THP, real fork(), the built thpvm
FORK_TEST_SOURCES = tests/kvm/fork_test.h tests/kvm/fork_test.c $(KVM_TEST_SOURCES)
KVM_TESTS += tests/kvm/test_fork
tests_kvm_test_fork_SOURCES = tests/kvm/test_fork.c $(FORK_TEST_SOURCES)
tests_kvm_test_fork_CFLAGS = $(VMM_TEST_CFLAGS)
tests_kvm_test_fork_LDADD = $(VMM_TEST_LDADD)
KVM_TESTS += tests/kvm/test_fork_fail
tests_kvm_test_fork_fail_SOURCES = tests/kvm/test_fork_fail.c $(FORK_TEST_SOURCES)
tests_kvm_test_fork_fail_CFLAGS = $(VMM_TEST_CFLAGS)
tests_kvm_test_fork_fail_LDADD = $(VMM_TEST_LDADD)
KVM_TESTS += tests/kvm/test_fork_api
tests_kvm_test_fork_api_SOURCES = tests/kvm/test_fork_api.c $(KVM_TEST_SOURCES)
tests_kvm_test_fork_api_CFLAGS = $(VMM_TEST_CFLAGS)
tests_kvm_test_fork_api_LDADD = $(VMM_TEST_LDADD)
# Snapshots on disk (suite snapshot): save, restore into a fresh VM and another process, bad snapshots
KVM_TESTS += tests/kvm/test_snapshot
tests_kvm_test_snapshot_SOURCES = tests/kvm/test_snapshot.c $(COLLAPSE_VM_TEST_SOURCES)
tests_kvm_test_snapshot_CFLAGS = $(VMM_TEST_CFLAGS)
tests_kvm_test_snapshot_LDADD = $(VMM_TEST_LDADD) -lutil
# The collapse thread across a real snapshot-fork (the built thpvm, its control sockets)
KVM_TESTS += tests/kvm/test_collapse_vm_fork
tests_kvm_test_collapse_vm_fork_SOURCES = tests/kvm/test_collapse_vm_fork.c $(KVM_TEST_SOURCES)
tests_kvm_test_collapse_vm_fork_CFLAGS = $(VMM_TEST_CFLAGS)
tests_kvm_test_collapse_vm_fork_LDADD = $(VMM_TEST_LDADD)
# A snapshot's state file (suite snapshot_file): round trip and every refusal; links the VMM core, where it lives
UNIT_TESTS += tests/unit/test_snapshot_file
tests_unit_test_snapshot_file_CFLAGS = $(VMM_TEST_CFLAGS)
tests_unit_test_snapshot_file_LDADD = $(VMM_TEST_LDADD)
