#!/bin/bash
# The nested Linux lab: boots L1 Linux (Debian 6.1) under QEMU TCG with SVM+NPT
# exposed, loads KVM there, and runs tests/lab/cases inside it.
#   tests/lab/run.sh [--builddir DIR] [--thpvm PATH|--no-thpvm] [--timeout SECS]
#                    [--cases GLOB] [--bench-boot [REPS]] [--shell]
# --builddir  the thpvm build directory (default: ./build of the source tree);
#             the Linux guest comes from DIR/guests/linux (built here when
#             missing), the log goes to DIR/tests/lab/lab.log
# --thpvm     thpvm binary to test in L1 (default DIR/vmm/thpvm when it exists)
# --timeout   hard limit for the whole L1 run (default 420 s, 120 + 160 per
#             benchmark repetition; QEMU is killed)
# --cases     run only tests/lab/cases/GLOB.sh
# --bench-boot  L2 boot time to the init marker instead of the cases,
#             REPS (default 5) runs per configuration
# --shell     an interactive L1 shell (Ctrl-A x quits QEMU)
# Exit status: 0 when every case passed, 1 on a failure or timeout.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
die() { echo "lab: $*" >&2; exit 1; }

builddir=$top/build thpvm='' no_thpvm=0 timeout='' cases='*' bench='' shell=0
while [ $# -gt 0 ]; do
	case $1 in --builddir|--thpvm|--timeout|--cases) [ $# -ge 2 ] || die "$1 needs a value" ;; esac
	case $1 in
		--builddir) builddir=$2; shift ;;
		--thpvm) thpvm=$2; shift ;;
		--no-thpvm) no_thpvm=1 ;;
		--timeout) timeout=$2; shift ;;
		--cases) cases=$2; shift ;;
		--bench-boot)
			bench=5
			if [ $# -gt 1 ] && [[ $2 =~ ^[0-9]+$ ]]; then bench=$2; shift; fi ;;
		--shell) shell=1 ;;
		-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		*) die "unknown option '$1' (try --help)" ;;
	esac
	shift
done
if [ -z "$timeout" ]; then # up to 4 configurations x 40 s per boot when benchmarking
	timeout=420
	[ -z "$bench" ] || timeout=$((120 + bench * 4 * 40))
fi
[[ $timeout =~ ^[0-9]+$ ]] && [ "$timeout" -gt 0 ] || die "--timeout wants seconds, got '$timeout'"
builddir=$(mkdir -p "$builddir" && cd "$builddir" && pwd)
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing: install the Debian package qemu-system-x86"
if [ -z "$thpvm" ] && [ $no_thpvm = 0 ] && [ -e "$builddir/vmm/thpvm" ]; then thpvm=$builddir/vmm/thpvm; fi
[ $no_thpvm = 0 ] || thpvm=

guest=$builddir/guests/linux
labdir=$builddir/tests/lab
mkdir -p "$labdir"
if [ ! -s "$guest/vmlinux" ] || [ ! -s "$guest/initramfs.cpio" ]; then
	"$top/guests/linux/build.sh" "$guest"
elif [ "$top/guests/linux/initramfs/init" -nt "$guest/initramfs.cpio" ]; then
	echo "lab: warning: $guest/initramfs.cpio is older than guests/linux/initramfs/init (make linux-guest)"
fi
"$top/tests/lab/mkl1.sh" "$guest" "$labdir/L1.cpio" $thpvm

append="console=ttyS0 tsc_early_khz=2600000 lpj=10400000 nokaslr tsc=reliable panic=-1"
if [ $shell = 1 ]; then
	append="$append lab.shell=1"
elif [ -n "$bench" ]; then
	append="$append lab.bench=$bench"
else
	append="$append lab.cases=$cases"
