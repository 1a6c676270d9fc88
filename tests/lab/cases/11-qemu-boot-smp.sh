# Baseline with 2 vCPUs: both come online in L2, and a failing guest program's
# status (false: 1) reaches QEMU's exit status through the debug-exit port.
name=qemu-2cpu
l2_qemu $name 2 "thpvm.run=false"
if [ -f "$L2_DIR/$name.marker" ]; then
	diag "$(l2_marker_line $name)"
	tap_is "$(l2_guest_cpus $name)" 0-1 "qemu L2 2 vCPUs: init marker with cpus 0-1 after $(l2_marker_secs $name) s"
else
	tap_fail "qemu L2 2 vCPUs: init marker" "$(l2_tail $name)"
fi
tap_is "$(l2_guest_status $name)/$(l2_rc $name)" "1/$(qemu_exit_rc 1)" \
	"qemu L2 2 vCPUs: guest status 1 (false) ends QEMU with exit $(qemu_exit_rc 1) after $(l2_exit_secs $name) s"
