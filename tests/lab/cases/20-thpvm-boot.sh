# thpvm as the L2 VMM: the Debian kernel boots to the guest's init marker and
# a busybox shell with 1 and 2 vCPUs (vmlinux through its PVH note; bzImage
# through the boot protocol), and the guest's status ends thpvm through the
# debug-exit port once the shell exits.
runs="thpvm-1cpu:1:vmlinux thpvm-2cpu:2:vmlinux thpvm-bzimage:1:bzImage"
split_run() { name=${1%%:*} kernel=${1##*:} cpus=${1#*:}; cpus=${cpus%%:*}; }
if ! reason=$(thpvm_can_boot_linux); then
	for r in $runs; do
		split_run "$r"
		tap_skip "thpvm L2 $kernel $cpus vCPU(s): init marker" "$reason"
		tap_skip "thpvm L2 $kernel $cpus vCPU(s): busybox shell on the console runs commands" "$reason"
		tap_skip "thpvm L2 $kernel $cpus vCPU(s): guest status ends thpvm through port 0x501" "$reason"
	done
	return 0
fi
for r in $runs; do
	split_run "$r"
	want_cpus=0
	[ "$cpus" = 1 ] || want_cpus=0-$((cpus - 1))
	l2_console_in "$name"
	l2_thpvm "$name" "$cpus" "thpvm.shell=1" "$GUEST/$kernel" &
	if l2_wait_marker "$name"; then
		tap_is "$(l2_guest_cpus "$name")" "$want_cpus" \
			"thpvm L2 $kernel $cpus vCPU(s): init marker after $(l2_marker_secs "$name") s"
		l2_shell_run "$name" 'echo shell-$((6 * 7))' '^shell-42$'
		l2_send "$name" 'exit'
	else
		tap_fail "thpvm L2 $kernel $cpus vCPU(s): init marker" "$(l2_tail "$name")"
	fi
	l2_wait "$name"
	if grep -q '^shell-42$' "$(l2_log "$name")"; then
		tap_ok "thpvm L2 $kernel $cpus vCPU(s): busybox shell on the console runs commands"
	else
		tap_fail "thpvm L2 $kernel $cpus vCPU(s): busybox shell on the console runs commands" "$(l2_tail "$name")"
	fi
	tap_is "$(l2_guest_status "$name")/$(l2_rc "$name")" "0/$(thpvm_exit_rc 0)" \
		"thpvm L2 $kernel $cpus vCPU(s): guest status ends thpvm through port 0x501 after $(l2_exit_secs "$name") s"
done
