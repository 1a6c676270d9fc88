#!/bin/bash
# The nested Linux lab: boots L1 Linux under QEMU TCG with SVM+NPT exposed,
# loads KVM there, and runs the lab's cases, the KVM test suite or the boot
# benchmark inside it.
#   tests/lab/run.sh [--builddir DIR] [--l1 KERNEL_DIR] [--l2 GUEST_DIR]...
#                    [--thpvm PATH|--no-thpvm] [--memory MIB] [--timeout SECS]
#                    [--cases GLOB | --suite TEST... | --demo [ARGS] | --bench-boot [REPS] |
#                     --bench-blk [ARGS] | --shell]
# --builddir  the thpvm build directory (default: ./build of the source tree);
#             the Linux guests come from DIR/guests/linux* (built here when
#             missing), the log goes to DIR/tests/lab/NAME.log
# --l1        the kernel L1 boots (default DIR/guests/linux-backports:
#             bookworm-backports, 6.12; DIR/guests/linux is Debian 12's 6.1)
# --l2        an L2 guest, repeatable (default DIR/guests/linux and
#             DIR/guests/linux-backports; the first is /guest in L1)
# --thpvm     thpvm binary to test in L1 (default DIR/vmm/thpvm when it exists)
# --memory    L1's RAM in MiB (default 6144; 128 MiB of it a hugetlb pool)
# --timeout   hard limit for one L1 run (default 600 s; --suite 2400 s,
#             --bench-boot 120 + 160 per repetition, --bench-blk 2400 s; QEMU is killed)
# --cases     run only tests/lab/cases/GLOB.sh
# --suite     run these Criterion test binaries (build-tree paths) in L1, with
#             the build tree's payloads and thpvm at the same paths; prints one
#             TAP stream on stdout (for make check, tests/lab/kvm-suite.sh)
# --demo      thpvm demo's VM parts in L1 (thpvm demo --vm-parts ARGS, e.g.
#             "--memory 256M"), its output on stdout (thpvm demo runs this
#             where /dev/kvm is not usable)
# --bench-boot  L2 boot time to the init marker instead of the cases,
#             REPS (default 5) runs per configuration
# --bench-blk thpvm bench blk in L1 (host = L1, thpvm and QEMU on the same
#             image in L1's memory, the guest /guest), ARGS one word of more
#             options (default "--size 64M --secs 2 --reps 3"); its output on
#             stdout, timings emulated (ratios within the run only)
# --shell     an interactive L1 shell (Ctrl-A x quits QEMU)
# --name      names the log and the L1 initramfs (default: lab)
# Environment: LAB_TIME_SCALE (default 6) multiplies the tests' time limits
# in L1 (TCG); LAB_BOOT_TIMEOUT, LAB_STALL_TIMEOUT (the watchdog, below);
# LAB_ATTEMPTS (default 5): L1 runs in all when L1 itself fails;
# LAB_QEMU: the QEMU that runs L1 (default: qemu-system-x86_64 in $PATH);
# for experiments: LAB_TCG (default thread=single for --suite, else thread=multi: docs/lab.md), LAB_L1_APPEND (more of L1's
# command line, e.g. kvm_amd.npt=0), LAB_SUITE_ARGS and LAB_TRACE (mkl1.sh).
# Exit status: 0 when every case passed, 1 on a failure or timeout; with
# --suite 1 only when L1 itself failed (its TAP says which tests failed, and
# make check fails on them).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
die() { echo "lab: $*" >&2; exit 1; }

