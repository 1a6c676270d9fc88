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
rm -f "$log" "$log".attempt-*
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
echo "lab: L1 = $(cat "$guest/kernel-release") under QEMU TCG, timeout ${timeout}s, log $log, host load $(loadavg)"
# One L1 run: console to $log, the TAP part shown live. Sets rc (QEMU's exit
# status; 124/137 when the hard timeout killed it) and hang, when the
# watchdog killed L1: "boot" = no /init within $boot_timeout s, "stall" = no
# console output, not even L1's 15 s heartbeat, for $stall_timeout s.
boot_timeout=${LAB_BOOT_TIMEOUT:-120}
stall_timeout=${LAB_STALL_TIMEOUT:-90}
qpid='' tpid=''
trap 'for pid in $qpid $tpid; do kill "$pid" 2>/dev/null || true; done' EXIT
run_l1() {
	local waited=0 quiet_for=0 size last_size=-1
	hang=''
	timeout -k 10 "$timeout" "${qemu[@]}" < /dev/null > "$log" 2>&1 &
	qpid=$!
	tail -n +1 -f --pid="$qpid" "$log" |
		sed -u -n 's/\r$//; /^THPVM-LAB-HEARTBEAT/d; /^THPVM-LAB-BEGIN/,/^THPVM-LAB-END/p' &
	tpid=$!
	while kill -0 "$qpid" 2>/dev/null; do
		sleep 1
		waited=$((waited + 1))
		size=$(stat -c %s "$log")
		if [ "$size" != "$last_size" ]; then
			last_size=$size quiet_for=0
		else
			quiet_for=$((quiet_for + 1))
		fi
		if ! grep -q THPVM-LAB-L1-UP "$log"; then
			[ $waited -lt "$boot_timeout" ] || { hang=boot; break; }
		elif [ $quiet_for -ge "$stall_timeout" ]; then
			hang=stall
			break
		fi
	done
	[ -z "$hang" ] || kill "$qpid" 2>/dev/null || true
	rc=0
	wait "$qpid" || rc=$?
	wait "$tpid" 2>/dev/null || true
	qpid='' tpid=''
}

# TCG's nested SVM is not flawless: rarely an L1 hangs while booting or while
# an L2 boots, or panics (docs/lab.md, Known limits). Such an L1 failure is
# not a case result: the run is repeated once, saying so; twice fails.
attempt=1
while :; do
	start=$(date +%s.%N)
	run_l1
	secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	reason=''
	case $hang in
		boot) reason="L1 did not reach its /init within ${boot_timeout}s" ;;
		stall) reason="L1 stopped responding (no console output, not even its heartbeat, for ${stall_timeout}s)" ;;
		*)
			if ! grep -q '^THPVM-LAB-END' "$log"; then
				panic=$(tr -d '\r' < "$log" | grep -m1 -o 'Kernel panic - .*' || true)
				[ -z "$panic" ] || reason="L1 $panic"
			fi ;;
	esac
	[ -n "$reason" ] || break
	cp "$log" "$log.attempt-$attempt"
	echo "lab: attempt $attempt: $reason after ${secs}s (log: $log.attempt-$attempt; last lines:)"
	tr -d '\r' < "$log" | grep -v '^THPVM-LAB-HEARTBEAT' | tail -n 8 | sed 's/^/  /'
	if [ $attempt -ge 2 ]; then
		echo "lab: FAIL: $reason, in both attempts"
		exit 1
	fi
	attempt=$((attempt + 1))
	echo "lab: repeating the run once (an L1 failure, not a case result)"
done
echo "lab: L1 ran ${secs}s, host load $(loadavg) (TCG timings depend on free host CPU)"

end=$(tr -d '\r' < "$log" | sed -n 's/^THPVM-LAB-END status=\([0-9]*\).*/\1/p')
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	echo "lab: FAIL: timeout after ${timeout}s, L1 killed (last lines of $log:)"
	tail -n 15 "$log" | sed 's/^/  /'
	exit 1
fi
if [ -z "$end" ]; then
	echo "lab: FAIL: L1 ended (QEMU exit $rc) without THPVM-LAB-END after ${secs}s (last lines of $log:)"
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
