#!/bin/bash
# make check's runner for a .lab file: the KVM test suite inside the nested
# lab (tests/lab/run.sh --suite), its results as one TAP stream on stdout for
# automake's tap-driver. A .lab file sets, in shell syntax:
#   l1=NAME      the L1 kernel: $(builddir)/guests/NAME (linux-backports, linux)
#   tests=LIST   the test binaries (build-tree paths), or "all": $THPVM_KVM_TESTS
#   memory=MIB   L1's RAM (optional)
# The kernels come from $(builddir)/guests, or from THPVM_LAB_GUEST_DIR (the
# sanitizer build borrows the main build's, scripts/test.sh).
# Runs from the top build directory (automake does). Skips, saying why, where
# qemu-system-x86_64 is missing (scripts/install-deps.sh installs it).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -eq 1 ] || { echo "usage: kvm-suite.sh FILE.lab" >&2; exit 2; }
conf=$1
l1='' tests='' memory=6144
# shellcheck disable=SC1090
. "$conf"
[ -n "$l1" ] && [ -n "$tests" ] || { echo "Bail out! $conf sets no l1= or tests="; exit 1; }
if [ "$tests" = all ]; then
	tests=${THPVM_KVM_TESTS:-}
	[ -n "$tests" ] || { echo "Bail out! THPVM_KVM_TESTS is empty (run through make check)"; exit 1; }
fi
if ! command -v qemu-system-x86_64 > /dev/null; then
	echo "1..0 # SKIP the nested lab needs qemu-system-x86_64 (Debian package qemu-system-x86)"
	exit 0
fi
builddir=$(pwd)
# automake keeps this suite's TAP and stderr in tests/lab/NAME.log: L1's
# console goes to tests/lab/NAME.console.log, not over it
name=$(basename "$conf" .lab).console
# shellcheck disable=SC2086
guests=${THPVM_LAB_GUEST_DIR:-$builddir/guests}
exec "$top/tests/lab/run.sh" --builddir "$builddir" --l1 "$guests/$l1" --l2 "$guests/linux" \
	--l2 "$guests/linux-backports" --memory "$memory" \
	--name "$name" --suite $tests