builddir=$top/build l1='' thpvm='' no_thpvm=0 timeout='' cases='*' bench='' shell=0 memory=6144 name=lab
l2=() suite=()
mode=cases
while [ $# -gt 0 ]; do
	case $1 in --builddir|--l1|--l2|--thpvm|--timeout|--cases|--memory|--name) [ $# -ge 2 ] || die "$1 needs a value" ;; esac
	case $1 in
		--builddir) builddir=$2; shift ;;
		--l1) l1=$2; shift ;;
		--l2) l2+=("$2"); shift ;;
		--thpvm) thpvm=$2; shift ;;
		--no-thpvm) no_thpvm=1 ;;
		--timeout) timeout=$2; shift ;;
		--memory) memory=$2; shift ;;
		--name) name=$2; shift ;;
		--cases) cases=$2; shift ;;
		--suite)
			mode=suite
			while [ $# -gt 1 ] && [ "${2#--}" = "$2" ]; do suite+=("$2"); shift; done ;;
		--bench-boot)
			mode=bench bench=5
			if [ $# -gt 1 ] && [[ $2 =~ ^[0-9]+$ ]]; then bench=$2; shift; fi ;;
		--bench-blk)
			mode=benchblk
			export LAB_BENCH_BLK_ARGS="--size 64M --secs 2 --reps 3"
			if [ $# -gt 1 ] && ! [[ $2 =~ ^--(builddir|l1|l2|thpvm|no-thpvm|memory|timeout|cases|suite|demo|bench-boot|bench-blk|shell|name|help)$ ]]; then
				LAB_BENCH_BLK_ARGS=$2
				shift
			fi ;;
		--shell) mode=shell shell=1 ;;
		--demo)
			# ARGS is one word that may itself start with "--" ("--memory
			# 256M", as thpvm demo passes it): anything but one of our options
			mode=demo
			if [ $# -gt 1 ] && ! [[ $2 =~ ^--(builddir|l1|l2|thpvm|no-thpvm|memory|timeout|cases|suite|demo|bench-boot|bench-blk|shell|name|help)$ ]]; then
				export LAB_DEMO_ARGS=$2
				shift
			fi ;;
		-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		*) die "unknown option '$1' (try --help)" ;;
	esac
	shift
done
if [ -z "$timeout" ]; then # up to 4 configurations x 40 s per boot when benchmarking
	case $mode in
		bench) timeout=$((120 + bench * 4 * 40)) ;;
		suite|benchblk) timeout=2400 ;;
		*) timeout=600 ;;
	esac
fi
[[ $timeout =~ ^[0-9]+$ ]] && [ "$timeout" -gt 0 ] || die "--timeout wants seconds, got '$timeout'"
[[ $memory =~ ^[0-9]+$ ]] && [ "$memory" -ge 1024 ] || die "--memory wants MiB (at least 1024), got '$memory'"
[[ $name =~ ^[A-Za-z0-9._-]+$ ]] || die "--name wants a file name, got '$name'"
[ $mode != suite ] || [ ${#suite[@]} -gt 0 ] || die "--suite needs test binaries"
scale=${LAB_TIME_SCALE:-6}
[[ $scale =~ ^[0-9]+$ ]] && [ "$scale" -ge 1 ] || die "LAB_TIME_SCALE wants a whole number >= 1, got '$scale'"
builddir=$(mkdir -p "$builddir" && cd "$builddir" && pwd)
qemu_bin=${LAB_QEMU:-$(command -v qemu-system-x86_64)} || die "qemu-system-x86_64 missing: install the Debian package qemu-system-x86"
[ -x "$qemu_bin" ] || die "LAB_QEMU=$qemu_bin is not an executable"
export LAB_QEMU=$qemu_bin # mkl1.sh puts the same QEMU into L1
qemu_data=$(cd "$(dirname "$qemu_bin")/../share/qemu" 2>/dev/null && pwd) || die "no QEMU data directory next to $qemu_bin"
if [ -z "$thpvm" ] && [ $no_thpvm = 0 ] && [ -e "$builddir/vmm/thpvm" ]; then thpvm=$builddir/vmm/thpvm; fi
[ $no_thpvm = 0 ] || thpvm=

# The Linux guests: L1's kernel and the L2 guests, built when missing.
[ -n "$l1" ] || l1=$builddir/guests/linux-backports
[ ${#l2[@]} -gt 0 ] || l2=("$builddir/guests/linux" "$builddir/guests/linux-backports")
for g in "$l1" "${l2[@]}"; do
	if [ ! -s "$g/vmlinux" ] || [ ! -s "$g/initramfs.cpio" ]; then
		suite_opt=()
		case $(basename "$g") in *backports*) suite_opt=(--suite bookworm-backports) ;; esac
		"$top/guests/linux/build.sh" "${suite_opt[@]}" "$g" >&2
	elif [ "$top/guests/linux/initramfs/init" -nt "$g/initramfs.cpio" ]; then
		echo "lab: warning: $g/initramfs.cpio is older than guests/linux/initramfs/init (make linux-guest)" >&2
	fi
done
labdir=$builddir/tests/lab
mkdir -p "$labdir"
mkl1=("$top/tests/lab/mkl1.sh" --l1 "$l1")
for g in "${l2[@]}"; do mkl1+=(--l2 "$g"); done
[ -z "$thpvm" ] || mkl1+=(--thpvm "$thpvm")
if [ $mode = suite ]; then
	mkl1+=(--builddir "$builddir")
	for t in "${suite[@]}"; do mkl1+=(--test "$t"); done
fi
"${mkl1[@]}" "$labdir/$name.cpio" >&2

# L1's command line. tsc_early_khz and lpj: TCG's TSC is not calibrated
# reliably, and lpj spares the second CPU a delay-loop calibration that always
# fails under TCG; tsc=reliable keeps L1 from marking its TSC unstable (L2
# stalls otherwise); no "quiet": L1's boot log is cheap under TCG and shows
# where a boot stopped; panic=-1 ends a panicked L1 at once, and oops=panic
# turns any L1 oops into that (a half-dead L1 is not a test result);
# hugepages= reserves L1's hugetlb pool at boot (L1 is ours: the host's
# settings are never changed).
append="console=ttyS0 tsc_early_khz=2600000 lpj=10400000 nokaslr tsc=reliable panic=-1 oops=panic hugepages=64"
append="$append lab.scale=$scale ${LAB_L1_APPEND:-}"
case $mode in
	shell) append="$append lab.shell=1" ;;
	bench) append="$append lab.bench=$bench" ;;
	suite) append="$append lab.suite=1" ;;
	demo) append="$append lab.demo=1" ;;
	benchblk) append="$append lab.benchblk=1" ;;
	*) append="$append lab.cases=$cases" ;;
