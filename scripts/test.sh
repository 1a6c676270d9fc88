#!/bin/bash
# The whole test suite, as CI runs it:
#   1. warnings-as-errors build, every Criterion test (unit, thp, kvm)
#   2. -fsanitize=address,undefined build, unit and host-mm tests under it,
#      the KVM tests on this host's KVM and a subset in the nested lab;
#      every fuzz target (fuzz/) under libFuzzer for a minute each
#   3. the nested Linux lab's cases, where qemu-system-x86 is installed, and
#      where /dev/kvm is not usable, thpvm demo (its VM parts in the lab)
#      (make check already ran the KVM tests in it: tests/lab/*.lab)
#   4. where every KVM test ran (tests/kvm-report.sh): fails when one that
#      could run in the lab ran nowhere
#   5. on a failure, every failed test again with its first message
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
start=$(date +%s)
step() { printf '\n=== %s (%ds) ===\n' "$*" $(( $(date +%s) - start )); }

failed=0
check() { # check BUILD_DIR TARGET [VAR=VALUE...]
	if ! make -C "$1" "${@:2}"; then
		failed=1
		find "$1/tests" -name '*.log' -newer "$1/.configure-args" -exec grep -l -E '^(FAIL|ERROR)' {} + 2>/dev/null |
			while read -r log; do echo "--- $log"; cat "$log"; done
	fi
}

step "dependencies"
"$top/scripts/install-deps.sh"

step "build (warnings are errors)"
"$top/scripts/build.sh" build --enable-werror
step "Linux guest from Debian's kernel package (for the loader tests and the lab)"
make -C "$top/build" linux-guest
export THPVM_TEST_KERNEL_DIR="$top/build/guests/linux"
step "make check"
check "$top/build" check

step "build with -fsanitize=address,undefined"
"$top/scripts/build.sh" build-asan --enable-werror --enable-sanitizers
step "unit, host-mm and KVM tests under the sanitizers (the KVM ones here and a subset in the nested lab)"
THPVM_LAB_GUEST_DIR="$top/build/guests" check "$top/build-asan" check-sanitized

step "fuzz: every parser under libFuzzer for ${THPVM_FUZZ_SECONDS:-60} s (make fuzz)"
check "$top/build" fuzz FUZZ_SECONDS="${THPVM_FUZZ_SECONDS:-60}"

if command -v qemu-system-x86_64 >/dev/null; then
	step "nested Linux lab"
	check "$top/build" check-lab
	# the README's first command ends in thpvm demo: where this host has no
	# usable /dev/kvm its VM parts run in the lab (tests/lab/run.sh --demo)
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		step "thpvm demo without /dev/kvm (its VM parts in the nested lab)"
		if ! "$top/build/vmm/thpvm" demo > "$top/build/demo.log" 2>&1 < /dev/null ||
		   ! grep -q '^lab: PASS' "$top/build/demo.log"; then
			failed=1
			tail -n 30 "$top/build/demo.log"
			echo "FAIL: thpvm demo (whole output: build/demo.log)"
		else
			grep -E '^(lab: L1 ran|THP \+ 2 MiB guest pages)' "$top/build/demo.log"
		fi
	fi
else
	step "nested Linux lab skipped: qemu-system-x86_64 is not installed"
fi

step "where the KVM tests ran"
bash "$top/tests/kvm-report.sh" "$top/build" "$top/build-asan" || failed=1

# The failed tests once more, last, each with Criterion's first message: CI
# shows the end of this output, and the logs above may be cut from it.
failures() {
	local log
	for log in $(find "$top"/build*/tests "$top"/build*/fuzz -name '*.log' -newer "$top/build/.configure-args" 2>/dev/null | sort); do
		grep -q -E '^(FAIL|ERROR):' "$log" || continue
		grep -E '^(FAIL|ERROR):' "$log" | head -n 10
		grep -E -A2 '^\[----\] .*(Assertion Failed|Unexpected signal)' "$log" |
			grep -v -E '^(--|\[----\] *)$' | head -n 6 | sed 's/^/      /'
	done
	for f in "$top"/build/fuzz/findings/*; do
		[ -e "$f" ] && echo "FINDING: $f (fuzz/README.md says how to replay and keep it)"
	done
}
if [ $failed != 0 ]; then
	step "what failed"
	failures
fi

step "done: $([ $failed = 0 ] && echo PASS || echo FAIL)"
exit $failed
