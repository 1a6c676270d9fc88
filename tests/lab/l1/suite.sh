#!/bin/busybox sh
# Runs the KVM test suite inside L1: suite.sh [FROM]
# /lab/suite lists Criterion test binaries by their build-tree paths (mkl1.sh
# put them, thpvm and the payloads at those paths); each runs from binary
# FROM on (1-based: run.sh resumes there after an L1 crash), one test at a
# time, its TAP report and messages framed by
#   THPVM-LAB-SUITE-BEGIN INDEX PATH
#   THPVM-LAB-SUITE-END INDEX rc=STATUS secs=SECONDS
# for run.sh, which renumbers them into one TAP stream on the host.
# Exit status: 0 when every binary exited 0.
from=${1:-1}
builddir=$(cat /lab/builddir)
# the tests' Linux kernels: the build tree's path, linked to /guests/linux
export THPVM_TEST_KERNEL_DIR=$builddir/guests/linux
export THPVM_LAB=1
now() { read -r _now _ < /proc/uptime; echo "$_now"; }
echo "lab suite: L1 $(uname -r), kvm_amd npt=$(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null)," \
	"THP $(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/mm/transparent_hugepage/enabled)," \
	"hugetlb pool $(cat /proc/sys/vm/nr_hugepages) x 2 MiB, time scale ${THPVM_TEST_TIME_SCALE:-1}"
status=0 i=0
args=$(cat /lab/suite-args 2>/dev/null) # LAB_SUITE_ARGS on the host (e.g. --verbose --filter ...)
# LAB_TRACE=EVENTS on the host (e.g. "kvm:kvm_exit kvm:kvm_page_fault"): L1's
# KVM tracepoints, the last lines shown after a binary that failed
trace_events=$(cat /lab/trace-events 2>/dev/null)
tracing=/sys/kernel/tracing
if [ -n "$trace_events" ]; then
	mount -t tracefs tracefs $tracing 2>/dev/null
	echo 8192 > $tracing/buffer_size_kb
	for e in $trace_events; do echo "$e" >> $tracing/set_event || echo "lab suite: no trace event $e"; done
fi
cd /tmp || exit 1
dmesg -c > /dev/null
while read -r t; do
	i=$((i + 1))
	[ "$i" -ge "$from" ] || continue
	t0=$(now)
	[ -z "$trace_events" ] || echo > $tracing/trace
	echo "THPVM-LAB-SUITE-BEGIN $i $t"
	# shellcheck disable=SC2086
	"$t" --tap=/dev/stdout --jobs=1 --short-filename --color=never $args 2>&1
	rc=$?
	# what L1's kernel said meanwhile (segfaults, warnings), for a binary that failed
	if [ $rc != 0 ]; then dmesg -c | tail -n 40 | sed 's/^/L1 kernel: /'; else dmesg -c > /dev/null; fi
	if [ $rc != 0 ] && [ -n "$trace_events" ]; then
		echo 0 > $tracing/tracing_on
		grep -v '^#' $tracing/trace | tail -n "${LAB_TRACE_LINES:-300}" | sed 's/^/L1 trace: /'
		echo 1 > $tracing/tracing_on
	fi
	echo "THPVM-LAB-SUITE-END $i rc=$rc secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')"
	[ $rc = 0 ] || status=1
done < /lab/suite
exit $status