esac
# -cpu max exposes SVM with NPT to L1; the debug-exit port carries L1's result
# out. The KVM suite runs L1's 2 vCPUs on one host thread (thread=single: the
# emulation loses fewer guests there); the cases, the demo and the boot
# benchmark on two (thread=multi: under thread=single 3 of 5 L2 Linux boots,
# 1 and 2 vCPUs, stopped after their PCI probe). docs/lab.md has the numbers.
tcg=thread=multi
[ "$mode" = suite ] && tcg=thread=single
qemu=("$qemu_bin" -L "$qemu_data" -accel "tcg,${LAB_TCG:-$tcg}" -cpu max -m "$memory" -smp 2
	-nographic -no-reboot -M microvm,acpi=off
	-device isa-debug-exit,iobase=0x501,iosize=1
	-kernel "$l1/vmlinux" -initrd "$labdir/$name.cpio")

if [ $mode = shell ]; then
	exec "${qemu[@]}" -append "$append"
fi

log=$labdir/$name.log
rm -f "$log" "$log".attempt-*
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
say() { # progress lines: on stderr in suite mode (stdout is TAP there)
	if [ $mode = suite ]; then echo "$*" >&2; else echo "$*"; fi
}
say "lab: L1 = $(cat "$l1/kernel-release") under QEMU $("$qemu_bin" --version | sed -n '1s/.*version \([^ ]*\).*/\1/p') TCG, ${memory} MiB, timeout ${timeout}s, log $log, host load $(loadavg)"
# One L1 run: console to $log, the cases' TAP shown live. Sets rc (QEMU's exit
# status; 124/137 when the hard timeout killed it) and hang, when the
# watchdog killed L1: "boot" = no /init within $boot_timeout s, "stall" = no
# console output, not even L1's 15 s heartbeat, for $stall_timeout s.
boot_timeout=${LAB_BOOT_TIMEOUT:-120}
stall_timeout=${LAB_STALL_TIMEOUT:-90}
qpid='' tpid=''
trap 'for pid in $qpid $tpid; do kill "$pid" 2>/dev/null || true; done' EXIT
run_l1() { # run_l1 EXTRA_APPEND
	local waited=0 quiet_for=0 size last_size=-1
	hang=''
	: > "$log"
	timeout -k 10 "$timeout" "${qemu[@]}" -append "$append $1" < /dev/null > "$log" 2>&1 &
	qpid=$!
	if [ $mode = suite ]; then # what runs, not the TAP: that comes merged at the end
		tail -n +1 -f --pid="$qpid" "$log" |
			sed -u -n 's/\r$//; s/^THPVM-LAB-SUITE-BEGIN /lab: running /p; s/^THPVM-LAB-L1-WARNING /lab: L1: /p' >&2 &
	elif [ $mode = demo ]; then # the demo's own lines, as it prints them
		tail -n +1 -f --pid="$qpid" "$log" |
			sed -u -n 's/\r$//; /^THPVM-LAB-HEARTBEAT/d; /^THPVM-LAB-BEGIN/,/^THPVM-LAB-END/{/^THPVM-LAB-/d; p}' &
	else
		tail -n +1 -f --pid="$qpid" "$log" |
			sed -u -n 's/\r$//; /^THPVM-LAB-HEARTBEAT/d; /^THPVM-LAB-BEGIN/,/^THPVM-LAB-END/p' &
	fi
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

# The suite's results, collected over attempts: one file per test binary that
# finished (its console section), in $labdir/$name.d/INDEX.
resdir=$labdir/$name.d
rm -rf "$resdir"
mkdir -p "$resdir"
collect() { # the sections of finished binaries in $log -> $resdir/INDEX
	tr -d '\r' < "$log" | grep -v '^THPVM-LAB-HEARTBEAT' | awk -v dir="$resdir" '
		/^THPVM-LAB-SUITE-BEGIN / { idx = $2; file = dir "/" idx ".part"; printf "" > file; next }
		/^THPVM-LAB-SUITE-END / { if (file != "") { print > file; close(file); system("mv " file " " dir "/" idx) } file = ""; next }
		file != "" { print > file }'
	rm -f "$resdir"/*.part
}
first_unfinished() { # 1-based index of the first binary without a result
	local i=1
	while [ $i -le ${#suite[@]} ]; do
		[ -f "$resdir/$i" ] || { echo $i; return; }
		i=$((i + 1))
	done
	echo $(( ${#suite[@]} + 1 ))
}

# TCG's nested SVM is not flawless: rarely an L1 hangs while booting or while
# an L2 boots, or panics (docs/lab.md, Known limits). Such an L1 failure is
# not a case result: the run is repeated, saying so (in suite mode from the
# first test binary that did not finish), up to LAB_ATTEMPTS times in all
# (default 5: clean-clone CI runs of 2026-12-06 lost one L1 to a "corrupted
# stack end" panic each, and a later one two; each resumed run costs only
# the binaries not yet finished, docs/lab.md); the last failing fails.
attempt=1 from=1 l1_failure='' total=0 attempts=${LAB_ATTEMPTS:-5}
[[ $attempts =~ ^[1-9]$ ]] || die "LAB_ATTEMPTS wants 1-9, got '$attempts'"
while :; do
	start=$(date +%s.%N)
	extra=''
	[ $mode != suite ] || extra="lab.from=$from"
	run_l1 "$extra"
	secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	total=$(awk -v a="$total" -v b="$secs" 'BEGIN { printf "%.1f", a + b }')
	[ $mode != suite ] || collect
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
	say "lab: attempt $attempt: $reason after ${secs}s (log: $log.attempt-$attempt; last lines:)"
	tr -d '\r' < "$log" | grep -v '^THPVM-LAB-HEARTBEAT' | tail -n 8 | sed 's/^/  /' >&2
	if [ $attempt -ge "$attempts" ]; then
		l1_failure="$reason, in attempt $attempt of $attempts"
		break
	fi
	attempt=$((attempt + 1))
	if [ $mode = suite ]; then
		from=$(first_unfinished)
		say "lab: attempt $attempt of $attempts from test binary $from of ${#suite[@]} (an L1 failure, not a test result)"
	else
		say "lab: attempt $attempt of $attempts (an L1 failure, not a case result)"
	fi
done
say "lab: L1 ran ${total}s$([ $attempt = 1 ] || echo " in $attempt attempts"), host load $(loadavg) (TCG timings depend on free host CPU)"

end=$(tr -d '\r' < "$log" | sed -n 's/^THPVM-LAB-END status=\([0-9]*\).*/\1/p')
verdict='' # empty: L1 ended properly
if [ -n "$l1_failure" ]; then
	verdict=$l1_failure
elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	verdict="timeout after ${timeout}s, L1 killed"
elif [ -z "$end" ]; then
	verdict="L1 ended (QEMU exit $rc) without THPVM-LAB-END after ${secs}s"
elif [ "$rc" != $(( (end << 1) | 1 )) ]; then # isa-debug-exit: status S arrives as (S << 1) | 1
	verdict="L1 reported status $end but QEMU exited $rc"
fi

if [ $mode = suite ]; then
	# One TAP stream for make check: every test of every binary, renumbered,
	# named "BINARY: suite::test"; a binary that exited non-zero (a crash
	# in setup or teardown, say) is a failure of its own; an L1 that failed
	# twice is a "Bail out!" (automake: ERROR, not FAIL).
	krel=$(cat "$l1/kernel-release")
	echo "TAP version 13"
	echo "# KVM suite in the nested lab: L1 $krel, kvm-amd with NPT, under QEMU TCG (emulated), ${memory} MiB, time scale $scale"
	n=0 i=1
	for t in "${suite[@]}"; do
		bin=${t#"$builddir"/}
		if [ -f "$resdir/$i" ]; then
			awk -v n="$n" -v bin="$bin" -v cnt="$resdir/count" '
				/^THPVM-LAB-SUITE-END / { for (f = 2; f <= NF; f++) if ($f ~ /^rc=/) rc = substr($f, 4); next }
				# a failure is held until its first assertion message is read: the
				# "not ok" line carries it, so the console (and CI) shows why
				function flush() { if (pending != "") print pending; pending = "" }
				/^(not )?ok( |$)/ {
					flush()
					not = ($1 == "not"); rest = $0
					sub(/^(not )?ok[ ]*[0-9]*[ ]*-?[ ]*/, "", rest)
					n++; tests++; failed += not
					line = sprintf("%s %d - %s: %s", not ? "not ok" : "ok", n, bin, rest)
					if (not) { pending = line; why = "" } else print line
					next }
				/^  - [^ ]+:[0-9]+: / { loc = $2; sub(/:$/, "", loc) }
				/^ +Assertion failed: / && pending != "" && why == "" {
					why = $0; sub(/^ +Assertion failed: /, "", why)
					gsub(/#/, "no. ", why) # a "#" would start a TAP directive
					pending = pending " [" loc ": " why "]" }
				/^(TAP version|1\.\.)/ || /^[ \t]*$/ { next }
				{ print "# " $0 }
				END {
					flush()
					if (tests == 0) { n++; printf "not ok %d - %s: no test results (exit status %s%s)\n", n, bin, rc, rc == 127 ? ": not found in L1" : "" }
					else if (rc != 0 && !failed) { n++; printf "not ok %d - %s: every test passed, but it exited with status %s (a crash in setup or teardown? see the messages above)\n", n, bin, rc }
					print n > cnt }' "$resdir/$i"
			n=$(cat "$resdir/count")
		else
			n=$((n + 1))
			echo "not ok $n - $bin: did not run to its end in L1 (${verdict:-no result})"
		fi
		i=$((i + 1))
	done
	echo "1..$n"
	if [ -n "$verdict" ]; then
		echo "Bail out! lab: $verdict (log: $log)"
		exit 1
	fi
	exit 0
fi

if [ -n "$verdict" ]; then
	say "lab: FAIL: $verdict (last lines of $log:)"
	tr -d '\r' < "$log" | grep -v '^THPVM-LAB-HEARTBEAT' | tail -n 15 | sed 's/^/  /'
	exit 1
fi
if [ "$end" != 0 ]; then
	say "lab: FAIL: L1 status $end after ${secs}s (see not ok lines above)"
	exit 1
fi
say "lab: PASS"
