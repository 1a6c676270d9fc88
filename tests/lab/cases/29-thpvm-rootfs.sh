# A Linux guest on a root disk (issue 13): each L2 kernel boots with its rootfs.img (the guest recipe's
# ext4 image, made by mke2fs -d from Debian's busybox) as --disk and root=/dev/vda: the initramfs loads
# virtio_blk and ext4, mounts the disk and switches to it; / is then /dev/vda (ext4) and holds the
# disk's own marker file. A file the guest writes there is on the disk at the next boot from it.
descs=""
kernels=$(cd /guests 2>/dev/null && for k in */; do [ -e "$k/rootfs.img" ] && echo "${k%/}"; done)
for k in $kernels; do
	descs="$descs|$k: / is /dev/vda (ext4) with the disk's marker|$k: a file written on the root disk is there at the next boot"
done
descs=${descs#|}
ok_or_fail() { case_result "thpvm L2 root disk" "$@"; } # ok_or_fail STATUS DESC DIAG...
if [ -z "$kernels" ]; then
	tap_skip "thpvm L2 root disk" "no guest has a rootfs.img (guests/linux/build.sh makes it)"
	return 0
fi
case_can_run "thpvm L2 root disk" "$descs" || return 0
for k in $kernels; do
	disk=$L2_DIR/root-$k.img
	cp "/guests/$k/rootfs.img" "$disk"
	for boot in 1 2; do
		name=root-$k-$boot
		l2_console_in $name
		L2_THPVM_ARGS="--disk $disk"
		l2_thpvm $name 1 "root=/dev/vda thpvm.shell=1" "/guests/$k/vmlinux" "/guests/$k/initramfs.cpio" &
		unset L2_THPVM_ARGS
		if ! l2_wait_marker $name; then
			ok_or_fail 1 "$k: boot $boot from the root disk" "no init marker" "$(l2_tail $name 20)"
			l2_wait $name
			continue 2
		fi
		if [ $boot = 1 ]; then
			l2_shell_run $name 'echo rootfs=$(awk '"'"'$2 == "/" { print $1 "," $3 }'"'"' /proc/mounts),$(cat /etc/thpvm-rootfs | cut -c1-16)' '^rootfs='
			grep -q '^rootfs=/dev/vda,ext4,thpvm root disk' "$(l2_log $name)"
			ok_or_fail $? "$k: / is /dev/vda (ext4) with the disk's marker" "$(grep -m1 '^rootfs=' "$(l2_log $name)")" "$(l2_tail $name 20)"
			l2_shell_run $name 'echo written-$((6 * 7)) > /root/note; sync; echo noted=$?' '^noted='
		else
			l2_shell_run $name 'echo note=$(cat /root/note)' '^note='
			grep -q '^note=written-42' "$(l2_log $name)"
			ok_or_fail $? "$k: a file written on the root disk is there at the next boot" "$(grep -m1 '^note=' "$(l2_log $name)")" "$(l2_tail $name 20)"
		fi
		l2_send $name exit
		l2_wait $name
	done
	rm -f "$disk"
done
