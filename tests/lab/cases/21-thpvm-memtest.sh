# memtest as a Linux user process inside a thpvm guest: writes and verifies
# its per-page index pattern, its exit status ends thpvm.
desc="thpvm L2 2 vCPUs: memtest inside the Linux guest passes"
if ! reason=$(thpvm_can_boot_linux); then
	tap_skip "$desc" "$reason"
	return 0
fi
if ! grep -qx memtest "$GUEST/programs"; then
	tap_skip "$desc" "no memtest in the L2 initramfs (LINUX_GUEST_BINS, docs/lab.md)"
	return 0
fi
name=thpvm-memtest
l2_thpvm $name 2 "thpvm.run=memtest"
if [ "$(l2_guest_status $name)/$(l2_rc $name)" = "0/$(thpvm_exit_rc 0)" ]; then
	tap_ok "$desc (in $(l2_exit_secs $name) s)"
else
	tap_fail "$desc" "guest status '$(l2_guest_status $name)', thpvm exit '$(l2_rc $name)'" "$(l2_tail $name)"
fi
