# Baseline, QEMU as the L2 VMM: the Debian kernel boots the guest initramfs
# to its init marker with 1 vCPU and ends QEMU through the debug-exit port;
# while it runs, L1's KVM debugfs shows how L2's memory is mapped.
name=qemu-1cpu
l2_qemu $name 1 "thpvm.run=sleep,3" &
if l2_wait_marker $name; then
	diag "$(l2_marker_line $name)"
	tap_ok "qemu L2 1 vCPU: init marker (cpus=$(l2_guest_cpus $name)) after $(l2_marker_secs $name) s"
	p2m=$(kvm_stat pages_2m) p4k=$(kvm_stat pages_4k)
	diag "L2 running: L1 KVM pages_2m=$p2m pages_4k=$p4k (L2 has $L2_MEMORY_MIB MiB)"
	if [ -z "$p2m" ]; then
		tap_fail "L1 KVM pages_2m readable while L2 runs" "cannot read /sys/kernel/debug/kvm/pages_2m"
	elif grep -q '\[never\]' /sys/kernel/mm/transparent_hugepage/enabled; then
		tap_ok "L1 KVM pages_2m readable while L2 runs ($p2m; L1 THP is off, no 2M expected)"
	elif [ "$p2m" -gt 0 ]; then
		tap_ok "L1 KVM pages_2m readable while L2 runs: $p2m x 2M, $p4k x 4K"
	else
		tap_fail "L1 KVM pages_2m > 0 while L2 runs (NPT + THP in L1)" "pages_2m=$p2m pages_4k=$p4k"
	fi
else
	tap_fail "qemu L2 1 vCPU: init marker" "$(l2_tail $name)"
	tap_fail "L1 KVM pages_2m readable while L2 runs" "L2 did not boot"
fi
l2_wait $name
tap_is "$(l2_guest_status $name)/$(l2_rc $name)" "0/$(qemu_exit_rc 0)" \
	"qemu L2 1 vCPU: guest status 0 ends QEMU through port 0x501 (exit $(qemu_exit_rc 0)) after $(l2_exit_secs $name) s"
