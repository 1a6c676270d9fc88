# virtio-blk on io_uring (issue 13, docs/linux-boot.md "virtio devices"): an L2 guest with a writable
# disk and a read-only one (--disk IMG --disk IMG2,readonly) sees them as /dev/vda and /dev/vdb with
# their sizes, reads what L1 wrote into the image, and what it writes and syncs is in the image on L1
# once the VM has ended; the read-only disk says so (ro=1) and refuses a write;
# a snapshot keeps both disks as they were (flattened copies in the snapshot), the VM going on with its
# own image; two restores each start from the disks as saved, on private layers, never writing the
# original image (forks: case 31).
name=blk
sock=$L2_DIR/blk.sock
img=$L2_DIR/blk.img
roimg=$L2_DIR/blk-ro.img
snap=$L2_DIR/blk.snap
descs="the guest sees vda (8 MiB) and vdb (1 MiB)|both disks take their notifications through an ioeventfd|the guest reads what L1 wrote|the read-only disk is ro and refuses a write|what the guest wrote and synced is in the image, also after a snapshot|the snapshot keeps both disks as they were|restore 1: the disk as saved (not the original's later write, not restore 1's)|restore 2: the disk as saved (not the original's later write, not restore 1's)|restores never write the original image"
ok_or_fail() { case_result "thpvm L2 virtio-blk" "$@"; } # ok_or_fail STATUS DESC DIAG...
case_can_run "thpvm L2 virtio-blk" "$descs" --disk || return 0

rm -rf "$img" "$roimg" "$snap"
dd if=/dev/zero of="$img" bs=1M count=8 2> /dev/null
dd if=/dev/zero of="$roimg" bs=1M count=1 2> /dev/null
printf 'from-L1-%s' 42 | dd of="$img" bs=512 seek=7 conv=notrunc 2> /dev/null
printf 'readonly-%s' 43 | dd of="$roimg" conv=notrunc 2> /dev/null

l2_console_in $name
L2_THPVM_ARGS="--disk $img --disk $roimg,readonly --ctl-sock $sock"
l2_thpvm $name 1 "thpvm.shell=1" &
unset L2_THPVM_ARGS
if ! l2_wait_marker $name; then
	case_skip_all "thpvm L2 virtio-blk" "$descs" "the guest did not boot: $(l2_tail $name 20 | tr '\n' ' ')"
	l2_wait $name
	return 0
fi
l2_shell_run $name 'echo sizes=$(cat /sys/block/vda/size)/$(cat /sys/block/vdb/size)' '^sizes='
grep -q '^sizes=16384/2048' "$(l2_log $name)"
ok_or_fail $? "the guest sees vda (8 MiB) and vdb (1 MiB)" "$(grep -m1 '^sizes=' "$(l2_log $name)")" "$(l2_tail $name 20)"

# the guest's notifications reach the disks' threads inside KVM (ioeventfd), not through exits to thpvm
st=$(thpvm ctl --raw "$sock" stats 2>/dev/null | grep -o '"disks":\[[^]]*\]')
[ "$(echo "$st" | grep -o '"ioeventfd":true' | wc -l)" = 2 ]
ok_or_fail $? "both disks take their notifications through an ioeventfd" "$st"

l2_shell_run $name 'echo read=$(dd if=/dev/vda bs=512 skip=7 count=1 2>/dev/null | head -c 11)' '^read='
grep -q '^read=from-L1-42' "$(l2_log $name)"
ok_or_fail $? "the guest reads what L1 wrote" "$(grep -m1 '^read=' "$(l2_log $name)")"

l2_shell_run $name 'dd if=/dev/zero of=/dev/vdb count=1 2>/dev/null; echo ro=$(cat /sys/block/vdb/ro)/$?/$(head -c 11 /dev/vdb)' '^ro='
grep -q '^ro=1/[1-9][0-9]*/readonly-43' "$(l2_log $name)"
ok_or_fail $? "the read-only disk is ro and refuses a write" "$(grep -m1 '^ro=' "$(l2_log $name)")"

l2_shell_run $name 'echo guest-wrote-$((6 * 7)) | dd of=/dev/vda bs=512 seek=100 conv=fsync 2>/dev/null; sync; echo wrote=$?' '^wrote='
thpvm ctl "$sock" snapshot "path=$snap" > /dev/null 2>&1
# the VM goes on with its own disk: the image, written as before
l2_shell_run $name 'echo after-snap | dd of=/dev/vda bs=512 seek=101 conv=fsync 2>/dev/null; echo after=$?' '^after='
l2_send $name exit
l2_wait $name
got=$(dd if="$img" bs=512 skip=100 count=1 2> /dev/null | head -c 14)/$(dd if="$img" bs=512 skip=101 count=1 2> /dev/null | head -c 10)
[ "$got" = guest-wrote-42/after-snap ]
ok_or_fail $? "what the guest wrote and synced is in the image, also after a snapshot" "the image holds '$got' at sectors 100/101" "$(l2_tail $name)"
[ -s "$snap/disk0.img" ] && [ -s "$snap/disk1.img" ]
ok_or_fail $? "the snapshot keeps both disks as they were" "$(ls -ls "$snap" 2>&1 | tr '\n' ' ')"

# each restore starts from the disk as saved and writes a private layer over the snapshot's copy
for i in 1 2; do
	r=blk-restored-$i
	l2_console_in $r
	l2_run $r thpvm run --restore "$snap" &
	l2_shell_run $r 'sync; echo 3 > /proc/sys/vm/drop_caches; echo again=$(dd if=/dev/vda bs=512 skip=100 count=1 2>/dev/null | head -c 14)/$(dd if=/dev/vda bs=512 skip=101 count=1 2>/dev/null | head -c 10 | tr -d "\0")/$(dd if=/dev/vda bs=512 skip=102 count=1 2>/dev/null | head -c 9 | tr -d "\0")' '^again='
	grep -q '^again=guest-wrote-42//$' "$(l2_log $r)" || grep -q "^again=guest-wrote-42//$(printf '\r')" "$(l2_log $r)"
	ok_or_fail $? "restore $i: the disk as saved (not the original's later write, not restore 1's)" "$(grep -m1 '^again=' "$(l2_log $r)")" "$(l2_tail $r)"
	l2_shell_run $r 'echo restore-1 | dd of=/dev/vda bs=512 seek=102 conv=fsync 2>/dev/null; echo wrote=$?' '^wrote='
	l2_send $r exit
	l2_wait $r
done
got=$(dd if="$img" bs=512 skip=102 count=1 2> /dev/null | head -c 9 | tr -d '\0')
[ -z "$got" ]
ok_or_fail $? "restores never write the original image" "sector 102 of the image holds '$got'"
rm -rf "$img" "$roimg" "$snap"