fi
# -cpu max exposes SVM with NPT to L1; multi-threaded TCG runs L1's 2 vCPUs on
# 2 host threads; tsc=reliable keeps L1 from marking its TSC unstable (L2
# stalls otherwise); lpj (2.6 GHz / HZ 250) spares the second CPU a delay-loop
# calibration that always fails under TCG; no "quiet": L1's boot log is cheap
# under TCG and shows where a boot stopped; panic=-1 ends a panicked L1 at
# once; the debug-exit port carries L1's result out.
qemu=(qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m 2048 -smp 2
	-nographic -no-reboot -M microvm,acpi=off
	-device isa-debug-exit,iobase=0x501,iosize=1
	-kernel "$guest/vmlinux" -initrd "$labdir/L1.cpio" -append "$append")

if [ $shell = 1 ]; then
	exec "${qemu[@]}"
fi

log=$labdir/lab.log
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
echo "lab: L1 = $(cat "$guest/kernel-release") under QEMU TCG, timeout ${timeout}s, log $log, host load $(loadavg)"
# One L1 run, console to $log, the TAP part shown live; sets rc (QEMU's exit
# status, 124/137 on timeout). Returns 2 when L1 did not even reach its /init
# within $boot_timeout s: TCG has, rarely, hung an L1 boot under heavy host
# load (before any case ran), which is worth one more try.
boot_timeout=${LAB_BOOT_TIMEOUT:-120}
qpid=
trap '[ -z "$qpid" ] || kill "$qpid" 2>/dev/null || true' EXIT
run_l1() {
	local waited=0
	timeout -k 10 "$timeout" "${qemu[@]}" < /dev/null > "$log" 2>&1 &
	qpid=$!
	while ! grep -q THPVM-LAB-L1-UP "$log"; do
		kill -0 "$qpid" 2>/dev/null || break
		if [ $waited -ge $boot_timeout ]; then
			kill "$qpid"
			wait "$qpid" || true
			return 2
		fi
		sleep 1
		waited=$((waited + 1))
	done
	tail -n +1 -f --pid="$qpid" "$log" | sed -u -n 's/\r$//; /^THPVM-LAB-BEGIN/,/^THPVM-LAB-END/p'
	rc=0
	wait "$qpid" || rc=$?
	qpid=
}

start=$(date +%s.%N)
attempt=1
while ! run_l1; do
	echo "lab: L1 did not reach /init within ${boot_timeout}s (attempt $attempt; last lines of $log:)"
	tail -n 5 "$log" | sed 's/^/  /'
	cp "$log" "$log.boot-hang-$attempt"
	if [ $attempt -ge 2 ]; then
		echo "lab: FAIL: L1 did not boot twice"
		exit 1
	fi
	attempt=$((attempt + 1))
	start=$(date +%s.%N)
done
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "lab: L1 ran ${secs}s, host load $(loadavg) (TCG timings depend on free host CPU)"

end=$(tr -d '\r' < "$log" | sed -n 's/^THPVM-LAB-END status=\([0-9]*\).*/\1/p')
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	echo "lab: FAIL: timeout after ${timeout}s, L1 killed (last lines of $log:)"
	tail -n 15 "$log" | sed 's/^/  /'
	exit 1
fi
if [ -z "$end" ]; then
	panic=$(tr -d '\r' < "$log" | grep -m1 -o 'Kernel panic - .*' || true)
	echo "lab: FAIL: L1 ended (QEMU exit $rc) without THPVM-LAB-END after ${secs}s${panic:+: L1 $panic (see docs/lab.md, Known limits)} (last lines of $log:)"
	tail -n 15 "$log" | sed 's/^/  /'
	exit 1
fi
# isa-debug-exit: L1's status byte S arrives as QEMU exit (S << 1) | 1
if [ "$rc" != $(( (end << 1) | 1 )) ]; then
	echo "lab: FAIL: L1 reported status $end but QEMU exited $rc"
	exit 1
fi
if [ "$end" != 0 ]; then
	echo "lab: FAIL: L1 status $end after ${secs}s (see not ok lines above)"
	exit 1
fi
echo "lab: PASS"
