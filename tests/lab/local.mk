# The nested Linux lab (tests/lab/, docs/lab.md): L1 Linux under QEMU TCG with
# SVM+NPT, KVM inside it, the cases in tests/lab/cases/ run there.
#   make check-lab   the cases, TAP on stdout, log in tests/lab/lab.log
#   make bench-lab   L2 boot time to the init marker (docs/benchmarks.md)
#   make bench-blk-lab  thpvm bench blk in L1: disk IOPS/throughput, host (L1), thpvm, QEMU
#                    (LAB_BENCH_BLK_ARGS: its options, default "--size 64M --secs 2 --reps 3")
# LAB_FLAGS passes options to tests/lab/run.sh (e.g. LAB_FLAGS="--cases '1*'").
LAB_FILES = \
	tests/lab/run.sh \
	tests/lab/mkl1.sh \
	tests/lab/l1/init \
	tests/lab/l1/lib.sh \
	tests/lab/l1/runner.sh \
	tests/lab/l1/suite.sh \
	tests/lab/kvm-suite.sh \
	tests/lab/l1/bench-boot.sh \
	tests/lab/cases/01-kvm.sh \
	tests/lab/cases/02-thpvm-binary.sh \
	tests/lab/cases/10-qemu-boot.sh \
	tests/lab/cases/11-qemu-boot-smp.sh \
	tests/lab/cases/20-thpvm-boot.sh \
	tests/lab/cases/21-thpvm-memtest.sh \
	tests/lab/cases/22-thpvm-pages2m.sh \
	tests/lab/cases/23-thpvm-bad-kernel.sh \
	tests/lab/cases/24-thpvm-demo.sh \
	tests/lab/cases/25-thpvm-fork.sh \
	tests/lab/cases/26-thpvm-snapshot.sh \
	tests/lab/cases/27-thpvm-virtio-rng.sh \
	tests/lab/cases/28-thpvm-virtio-blk.sh \
	tests/lab/cases/29-thpvm-rootfs.sh \
	tests/lab/cases/30-thpvm-virtio-net.sh \
	tests/lab/cases/31-thpvm-disk-fork.sh \
	tests/lab/cases/32-thpvm-bench-blk.sh \
	tests/lab/cases/33-thpvm-domain.sh \
	tests/lab/cases/34-thpvm-linux-clones.sh \
	tests/lab/cases/35-thpvm-bench-tlb-linux.sh
EXTRA_DIST += $(LAB_FILES)
LAB_RUN = $(top_srcdir)/tests/lab/run.sh --builddir $(abs_top_builddir) \
	--thpvm $(abs_top_builddir)/vmm/thpvm$(EXEEXT)

LAB_BENCH_REPS = 5
LAB_BENCH_BLK_ARGS = --size 64M --secs 2 --reps 3

check-lab: linux-guest vmm/thpvm$(EXEEXT)
	$(LAB_RUN) $(LAB_FLAGS)
bench-lab: linux-guest vmm/thpvm$(EXEEXT)
	$(LAB_RUN) --bench-boot $(LAB_BENCH_REPS) $(LAB_FLAGS)
bench-blk-lab: linux-guest vmm/thpvm$(EXEEXT)
	$(LAB_RUN) --bench-blk "$(LAB_BENCH_BLK_ARGS)" $(LAB_FLAGS)
.PHONY: check-lab bench-lab bench-blk-lab

# make check runs the KVM suite (tests/kvm/) inside the lab too, whatever the
# host has: one TESTS entry per L1 kernel, each a .lab file that
# tests/lab/kvm-suite.sh reads (which L1 kernel, which tests), its TAP merged
# over all the test binaries. make check-kvm-lab runs only these.
LAB_SUITES = tests/lab/kvm-l1-backports.lab tests/lab/kvm-l1-bookworm.lab
EXTRA_DIST += $(LAB_SUITES)
TESTS += $(LAB_SUITES)
TEST_EXTENSIONS = .lab
LAB_LOG_DRIVER = $(LOG_DRIVER)
LAB_LOG_COMPILER = $(SHELL) $(top_srcdir)/tests/lab/kvm-suite.sh
AM_TESTS_ENVIRONMENT = THPVM_KVM_TESTS='$(KVM_TESTS)'; export THPVM_KVM_TESTS;
check-kvm-lab:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS="$(LAB_SUITES)"
.PHONY: check-kvm-lab
