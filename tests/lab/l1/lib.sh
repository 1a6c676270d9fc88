# Helpers for the lab's cases, sourced inside L1 (busybox sh).
#
# TAP:     tap_ok DESC | tap_fail DESC [DIAG...] | tap_skip DESC REASON
#          tap_is ACTUAL EXPECTED DESC | diag TEXT
# L2 runs (NAME: unique within an L1 run, it names the files in /tmp/l2):
#          l2_qemu NAME CPUS [CMDLINE_EXTRA [KERNEL]]
#          l2_thpvm NAME CPUS [CMDLINE_EXTRA [KERNEL [INITRD]]]
#          ($L2_THPVM_ARGS: more thpvm run options, e.g. --stats-json FILE)
#          (append & to run in the background, then l2_wait_marker NAME
#          and l2_wait NAME), then ask: l2_marker_secs, l2_exit_secs,
#          l2_guest_status, l2_guest_cpus, l2_guest_uptime, l2_marker_line,
#          l2_rc, l2_log NAME
#          console input: l2_console_in NAME before a background run, then
#          l2_send NAME LINE (e.g. to a guest booted with thpvm.shell=1);
#          l2_shell_run NAME COMMAND REGEX retries until the answer shows
# thpvm:   thpvm_can_boot_linux (0 if /usr/bin/thpvm has run --kernel,
#          else prints the skip reason)
# Exit convention: the guest's /init writes its status byte S to port 0x501;
# QEMU's isa-debug-exit exits with (S << 1) | 1 (qemu_exit_rc S), thpvm with
# thpvm_exit_rc S (docs/lab.md).

GUEST=/guest
L2_DIR=/tmp/l2
L2_CMDLINE='console=ttyS0 quiet nokaslr pci=off initcall_blacklist=cmos_init'
L2_MEMORY_MIB=256
L2_TIMEOUT=${L2_TIMEOUT:-90}
TAP_FILE=/tmp/lab-tap
mkdir -p "$L2_DIR"
[ -f "$TAP_FILE" ] || : > "$TAP_FILE"
CR=$(printf '\r')

now() { read -r _now _ < /proc/uptime; echo "$_now"; }
diag() { printf '%s\n' "$*" | sed 's/^/# /'; } # every line a TAP comment
_tap() { # _tap RESULT LINE: RESULT in ok|fail|skip, LINE without its number
	echo "$1" >> "$TAP_FILE"
	_n=$(wc -l < "$TAP_FILE")
	case $1 in
		fail) echo "not ok $_n - $2" ;;
		*) echo "ok $_n - $2" ;;
	esac
}
tap_ok() { _tap ok "$1"; }
tap_fail() { _tap fail "$1"; shift; for _d in "$@"; do diag "$_d"; done; }
tap_skip() { _tap skip "$1 # SKIP $2"; }
# A case's results under one name: case_result NAME STATUS DESC DIAG... is ok when STATUS is 0, else a
# failure with the diagnostics; case_skip_all NAME "DESC|DESC|..." REASON skips every one of them.
case_result() {
	_cr_d="$1: $3" _cr_st=$2
	shift 3
	if [ "$_cr_st" = 0 ]; then tap_ok "$_cr_d"; else tap_fail "$_cr_d" "$@"; fi
}
case_skip_all() {
	_cs_n=$1 _cs_r=$3 _cs_ifs=$IFS
	IFS='|'
	for _cs_d in $2; do tap_skip "$_cs_n: $_cs_d" "$_cs_r"; done
	IFS=$_cs_ifs
}
# case_can_run NAME "DESC|..." [OPTION]: 0 when thpvm here boots Linux (and its run has OPTION), else every
# DESC skipped with the reason and 1: a case starts with `case_can_run ... || return 0`.
case_can_run() {
	if ! _ccr=$(thpvm_can_boot_linux); then
		case_skip_all "$1" "$2" "$_ccr"
		return 1
	fi
	if [ -n "${3:-}" ] && ! thpvm run --help 2>&1 | grep -q -- "$3"; then
		case_skip_all "$1" "$2" "thpvm run has no $3"
		return 1
	fi
	return 0
}
tap_is() { # tap_is ACTUAL EXPECTED DESC
	if [ "$1" = "$2" ]; then tap_ok "$3"; else tap_fail "$3" "got '$1', expected '$2'"; fi
}
tap_summary() { # prints the plan and a count line; 0 when nothing failed
	_n=$(wc -l < "$TAP_FILE")
	_ok=$(grep -c '^ok$' "$TAP_FILE")
	_fail=$(grep -c '^fail$' "$TAP_FILE")
	_skip=$(grep -c '^skip$' "$TAP_FILE")
	echo "1..$_n"
	echo "lab: $_ok passed, $_fail failed, $_skip skipped"
	[ "$_fail" -eq 0 ] && [ "$_n" -gt 0 ]
}

