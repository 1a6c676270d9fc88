# Baseline with 2 vCPUs: both come online in L2; the guest's busybox shell
# answers on the console; a failing guest program's status (false: 1) reaches
# QEMU's exit status through the debug-exit port after the shell exits.
name=qemu-2cpu
l2_console_in $name
l2_qemu $name 2 "thpvm.run=false thpvm.shell=1" &
if l2_wait_marker $name; then
	diag "$(l2_marker_line $name)"
	tap_is "$(l2_guest_cpus $name)" 0-1 "qemu L2 2 vCPUs: init marker with cpus 0-1 after $(l2_marker_secs $name) s"
	l2_shell_run $name 'echo shell-$((6 * 7))' '^shell-42$'
	l2_send $name 'exit'
else
	tap_fail "qemu L2 2 vCPUs: init marker" "$(l2_tail $name)"
fi
l2_wait $name
if grep -q '^shell-42$' "$(l2_log $name)"; then
	tap_ok "qemu L2 2 vCPUs: busybox shell on the console runs commands"
else
	tap_fail "qemu L2 2 vCPUs: busybox shell on the console runs commands" "$(l2_tail $name)"
fi
tap_is "$(l2_guest_status $name)/$(l2_rc $name)" "1/$(qemu_exit_rc 1)" \
	"qemu L2 2 vCPUs: guest status 1 (false) ends QEMU with exit $(qemu_exit_rc 1) after $(l2_exit_secs $name) s"
