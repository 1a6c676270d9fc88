# virtio-rng on virtio-mmio (issue 13, docs/linux-boot.md "virtio devices"): each L2 kernel
# (Debian 12's 6.1, bookworm-backports' 6.12) booted with --rng finds the device through the
# ACPI tables thpvm writes (its virtio_mmio and virtio_rng modules come from the initramfs),
# makes it the current hardware RNG and reads random bytes from /dev/hwrng. Then the 6.1 guest
# is snapshotted, the VMM quits, and the restored guest reads /dev/hwrng again: the device's
# queue state came back with it.
sock=$L2_DIR/rng.sock
snap=$L2_DIR/rng.snap
ok_or_fail() { case_result "thpvm L2 virtio-rng" "$@"; } # ok_or_fail STATUS DESC DIAG...
kernels=$(cd /guests 2>/dev/null && ls -d -- */ 2>/dev/null | tr -d /)
descs=""
for k in $kernels; do
	descs="$descs|$k: the guest's current RNG is virtio_rng.0|$k: /dev/hwrng gives 64 random bytes"
done
descs="${descs#|}|restored from a snapshot: /dev/hwrng still answers|restored from a snapshot: ends with status 0"
case_can_run "thpvm L2 virtio-rng" "$descs" --rng || return 0

# hwrng_check NAME DESC_PREFIX TAG: reads 64 bytes, as hex, from the running guest's /dev/hwrng
hwrng_check() {
	l2_shell_run "$1" "echo $3-\$(head -c 64 /dev/hwrng | od -An -v -tx1 | tr -d ' \\n')-end" "^$3-[0-9a-f]*-end"
	hex=$(sed -n "s/^$3-\([0-9a-f]*\)-end.*/\1/p" "$(l2_log "$1")" | head -n 1)
	[ ${#hex} = 128 ] && [ "$hex" != "$(printf '0%.0s' $(seq 128))" ]
	ok_or_fail $? "$2" "read '${hex:-nothing}'" "$(l2_tail "$1")"
}

for k in $kernels; do
	name=rng-$k
	l2_console_in $name
	L2_THPVM_ARGS="--rng --ctl-sock $sock-$k"
	l2_thpvm $name 1 "thpvm.shell=1" "/guests/$k/vmlinux" "/guests/$k/initramfs.cpio" &
	unset L2_THPVM_ARGS
	if ! l2_wait_marker $name; then
		ok_or_fail 1 "$k: the guest's current RNG is virtio_rng.0" "no init marker" "$(l2_tail $name 20)"
		ok_or_fail 1 "$k: /dev/hwrng gives 64 random bytes" "the guest did not boot"
		l2_wait $name
		continue
	fi
	l2_shell_run $name 'echo rng-current=$(cat /sys/devices/virtual/misc/hw_random/rng_current)' '^rng-current='
	grep -q '^rng-current=virtio_rng\.0' "$(l2_log $name)"
	ok_or_fail $? "$k: the guest's current RNG is virtio_rng.0" "$(grep -m1 '^rng-current=' "$(l2_log $name)")" \
		"$(l2_tail $name 20)"
	hwrng_check $name "$k: /dev/hwrng gives 64 random bytes" before
	if [ "$k" = "$(basename "$(readlink -f "$GUEST")")" ]; then
		rm -rf "$snap"
		thpvm ctl "$sock-$k" snapshot "path=$snap" > /dev/null 2>&1
		thpvm ctl "$sock-$k" quit > /dev/null 2>&1
		l2_wait $name
		r=rng-restored
		l2_console_in $r
		l2_run $r thpvm run --restore "$snap" &
		hwrng_check $r "restored from a snapshot: /dev/hwrng still answers" after
		l2_send $r exit
		l2_wait $r
		[ "$(l2_guest_status $r)/$(l2_rc $r)" = "0/$(thpvm_exit_rc 0)" ]
		ok_or_fail $? "restored from a snapshot: ends with status 0" \
			"guest status '$(l2_guest_status $r)', thpvm exit '$(l2_rc $r)'" "$(l2_tail $r)"
		rm -rf "$snap"
	else
		l2_send $name exit
		l2_wait $name
	fi
done