# l2_run NAME COMMAND...: runs an L2 VMM with a hard timeout, its console
# (stdout+stderr) to $L2_DIR/NAME.log; records L1 uptime at start (.t0), at
# the guest's init marker (.marker), at exit (.t1) and the exit status (.rc).
# The console's input is /dev/null, or the FIFO l2_console_in made for NAME.
l2_run() {
	_name=$1
	shift
	rm -f "$L2_DIR/$_name".log "$L2_DIR/$_name".rc "$L2_DIR/$_name".t[01] "$L2_DIR/$_name".marker
	_in=/dev/null
	[ -p "$L2_DIR/$_name.in" ] && _in=$L2_DIR/$_name.in
	: > "$L2_DIR/$_name.log"
	now > "$L2_DIR/$_name.t0"
	{ timeout -s KILL "$L2_TIMEOUT" "$@" <> "$_in" 2>&1; echo $? > "$L2_DIR/$_name.rc"; } |
		while IFS= read -r _line; do
			case $_line in
				*THPVM-GUEST-INIT-OK*) [ -f "$L2_DIR/$_name.marker" ] || now > "$L2_DIR/$_name.marker" ;;
			esac
			printf '%s\n' "${_line%"$CR"}" >> "$L2_DIR/$_name.log"
		done
	rm -f "$L2_DIR/$_name.in"
	now > "$L2_DIR/$_name.t1"
}
l2_console_in() { rm -f "$L2_DIR/$1.in"; mkfifo "$L2_DIR/$1.in"; } # before l2_run NAME ... &
l2_shell_run() { # l2_shell_run NAME COMMAND REGEX: type COMMAND every 2 s (the
	# shell may not be reading yet, and busybox's line editing eats input
	# while it starts) until a console line matches REGEX; 30 s at most
	_i=0
	while [ $_i -lt 15 ]; do
		grep -qE "$3" "$L2_DIR/$1.log" && return 0
		[ -f "$L2_DIR/$1.t1" ] && return 1
		l2_send "$1" "$2"
		sleep 2
		_i=$((_i + 1))
	done
	grep -qE "$3" "$L2_DIR/$1.log"
}
l2_send() { # l2_send NAME LINE: type LINE on the console (gives up after 5 s)
	[ -p "$L2_DIR/$1.in" ] && timeout 5 sh -c 'printf "%s\n" "$1" > "$2"' sh "$2" "$L2_DIR/$1.in"
}

l2_qemu() { # l2_qemu NAME CPUS [CMDLINE_EXTRA [KERNEL]]
	l2_run "$1" qemu-system-x86_64 -enable-kvm -cpu host -m "$L2_MEMORY_MIB" -smp "$2" \
		-nographic -no-reboot -M microvm,acpi=off -device isa-debug-exit,iobase=0x501,iosize=1 \
		-kernel "${4:-$GUEST/vmlinux}" -initrd "$GUEST/initramfs.cpio" -append "$L2_CMDLINE ${3:-}"
}

l2_thpvm_shell() { # l2_thpvm_shell NAME SOCK: the Linux guest with its shell (thpvm.shell=1) and a control
	# socket at SOCK, in the background, its console input NAME's FIFO; 0 once its init marker is seen, 1 if it ended first
	rm -f "$2"
	l2_console_in "$1"
	L2_THPVM_ARGS="--ctl-sock $2"
	l2_thpvm "$1" 1 "thpvm.shell=1" &
	unset L2_THPVM_ARGS
	l2_wait_marker "$1"
}
l2_thpvm() { # l2_thpvm NAME CPUS [CMDLINE_EXTRA [KERNEL [INITRD]]]
	l2_run "$1" thpvm run --kernel "${4:-$GUEST/vmlinux}" --initrd "${5:-$GUEST/initramfs.cpio}" \
		--cmdline "$L2_CMDLINE ${3:-}" --memory "${L2_MEMORY_MIB}M" --cpus "$2" ${L2_THPVM_ARGS:-}
}

thpvm_can_boot_linux() {
	if [ ! -x /usr/bin/thpvm ]; then
		echo "thpvm cannot boot Linux yet (no thpvm binary in L1)"
		return 1
	fi
	if ! thpvm run --help 2>&1 | grep -q -- --kernel; then
		echo "thpvm cannot boot Linux yet (thpvm run has no --kernel)"
		return 1
	fi
	return 0
}

qemu_exit_rc() { echo $(( ($1 << 1) | 1 )); }
thpvm_exit_rc() { echo "$1"; } # thpvm exits with the byte itself (docs/linux-boot.md)

_sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", a - b }'; }
l2_log() { echo "$L2_DIR/$1.log"; }
l2_rc() { cat "$L2_DIR/$1.rc" 2>/dev/null; }
l2_marker_secs() { [ -f "$L2_DIR/$1.marker" ] && _sub "$(cat "$L2_DIR/$1.marker")" "$(cat "$L2_DIR/$1.t0")"; }
l2_exit_secs() { [ -f "$L2_DIR/$1.t1" ] && _sub "$(cat "$L2_DIR/$1.t1")" "$(cat "$L2_DIR/$1.t0")"; }
l2_guest_status() { sed -n 's/.*THPVM-GUEST-EXIT status=\([0-9]*\).*/\1/p' "$L2_DIR/$1.log" | head -n 1; }
l2_marker_line() { grep -m1 THPVM-GUEST-INIT-OK "$L2_DIR/$1.log"; }
l2_guest_uptime() { sed -n 's/.*THPVM-GUEST-INIT-OK.* uptime=\([0-9.]*\).*/\1/p' "$L2_DIR/$1.log" | head -n 1; }
l2_guest_cpus() { sed -n 's/.*THPVM-GUEST-INIT-OK cpus=\([^ ]*\).*/\1/p' "$L2_DIR/$1.log" | head -n 1; }
l2_wait_marker() { # l2_wait_marker NAME: 0 once the marker is seen, 1 if the run ended without it
	while [ ! -f "$L2_DIR/$1.marker" ]; do
		[ -f "$L2_DIR/$1.t1" ] && return 1
		usleep 100000
	done
}
l2_wait() { while [ ! -f "$L2_DIR/$1.t1" ]; do usleep 100000; done; }
l2_tail() { # the last lines of a run's console, indented (for diag / tap_fail)
	tail -n "${2:-8}" "$L2_DIR/$1.log" | sed 's/^/  /'
}

kvm_stat() { cat "/sys/kernel/debug/kvm/$1" 2>/dev/null; } # summed over L1's VMs
